package web_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// TestSMS_SimultaneousMessagesFromANewCustomerOpenOneContact is the race
// of issue #15, item 16: two (here eight) SMS from a customer never seen
// before, delivered as signed webhooks at the same instant, each found no
// open contact and opened its own. They make one customer and one
// contact holding every message, round after round.
func TestSMS_SimultaneousMessagesFromANewCustomerOpenOneContact(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	const rounds, burst = 4, 8
	for r := range rounds {
		from := fmt.Sprintf("+49151000000%02d", r)
		start := make(chan struct{})
		var wg sync.WaitGroup
		statuses := make([]int, burst)
		for i := range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				form := smsForm(fmt.Sprintf("SMrace%02d%02d", r, i), from, acmeNumber, fmt.Sprintf("message %d", i))
				<-start
				statuses[i] = ms.postTwilio(t, smsPath(a.TenantID), a.TwilioToken, form).Status
			}()
		}
		close(start)
		wg.Wait()
		for i, st := range statuses {
			if st != http.StatusOK {
				t.Fatalf("round %d, message %d: %d", r, i, st)
			}
		}
		var contacts, customers, messages int
		err := ms.DB.Owner.QueryRow(t.Context(), `SELECT
				(SELECT count(*) FROM contacts WHERE tenant_id = $1 AND channel = 'sms' AND customer_ref = $2),
				(SELECT count(DISTINCT customer_id) FROM customer_identities WHERE tenant_id = $1 AND kind = 'phone' AND value = $2),
				(SELECT count(*) FROM contact_messages WHERE tenant_id = $1 AND channel = 'sms' AND from_addr = $2)`,
			a.TenantID, from).Scan(&contacts, &customers, &messages)
		if err != nil {
			t.Fatal(err)
		}
		if contacts != 1 {
			rows, _ := ms.DB.Owner.Query(t.Context(), `SELECT id, state, customer_id, created_at FROM contacts WHERE tenant_id = $1 AND customer_ref = $2`, a.TenantID, from)
			for rows.Next() {
				v, _ := rows.Values()
				t.Log(v...)
			}
			rows.Close()
		}
		if contacts != 1 || customers != 1 || messages != burst {
			t.Fatalf("round %d: %d contacts, %d customers, %d messages; want 1, 1, %d", r, contacts, customers, messages, burst)
		}
	}
}
