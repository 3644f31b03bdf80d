package web_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	Name string
	Data map[string]any
}

// openEvents opens an event stream with the browser's cookies and returns
// its events as they come.
func (b *browserClient) openEvents(path string) <-chan sseEvent {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	client := &http.Client{Jar: b.c.Jar} // no timeout: the stream stays open
	resp, err := client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		raw, _ := io.ReadAll(resp.Body)
		b.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, raw)
	}
	b.t.Cleanup(func() { resp.Body.Close() })
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.Data)
			case line == "" && ev.Name != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	return out
}

func nextEvent(t *testing.T, events <-chan sseEvent, name string) sseEvent {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("stream ended before a %q event", name)
			}
			if ev.Name == name {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %q event within 10 s", name)
		}
	}
}

func (b *browserClient) getJSON(path string) (int, map[string]any) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (b *browserClient) postJSON(path string, form url.Values) (int, map[string]any) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestDeskPages_LiveOfferAcceptWrapUpClose(t *testing.T) {
	ts := newServer(t)
	rc := ts.routed(t, "acme", 0)
	agent := ts.createUser(t, rc.company, "ann@acme.example", "agent")
	ts.call(t, "PUT", "/api/v1/agents/"+agent.UserID.String()+"/routing", rc.Token, map[string]any{"capacity": map[string]int{"chat": 1}}).mustStatus(t, http.StatusOK)
	// The customer's first contact waits: nobody is available yet.
	earlier := ts.call(t, "POST", "/api/v1/contacts", rc.key, map[string]any{"queue_id": rc.queue, "channel": "chat", "customer_ref": "cust-9"}).mustStatus(t, http.StatusCreated).str("id")

	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "ann@acme.example", goodPassword)
	resp, _, token := b.get("/desk")
	if resp.StatusCode != http.StatusOK || token == "" {
		t.Fatalf("desk: %d", resp.StatusCode)
	}
	// Without the CSRF token the status cannot change.
	if st, _ := b.postJSON("/desk/status", url.Values{"status": {"available"}}); st != http.StatusForbidden {
		t.Fatalf("status without CSRF: %d", st)
	}
	events := b.openEvents("/desk/events")
	nextEvent(t, events, "hello")
	if st, m := b.postJSON("/desk/status", url.Values{"_csrf": {token}, "status": {"available"}}); st != http.StatusOK || m["status"] != "available" {
		t.Fatalf("available: %d %v", st, m)
	}
	// Going available took the queue's waiting contact at once.
	ev := nextEvent(t, events, "change")
	if ev.Data["kind"] != "offer" || ev.Data["agent_id"] != agent.UserID.String() || ev.Data["contact_id"] != earlier {
		t.Fatalf("first event: %v", ev.Data)
	}
	if st, m := b.postJSON("/desk/contacts/"+earlier+"/reject", url.Values{"_csrf": {token}}); st != http.StatusOK {
		t.Fatalf("reject: %d %v", st, m)
	}
	if ev := nextEvent(t, events, "change"); ev.Data["kind"] != "requeue" {
		t.Fatalf("after reject: %v", ev.Data)
	}
	// The same customer again: the agent who missed the first contact is
	// not offered it next, so they get this one.
	cid := ts.call(t, "POST", "/api/v1/contacts", rc.key, map[string]any{"queue_id": rc.queue, "channel": "chat", "customer_ref": "cust-9"}).mustStatus(t, http.StatusCreated).str("id")
	if ev := nextEvent(t, events, "change"); ev.Data["kind"] != "offer" || ev.Data["contact_id"] != cid {
		t.Fatalf("second offer: %v", ev.Data)
	}
	st, state := b.getJSON("/desk/state")
	if st != http.StatusOK || state["status"] != "available" {
		t.Fatalf("state: %d %v", st, state)
	}
	offered := state["offered"].([]any)
	if len(offered) != 1 || offered[0].(map[string]any)["id"] != cid {
		t.Fatalf("offered: %v", state)
	}
	o := offered[0].(map[string]any)
	if o["offer_expires_at"] == nil {
		t.Fatalf("offer without expiry: %v", o)
	}
	exp, _ := time.Parse(time.RFC3339Nano, o["offer_expires_at"].(string))
	if left := time.Until(exp); left <= 0 || left > 21*time.Second {
		t.Fatalf("offer expires in %s", left)
	}
	if st, m := b.postJSON("/desk/contacts/"+cid+"/accept", url.Values{"_csrf": {token}}); st != http.StatusOK {
		t.Fatalf("accept: %d %v", st, m)
	}
	_, state = b.getJSON("/desk/state")
	active := state["active"].([]any)
	if len(active) != 1 || len(state["offered"].([]any)) != 0 {
		t.Fatalf("after accept: %v", state)
	}
	a := active[0].(map[string]any)
	if a["state"] != "accepted" || len(a["events"].([]any)) < 3 || state["queues"].(map[string]any)[rc.queue] != "Support" {
		t.Fatalf("active contact: %v", a)
	}
	// The customer's other contact shows in the history, though it was
	// never this agent's.
	hist := a["history"].([]any)
	if len(hist) != 1 || hist[0].(map[string]any)["id"] != earlier {
		t.Fatalf("history: %v", hist)
	}
	for _, tc := range []struct {
		action string
		form   url.Values
		status int
	}{
		{"wrapup", url.Values{"disposition": {"nope"}}, 400},
		{"transfer", url.Values{"to": {"queue:not-an-id"}}, 400},
		{"fly", nil, 404},
		{"wrapup", url.Values{"disposition": {"solved"}}, 200},
		{"close", nil, 200},
	} {
		f := url.Values{"_csrf": {token}}
		for k, v := range tc.form {
			f[k] = v
		}
		if st, m := b.postJSON("/desk/contacts/"+cid+"/"+tc.action, f); st != tc.status {
			t.Fatalf("%s %v: %d %v", tc.action, tc.form, st, m)
		}
	}
	d := ts.call(t, "GET", "/api/v1/contacts/"+cid, rc.Token, nil).mustStatus(t, http.StatusOK)
	if d.str("state") != "closed" || d.str("disposition") != "solved" {
		t.Fatalf("contact after the desk: %s", d.Body)
	}
	// Away from the desk: status change, no seat needed.
	if st, _ := b.postJSON("/desk/status", url.Values{"_csrf": {token}, "status": {"away"}}); st != http.StatusOK {
		t.Fatalf("away: %d", st)
	}
	if _, state = b.getJSON("/desk/state"); state["status"] != "away" {
		t.Fatalf("status: %v", state["status"])
	}
}

