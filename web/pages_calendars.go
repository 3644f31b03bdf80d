package web

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
)

// The calendars section of /routing: holidays and exceptions (closed days,
// special hours) that queues follow, in German or English (pageLang:
// ?lang=, the cookie, the browser's languages). Dates show as the
// language writes them: 24.12.2026 in German, 2026-12-24 (the pages' ISO
// convention) in English; the forms take either.

// calendarText holds the section's words, by language.
var calendarText = map[string]map[string]string{
	"en": {
		"title": "Calendars", "intro": "Holidays and exceptions: on a date a calendar names, the queues that follow it are closed all day or open only the hours given, instead of their weekly hours (read in each queue's time zone).",
		"none": "No calendars yet.", "name": "Name", "date": "Date", "hours": "Hours", "note": "Note", "closed": "closed",
		"closed_all_day": "closed all day", "opens": "Opens", "closes": "Closes", "dates": "dates", "one_date": "date", "used_by": "used by",
		"unused": "no queue follows it", "no_dates": "No dates yet.", "add_row": "Add a date", "save": "Save calendar",
		"create": "Create calendar", "new": "New calendar", "delete": "Delete calendar",
		"hint":     "A row without a date is ignored; empty a row's date to remove it. Tick closed, or give both times.",
		"calendar": "Calendar (holidays, exceptions)", "no_calendar": "none", "placeholder": "e.g. Holidays Germany",
		"note_placeholder": "e.g. Christmas Eve", "short": "calendar",
	},
	"de": {
		"title": "Kalender", "intro": "Feiertage und Ausnahmen: An einem Datum, das ein Kalender nennt, sind die Warteschlangen, die ihm folgen, ganztägig geschlossen oder nur zu den angegebenen Zeiten geöffnet statt zu ihren wöchentlichen Zeiten (in der Zeitzone der jeweiligen Warteschlange).",
		"none": "Noch keine Kalender.", "name": "Name", "date": "Datum", "hours": "Zeiten", "note": "Notiz", "closed": "geschlossen",
		"closed_all_day": "ganztägig geschlossen", "opens": "Öffnet", "closes": "Schließt", "dates": "Daten", "one_date": "Datum", "used_by": "genutzt von",
		"unused": "keine Warteschlange folgt ihm", "no_dates": "Noch keine Daten.", "add_row": "Datum hinzufügen", "save": "Kalender speichern",
		"create": "Kalender anlegen", "new": "Neuer Kalender", "delete": "Kalender löschen",
		"hint":     "Eine Zeile ohne Datum wird ignoriert; leeren Sie das Datum einer Zeile, um sie zu entfernen. Kreuzen Sie geschlossen an oder geben Sie beide Zeiten an.",
		"calendar": "Kalender (Feiertage, Ausnahmen)", "no_calendar": "keiner", "placeholder": "z. B. Feiertage Deutschland",
		"note_placeholder": "z. B. Heiligabend", "short": "Kalender",
	},
}

var calendarNotices = map[string]map[string]string{
	"en": {"calendar": "The calendar was created.", "calendar-saved": "The calendar was saved.", "calendar-deleted": "The calendar was deleted."},
	"de": {"calendar": "Der Kalender wurde angelegt.", "calendar-saved": "Der Kalender wurde gespeichert.", "calendar-deleted": "Der Kalender wurde gelöscht."},
}

