package web_test

import (
	"net/http"
	"testing"
)

// routedCompany is a tenant with a chat queue, a disposition, an API key
// and n agents seated, with a routing profile and available.
type routedCompany struct {
	company
	key    string
	queue  string
	agents []company
	leases []string
}

func (ts *testServer) routed(t *testing.T, slug string, n int) routedCompany {
	t.Helper()
	rc := routedCompany{company: ts.signup(t, slug)}
	rc.key, _ = ts.apiKey(t, rc.company, "PBX")
	rc.queue = ts.call(t, "POST", "/api/v1/queues", rc.Token, map[string]any{"name": "Support", "channels": []string{"chat"}}).mustStatus(t, http.StatusCreated).str("id")
	ts.call(t, "PUT", "/api/v1/dispositions/solved", rc.Token, map[string]any{"label": "Solved"}).mustStatus(t, http.StatusOK)
	for i := range n {
		a := ts.createUser(t, rc.company, string(rune('a'+i))+"@"+slug+".example", "agent")
		ts.call(t, "PUT", "/api/v1/agents/"+a.UserID.String()+"/routing", rc.Token, map[string]any{"capacity": map[string]int{"chat": 1}}).mustStatus(t, http.StatusOK)
		lease := ts.lease(t, a, "desk").mustStatus(t, http.StatusCreated).str("lease_id")
		req := jsonRequest(t, "PUT", "/api/v1/agent/status", map[string]any{"status": "available"})
		req.Header.Set("Authorization", "Bearer "+a.Token)
		req.Header.Set("X-Seat-Lease", lease)
		ts.do(t, req).mustStatus(t, http.StatusOK)
		rc.agents, rc.leases = append(rc.agents, a), append(rc.leases, lease)
	}
	return rc
}

func TestContactsAPI_RouteAcceptWrapUpClose(t *testing.T) {
	ts := newServer(t)
	rc := ts.routed(t, "acme", 1)
	agent := rc.agents[0]
	// Becoming available needs a seat.
	if a := ts.call(t, "PUT", "/api/v1/agent/status", agent.Token, map[string]any{"status": "available"}).mustStatus(t, http.StatusForbidden); a.errCode() != "seat_required" {
		t.Errorf("available without lease: %s", a.Body)
	}

	ct := ts.call(t, "POST", "/api/v1/contacts", rc.key, map[string]any{"queue_id": rc.queue, "channel": "chat", "customer_ref": "visitor-7"}).mustStatus(t, http.StatusCreated)
	id := ct.str("id")
	if ct.str("state") != "offered" || ct.str("agent_id") != agent.UserID.String() {
		t.Fatalf("opened: %s", ct.Body)
	}
	mine := ts.call(t, "GET", "/api/v1/contacts?state=open", agent.Token, nil).mustStatus(t, http.StatusOK)
	if l, _ := mine.JSON["contacts"].([]any); len(l) != 1 || l[0].(map[string]any)["offer_expires_at"] == nil {
		t.Fatalf("agent's open contacts: %s", mine.Body)
	}
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/accept", agent.Token, nil).mustStatus(t, http.StatusOK)
	bal := ts.call(t, "GET", "/api/v1/usage/balance", rc.Token, nil).mustStatus(t, http.StatusOK)
	if bal.JSON["total_remaining"] != float64(249) {
		t.Errorf("balance after one accepted contact: %v", bal.JSON["total_remaining"])
	}
	if a := ts.call(t, "POST", "/api/v1/contacts/"+id+"/wrapup", agent.Token, map[string]any{"disposition": "nope"}).mustStatus(t, http.StatusBadRequest); a.errCode() != "invalid_disposition" {
		t.Errorf("bad disposition: %s", a.Body)
	}
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/wrapup", agent.Token, map[string]any{"disposition": "solved"}).mustStatus(t, http.StatusNoContent)
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/close", agent.Token, nil).mustStatus(t, http.StatusNoContent)
	d := ts.call(t, "GET", "/api/v1/contacts/"+id, rc.Token, nil).mustStatus(t, http.StatusOK)
	if d.str("state") != "closed" || d.str("disposition") != "solved" || len(d.JSON["events"].([]any)) < 5 {
		t.Errorf("closed contact: %s", d.Body)
	}
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "/api/v1/contacts?state=bogus", nil, 400},
		{"GET", "/api/v1/contacts?limit=0", nil, 400},
		{"GET", "/api/v1/contacts/not-an-id", nil, 404},
		{"POST", "/api/v1/contacts/" + id + "/transfer", map[string]any{}, 400},
		{"POST", "/api/v1/contacts/" + id + "/close", nil, 409},
	} {
		ts.call(t, tc.method, tc.path, rc.Token, tc.body).mustStatus(t, tc.status)
	}
	ts.call(t, "POST", "/api/v1/contacts", rc.key, map[string]any{"queue_id": rc.queue, "channel": "pigeon"}).mustStatus(t, http.StatusBadRequest)
	ts.call(t, "POST", "/api/v1/contacts", rc.Token, map[string]any{"queue_id": rc.queue, "channel": "chat"}).mustStatus(t, http.StatusUnauthorized)
}

func TestIsolation_ContactsArePerTenant(t *testing.T) {
	ts := newServer(t)
	a := ts.routed(t, "acme", 1)
	b := ts.routed(t, "bravo", 1)
	id := ts.call(t, "POST", "/api/v1/contacts", a.key, map[string]any{"queue_id": a.queue, "channel": "chat"}).mustStatus(t, http.StatusCreated).str("id")
	assertIsolated(t, ts, a.company, b.company, "/api/v1/contacts/"+id, []route{
		{"GET", "/api/v1/contacts/:id", nil},
		{"POST", "/api/v1/contacts/:id/close", nil},
		{"POST", "/api/v1/contacts/:id/transfer", map[string]any{"queue_id": b.queue}},
	})
	// B's agent cannot accept it, B's key cannot open into A's queue.
	if r := ts.call(t, "POST", "/api/v1/contacts/"+id+"/accept", b.agents[0].Token, nil); r.Status < 400 {
		t.Errorf("B's agent accepted A's contact: %d", r.Status)
	}
	ts.call(t, "POST", "/api/v1/contacts", b.key, map[string]any{"queue_id": a.queue, "channel": "chat"}).mustStatus(t, http.StatusNotFound)
	if l := ts.call(t, "GET", "/api/v1/contacts", b.Token, nil).mustStatus(t, http.StatusOK); len(l.JSON["contacts"].([]any)) != 0 {
		t.Errorf("B lists A's contacts: %s", l.Body)
	}
}
