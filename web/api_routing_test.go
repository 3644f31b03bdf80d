package web_test

import (
	"net/http"
	"testing"
)

func TestRoutingSetupAPI(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	agent := ts.createUser(t, owner, "agent@acme.example", "agent")
	sk := ts.call(t, "POST", "/api/v1/skills", owner.Token, map[string]any{"name": "German"}).mustStatus(t, http.StatusCreated)
	ts.call(t, "POST", "/api/v1/skills", owner.Token, map[string]any{"name": "german"}).mustStatus(t, http.StatusConflict)
	ts.call(t, "POST", "/api/v1/skills", agent.Token, map[string]any{"name": "French"}).mustStatus(t, http.StatusForbidden)

	q := ts.call(t, "POST", "/api/v1/queues", owner.Token, map[string]any{
		"name": "Support DE", "channels": []string{"chat", "email"}, "priority": 5, "strategy": "best_skill",
		"skills": []map[string]any{{"skill_id": sk.str("id"), "min_level": 5}}, "sl_percent": 80, "sl_seconds": 20,
		"relax_after_seconds": 60, "cost_centre": "CC-100",
		"business_hours": map[string]any{"timezone": "Europe/Berlin", "days": map[string]any{"mon": []string{"08:00", "18:00"}}},
		"closed_message": "We are closed; we answer from 8:00.",
	}).mustStatus(t, http.StatusCreated)
	if q.str("strategy") != "best_skill" || q.JSON["sl_percent"] != float64(80) || q.str("business_hours", "timezone") != "Europe/Berlin" {
		t.Fatalf("queue: %s", q.Body)
	}
	qid := q.str("id")
	up := ts.call(t, "PATCH", "/api/v1/queues/"+qid, owner.Token, map[string]any{"priority": 9, "clear": map[string]bool{"business_hours": true}}).mustStatus(t, http.StatusOK)
	if up.JSON["priority"] != float64(9) || up.JSON["business_hours"] != nil || up.str("name") != "Support DE" {
		t.Errorf("patched queue: %s", up.Body)
	}
	list := ts.call(t, "GET", "/api/v1/queues", owner.Token, nil).mustStatus(t, http.StatusOK)
	if qs, _ := list.JSON["queues"].([]any); len(qs) != 1 {
		t.Errorf("queues: %s", list.Body)
	}

	prof := ts.call(t, "PUT", "/api/v1/agents/"+agent.UserID.String()+"/routing", owner.Token, map[string]any{
		"skills": []map[string]any{{"skill_id": sk.str("id"), "level": 8}}, "capacity": map[string]int{"chat": 3, "email": 5},
	}).mustStatus(t, http.StatusOK)
	if c, _ := prof.JSON["capacity"].(map[string]any); c["chat"] != float64(3) || c["email"] != float64(5) {
		t.Errorf("profile: %s", prof.Body)
	}
	// An agent reads their own profile, not others'.
	ts.call(t, "GET", "/api/v1/agents/"+agent.UserID.String()+"/routing", agent.Token, nil).mustStatus(t, http.StatusOK)
	ts.call(t, "GET", "/api/v1/agents/"+owner.UserID.String()+"/routing", agent.Token, nil).mustStatus(t, http.StatusForbidden)

	ts.call(t, "PUT", "/api/v1/dispositions/solved", owner.Token, map[string]any{"label": "Solved"}).mustStatus(t, http.StatusOK)
	d := ts.call(t, "GET", "/api/v1/dispositions", agent.Token, nil).mustStatus(t, http.StatusOK)
	if ds, _ := d.JSON["dispositions"].([]any); len(ds) != 1 {
		t.Errorf("dispositions: %s", d.Body)
	}

	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "/api/v1/queues", map[string]any{"name": "Q", "channels": []string{"pigeon"}}, 400, "invalid_channels"},
		{"POST", "/api/v1/queues", map[string]any{"name": "Q", "channels": []string{"chat"}, "strategy": "random"}, 400, "invalid_strategy"},
		{"POST", "/api/v1/queues", map[string]any{"name": "Q", "channels": "chat"}, 400, "invalid_json"},
		{"POST", "/api/v1/queues", `{"name":`, 400, "invalid_json"},
		{"PATCH", "/api/v1/queues/not-an-id", map[string]any{"priority": 1}, 404, "not_found"},
		{"PATCH", "/api/v1/queues/" + qid, map[string]any{"priority": 1000}, 400, "invalid_priority"},
		{"PUT", "/api/v1/agents/" + agent.UserID.String() + "/routing", map[string]any{"capacity": map[string]int{"chat": -1}}, 400, "invalid_capacity"},
		{"PUT", "/api/v1/dispositions/Not%20Valid", map[string]any{"label": "x"}, 400, "invalid_code"},
		{"DELETE", "/api/v1/skills/" + sk.str("id"), nil, 409, "skill_in_use"},
	} {
		if a := ts.call(t, tc.method, tc.path, owner.Token, tc.body).mustStatus(t, tc.status); a.errCode() != tc.code {
			t.Errorf("%s %s: code %q, want %q", tc.method, tc.path, a.errCode(), tc.code)
		}
	}
	ts.call(t, "DELETE", "/api/v1/queues/"+qid, owner.Token, nil).mustStatus(t, http.StatusNoContent)
}

func TestIsolation_RoutingSetupIsPerTenant(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	b := ts.signup(t, "bravo")
	agent := ts.createUser(t, a, "agent@acme.example", "agent")
	q := ts.call(t, "POST", "/api/v1/queues", a.Token, map[string]any{"name": "Support", "channels": []string{"chat"}}).mustStatus(t, http.StatusCreated)
	assertIsolated(t, ts, a, b, "/api/v1/queues/"+q.str("id"), []route{
		{"GET", "/api/v1/queues/:id", nil},
		{"PATCH", "/api/v1/queues/:id", map[string]any{"name": "Hijacked"}},
		{"DELETE", "/api/v1/queues/:id", nil},
	})
	ts.call(t, "PUT", "/api/v1/agents/"+agent.UserID.String()+"/routing", a.Token, map[string]any{"capacity": map[string]int{"chat": 2}}).mustStatus(t, http.StatusOK)
	assertIsolated(t, ts, a, b, "/api/v1/agents/"+agent.UserID.String()+"/routing", []route{
		{"GET", "/api/v1/agents/:id/routing", nil},
		{"PUT", "/api/v1/agents/:id/routing", map[string]any{"capacity": map[string]int{"chat": 9}}},
	})
	sk := ts.call(t, "POST", "/api/v1/skills", a.Token, map[string]any{"name": "German"}).mustStatus(t, http.StatusCreated)
	ts.call(t, "DELETE", "/api/v1/skills/"+sk.str("id"), b.Token, nil).mustStatus(t, http.StatusNotFound)
	if l := ts.call(t, "GET", "/api/v1/skills", b.Token, nil).mustStatus(t, http.StatusOK); len(l.JSON["skills"].([]any)) != 0 {
		t.Errorf("B sees A's skills: %s", l.Body)
	}
}
