package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// The attack of issue #15 item 4 over HTTP: the trial's 250 contacts
// left, policy block, 8 ingest batches of 50 at once. Exactly 250 are
// accepted; the other 150 get the item error no_credit; nothing is
// overage (the balance is 0, not below).
func TestIngest_BlockHoldsUnderConcurrentBatches(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	key, _ := ts.apiKey(t, a, "PBX")
	ts.call(t, "PUT", "/api/v1/usage/policy", a.Token, map[string]any{"policy": "block"}).mustStatus(t, http.StatusOK)

	var mu sync.Mutex
	accepted, noCredit := 0, 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ans := ts.call(t, "POST", "/api/v1/usage/contacts", key, map[string]any{"contacts": handled(fmt.Sprintf("g%d", g), 50, "chat")})
			var r ingestResult
			if ans.Status != http.StatusOK || json.Unmarshal(ans.Body, &r) != nil {
				t.Errorf("batch %d: %d %s", g, ans.Status, ans.Body)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			accepted += len(r.Accepted)
			for _, e := range r.Errors {
				if e.Code != "no_credit" || e.ID == "" {
					t.Errorf("batch %d: item error %+v", g, e)
				}
				noCredit++
			}
		}()
	}
	close(start)
	wg.Wait()
	if accepted != 250 || noCredit != 150 {
		t.Fatalf("accepted %d, no_credit %d; want 250 and 150", accepted, noCredit)
	}
	b := ts.balance(t, a)
	if num(b, "total_remaining") != 0 || num(b, "overage_contacts") != 0 || num(b, "contacts_last_7_days") != 250 {
		t.Fatalf("balance after the race: %s", b.Body)
	}
}