// calendarErrorsDE are the German words for the calendar errors; others
// keep their English message.
var calendarErrorsDE = map[string]string{
	"invalid_date":         "Ein Datum ist ungültig: schreiben Sie TT.MM.JJJJ oder JJJJ-MM-TT, z. B. 24.12.2026.",
	"duplicate_date":       "Ein Datum steht zweimal im Kalender; jedes Datum darf nur einmal vorkommen.",
	"invalid_time":         "Die Zeiten müssen HH:MM sein, z. B. 09:00.",
	"invalid_hours":        "Kreuzen Sie geschlossen an oder geben Sie eine Öffnungszeit und eine spätere Schließzeit an.",
	"invalid_note":         "Eine Notiz ist höchstens 100 Zeichen lang und einzeilig.",
	"too_many_entries":     "Ein Kalender enthält höchstens 1.000 Daten.",
	"missing_name":         "Der Name fehlt.",
	"invalid_name":         "Der Name ist höchstens 100 Zeichen lang und einzeilig.",
	"calendar_exists":      "Ein Kalender mit diesem Namen existiert bereits.",
	"calendar_in_use":      "Eine Warteschlange folgt diesem Kalender; wählen Sie für sie zuerst einen anderen Kalender.",
	"calendar_needs_hours": "Ein Kalender braucht die Öffnungszeiten der Warteschlange (ihre Zeitzone); geben Sie Öffnungszeiten an.",
	"invalid_calendar":     "Den Kalender gibt es nicht.",
}

func calendarError(lang string, err error) error {
	if e, ok := cic.AsError(err); ok && lang == "de" {
		if msg, ok := calendarErrorsDE[e.Code]; ok {
			return cic.Codef(e.Kind, e.Code, "%s", msg)
		}
	}
	return err
}

// showDate writes an ISO date as lang does.
func showDate(lang, iso string) string {
	d, err := time.Parse(time.DateOnly, iso)
	if err != nil {
		return iso
	}
	if lang == "de" {
		return d.Format("02.01.2006")
	}
	return iso
}

// formDate reads a date typed as 24.12.2026 or 2026-12-24 into ISO;
// anything else is passed on for the setup to refuse.
func formDate(s string) string {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2.1.2006", "02.01.2006"} {
		if d, err := time.Parse(layout, s); err == nil {
			return d.Format(time.DateOnly)
		}
	}
	return s
}

type calendarRow struct {
	I                                int
	Date, Shown, Opens, Closes, Note string
	Closed                           bool
}

type calendarView struct {
	setup.Calendar
	Rows   []calendarRow
	UsedBy []string
	T      map[string]string
}

type calendarOption struct {
	ID       uuid.UUID
	Name     string
	Selected bool
}

// calendarSection is what the calendars section and the queue forms'
// calendar select show.
type calendarSection struct {
	Lang      string
	CSRF      string
	T         map[string]string
	Calendars []calendarView
	New       calendarView
}

// blankCalendarRows are the empty rows a new calendar's form offers (one
// for a calendar with dates; the script adds more).
const blankCalendarRows = 3

func calendarRows(lang string, entries []setup.CalendarEntry) []calendarRow {
	blank := blankCalendarRows
	if len(entries) > 0 {
		blank = 1 // "Add a date" adds more
	}
	var rows []calendarRow
	for i, e := range entries {
		rows = append(rows, calendarRow{I: i, Date: e.Date, Shown: showDate(lang, e.Date), Opens: e.Opens, Closes: e.Closes, Note: e.Note, Closed: e.Closed})
	}
	for i := 0; i < blank; i++ {
		rows = append(rows, calendarRow{I: len(entries) + i})
	}
	return rows
}

// addCalendars fills the calendars section and the queue forms' select.
func (s *Server) addCalendars(c *fiber.Ctx, a tenant.Actor, data *routingPageData) error {
	lang := pageLang(c)
	cals, err := s.cfg.Setup.ListCalendars(c.UserContext(), a)
	if err != nil {
		return err
	}
	csrf, _ := c.Locals(localCSRF).(string)
	sec := &calendarSection{Lang: lang, CSRF: csrf, T: calendarText[lang], New: calendarView{Rows: calendarRows(lang, nil), T: calendarText[lang]}}
	for _, cal := range cals {
		v := calendarView{Calendar: cal, Rows: calendarRows(lang, cal.Entries), T: sec.T}
		for _, q := range data.Queues {
			if q.CalendarID != nil && *q.CalendarID == cal.ID {
				v.UsedBy = append(v.UsedBy, q.Name)
			}
		}
		sec.Calendars = append(sec.Calendars, v)
	}
	data.Calendars = sec
	options := func(q *routingQueueView) {
		q.CalendarT = sec.T
		for _, cal := range cals {
			selected := q.CalendarID != nil && *q.CalendarID == cal.ID
			if selected {
				q.CalendarName = cal.Name
			}
			q.CalendarOptions = append(q.CalendarOptions, calendarOption{ID: cal.ID, Name: cal.Name, Selected: selected})
		}
	}
	for i := range data.Queues {
		options(&data.Queues[i])
	}
	options(&data.NewQueue)
	return nil
}

