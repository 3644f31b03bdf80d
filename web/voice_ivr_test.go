package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/voice"
)

// deliveryMenu: 1 payments; 2 a sub-menu (1 deliveries, 2 parcel
// tracking by self-service, metered; time-out back to payments); 3
// opening hours (self-service, not metered); 9 hang-up; no key at the
// root: the time-out path, to deliveries.
func deliveryMenu(co callCenter) map[string]any {
	q := func(id string) map[string]any {
		return map[string]any{"action": map[string]any{"type": "queue", "queue_id": id}}
	}
	return map[string]any{
		"prompt": "Welcome to Acme. For payments press 1, for deliveries press 2.", "timeout_seconds": 4,
		"options": map[string]any{
			"1": q(co.Payments),
			"2": map[string]any{"prompt": "For a delivery agent press 1, to track a parcel press 2.", "timeout_seconds": 3,
				"options": map[string]any{
					"1": q(co.Deliveries),
					"2": map[string]any{"action": map[string]any{"type": "self_service", "message": "Track parcels at acme.example/track.", "metered": true}},
				},
				"timeout": q(co.Payments)},
			"3": map[string]any{"action": map[string]any{"type": "self_service", "message": "We are open 8 to 18. Goodbye."}},
			"9": map[string]any{"action": map[string]any{"type": "hangup", "message": "Goodbye & <thanks>."}},
		},
		"timeout": q(co.Deliveries),
	}
}

func TestIVR_ScriptedCallerWalksSubMenuAndTimeOutPathIntoTheRightQueue(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 2) // agents[0]: payments, agents[1]: deliveries
	menu := vs.menu(t, co, "Main", deliveryMenu(co))
	vs.number(t, co, &menu, nil)

	// Caller 1: the menu, a wrong key (asked again), 2 (sub-menu), 1.
	c1 := vs.dial(t, co, "CA00000000000000000000000000000001", "+4917612345678")
	if c1.last.Gather == nil || !strings.Contains(c1.last.Gather.Say, "For payments press 1") || c1.last.Gather.Timeout != "4" ||
		c1.last.Gather.NumDigits != "1" || c1.last.Redirect == "" {
		t.Fatalf("the call is not greeted with the menu: %+v", c1.last)
	}
	if x := c1.press(t, "7"); x.Gather == nil || len(x.Says) == 0 || !strings.Contains(x.Says[0], "not an option") {
		t.Fatalf("a key without an option: %+v", x)
	}
	if x := c1.press(t, "2"); x.Gather == nil || !strings.Contains(x.Gather.Say, "delivery agent") || x.Gather.Timeout != "3" {
		t.Fatalf("key 2 does not lead to the sub-menu: %+v", x)
	}
	x := c1.press(t, "1")
	if x.Redirect == "" || !strings.Contains(x.Redirect, "/voice/wait?contact=") || x.Hangup != nil {
		t.Fatalf("key 1 in the sub-menu does not put the caller on hold: %+v", x)
	}
	id := conversation.ContactID(co.TenantID, "voice", c1.sid)
	d := vs.call(t, "GET", "/api/v1/contacts/"+id.String(), co.Token, nil).mustStatus(t, http.StatusOK)
	if d.str("queue_id") != co.Deliveries || d.str("channel") != "voice" || d.str("subject") != "+4917612345678" {
		t.Fatalf("caller 1's contact: %s", d.Body)
	}
	if d.str("state") != "offered" || d.str("agent_id") != co.Agents[1].UserID.String() {
		t.Fatalf("caller 1 is not offered to the deliveries agent: %s", d.Body)
	}
	if d.str("customer_id") == "" {
		t.Errorf("the caller has no customer: %s", d.Body)
	}
	// Still ringing: the hold loop goes on. Answered: put through.
	if w := c1.silence(t); !strings.Contains(w.Redirect, "/voice/wait?contact="+id.String()) {
		t.Fatalf("hold loop while offered: %+v", w)
	}
	vs.call(t, "POST", "/api/v1/contacts/"+id.String()+"/accept", co.Agents[1].Token, nil).mustStatus(t, http.StatusOK)
	if w := c1.silence(t); w.Dial == nil || w.Dial.Client != voice.AgentClient(co.Agents[1].UserID) || !strings.Contains(w.Dial.Action, "/voice/survey") {
		t.Fatalf("accepted call is not put through to the agent's softphone: %+v", w)
	}

	// Caller 2 presses nothing: the root's time-out path (deliveries
	// queue); the deliveries agent is busy, so it waits queued.
	c2 := vs.dial(t, co, "CA00000000000000000000000000000002", "+4917600000002")
	if x := c2.silence(t); !strings.Contains(x.Redirect, "/voice/wait") {
		t.Fatalf("silence at the root does not take the time-out path: %+v", x)
	}
	d2 := vs.call(t, "GET", "/api/v1/contacts/"+conversation.ContactID(co.TenantID, "voice", c2.sid).String(), co.Token, nil).mustStatus(t, http.StatusOK)
	if d2.str("queue_id") != co.Deliveries || d2.str("state") != "queued" {
		t.Fatalf("caller 2's contact: %s", d2.Body)
	}

	// Caller 3: 2, then silence in the sub-menu: its time-out path, to
	// payments, offered to the payments agent.
	c3 := vs.dial(t, co, "CA00000000000000000000000000000003", "+4917600000003")
	sub := c3.press(t, "2")
	c3.silence(t)
	d3 := vs.call(t, "GET", "/api/v1/contacts/"+conversation.ContactID(co.TenantID, "voice", c3.sid).String(), co.Token, nil).mustStatus(t, http.StatusOK)
	if d3.str("queue_id") != co.Payments || d3.str("state") != "offered" || d3.str("agent_id") != co.Agents[0].UserID.String() {
		t.Fatalf("caller 3's contact: %s", d3.Body)
	}

	// The provider replays the step that queued caller 3: nothing new.
	before := vs.count(t, co.TenantID, `SELECT count(*) FROM contacts`)
	c3.last = sub
	if x := c3.silence(t); !strings.Contains(x.Redirect, "/voice/wait") {
		t.Fatalf("a replayed step of a queued caller: %+v", x)
	}
	if n := vs.count(t, co.TenantID, `SELECT count(*) FROM contacts`); n != before {
		t.Fatalf("a replay opened a contact: %d -> %d", before, n)
	}

	// Hang-up leaf: its message, escaped, then the end.
	c4 := vs.dial(t, co, "CA00000000000000000000000000000004", "+4917600000004")
	if x := c4.press(t, "9"); x.Hangup == nil || len(x.Says) != 1 || x.Says[0] != "Goodbye & <thanks>." {
		t.Fatalf("hang-up leaf: %+v", x)
	}
}

