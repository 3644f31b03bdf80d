package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestRoutingPages_AnnounceEvery: the queue form shows and saves how
// often callers hear their place in line (60 by default, 0 never) and
// refuses a value out of range.
func TestRoutingPages_AnnounceEvery(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "owner@acme.example", goodPassword)
	_, page, token := b.get("/routing")
	if !strings.Contains(page, `name="announce_every_seconds" type="number" min="0" max="3600" value="60"`) {
		t.Fatalf("the new-queue form lacks the announcement field")
	}
	// Left out of the form: the default.
	if resp, body := b.post("/routing/queues", queueForm(token, "Support", nil)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	qs := ts.call(t, "GET", "/api/v1/queues", owner.Token, nil).mustStatus(t, http.StatusOK).JSON["queues"].([]any)
	q := qs[0].(map[string]any)
	id := q["id"].(string)
	if q["announce_every_seconds"] != 60.0 {
		t.Fatalf("default: %v", q)
	}
	if resp, body := b.post("/routing/queues/"+id, queueForm(token, "Support", url.Values{"always_open": {"1"}, "announce_every_seconds": {"0"}})); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d %s", resp.StatusCode, body)
	}
	if q := ts.call(t, "GET", "/api/v1/queues/"+id, owner.Token, nil).mustStatus(t, http.StatusOK).JSON; q["announce_every_seconds"] != 0.0 {
		t.Fatalf("after update: %v", q)
	}
	if _, page, _ := b.get("/routing"); !strings.Contains(page, `name="announce_every_seconds" type="number" min="0" max="3600" value="0"`) {
		t.Errorf("the queue's form does not show 0")
	}
	for _, bad := range []string{"-1", "3601", "often"} {
		resp, body := b.post("/routing/queues/"+id, queueForm(token, "Support", url.Values{"always_open": {"1"}, "announce_every_seconds": {bad}}))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="error"`) {
			t.Errorf("announce_every_seconds %s: %d", bad, resp.StatusCode)
		}
	}
}
