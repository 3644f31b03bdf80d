package web_test

import (
	"net/http"
	"testing"
)

// TestContactsAPI_QueuePositionAndWait: with the one agent busy, three
// contacts wait; GET /contacts/{id} says where each stands (a priority
// contact goes first) and how long it should take; an offered or
// accepted contact carries null. Another tenant's contact id is a 404;
// announce_every_seconds is a queue setting with its bounds.
func TestContactsAPI_QueuePositionAndWait(t *testing.T) {
	ts := newServer(t)
	rc := ts.routed(t, "acme", 1)
	other := ts.routed(t, "globex", 1)
	agent := rc.agents[0]

	busy := ts.call(t, "POST", "/api/v1/contacts", rc.key, map[string]any{"queue_id": rc.queue, "channel": "chat"}).mustStatus(t, http.StatusCreated)
	if busy.str("state") != "offered" {
		t.Fatalf("first contact: %s", busy.Body)
	}
	ts.call(t, "POST", "/api/v1/contacts/"+busy.str("id")+"/accept", agent.Token, nil).mustStatus(t, http.StatusOK)
	var ids []string
	for _, prio := range []int{0, 0, 3} {
		ct := ts.call(t, "POST", "/api/v1/contacts", rc.key, map[string]any{"queue_id": rc.queue, "channel": "chat", "priority": prio}).mustStatus(t, http.StatusCreated)
		if ct.str("state") != "queued" {
			t.Fatalf("contact: %s", ct.Body)
		}
		ids = append(ids, ct.str("id"))
	}
	// One agent, one chat slot, no handled contact yet: 3 min a round.
	for i, want := range []float64{2, 3, 1} {
		d := ts.call(t, "GET", "/api/v1/contacts/"+ids[i], rc.Token, nil).mustStatus(t, http.StatusOK)
		if d.JSON["queue_position"] != want || d.JSON["estimated_wait_seconds"] != want*180 {
			t.Errorf("contact %d: position %v wait %v, want %v and %v", i, d.JSON["queue_position"], d.JSON["estimated_wait_seconds"], want, want*180)
		}
	}
	a := ts.call(t, "GET", "/api/v1/contacts/"+busy.str("id"), rc.Token, nil).mustStatus(t, http.StatusOK)
	if v, ok := a.JSON["queue_position"]; !ok || v != nil || a.JSON["estimated_wait_seconds"] != nil {
		t.Errorf("an accepted contact has a place in line: %s", a.Body)
	}

	// Cross-tenant: the other company's owner and agent see nothing.
	for _, tok := range []string{other.Token, other.agents[0].Token} {
		if ans := ts.call(t, "GET", "/api/v1/contacts/"+ids[0], tok, nil).mustStatus(t, http.StatusNotFound); ans.errCode() != "not_found" {
			t.Errorf("another tenant's contact: %s", ans.Body)
		}
	}
	// An agent sees only contacts offered to them: not the queued ones.
	ts.call(t, "GET", "/api/v1/contacts/"+ids[0], agent.Token, nil).mustStatus(t, http.StatusNotFound)
	ts.call(t, "GET", "/api/v1/contacts/00000000-0000-0000-0000-000000000000", rc.Token, nil).mustStatus(t, http.StatusNotFound)
	ts.call(t, "GET", "/api/v1/contacts/not-an-id", rc.Token, nil).mustStatus(t, http.StatusNotFound)

	q := ts.call(t, "GET", "/api/v1/queues/"+rc.queue, rc.Token, nil).mustStatus(t, http.StatusOK)
	if q.JSON["announce_every_seconds"] != float64(60) {
		t.Errorf("default announce_every_seconds: %s", q.Body)
	}
	ts.call(t, "PATCH", "/api/v1/queues/"+rc.queue, rc.Token, map[string]any{"announce_every_seconds": 0}).mustStatus(t, http.StatusOK)
	for _, bad := range []any{-1, 3601, "often"} {
		ans := ts.call(t, "PATCH", "/api/v1/queues/"+rc.queue, rc.Token, map[string]any{"announce_every_seconds": bad})
		if ans.Status != http.StatusBadRequest {
			t.Errorf("announce_every_seconds %v: %d %s", bad, ans.Status, ans.Body)
		}
	}
	if q := ts.call(t, "GET", "/api/v1/queues/"+rc.queue, rc.Token, nil).mustStatus(t, http.StatusOK); q.JSON["announce_every_seconds"] != float64(0) {
		t.Errorf("announce_every_seconds after the bad input: %s", q.Body)
	}
}