func TestDeskPages_AvailableNeedsTheSessionsSeat(t *testing.T) {
	ts := newServer(t)
	rc := ts.routed(t, "acme", 0)
	ts.call(t, "PUT", "/api/v1/agents/"+rc.UserID.String()+"/routing", rc.Token, map[string]any{"capacity": map[string]int{"chat": 1}}).mustStatus(t, http.StatusOK)
	b := newBrowserClient(t, ts.listen(t))
	// An owner takes no seat at login, so cannot go available at the desk.
	b.login("acme", "owner@acme.example", goodPassword)
	_, body, token := b.get("/desk")
	if !strings.Contains(body, `id="no-seat"`) {
		t.Error("the desk does not say the owner holds no seat")
	}
	if st, m := b.postJSON("/desk/status", url.Values{"_csrf": {token}, "status": {"available"}}); st != http.StatusForbidden || m["error"].(map[string]any)["code"] != "seat_required" {
		t.Fatalf("owner available: %d %v", st, m)
	}
	// A forged seat cookie is checked against the pool.
	u, _ := url.Parse(b.base)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "cic_seat", Value: "6b1c4c2e-0000-4000-8000-000000000000", Path: "/"}})
	if st, _ := b.postJSON("/desk/status", url.Values{"_csrf": {token}, "status": {"available"}}); st < 400 {
		t.Fatalf("available with a forged seat: %d", st)
	}
	if st, m := b.postJSON("/desk/status", url.Values{"_csrf": {token}, "status": {"dancing"}}); st != http.StatusBadRequest {
		t.Fatalf("unknown status: %d %v", st, m)
	}
}

// TestIsolation_DeskIsPerTenant: tenant B's agent, through the desk's
// own routes, can neither see nor act on A's contact, and A's contact is
// unchanged.
func TestIsolation_DeskIsPerTenant(t *testing.T) {
	ts := newServer(t)
	a := ts.routed(t, "acme", 1)
	ts.routed(t, "bravo", 0)
	ts.createUser(t, company{Token: ts.call(t, "POST", "/api/v1/auth/login", "", map[string]any{
		"tenant": "bravo", "email": "owner@bravo.example", "password": goodPassword}).str("access_token"), Slug: "bravo"}, "bob@bravo.example", "agent")
	id := ts.call(t, "POST", "/api/v1/contacts", a.key, map[string]any{"queue_id": a.queue, "channel": "chat", "customer_ref": "acme-secret"}).mustStatus(t, http.StatusCreated).str("id")
	before := ts.call(t, "GET", "/api/v1/contacts/"+id, a.Token, nil).mustStatus(t, http.StatusOK)

	b := newBrowserClient(t, ts.listen(t))
	b.login("bravo", "bob@bravo.example", goodPassword)
	_, page, token := b.get("/desk")
	if strings.Contains(page, "acme-secret") || strings.Contains(page, id) {
		t.Fatal("B's desk shows A's contact")
	}
	if _, state := b.getJSON("/desk/state"); strings.Contains(fmt.Sprint(state), id) {
		t.Fatalf("B's desk state lists A's contact: %v", state)
	}
	for _, action := range []string{"accept", "reject", "close", "wrapup", "transfer"} {
		st, m := b.postJSON("/desk/contacts/"+id+"/"+action, url.Values{"_csrf": {token}, "disposition": {"solved"}, "to": {"queue:" + a.queue}})
		if st < 400 || st >= 500 || strings.Contains(fmt.Sprint(m), "acme-secret") {
			t.Errorf("B %s of A's contact: %d %v", action, st, m)
		}
	}
	after := ts.call(t, "GET", "/api/v1/contacts/"+id, a.Token, nil).mustStatus(t, http.StatusOK)
	if before.str("state") != after.str("state") || before.str("agent_id") != after.str("agent_id") {
		t.Errorf("A's contact changed under B: %s -> %s", before.Body, after.Body)
	}
}
