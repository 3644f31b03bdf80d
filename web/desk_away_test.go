package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestDeskPages_AwayAfterMissedOffers: an agent who lets three offers go
// in a row (the queue's max_misses) is set away by routing; the desk's
// state says why and how many, the page says it in the agent's language
// with a button to become available, and becoming available clears it.
func TestDeskPages_AwayAfterMissedOffers(t *testing.T) {
	ts := newServer(t)
	rc := ts.routed(t, "acme", 0)
	agent := ts.createUser(t, rc.company, "ann@acme.example", "agent")
	ts.call(t, "PUT", "/api/v1/agents/"+agent.UserID.String()+"/routing", rc.Token, map[string]any{"capacity": map[string]int{"chat": 1}}).mustStatus(t, http.StatusOK)
	for range 3 {
		ts.call(t, "POST", "/api/v1/contacts", rc.key, map[string]any{"queue_id": rc.queue, "channel": "chat"}).mustStatus(t, http.StatusCreated)
	}
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "ann@acme.example", goodPassword)
	_, body, token := b.get("/desk")
	if !strings.Contains(body, `id="away-notice"`) || !strings.Contains(body, `Become available`) {
		t.Fatal("the desk has no away notice")
	}
	if st, m := b.postJSON("/desk/status", url.Values{"_csrf": {token}, "status": {"available"}}); st != http.StatusOK {
		t.Fatalf("available: %d %v", st, m)
	}
	for i := range 3 {
		_, state := b.getJSON("/desk/state")
		offered := state["offered"].([]any)
		if len(offered) != 1 {
			t.Fatalf("miss %d: offered %v", i+1, state)
		}
		id := offered[0].(map[string]any)["id"].(string)
		if st, m := b.postJSON("/desk/contacts/"+id+"/reject", url.Values{"_csrf": {token}}); st != http.StatusOK {
			t.Fatalf("reject %d: %d %v", i+1, st, m)
		}
	}
	_, state := b.getJSON("/desk/state")
	if state["status"] != "away" || state["status_reason"] != "missed_offers" || state["missed_offers"] != 3.0 {
		t.Fatalf("after 3 misses: %v", state)
	}
	// The page in German (Accept-Language), with the count.
	req, _ := http.NewRequest("GET", b.base+"/desk", nil)
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Accept-Language", "de-DE,de;q=0.9")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if de := string(raw); !strings.Contains(de, ">Sie wurden nach 3 verpassten Angeboten auf abwesend gesetzt.</span>") ||
		!strings.Contains(de, "Wieder verfügbar werden") || strings.Contains(de, `gesetzt." hidden>`) {
		t.Fatalf("German desk without the shown notice:\n%s", de)
	}
	// The button posts available, as the status buttons do.
	if st, m := b.postJSON("/desk/status", url.Values{"_csrf": {token}, "status": {"available"}}); st != http.StatusOK {
		t.Fatalf("become available: %d %v", st, m)
	}
	if _, state = b.getJSON("/desk/state"); state["status"] != "available" || state["status_reason"] != nil {
		t.Fatalf("after becoming available: %v", state)
	}
}
