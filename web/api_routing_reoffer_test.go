package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestRoutingAPI_ReofferPreferredAndSkillSteps: the queue settings of
// issue 16 round-trip through the API with their defaults, bad values are
// 400 with a code, and another tenant cannot change them.
func TestRoutingAPI_ReofferPreferredAndSkillSteps(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	other := ts.signup(t, "globex")
	q := ts.call(t, "POST", "/api/v1/queues", owner.Token, map[string]any{"name": "Support", "channels": []string{"chat"}}).mustStatus(t, http.StatusCreated)
	if q.JSON["reoffer_after_seconds"] != 10.0 || q.JSON["preferred_agent_seconds"] != 0.0 || len(q.JSON["skill_steps"].([]any)) != 0 {
		t.Fatalf("defaults: %s", q.Body)
	}
	qid := q.str("id")
	up := ts.call(t, "PATCH", "/api/v1/queues/"+qid, owner.Token, map[string]any{"reoffer_after_seconds": 0, "preferred_agent_seconds": 30,
		"skill_steps": []map[string]any{{"after_seconds": 20, "min_level": 5}, {"after_seconds": 40, "min_level": 2}}, "relax_after_seconds": 90}).mustStatus(t, http.StatusOK)
	steps := up.JSON["skill_steps"].([]any)
	if up.JSON["reoffer_after_seconds"] != 0.0 || up.JSON["preferred_agent_seconds"] != 30.0 || len(steps) != 2 ||
		steps[1].(map[string]any)["min_level"] != 2.0 || steps[1].(map[string]any)["after_seconds"] != 40.0 {
		t.Fatalf("patched: %s", up.Body)
	}
	if got := ts.call(t, "GET", "/api/v1/queues/"+qid, owner.Token, nil).mustStatus(t, http.StatusOK); len(got.JSON["skill_steps"].([]any)) != 2 {
		t.Fatalf("read back: %s", got.Body)
	}
	for _, tc := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"reoffer_after_seconds": -1}, "invalid_reoffer_after"},
		{map[string]any{"reoffer_after_seconds": 3601}, "invalid_reoffer_after"},
		{map[string]any{"reoffer_after_seconds": "soon"}, "invalid_json"},
		{map[string]any{"preferred_agent_seconds": 4000}, "invalid_preferred_agent"},
		{map[string]any{"skill_steps": []map[string]any{{"after_seconds": 40, "min_level": 5}, {"after_seconds": 20, "min_level": 2}}}, "invalid_skill_steps"},
		{map[string]any{"skill_steps": []map[string]any{{"after_seconds": 20, "min_level": 2}, {"after_seconds": 40, "min_level": 5}}}, "invalid_skill_steps"},
		{map[string]any{"skill_steps": []map[string]any{{"after_seconds": 20, "min_level": 10}}}, "invalid_skill_steps"},
		{map[string]any{"skill_steps": []map[string]any{{"after_seconds": 0, "min_level": 3}}}, "invalid_skill_steps"},
		// relax_after_seconds (90) is the step to level 0: not a second one, not before a step.
		{map[string]any{"skill_steps": []map[string]any{{"after_seconds": 20, "min_level": 0}}}, "invalid_skill_steps"},
		{map[string]any{"skill_steps": []map[string]any{{"after_seconds": 120, "min_level": 3}}}, "invalid_skill_steps"},
		{map[string]any{"skill_steps": "20:5"}, "invalid_json"},
	} {
		if a := ts.call(t, "PATCH", "/api/v1/queues/"+qid, owner.Token, tc.body).mustStatus(t, http.StatusBadRequest); a.errCode() != tc.code {
			t.Errorf("PATCH %v: code %q, want %s", tc.body, a.errCode(), tc.code)
		}
	}
	// A step to level 0 instead of relax_after.
	ts.call(t, "PATCH", "/api/v1/queues/"+qid, owner.Token, map[string]any{"clear": map[string]bool{"relax_after_seconds": true},
		"skill_steps": []map[string]any{{"after_seconds": 20, "min_level": 3}, {"after_seconds": 60, "min_level": 0}}}).mustStatus(t, http.StatusOK)
	// Another tenant's owner: not found, and nothing changed.
	ts.call(t, "PATCH", "/api/v1/queues/"+qid, other.Token, map[string]any{"reoffer_after_seconds": 99}).mustStatus(t, http.StatusNotFound)
	if got := ts.call(t, "GET", "/api/v1/queues/"+qid, owner.Token, nil).mustStatus(t, http.StatusOK); got.JSON["reoffer_after_seconds"] != 0.0 {
		t.Fatalf("after the other tenant's PATCH: %s", got.Body)
	}

	// The /routing form: the fields, and bad skill steps shown as an error.
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "owner@acme.example", goodPassword)
	_, page, token := b.get("/routing")
	for _, f := range []string{`name="reoffer_after_seconds"`, `name="preferred_agent_seconds"`, `name="skill_steps" value="20:3 60:0"`} {
		if !strings.Contains(page, f) {
			t.Errorf("the routing page lacks %s", f)
		}
	}
	form := url.Values{"_csrf": {token}, "name": {"Support"}, "channels": {"chat"}, "strategy": {"longest_idle"}, "sl_percent": {"80"},
		"sl_seconds": {"20"}, "offer_timeout_seconds": {"20"}, "max_misses": {"3"}, "reoffer_after_seconds": {"15"},
		"preferred_agent_seconds": {"45"}, "skill_steps": {"10:4, 30:1"}}
	if resp, body := b.post("/routing/queues/"+qid, form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("queue form: %d %s", resp.StatusCode, body)
	}
	got := ts.call(t, "GET", "/api/v1/queues/"+qid, owner.Token, nil).mustStatus(t, http.StatusOK)
	if got.JSON["reoffer_after_seconds"] != 15.0 || got.JSON["preferred_agent_seconds"] != 45.0 || len(got.JSON["skill_steps"].([]any)) != 2 {
		t.Fatalf("after the form: %s", got.Body)
	}
	form.Set("skill_steps", "10:4 soon")
	if resp, body := b.post("/routing/queues/"+qid, form); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="error"`) {
		t.Fatalf("bad skill steps in the form: %d", resp.StatusCode)
	}
}