func TestIVR_SilentCallerWithoutTimeOutPathHearsThePromptThreeTimesThenTheNumbersQueue(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 1)
	menu := vs.menu(t, co, "Short", map[string]any{"prompt": "Press 1 for payments.",
		"options": map[string]any{"1": map[string]any{"action": map[string]any{"type": "queue", "queue_id": co.Payments}}}})
	fallback := uuid.MustParse(co.Deliveries)
	vs.number(t, co, &menu, &fallback)
	c := vs.dial(t, co, "CA10000000000000000000000000000001", "+4917600000011")
	for i := 2; i <= 3; i++ {
		if x := c.silence(t); x.Gather == nil || !strings.Contains(x.Gather.Say, "Press 1") {
			t.Fatalf("silence %d: the prompt is not repeated: %+v", i-1, x)
		}
	}
	if x := c.silence(t); !strings.Contains(x.Redirect, "/voice/wait") {
		t.Fatalf("after three silent prompts: %+v", x)
	}
	d := vs.call(t, "GET", "/api/v1/contacts/"+conversation.ContactID(co.TenantID, "voice", c.sid).String(), co.Token, nil).mustStatus(t, http.StatusOK)
	if d.str("queue_id") != co.Deliveries {
		t.Fatalf("the number's queue does not take the silent caller: %s", d.Body)
	}
}

func TestIVR_NumberWithoutMenuGoesStraightToItsQueue(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 1)
	q := uuid.MustParse(co.Payments)
	vs.number(t, co, nil, &q)
	c := vs.dial(t, co, "CA20000000000000000000000000000001", "+4917600000021")
	if !strings.Contains(c.last.Redirect, "/voice/wait") || c.last.Gather != nil {
		t.Fatalf("no hold loop: %+v", c.last)
	}
	// A call to a number nobody has is refused politely.
	c.co.Number = "+4930999999"
	x := parseTwiML(t, vs.hook(t, co.TenantID, "", c.form(map[string]string{"CallSid": "CA20000000000000000000000000000002"}), co.Secret))
	if x.Hangup == nil || len(x.Says) == 0 || !strings.Contains(x.Says[0], "not in service") {
		t.Fatalf("unknown number: %+v", x)
	}
}

// meterRecords counts the tenant's meter records of a contact.
func (vs *voiceServer) meterRecords(t *testing.T, co callCenter, id uuid.UUID) int {
	return vs.count(t, co.TenantID, `SELECT count(*) FROM meter_records WHERE tenant_id = $1 AND contact_id = $2`, co.TenantID, id.String())
}

