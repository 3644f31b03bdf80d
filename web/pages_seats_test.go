package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// heartbeat posts the page heartbeat as seat.js does.
func (b *browserClient) heartbeat(token string) (int, map[string]any) {
	b.t.Helper()
	resp, body := b.post("/seat/heartbeat", url.Values{"_csrf": {token}})
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	return resp.StatusCode, m
}

func TestPagesSeats_LoginTakesASeatAndIsRefusedWhenFull(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	for _, e := range []string{"a1@acme.example", "a2@acme.example", "a3@acme.example"} {
		ts.createUser(t, owner, e, "agent")
	}
	base := ts.listen(t)
	b1, b2, b3 := newBrowserClient(t, base), newBrowserClient(t, base), newBrowserClient(t, base)
	b1.login("acme", "a1@acme.example", goodPassword)
	b2.login("acme", "a2@acme.example", goodPassword)
	// The owner takes no seat.
	newBrowserClient(t, base).login("acme", "owner@acme.example", goodPassword)

	_, _, token := b3.get("/login")
	resp, body := b3.post("/login", url.Values{"_csrf": {token}, "tenant": {"acme"}, "email": {"a3@acme.example"}, "password": {goodPassword}, "workstation": {"Desk 3"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "All 2 seats of Company acme are in use — ask an admin to free one, or try again in a moment") {
		t.Fatalf("third agent: %d %s", resp.StatusCode, body)
	}
	// Refused, the third agent has no session.
	if resp, _, _ := b3.get("/dashboard"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("refused agent reached the dashboard: %d", resp.StatusCode)
	}

	// Seated pages carry the heartbeat; it answers JSON.
	_, page, token1 := b1.get("/dashboard")
	if !strings.Contains(page, `/static/seat.js`) || !strings.Contains(page, `name="seat-heartbeat" content="20"`) {
		t.Fatal("the agent's page does not heartbeat its seat")
	}
	if st, m := b1.heartbeat(token1); st != http.StatusOK || m["ok"] != true {
		t.Fatalf("heartbeat: %d %v", st, m)
	}

	// Logging out frees the seat: the third agent gets in.
	b1.post("/logout", url.Values{"_csrf": {token1}})
	b3.login("acme", "a3@acme.example", goodPassword)
	if h := ts.holders(t, owner); len(h) != 2 {
		t.Fatalf("%d holders, want 2", len(h))
	}
}

func TestPagesSeats_ForceReleaseEndsTheSession(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	ts.createUser(t, owner, "agent@acme.example", "agent")
	base := ts.listen(t)
	agent := newBrowserClient(t, base)
	agent.login("acme", "agent@acme.example", goodPassword)
	_, _, token := agent.get("/dashboard")

	admin := newBrowserClient(t, base)
	admin.login("acme", "owner@acme.example", goodPassword)
	_, page, atoken := admin.get("/seats")
	h := ts.holders(t, owner)
	if len(h) != 1 {
		t.Fatalf("holders %v", h)
	}
	lease := h[0].(map[string]any)["lease_id"].(string)
	if !strings.Contains(page, "agent@acme.example") || !strings.Contains(page, lease) {
		t.Fatal("the seats page does not list the holder")
	}
	resp, _ := admin.post("/seats/"+lease+"/release", url.Values{"_csrf": {atoken}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/seats?done=released" {
		t.Fatalf("release: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	st, m := agent.heartbeat(token)
	e, _ := m["error"].(map[string]any)
	if st != http.StatusConflict || e["code"] != "lease_released" {
		t.Fatalf("heartbeat after release: %d %v", st, m)
	}
	if resp, _, _ := agent.get("/dashboard"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("session survived the release: %d", resp.StatusCode)
	}
	if _, login, _ := agent.get("/login"); !strings.Contains(login, "An admin released your seat") {
		t.Fatal("the login page does not say why")
	}
}

func TestPagesSeats_OnlyManagersSeeTheSeatsPage(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	ts.createUser(t, owner, "agent@acme.example", "agent")
	ts.createUser(t, owner, "sup@acme.example", "supervisor")
	base := ts.listen(t)
	agent := newBrowserClient(t, base)
	agent.login("acme", "agent@acme.example", goodPassword)
	if resp, _, _ := agent.get("/seats"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent GET /seats: %d", resp.StatusCode)
	}
	sup := newBrowserClient(t, base)
	sup.login("acme", "sup@acme.example", goodPassword)
	resp, page, _ := sup.get("/seats")
	if resp.StatusCode != http.StatusOK || strings.Contains(page, "/release") || strings.Contains(page, "reserve-form") {
		t.Errorf("supervisor's seats page: %d, release or reserve offered", resp.StatusCode)
	}
}
