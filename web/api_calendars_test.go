package web_test

import (
	"net/http"
	"testing"
)

func TestCalendarAPI(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	sup := ts.createUser(t, owner, "sup@acme.example", "supervisor")
	agent := ts.createUser(t, owner, "agent@acme.example", "agent")
	body := map[string]any{"name": "Holidays", "entries": []map[string]any{
		{"date": "2026-12-25", "closed": true, "note": "Christmas Day"},
		{"date": "2026-12-24", "opens": "09:00", "closes": "12:00", "note": "Christmas Eve"}}}
	ts.call(t, "POST", "/api/v1/calendars", sup.Token, body).mustStatus(t, http.StatusForbidden)
	ts.call(t, "POST", "/api/v1/calendars", agent.Token, body).mustStatus(t, http.StatusForbidden)
	cal := ts.call(t, "POST", "/api/v1/calendars", owner.Token, body).mustStatus(t, http.StatusCreated)
	id := cal.str("id")
	entries, _ := cal.JSON["entries"].([]any)
	if len(entries) != 2 || entries[0].(map[string]any)["date"] != "2026-12-24" || entries[1].(map[string]any)["closed"] != true {
		t.Fatalf("created: %s", cal.Body)
	}
	// Supervisors read; agents do not.
	if got := ts.call(t, "GET", "/api/v1/calendars/"+id, sup.Token, nil).mustStatus(t, http.StatusOK); got.str("name") != "Holidays" {
		t.Errorf("get: %s", got.Body)
	}
	ts.call(t, "GET", "/api/v1/calendars", agent.Token, nil).mustStatus(t, http.StatusForbidden)
	if l := ts.call(t, "GET", "/api/v1/calendars", owner.Token, nil).mustStatus(t, http.StatusOK); len(l.JSON["calendars"].([]any)) != 1 {
		t.Errorf("list: %s", l.Body)
	}
	ts.call(t, "PATCH", "/api/v1/calendars/"+id, sup.Token, map[string]any{"name": "X"}).mustStatus(t, http.StatusForbidden)
	up := ts.call(t, "PATCH", "/api/v1/calendars/"+id, owner.Token, map[string]any{"entries": []map[string]any{
		{"date": "2026-12-31", "opens": "10:00", "closes": "14:00"}}}).mustStatus(t, http.StatusOK)
	if es, _ := up.JSON["entries"].([]any); up.str("name") != "Holidays" || len(es) != 1 || es[0].(map[string]any)["opens"] != "10:00" {
		t.Errorf("patched: %s", up.Body)
	}

	// Attach through the queue API; a queue without hours cannot follow one.
	hours := map[string]any{"timezone": "Europe/Berlin", "days": map[string]any{"mon": []string{"08:00", "18:00"}}}
	q := ts.call(t, "POST", "/api/v1/queues", owner.Token, map[string]any{"name": "Support", "channels": []string{"chat"},
		"business_hours": hours, "calendar_id": id}).mustStatus(t, http.StatusCreated)
	if q.str("calendar_id") != id {
		t.Fatalf("queue: %s", q.Body)
	}
	if g := ts.call(t, "GET", "/api/v1/queues/"+q.str("id"), owner.Token, nil).mustStatus(t, http.StatusOK); g.str("calendar_id") != id {
		t.Errorf("queue get: %s", g.Body)
	}
	if a := ts.call(t, "POST", "/api/v1/queues", owner.Token, map[string]any{"name": "Always", "channels": []string{"chat"},
		"calendar_id": id}).mustStatus(t, http.StatusBadRequest); a.errCode() != "calendar_needs_hours" {
		t.Errorf("no hours: %s", a.Body)
	}
	if d := ts.call(t, "DELETE", "/api/v1/calendars/"+id, owner.Token, nil).mustStatus(t, http.StatusConflict); d.errCode() != "calendar_in_use" {
		t.Errorf("delete in use: %s", d.Body)
	}
	cleared := ts.call(t, "PATCH", "/api/v1/queues/"+q.str("id"), owner.Token, map[string]any{"clear": map[string]bool{"calendar_id": true}}).
		mustStatus(t, http.StatusOK)
	if cleared.JSON["calendar_id"] != nil {
		t.Errorf("cleared: %s", cleared.Body)
	}
	ts.call(t, "DELETE", "/api/v1/calendars/"+id, sup.Token, nil).mustStatus(t, http.StatusForbidden)
	ts.call(t, "DELETE", "/api/v1/calendars/"+id, owner.Token, nil).mustStatus(t, http.StatusNoContent)
	ts.call(t, "GET", "/api/v1/calendars/"+id, owner.Token, nil).mustStatus(t, http.StatusNotFound)
}

