package web_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// screenshot saves the whole page at width px under CIC_SCREENSHOTS (a
// directory; unset: no pictures), for a person to look at.
func screenshot(t *testing.T, ctx context.Context, name string, width int64) {
	t.Helper()
	dir := os.Getenv("CIC_SCREENSHOTS")
	if dir == "" {
		return
	}
	run(t, ctx, "viewport "+name, chromedp.EmulateViewport(width, 900))
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	// The section alone, at the device's size, to look at closely.
	if png, err = chromedp.Run(sctx, chromedp.Screenshot(chromedp.CSS("#calendars"))); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-section.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "viewport back", chromedp.EmulateViewport(1280, 900))
}

// An admin makes a calendar with a closed day on /routing and has a queue
// follow it, in English and in German; the dates show as each language
// writes them.
func TestBrowser_RoutingCalendars(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	base := ts.listen(t)
	hours := map[string]any{"timezone": "Europe/Berlin", "days": map[string]any{"mon": []string{"08:00", "18:00"}, "fri": []string{"08:00", "18:00"}}}
	support := ts.call(t, "POST", "/api/v1/queues", owner.Token, map[string]any{"name": "Support", "channels": []string{"chat"},
		"business_hours": hours}).mustStatus(t, http.StatusCreated).str("id")
	sales := ts.call(t, "POST", "/api/v1/queues", owner.Token, map[string]any{"name": "Vertrieb", "channels": []string{"chat"},
		"business_hours": hours}).mustStatus(t, http.StatusCreated).str("id")
	b := newBrowser(t)
	run(t, b, "log in", loginSteps(base, "acme", "owner@acme.example")...)

	calendarID := func(name string) string {
		for _, c := range ts.call(t, "GET", "/api/v1/calendars", owner.Token, nil).mustStatus(t, http.StatusOK).JSON["calendars"].([]any) {
			if c.(map[string]any)["name"] == name {
				return c.(map[string]any)["id"].(string)
			}
		}
		t.Fatalf("no calendar %s", name)
		return ""
	}
	form := `#calendar-form `
	run(t, b, "create a calendar (en)",
		chromedp.Navigate(base+"/routing?lang=en#calendars"), visible(form+`input[name=name]`),
		fill(form+`input[name=name]`, "Holidays"),
		choose(form+`input[name=date_0]`, "2026-12-25"), click(form+`input[name=closed_0]`),
		choose(form+`input[name=date_1]`, "2026-12-24"), choose(form+`input[name=opens_1]`, "09:00"), choose(form+`input[name=closes_1]`, "12:00"),
		fill(form+`input[name=note_1]`, "Christmas Eve"),
		click(form+`button.cal-add`), visible(form+`input[name=date_3]`),
	)
	sctx, cancel := context.WithTimeout(b, 10*time.Second)
	defer cancel()
	if timesOff, err := chromedp.Run(sctx, chromedp.Evaluate[bool](`document.querySelector('#calendar-form input[name=opens_0]').disabled`)); err != nil || !timesOff {
		t.Error("ticking closed all day leaves the times on")
	}
	screenshot(t, b, "calendars-en-form-1280", 1280)
	screenshot(t, b, "calendars-en-form-390", 390)
	run(t, b, "save", click(form+`button[type=submit]`), visible("#notice"))
	if n := read(t, b, "#notice"); n != "The calendar was created." {
		t.Errorf("notice %q", n)
	}
	holidays := calendarID("Holidays")
	card := "#calendar-" + holidays
	run(t, b, "open the calendar", click(card+" > summary"), visible(card+" .calendar-form"))
	if d := read(t, b, card+` tr[data-date="2026-12-25"] .cal-date`); d != "2026-12-25" {
		t.Errorf("English date %q", d)
	}
	if h := read(t, b, card+` tr[data-date="2026-12-25"] .cal-hours`); h != "closed" {
		t.Errorf("closed day shows %q", h)
	}
	run(t, b, "the queue follows it",
		click("#queue-"+support+" > summary"), visible("#queue-"+support+` select[name=calendar_id]`),
		choose("#queue-"+support+` select[name=calendar_id]`, holidays),
		click("#queue-"+support+` .queue-form button[type=submit]`), visible("#notice"),
	)
	if s := read(t, b, "#queue-"+support+" .queue-calendar"); s != "calendar: Holidays" {
		t.Errorf("queue summary %q", s)
	}
	if q := ts.call(t, "GET", "/api/v1/queues/"+support, owner.Token, nil).mustStatus(t, http.StatusOK); q.str("calendar_id") != holidays {
		t.Fatalf("queue: %s", q.Body)
	}
	run(t, b, "open the calendar again", click(card+" > summary"), visible(card+" .calendar-form"))
	screenshot(t, b, "calendars-en-1280", 1280)
	screenshot(t, b, "calendars-en-390", 390)

	// German: the dates as 25.12.2026; a second calendar for the other queue.
	run(t, b, "Kalender anlegen (de)",
		chromedp.Navigate(base+"/routing?lang=de#calendars"), visible(`#new-calendar > summary`),
		click(`#new-calendar > summary`), visible(form+`input[name=name]`),
		fill(form+`input[name=name]`, "Feiertage"),
		choose(form+`input[name=date_0]`, "2027-01-01"), click(form+`input[name=closed_0]`), fill(form+`input[name=note_0]`, "Neujahr"),
		click(form+`button[type=submit]`), visible("#notice"),
	)
	if n := read(t, b, "#notice"); n != "Der Kalender wurde angelegt." {
		t.Errorf("Hinweis %q", n)
	}
	feiertage := calendarID("Feiertage")
	run(t, b, "die Kalender öffnen", click("#calendar-"+holidays+" > summary"), visible("#calendar-"+holidays+" .calendar-form"),
		click("#calendar-"+feiertage+" > summary"), visible("#calendar-"+feiertage+" .calendar-form"))
	if d := read(t, b, "#calendar-"+holidays+` tr[data-date="2026-12-25"] .cal-date`); d != "25.12.2026" {
		t.Errorf("German date %q", d)
	}
	if h := read(t, b, "#calendar-"+feiertage+` tr[data-date="2027-01-01"] .cal-hours`); h != "geschlossen" {
		t.Errorf("German closed day %q", h)
	}
	if s := read(t, b, "#calendars h2"); s != "Kalender" {
		t.Errorf("German heading %q", s)
	}
	// A date in a row the script adds to an existing calendar.
	hf := "#calendar-" + holidays + " .calendar-form "
	run(t, b, "Datum hinzufügen",
		click(hf+`button.cal-add`), visible(hf+`input[name=date_3]`),
		choose(hf+`input[name=date_3]`, "2026-12-31"), click(hf+`input[name=closed_3]`), fill(hf+`input[name=note_3]`, "Silvester"),
		click(hf+`button[type=submit]`), visible("#notice"),
		click("#calendar-"+holidays+" > summary"), visible(hf),
	)
	if h := read(t, b, "#calendar-"+holidays+` tr[data-date="2026-12-31"] .cal-date`); h != "31.12.2026" {
		t.Errorf("added date %q", h)
	}
	if n := read(t, b, "#notice"); n != "Der Kalender wurde gespeichert." {
		t.Errorf("Hinweis %q", n)
	}
	run(t, b, "Warteschlange folgt ihm",
		click("#queue-"+sales+" > summary"), visible("#queue-"+sales+` select[name=calendar_id]`),
		choose("#queue-"+sales+` select[name=calendar_id]`, feiertage),
		click("#queue-"+sales+` .queue-form button[type=submit]`), visible("#notice"),
	)
	if s := read(t, b, "#queue-"+sales+" .queue-calendar"); s != "Kalender: Feiertage" {
		t.Errorf("queue summary %q", s)
	}
	if q := ts.call(t, "GET", "/api/v1/queues/"+sales, owner.Token, nil).mustStatus(t, http.StatusOK); q.str("calendar_id") != feiertage {
		t.Fatalf("queue: %s", q.Body)
	}
	run(t, b, "den Kalender öffnen", click("#calendar-"+holidays+" > summary"), visible("#calendar-"+holidays+" .calendar-form"))
	if !strings.Contains(read(t, b, "#calendar-"+holidays+" > summary"), "genutzt von Support") {
		t.Error("German summary lacks the queue")
	}
	screenshot(t, b, "calendars-de-1280", 1280)
	screenshot(t, b, "calendars-de-390", 390)
}
