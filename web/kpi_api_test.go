package web_test

import (
	"net/http"
	"testing"
	"time"
)

// queueBoard finds a queue on the wallboard answer.
func queueBoard(t *testing.T, a answer, queueID string) map[string]any {
	t.Helper()
	qs, _ := a.JSON["queues"].([]any)
	for _, q := range qs {
		if m := q.(map[string]any); m["queue_id"] == queueID {
			return m
		}
	}
	t.Fatalf("queue %s not on the wallboard: %s", queueID, a.Body)
	return nil
}

func field(m map[string]any, path ...string) float64 {
	var v any = m
	for _, p := range path {
		v = v.(map[string]any)[p]
	}
	f, _ := v.(float64)
	return f
}

func TestWallboardAPI_LiveAndTodayPerQueue(t *testing.T) {
	ts := newServer(t)
	rc := ts.routed(t, "acme", 2)
	sup := ts.createUser(t, rc.company, "sup@acme.example", "supervisor")

	board := func() map[string]any {
		return queueBoard(t, ts.call(t, "GET", "/api/v1/wallboard", sup.Token, nil).mustStatus(t, http.StatusOK), rc.queue)
	}
	q := board()
	if field(q, "agents", "available") != 2 || field(q, "waiting") != 0 || field(q, "today", "offered") != 0 || q["occupancy_percent"] != 0.0 {
		t.Fatalf("before any contact: %v", q)
	}
	first := ts.call(t, "POST", "/api/v1/contacts", rc.key, map[string]any{"queue_id": rc.queue, "channel": "chat"}).mustStatus(t, http.StatusCreated)
	ts.call(t, "POST", "/api/v1/contacts", rc.key, map[string]any{"queue_id": rc.queue, "channel": "chat"}).mustStatus(t, http.StatusCreated)
	// Both agents ring; a third contact waits.
	ts.call(t, "POST", "/api/v1/contacts", rc.key, map[string]any{"queue_id": rc.queue, "channel": "chat"}).mustStatus(t, http.StatusCreated)
	var holder company
	for _, a := range rc.agents {
		if a.UserID.String() == first.str("agent_id") {
			holder = a
		}
	}
	ts.call(t, "POST", "/api/v1/contacts/"+first.str("id")+"/accept", holder.Token, nil).mustStatus(t, http.StatusOK)
	q = board()
	if field(q, "waiting") != 1 || field(q, "ringing") != 1 || field(q, "in_progress") != 1 || field(q, "today", "offered") != 3 ||
		field(q, "today", "accepted") != 1 || q["occupancy_percent"] != 100.0 {
		t.Fatalf("with three contacts, one accepted: %v", q)
	}
	if q["today"].(map[string]any)["service_level_percent"] != 100.0 || q["today"].(map[string]any)["aht_seconds"] != nil {
		t.Fatalf("today: %v", q["today"])
	}
	ts.call(t, "POST", "/api/v1/contacts/"+first.str("id")+"/wrapup", holder.Token, map[string]any{"disposition": "solved"}).mustStatus(t, http.StatusNoContent)
	// The wrap-up freed the agent, who got the waiting contact.
	if q = board(); field(q, "waiting") != 0 || field(q, "ringing") != 2 || field(q, "today", "handled") != 1 || q["today"].(map[string]any)["aht_seconds"] == nil {
		t.Fatalf("after wrap-up: %v", q)
	}

	for role, want := range map[string]int{"agent": 403, "finance": 403, "admin": 200} {
		u := ts.createUser(t, rc.company, role+"2@acme.example", role)
		ts.call(t, "GET", "/api/v1/wallboard", u.Token, nil).mustStatus(t, want)
		ts.call(t, "GET", "/api/v1/kpis", u.Token, nil).mustStatus(t, want)
	}
	ts.call(t, "GET", "/api/v1/wallboard", "", nil).mustStatus(t, http.StatusUnauthorized)
	ts.call(t, "GET", "/api/v1/wallboard", rc.Token, nil).mustStatus(t, http.StatusOK)
}

