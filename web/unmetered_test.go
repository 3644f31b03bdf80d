package web_test

import (
	"net/http"
	"testing"
	"time"
)

// TestChat_SupervisorCannotTalkOnAQueuedChat is the attack of issue #15,
// item 3: a supervisor with no seat and no accept joins a queued chat
// over the agent socket and over POST /contacts/{id}/messages and talks
// to the visitor; the visitor leaves, the contact ends abandoned with no
// meter record. Both sends are refused 409 not_accepted and nothing
// reaches the visitor.
func TestChat_SupervisorCannotTalkOnAQueuedChat(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	rc := ts.routed(t, "acme", 0) // no agent: the chat waits in the queue
	sup := ts.createUser(t, rc.company, "sam@acme.example", "supervisor")
	key, _ := ts.widget(t, rc, site)
	started := ts.startChat(t, key, site, map[string]any{}).mustStatus(t, http.StatusCreated)
	id, token := started.str("contact_id"), started.str("token")
	if started.str("state") != "queued" {
		t.Fatalf("state %s, want queued", started.str("state"))
	}
	v := visitorSocket(t, base, token, 0)
	v.next(t, "hello")
	v.send(t, map[string]any{"type": "send", "client_id": "v-1", "body": "Hello?"})
	v.next(t, "ack")

	for _, who := range []company{sup, rc.company} { // supervisor, and the owner too
		ws := agentSocket(t, base, who)
		ws.next(t, "hello")
		ws.send(t, map[string]any{"type": "join", "contact_id": id, "after": 0})
		ws.send(t, map[string]any{"type": "send", "contact_id": id, "client_id": "s-1", "body": "Hi, I can help you for free."})
		if e, _ := ws.next(t, "error"); e["error"].(map[string]any)["code"] != "not_accepted" {
			t.Fatalf("socket send on a queued chat: %v", e)
		}
		a := ts.call(t, "POST", "/api/v1/contacts/"+id+"/messages", who.Token, map[string]any{"client_id": "s-2", "body": "Still free."})
		if a.mustStatus(t, http.StatusConflict); a.errCode() != "not_accepted" {
			t.Fatalf("API send on a queued chat: %s", a.Body)
		}
	}
	for _, f := range v.quiet(500 * time.Millisecond) {
		if f["type"] == "message" {
			if _, sender, _, _ := msg(f); sender != "visitor" {
				t.Fatalf("the visitor received %v", f)
			}
		}
	}
	var answers int
	if err := ts.DB.Owner.QueryRow(t.Context(), `SELECT count(*) FROM chat_messages WHERE tenant_id = $1 AND contact_id = $2 AND sender <> 'visitor'`,
		rc.TenantID, id).Scan(&answers); err != nil || answers != 0 {
		t.Fatalf("%d answers stored (%v), want 0", answers, err)
	}
	v.send(t, map[string]any{"type": "leave"})
	ts.waitState(t, rc.company, id, "abandoned")
	var metered int
	if err := ts.DB.Owner.QueryRow(t.Context(), `SELECT count(*) FROM meter_records WHERE tenant_id = $1`, rc.TenantID).Scan(&metered); err != nil || metered != 0 {
		t.Fatalf("%d meter records (%v), want 0: an abandoned, unanswered chat", metered, err)
	}
}