func TestCalendarAPI_BadInput(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	id := ts.call(t, "POST", "/api/v1/calendars", owner.Token, map[string]any{"name": "Holidays"}).mustStatus(t, http.StatusCreated).str("id")
	entry := func(e map[string]any) map[string]any {
		return map[string]any{"name": "Other", "entries": []map[string]any{e}}
	}
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "/api/v1/calendars", entry(map[string]any{"date": "24.12.2026", "closed": true}), 400, "invalid_date"},
		{"POST", "/api/v1/calendars", entry(map[string]any{"date": "2026-13-01", "closed": true}), 400, "invalid_date"},
		{"POST", "/api/v1/calendars", entry(map[string]any{"date": "2026-12-24", "opens": "9", "closes": "12:00"}), 400, "invalid_time"},
		{"POST", "/api/v1/calendars", entry(map[string]any{"date": "2026-12-24", "opens": "12:00", "closes": "09:00"}), 400, "invalid_hours"},
		{"POST", "/api/v1/calendars", entry(map[string]any{"date": "2026-12-24"}), 400, "invalid_hours"},
		{"POST", "/api/v1/calendars", map[string]any{"name": "Other", "entries": []map[string]any{
			{"date": "2026-12-24", "closed": true}, {"date": "2026-12-24", "opens": "09:00", "closes": "12:00"}}}, 400, "duplicate_date"},
		{"POST", "/api/v1/calendars", map[string]any{"name": ""}, 400, "missing_name"},
		{"POST", "/api/v1/calendars", map[string]any{"name": "holidays"}, 409, "calendar_exists"},
		{"POST", "/api/v1/calendars", map[string]any{"name": "X", "entries": "none"}, 400, "invalid_json"},
		{"POST", "/api/v1/calendars", map[string]any{"name": "X", "colour": "red"}, 400, "invalid_json"},
		{"PATCH", "/api/v1/calendars/" + id, map[string]any{"entries": []map[string]any{{"date": "2026-02-29", "closed": true}}}, 400, "invalid_date"},
		{"PATCH", "/api/v1/calendars/not-an-id", map[string]any{"name": "X"}, 404, "not_found"},
		{"GET", "/api/v1/calendars/not-an-id", nil, 404, "not_found"},
		{"DELETE", "/api/v1/calendars/00000000-0000-0000-0000-000000000001", nil, 404, "not_found"},
		{"POST", "/api/v1/queues", map[string]any{"name": "Q", "channels": []string{"chat"}, "calendar_id": "nope"}, 400, "invalid_json"},
		{"POST", "/api/v1/queues", map[string]any{"name": "Q", "channels": []string{"chat"}, "calendar_id": "00000000-0000-0000-0000-000000000001",
			"business_hours": map[string]any{"timezone": "UTC", "days": map[string]any{"mon": []string{"08:00", "18:00"}}}}, 400, "invalid_calendar"},
	} {
		if a := ts.call(t, tc.method, tc.path, owner.Token, tc.body).mustStatus(t, tc.status); a.errCode() != tc.code {
			t.Errorf("%s %s %v: code %q, want %q", tc.method, tc.path, tc.body, a.errCode(), tc.code)
		}
	}
}

func TestIsolation_CalendarsArePerTenant(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	b := ts.signup(t, "bravo")
	theirs := ts.call(t, "POST", "/api/v1/calendars", b.Token, map[string]any{"name": "Bravo holidays",
		"entries": []map[string]any{{"date": "2026-12-25", "closed": true}}}).mustStatus(t, http.StatusCreated).str("id")
	ts.call(t, "GET", "/api/v1/calendars/"+theirs, a.Token, nil).mustStatus(t, http.StatusNotFound)
	ts.call(t, "PATCH", "/api/v1/calendars/"+theirs, a.Token, map[string]any{"name": "Mine"}).mustStatus(t, http.StatusNotFound)
	ts.call(t, "DELETE", "/api/v1/calendars/"+theirs, a.Token, nil).mustStatus(t, http.StatusNotFound)
	if l := ts.call(t, "GET", "/api/v1/calendars", a.Token, nil).mustStatus(t, http.StatusOK); len(l.JSON["calendars"].([]any)) != 0 {
		t.Errorf("acme lists bravo's: %s", l.Body)
	}
	hours := map[string]any{"timezone": "UTC", "days": map[string]any{"mon": []string{"08:00", "18:00"}}}
	if r := ts.call(t, "POST", "/api/v1/queues", a.Token, map[string]any{"name": "Support", "channels": []string{"chat"},
		"business_hours": hours, "calendar_id": theirs}).mustStatus(t, http.StatusBadRequest); r.errCode() != "invalid_calendar" {
		t.Errorf("attach theirs on create: %s", r.Body)
	}
	q := ts.call(t, "POST", "/api/v1/queues", a.Token, map[string]any{"name": "Support", "channels": []string{"chat"},
		"business_hours": hours}).mustStatus(t, http.StatusCreated).str("id")
	if r := ts.call(t, "PATCH", "/api/v1/queues/"+q, a.Token, map[string]any{"calendar_id": theirs}).mustStatus(t, http.StatusBadRequest); r.errCode() != "invalid_calendar" {
		t.Errorf("attach theirs on update: %s", r.Body)
	}
	if g := ts.call(t, "GET", "/api/v1/calendars/"+theirs, b.Token, nil).mustStatus(t, http.StatusOK); g.str("name") != "Bravo holidays" {
		t.Errorf("bravo's changed: %s", g.Body)
	}
}