func TestKPIAPI_PerDayQueueAndBadInput(t *testing.T) {
	ts := newServer(t)
	rc := ts.routed(t, "acme", 1)
	agent := rc.agents[0]
	id := ts.call(t, "POST", "/api/v1/contacts", rc.key, map[string]any{"queue_id": rc.queue, "channel": "chat"}).mustStatus(t, http.StatusCreated).str("id")
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/accept", agent.Token, nil).mustStatus(t, http.StatusOK)
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/wrapup", agent.Token, map[string]any{"disposition": "solved"}).mustStatus(t, http.StatusNoContent)
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/close", agent.Token, nil).mustStatus(t, http.StatusNoContent)

	today := time.Now().UTC().Format(time.DateOnly)
	a := ts.call(t, "GET", "/api/v1/kpis?from="+today+"&to="+today+"&queue_id="+rc.queue, rc.Token, nil).mustStatus(t, http.StatusOK)
	ks, _ := a.JSON["kpis"].([]any)
	if len(ks) != 1 || a.str("from") != today {
		t.Fatalf("kpis: %s", a.Body)
	}
	k := ks[0].(map[string]any)
	if k["day"] != today || k["queue_id"] != rc.queue || k["queue"] != "Support" || k["offered"] != 1.0 || k["accepted"] != 1.0 ||
		k["abandoned"] != 0.0 || k["handled"] != 1.0 || k["service_level_percent"] != 100.0 || k["abandon_rate_percent"] != 0.0 ||
		k["asa_seconds"] == nil || k["aht_seconds"] == nil || k["sl_seconds"] != 20.0 {
		t.Fatalf("kpi row: %v", k)
	}
	// The default period (the last seven days) holds today.
	if d := ts.call(t, "GET", "/api/v1/kpis", rc.Token, nil).mustStatus(t, http.StatusOK); len(d.JSON["kpis"].([]any)) != 1 {
		t.Fatalf("default period: %s", d.Body)
	}
	// A day without contacts is empty, not an error.
	if e := ts.call(t, "GET", "/api/v1/kpis?from=2020-01-01&to=2020-01-31", rc.Token, nil).mustStatus(t, http.StatusOK); len(e.JSON["kpis"].([]any)) != 0 {
		t.Fatalf("empty period: %s", e.Body)
	}

	for _, tc := range []struct{ query, code string }{
		{"from=2025-13-01&to=2025-12-31", "invalid_date"},
		{"from=yesterday", "invalid_date"},
		{"from=2025-01-01&to=2025-1-2", "invalid_date"},
		{"from=2025-02-01&to=2025-01-31", "invalid_period"},
		{"from=2024-01-01&to=2025-01-01", "invalid_period"}, // 367 days
		{"queue_id=nope", "invalid_queue_id"},
	} {
		if a := ts.call(t, "GET", "/api/v1/kpis?"+tc.query, rc.Token, nil).mustStatus(t, http.StatusBadRequest); a.errCode() != tc.code {
			t.Errorf("%s: %s, want %s", tc.query, a.Body, tc.code)
		}
	}
	ts.call(t, "GET", "/api/v1/kpis?from=2024-01-01&to=2024-12-31", rc.Token, nil).mustStatus(t, http.StatusOK) // 366 days
	ts.call(t, "GET", "/api/v1/kpis", agent.Token, nil).mustStatus(t, http.StatusForbidden)
}

func TestIsolation_WallboardAndKPIsArePerTenant(t *testing.T) {
	ts := newServer(t)
	a := ts.routed(t, "acme", 1)
	b := ts.routed(t, "bravo", 1)
	id := ts.call(t, "POST", "/api/v1/contacts", a.key, map[string]any{"queue_id": a.queue, "channel": "chat"}).mustStatus(t, http.StatusCreated).str("id")
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/accept", a.agents[0].Token, nil).mustStatus(t, http.StatusOK)
	ts.call(t, "POST", "/api/v1/contacts", a.key, map[string]any{"queue_id": a.queue, "channel": "chat"}).mustStatus(t, http.StatusCreated)

	wa := ts.call(t, "GET", "/api/v1/wallboard", a.Token, nil).mustStatus(t, http.StatusOK)
	if q := queueBoard(t, wa, a.queue); field(q, "today", "offered") != 2 || field(q, "waiting") != 1 {
		t.Fatalf("A's wallboard: %v", q)
	}
	wb := ts.call(t, "GET", "/api/v1/wallboard", b.Token, nil).mustStatus(t, http.StatusOK)
	if qs := wb.JSON["queues"].([]any); len(qs) != 1 {
		t.Fatalf("B's wallboard lists %d queues: %s", len(qs), wb.Body)
	}
	q := queueBoard(t, wb, b.queue)
	if field(q, "today", "offered") != 0 || field(q, "waiting") != 0 || field(q, "in_progress") != 0 || field(q, "agents", "available") != 1 {
		t.Fatalf("B's wallboard shows A's numbers: %v", q)
	}
	if ag := wb.JSON["agents"].(map[string]any); ag["available"] != 1.0 {
		t.Fatalf("B's agents: %v", ag)
	}
	for _, path := range []string{"/api/v1/kpis", "/api/v1/kpis?queue_id=" + a.queue} {
		if k := ts.call(t, "GET", path, b.Token, nil).mustStatus(t, http.StatusOK); len(k.JSON["kpis"].([]any)) != 0 {
			t.Fatalf("B reads A's KPIs at %s: %s", path, k.Body)
		}
	}
	if k := ts.call(t, "GET", "/api/v1/kpis", a.Token, nil).mustStatus(t, http.StatusOK); len(k.JSON["kpis"].([]any)) != 1 {
		t.Fatalf("A's KPIs: %s", k.Body)
	}
}