func TestIVR_SelfServiceMeteredLeafIsMeteredOnceEvenWhenReplayed(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 0)
	menu := vs.menu(t, co, "Main", deliveryMenu(co))
	vs.number(t, co, &menu, nil)
	balance := func() float64 { return num(vs.balance(t, co.company), "total_remaining") }
	start := balance()

	c := vs.dial(t, co, "CA30000000000000000000000000000001", "+4917600000031")
	c.press(t, "2")
	gather := c.last
	x := c.press(t, "2")
	if x.Hangup == nil || len(x.Says) != 1 || x.Says[0] != "Track parcels at acme.example/track." {
		t.Fatalf("self-service leaf: %+v", x)
	}
	// The provider replays the key press, and the status callback twice.
	c.last = gather
	if x := c.press(t, "2"); x.Hangup == nil {
		t.Fatalf("replayed self-service: %+v", x)
	}
	c.status(t, "completed")
	c.status(t, "completed")
	id := conversation.ContactID(co.TenantID, "voice", c.sid)
	d := vs.call(t, "GET", "/api/v1/contacts/"+id.String(), co.Token, nil).mustStatus(t, http.StatusOK)
	if d.str("state") != "closed" || d.str("accepted_at") == "" || d.JSON["agent_id"] != nil || d.str("metered_at") == "" {
		t.Fatalf("automated contact: %s", d.Body)
	}
	if n := vs.meterRecords(t, co, id); n != 1 {
		t.Fatalf("meter records of the self-service call: %d, want 1", n)
	}
	if got := balance(); got != start-1 {
		t.Fatalf("balance %v -> %v, want one contact drawn", start, got)
	}

	// Not metered: the opening-hours leaf records no contact at all.
	c2 := vs.dial(t, co, "CA30000000000000000000000000000002", "+4917600000032")
	if x := c2.press(t, "3"); x.Hangup == nil || x.Says[0] != "We are open 8 to 18. Goodbye." {
		t.Fatalf("unmetered self-service: %+v", x)
	}
	if n := vs.count(t, co.TenantID, `SELECT count(*) FROM contacts WHERE id = $1`, conversation.ContactID(co.TenantID, "voice", c2.sid)); n != 0 {
		t.Fatalf("an unmetered self-service call made a contact")
	}
	if got := balance(); got != start-1 {
		t.Fatalf("balance after an unmetered self-service call: %v, want %v", got, start-1)
	}
}

func TestIVR_BlockPolicyAnnouncesUnavailabilityAndRecordsTheCall(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 1)
	q := uuid.MustParse(co.Payments)
	vs.number(t, co, nil, &q)
	vs.call(t, "PUT", "/api/v1/usage/policy", co.Token, map[string]any{"policy": "block"}).mustStatus(t, http.StatusOK)
	vs.inTenant(t, co.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(t.Context(), `UPDATE bundles SET remaining = 0 WHERE tenant_id = $1`, co.TenantID)
		return err
	})
	c := vs.dial(t, co, "CA40000000000000000000000000000001", "+4917600000041")
	if c.last.Hangup == nil || len(c.last.Says) != 1 || !strings.Contains(c.last.Says[0], "unavailable") {
		t.Fatalf("block policy: %+v", c.last)
	}
	id := conversation.ContactID(co.TenantID, "voice", c.sid)
	d := vs.call(t, "GET", "/api/v1/contacts/"+id.String(), co.Token, nil).mustStatus(t, http.StatusOK)
	if d.str("state") != "rejected_no_credit" || d.str("subject") != "+4917600000041" {
		t.Fatalf("the refused call is not recorded: %s", d.Body)
	}
	// The provider retries the call: the same announcement, one contact.
	x := parseTwiML(t, vs.hook(t, co.TenantID, "", c.form(nil), co.Secret))
	if x.Hangup == nil || !strings.Contains(x.Says[0], "unavailable") && !strings.Contains(x.Says[0], "holding") {
		t.Fatalf("replayed refused call: %+v", x)
	}
	if n := vs.count(t, co.TenantID, `SELECT count(*) FROM contacts`); n != 1 {
		t.Fatalf("contacts after a replayed refused call: %d", n)
	}
}

func TestIVR_ClosedQueueSaysItsClosedMessage(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 1)
	// Open only on the day after tomorrow: closed now.
	day := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}[(time.Now().UTC().Weekday()+2)%7]
	vs.call(t, "PATCH", "/api/v1/queues/"+co.Payments, co.Token, map[string]any{
		"business_hours": map[string]any{"timezone": "UTC", "days": map[string]any{day: []string{"08:00", "18:00"}}},
		"closed_message": "We are closed & back on Monday.",
	}).mustStatus(t, http.StatusOK)
	q := uuid.MustParse(co.Payments)
	vs.number(t, co, nil, &q)
	c := vs.dial(t, co, "CA50000000000000000000000000000001", "+4917600000051")
	// Then the voicemail (voice_waiting_test.go).
	if c.last.Hangup != nil || len(c.last.Says) != 2 || c.last.Says[0] != "We are closed & back on Monday." {
		t.Fatalf("closed queue: %+v", c.last)
	}
}