// calendarFormInput reads a calendar form: its name and rows date_N,
// closed_N, opens_N, closes_N, note_N from N = 0 while they last.
func calendarFormInput(c *fiber.Ctx) setup.CalendarInput {
	name := c.FormValue("name")
	in := setup.CalendarInput{Name: &name, Entries: []setup.CalendarEntry{}}
	args := c.Context().PostArgs()
	for i := 0; i < setup.MaxCalendarEntries+100; i++ {
		n := strconv.Itoa(i)
		if !args.Has("date_" + n) {
			break
		}
		e := setup.CalendarEntry{Date: formDate(c.FormValue("date_" + n)), Closed: c.FormValue("closed_"+n) != "",
			Opens: strings.TrimSpace(c.FormValue("opens_" + n)), Closes: strings.TrimSpace(c.FormValue("closes_" + n)),
			Note: c.FormValue("note_" + n)}
		if e.Closed {
			e.Opens, e.Closes = "", "" // the times a closed row still shows do not count
		}
		if e.Date == "" && e.Opens == "" && e.Closes == "" && strings.TrimSpace(e.Note) == "" {
			continue
		}
		in.Entries = append(in.Entries, e)
	}
	return in
}

// calendarQueueForm reads the queue form's calendar select into in: empty
// is none (cleared on an update).
func calendarQueueForm(c *fiber.Ctx, in *setup.QueueInput, update bool) error {
	v := strings.TrimSpace(c.FormValue("calendar_id"))
	if v == "" {
		if update {
			if in.Clear == nil {
				in.Clear = map[string]bool{}
			}
			in.Clear["calendar_id"] = true
		}
		return nil
	}
	id, err := uuid.Parse(v)
	if err != nil {
		return cic.Codef(cic.EINVALID, "invalid_calendar", "Pick the calendar from the list.")
	}
	in.CalendarID = &id
	return nil
}

func (s *Server) calendarDone(c *fiber.Ctx, done string) error {
	return c.Redirect("/routing?done="+done+"#calendars", fiber.StatusSeeOther)
}

func (s *Server) routingCalendarCreate(c *fiber.Ctx) error {
	a, _ := actor(c)
	if _, err := s.cfg.Setup.CreateCalendar(c.UserContext(), a, calendarFormInput(c)); err != nil {
		return s.renderRouting(c, pageData{Form: formValues(c, "name")}, calendarError(pageLang(c), err))
	}
	return s.calendarDone(c, "calendar")
}

func (s *Server) routingCalendarUpdate(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "calendar")
	if err != nil {
		return err
	}
	if _, err := s.cfg.Setup.UpdateCalendar(c.UserContext(), a, id, calendarFormInput(c)); err != nil {
		return s.renderRouting(c, pageData{}, calendarError(pageLang(c), err))
	}
	return s.calendarDone(c, "calendar-saved")
}

func (s *Server) routingCalendarDelete(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "calendar")
	if err != nil {
		return err
	}
	if err := s.cfg.Setup.DeleteCalendar(c.UserContext(), a, id); err != nil {
		return s.renderRouting(c, pageData{}, calendarError(pageLang(c), err))
	}
	return s.calendarDone(c, "calendar-deleted")
}
