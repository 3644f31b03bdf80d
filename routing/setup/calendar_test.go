package setup_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/routing/setup"
)

func TestCalendar_Validation(t *testing.T) {
	w := newWorld(t)
	owner, _, _ := w.company(t, "acme")
	c := testenv.Context(t)
	for _, tc := range []struct {
		name    string
		entries []setup.CalendarEntry
		code    string
	}{
		{"date not ISO", []setup.CalendarEntry{{Date: "24.12.2026", Closed: true}}, "invalid_date"},
		{"date not a day", []setup.CalendarEntry{{Date: "2026-02-30", Closed: true}}, "invalid_date"},
		{"date without zero padding", []setup.CalendarEntry{{Date: "2026-1-05", Closed: true}}, "invalid_date"},
		{"time not HH:MM", []setup.CalendarEntry{{Date: "2026-12-24", Opens: "9am", Closes: "12:00"}}, "invalid_time"},
		{"time out of range", []setup.CalendarEntry{{Date: "2026-12-24", Opens: "09:00", Closes: "24:30"}}, "invalid_time"},
		{"closing before opening", []setup.CalendarEntry{{Date: "2026-12-24", Opens: "12:00", Closes: "09:00"}}, "invalid_hours"},
		{"closing at opening", []setup.CalendarEntry{{Date: "2026-12-24", Opens: "09:00", Closes: "09:00"}}, "invalid_hours"},
		{"crossing midnight", []setup.CalendarEntry{{Date: "2026-12-31", Opens: "22:00", Closes: "02:00"}}, "invalid_hours"},
		{"neither closed nor hours", []setup.CalendarEntry{{Date: "2026-12-24"}}, "invalid_hours"},
		{"closed with hours", []setup.CalendarEntry{{Date: "2026-12-24", Closed: true, Opens: "09:00", Closes: "12:00"}}, "invalid_hours"},
		{"duplicate date", []setup.CalendarEntry{{Date: "2026-12-25", Closed: true}, {Date: "2026-12-25", Opens: "09:00", Closes: "12:00"}}, "duplicate_date"},
		{"note on two lines", []setup.CalendarEntry{{Date: "2026-12-25", Closed: true, Note: "a\nb"}}, "invalid_note"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.setup.CreateCalendar(c, owner, setup.CalendarInput{Name: ptr("Cal " + tc.name), Entries: tc.entries})
			if testenv.Code(err) != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}
	if _, err := w.setup.CreateCalendar(c, owner, setup.CalendarInput{Name: ptr("  ")}); testenv.Code(err) != "missing_name" {
		t.Errorf("blank name: %v", err)
	}
}

func TestCalendar_CRUDAndQueues(t *testing.T) {
	w := newWorld(t)
	owner, agent, supervisor := w.company(t, "acme")
	c := testenv.Context(t)
	if _, err := w.setup.CreateCalendar(c, supervisor, setup.CalendarInput{Name: ptr("Holidays")}); testenv.Code(err) != "forbidden" {
		t.Fatalf("supervisor creates: %v", err)
	}
	cal, err := w.setup.CreateCalendar(c, owner, setup.CalendarInput{Name: ptr("Holidays"), Entries: []setup.CalendarEntry{
		{Date: "2026-12-25", Closed: true, Note: "Christmas Day"},
		{Date: "2026-12-24", Opens: "9:00", Closes: "12:00", Note: " Christmas Eve "}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []setup.CalendarEntry{{Date: "2026-12-24", Opens: "09:00", Closes: "12:00", Note: "Christmas Eve"},
		{Date: "2026-12-25", Closed: true, Note: "Christmas Day"}}
	got, err := w.setup.GetCalendar(c, supervisor, cal.ID)
	if err != nil || got.Name != "Holidays" || len(got.Entries) != 2 || got.Entries[0] != want[0] || got.Entries[1] != want[1] {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := w.setup.GetCalendar(c, agent, cal.ID); testenv.Code(err) != "forbidden" {
		t.Errorf("agent reads: %v", err)
	}
	if _, err := w.setup.CreateCalendar(c, owner, setup.CalendarInput{Name: ptr("holidays")}); testenv.Code(err) != "calendar_exists" {
		t.Errorf("same name: %v", err)
	}
	// Rename only keeps the entries; entries only keep the name.
	if got, err = w.setup.UpdateCalendar(c, owner, cal.ID, setup.CalendarInput{Name: ptr("Feiertage")}); err != nil || len(got.Entries) != 2 {
		t.Fatalf("rename: %+v %v", got, err)
	}
	if got, err = w.setup.UpdateCalendar(c, owner, cal.ID, setup.CalendarInput{Entries: []setup.CalendarEntry{{Date: "2026-12-31", Closed: true}}}); err != nil ||
		got.Name != "Feiertage" || len(got.Entries) != 1 || got.Entries[0].Date != "2026-12-31" {
		t.Fatalf("entries: %+v %v", got, err)
	}
	if _, err := w.setup.UpdateCalendar(c, owner, uuid.New(), setup.CalendarInput{Name: ptr("X")}); testenv.Code(err) != "not_found" {
		t.Errorf("update unknown: %v", err)
	}

	// A calendar needs the queue's business hours (their time zone).
	if _, err := w.setup.CreateQueue(c, owner, setup.QueueInput{Name: ptr("Always"), Channels: []string{"chat"}, CalendarID: &cal.ID}); testenv.Code(err) != "calendar_needs_hours" {
		t.Fatalf("calendar without hours: %v", err)
	}
	hours := &setup.BusinessHours{Timezone: "Europe/Berlin", Days: map[string][2]string{"thu": {"08:00", "18:00"}}}
	q, err := w.setup.CreateQueue(c, owner, setup.QueueInput{Name: ptr("Support"), Channels: []string{"chat"}, Hours: hours, CalendarID: &cal.ID})
	if err != nil || q.CalendarID == nil || *q.CalendarID != cal.ID || q.Calendar == nil || len(q.Calendar.Entries) != 1 {
		t.Fatalf("queue with calendar: %+v %v", q, err)
	}
	if q, err = w.setup.QueueByID(c, owner.TenantID, q.ID); err != nil || q.Calendar == nil || q.Calendar.Entries[0].Date != "2026-12-31" {
		t.Fatalf("queue by id: %+v %v", q, err)
	}
	if _, err := w.setup.UpdateQueue(c, owner, q.ID, setup.QueueInput{Clear: map[string]bool{"business_hours": true}}); testenv.Code(err) != "calendar_needs_hours" {
		t.Errorf("clearing the hours under a calendar: %v", err)
	}
	if _, err := w.setup.UpdateQueue(c, owner, q.ID, setup.QueueInput{CalendarID: ptr(uuid.New())}); testenv.Code(err) != "invalid_calendar" {
		t.Errorf("unknown calendar: %v", err)
	}
	// An update that does not name the calendar keeps it.
	if q, err = w.setup.UpdateQueue(c, owner, q.ID, setup.QueueInput{Priority: ptr(5)}); err != nil || q.CalendarID == nil {
		t.Fatalf("update keeps the calendar: %+v %v", q, err)
	}
	qs, err := w.setup.ListQueues(c, owner)
	if err != nil || len(qs) != 1 || qs[0].CalendarID == nil || qs[0].Calendar == nil {
		t.Fatalf("list queues: %+v %v", qs, err)
	}

	if err := w.setup.DeleteCalendar(c, owner, cal.ID); testenv.Code(err) != "calendar_in_use" {
		t.Fatalf("delete in use: %v", err)
	}
	if q, err = w.setup.UpdateQueue(c, owner, q.ID, setup.QueueInput{Clear: map[string]bool{"calendar_id": true}}); err != nil || q.CalendarID != nil || q.Calendar != nil {
		t.Fatalf("clear calendar: %+v %v", q, err)
	}
	if err := w.setup.DeleteCalendar(c, supervisor, cal.ID); testenv.Code(err) != "forbidden" {
		t.Errorf("supervisor deletes: %v", err)
	}
	if err := w.setup.DeleteCalendar(c, owner, cal.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.setup.DeleteCalendar(c, owner, cal.ID); testenv.Code(err) != "not_found" {
		t.Errorf("delete twice: %v", err)
	}
	if cs, err := w.setup.ListCalendars(c, owner); err != nil || len(cs) != 0 {
		t.Errorf("list after delete: %+v %v", cs, err)
	}
}

func TestCalendar_CrossTenant(t *testing.T) {
	w := newWorld(t)
	acme, _, _ := w.company(t, "acme")
	globex, _, _ := w.company(t, "globex")
	c := testenv.Context(t)
	theirs, err := w.setup.CreateCalendar(c, globex, setup.CalendarInput{Name: ptr("Globex holidays"),
		Entries: []setup.CalendarEntry{{Date: "2026-12-25", Closed: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.setup.GetCalendar(c, acme, theirs.ID); testenv.Code(err) != "not_found" {
		t.Errorf("get theirs: %v", err)
	}
	if _, err := w.setup.UpdateCalendar(c, acme, theirs.ID, setup.CalendarInput{Name: ptr("Mine")}); testenv.Code(err) != "not_found" {
		t.Errorf("update theirs: %v", err)
	}
	if err := w.setup.DeleteCalendar(c, acme, theirs.ID); testenv.Code(err) != "not_found" {
		t.Errorf("delete theirs: %v", err)
	}
	if cs, err := w.setup.ListCalendars(c, acme); err != nil || len(cs) != 0 {
		t.Errorf("list: %+v %v", cs, err)
	}
	hours := &setup.BusinessHours{Timezone: "UTC", Days: map[string][2]string{"mon": {"08:00", "18:00"}}}
	if _, err := w.setup.CreateQueue(c, acme, setup.QueueInput{Name: ptr("Support"), Channels: []string{"chat"}, Hours: hours, CalendarID: &theirs.ID}); testenv.Code(err) != "invalid_calendar" {
		t.Errorf("attach theirs: %v", err)
	}
	if got, err := w.setup.GetCalendar(c, globex, theirs.ID); err != nil || got.Name != "Globex holidays" || len(got.Entries) != 1 {
		t.Errorf("theirs untouched: %+v %v", got, err)
	}
}
