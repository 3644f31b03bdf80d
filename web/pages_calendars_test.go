package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestRoutingPages_Calendars(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "owner@acme.example", goodPassword)
	_, page, token := b.get("/routing?lang=en")
	if !strings.Contains(page, `id="calendars" lang="en"`) || !strings.Contains(page, "No calendars yet.") {
		t.Fatalf("no calendars section")
	}
	post := func(path string, form url.Values, wantDone string) {
		t.Helper()
		resp, body := b.post(path, form)
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "done="+wantDone) {
			t.Fatalf("POST %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	calForm := func(name string, rows ...[5]string) url.Values {
		f := url.Values{"_csrf": {token}, "name": {name}}
		for i, r := range rows {
			n := string(rune('0' + i))
			f.Set("date_"+n, r[0])
			if r[1] != "" {
				f.Set("closed_"+n, "1")
			}
			f.Set("opens_"+n, r[2])
			f.Set("closes_"+n, r[3])
			f.Set("note_"+n, r[4])
		}
		return f
	}
	// German dates are taken as typed; an empty row is ignored; a closed
	// row's times do not count.
	post("/routing/calendars", calForm("Feiertage", [5]string{"24.12.2026", "", "09:00", "12:00", "Heiligabend"},
		[5]string{"2026-12-25", "1", "09:00", "", "1. Weihnachtstag"}, [5]string{"", "", "", "", ""}), "calendar")
	cals := ts.call(t, "GET", "/api/v1/calendars", owner.Token, nil).mustStatus(t, http.StatusOK).JSON["calendars"].([]any)
	if len(cals) != 1 {
		t.Fatalf("calendars: %v", cals)
	}
	cal := cals[0].(map[string]any)
	id := cal["id"].(string)
	es := cal["entries"].([]any)
	if len(es) != 2 || es[0].(map[string]any)["date"] != "2026-12-24" || es[0].(map[string]any)["opens"] != "09:00" ||
		es[1].(map[string]any)["closed"] != true || es[1].(map[string]any)["opens"] != nil {
		t.Fatalf("entries: %v", es)
	}

	// Dates as each language writes them.
	_, en, _ := b.get("/routing?lang=en")
	_, de, _ := b.get("/routing?lang=de")
	for _, want := range []string{`<td class="cal-date">2026-12-24</td>`, `<td class="cal-hours">09:00–12:00</td>`, `<td class="cal-hours">closed</td>`,
		"no queue follows it", "Save calendar"} {
		if !strings.Contains(en, want) {
			t.Errorf("English page lacks %q", want)
		}
	}
	for _, want := range []string{`id="calendars" lang="de"`, `<td class="cal-date">24.12.2026</td>`, `<td class="cal-date">25.12.2026</td>`,
		`<td class="cal-hours">geschlossen</td>`, "keine Warteschlange folgt ihm", "Kalender speichern", "Feiertage und Ausnahmen"} {
		if !strings.Contains(de, want) {
			t.Errorf("German page lacks %q", want)
		}
	}
	if strings.Contains(de, `<td class="cal-date">2026-12-24</td>`) {
		t.Error("German page shows the ISO date")
	}

	// Bad rows are refused with the language's words and change nothing.
	for _, tc := range []struct {
		name     string
		row      [5]string
		en, de   string
		wantCode int
	}{
		{"not a date", [5]string{"31.02.2026", "1", "", "", ""}, "is not a date", "Ein Datum ist ungültig", 400},
		{"closing first", [5]string{"2026-12-31", "", "14:00", "10:00", ""}, "closing time must be after the opening time", "spätere Schließzeit", 400},
		{"no hours", [5]string{"2026-12-31", "", "", "", "Silvester"}, "say closed, or give", "Kreuzen Sie geschlossen an", 400},
	} {
		for lang, want := range map[string]string{"en": tc.en, "de": tc.de} {
			b.get("/routing?lang=" + lang)
			resp, body := b.post("/routing/calendars/"+id, calForm("Feiertage", tc.row))
			if resp.StatusCode != tc.wantCode || !strings.Contains(body, `id="error"`) || !strings.Contains(body, want) {
				t.Errorf("%s (%s): %d, want %d with %q", tc.name, lang, resp.StatusCode, tc.wantCode, want)
			}
		}
	}
	b.get("/routing?lang=en")
	if resp, body := b.post("/routing/calendars/"+id, calForm("Feiertage", [5]string{"2026-12-31", "1", "", "", ""}, [5]string{"31.12.2026", "", "10:00", "12:00", ""})); resp.StatusCode != 400 ||
		!strings.Contains(body, "appears twice") {
		t.Errorf("duplicate date: %d", resp.StatusCode)
	}
	if got := ts.call(t, "GET", "/api/v1/calendars/"+id, owner.Token, nil).mustStatus(t, http.StatusOK); len(got.JSON["entries"].([]any)) != 2 {
		t.Fatalf("refused forms changed the calendar: %s", got.Body)
	}

	// The queue form chooses the calendar; the queue's summary names it.
	hours := url.Values{"timezone": {"Europe/Berlin"}, "open_mon": {"08:00"}, "close_mon": {"18:00"}, "calendar_id": {id}}
	post("/routing/queues", queueForm(token, "Support", hours), "queue")
	q := ts.call(t, "GET", "/api/v1/queues", owner.Token, nil).mustStatus(t, http.StatusOK).JSON["queues"].([]any)[0].(map[string]any)
	if q["calendar_id"] != id {
		t.Fatalf("queue: %v", q)
	}
	qid := q["id"].(string)
	_, page, _ = b.get("/routing?lang=en")
	if !strings.Contains(page, `<option value="`+id+`" selected>Feiertage</option>`) || !strings.Contains(page, `calendar: Feiertage`) ||
		!strings.Contains(page, "used by Support") {
		t.Error("the page does not show the queue's calendar")
	}
	if resp, body := b.post("/routing/calendars/"+id+"/delete", url.Values{"_csrf": {token}}); resp.StatusCode != http.StatusConflict ||
		!strings.Contains(body, "Queue Support follows this calendar") {
		t.Errorf("delete in use: %d", resp.StatusCode)
	}
	b.get("/routing?lang=de")
	if resp, body := b.post("/routing/calendars/"+id+"/delete", url.Values{"_csrf": {token}}); resp.StatusCode != http.StatusConflict ||
		!strings.Contains(body, "Eine Warteschlange folgt diesem Kalender") {
		t.Errorf("delete in use (de): %d", resp.StatusCode)
	}

	// Another tenant's calendar: not found to edit, not attachable.
	other := ts.signup(t, "bravo")
	theirs := ts.call(t, "POST", "/api/v1/calendars", other.Token, map[string]any{"name": "Bravo"}).mustStatus(t, http.StatusCreated).str("id")
	if resp, _ := b.post("/routing/calendars/"+theirs, calForm("Mine")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("edit theirs: %d", resp.StatusCode)
	}
	if resp, _ := b.post("/routing/calendars/"+theirs+"/delete", url.Values{"_csrf": {token}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("delete theirs: %d", resp.StatusCode)
	}
	hours.Set("calendar_id", theirs)
	if resp, body := b.post("/routing/queues/"+qid, queueForm(token, "Support", hours)); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body, "calendar does not exist") {
		t.Errorf("attach theirs: %d", resp.StatusCode)
	}
	// No calendar chosen: the queue's is dropped; then it can go.
	hours.Del("calendar_id")
	post("/routing/queues/"+qid, queueForm(token, "Support", hours), "queue-saved")
	if q := ts.call(t, "GET", "/api/v1/queues/"+qid, owner.Token, nil).mustStatus(t, http.StatusOK); q.JSON["calendar_id"] != nil {
		t.Fatalf("calendar kept: %s", q.Body)
	}
	post("/routing/calendars/"+id+"/delete", url.Values{"_csrf": {token}}, "calendar-deleted")
	_, de, _ = b.get("/routing?done=calendar-deleted")
	if !strings.Contains(de, "Der Kalender wurde gelöscht.") {
		t.Error("no German notice")
	}
}
