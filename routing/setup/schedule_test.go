package setup_test

import (
	"testing"
	"time"

	"github.com/cic-platform/cic/routing/setup"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// weekdays 08:00–18:00, Saturday 10:00–12:00, Sunday closed, Berlin.
var berlinWeek = &setup.BusinessHours{Timezone: "Europe/Berlin", Days: map[string][2]string{
	"mon": {"08:00", "18:00"}, "tue": {"08:00", "18:00"}, "wed": {"08:00", "18:00"}, "thu": {"08:00", "18:00"},
	"fri": {"08:00", "18:00"}, "sat": {"10:00", "12:00"}}}

var holidays = &setup.Calendar{Name: "Holidays", Entries: []setup.CalendarEntry{
	{Date: "2026-03-29", Opens: "01:00", Closes: "04:00", Note: "the clocks go forward (a Sunday)"},
	{Date: "2026-10-25", Opens: "01:00", Closes: "04:00", Note: "the clocks go back (a Sunday)"},
	{Date: "2026-12-24", Opens: "09:00", Closes: "12:00", Note: "Christmas Eve (a Thursday)"},
	{Date: "2026-12-25", Closed: true, Note: "Christmas Day"},
	{Date: "2026-12-26", Opens: "17:00", Closes: "20:00", Note: "a Saturday, past its weekly hours"},
	{Date: "2026-12-27", Opens: "11:00", Closes: "13:00", Note: "a Sunday, closed weekly"},
	{Date: "2026-12-28", Opens: "16:00", Closes: "22:00", Note: "a Monday, crossing its closing"},
}}

func TestOpenAt_CalendarRules(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	at := func(y int, mo time.Month, d, h, m int) time.Time { return time.Date(y, mo, d, h, m, 0, 0, berlin) }
	utc := func(y int, mo time.Month, d, h, m int) time.Time { return time.Date(y, mo, d, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name  string
		hours *setup.BusinessHours
		cal   *setup.Calendar
		t     time.Time
		open  bool
	}{
		{"no calendar: weekly hours", berlinWeek, nil, at(2026, 12, 24, 17, 0), true},
		{"no calendar: Sunday closed", berlinWeek, nil, at(2026, 12, 27, 12, 0), false},
		{"no hours: always open, calendar or not", nil, holidays, at(2026, 12, 25, 12, 0), true},
		{"calendar without an entry for the date: weekly hours", berlinWeek, holidays, at(2026, 12, 23, 17, 59), true},
		{"calendar without an entry for the date: closing minute", berlinWeek, holidays, at(2026, 12, 23, 18, 0), false},
		{"closed day: all day", berlinWeek, holidays, at(2026, 12, 25, 10, 0), false},
		{"closed day: first minute", berlinWeek, holidays, at(2026, 12, 25, 0, 0), false},
		{"closed day: last minute", berlinWeek, holidays, at(2026, 12, 25, 23, 59), false},
		{"the day after the closed day: weekly hours again", berlinWeek, holidays, at(2026, 12, 29, 8, 0), true},
		{"special hours: open inside", berlinWeek, holidays, at(2026, 12, 24, 11, 59), true},
		{"special hours: closed after, though the week is open", berlinWeek, holidays, at(2026, 12, 24, 12, 0), false},
		{"special hours: closed before, though the week is open", berlinWeek, holidays, at(2026, 12, 24, 8, 30), false},
		{"special hours past the weekly closing: open", berlinWeek, holidays, at(2026, 12, 26, 19, 0), true},
		{"special hours past the weekly closing: weekly hours replaced", berlinWeek, holidays, at(2026, 12, 26, 11, 0), false},
		{"special hours on a day closed weekly", berlinWeek, holidays, at(2026, 12, 27, 12, 0), true},
		{"special hours crossing the weekly closing: before the week closes", berlinWeek, holidays, at(2026, 12, 28, 17, 0), true},
		{"special hours crossing the weekly closing: after it", berlinWeek, holidays, at(2026, 12, 28, 21, 0), true},
		{"special hours crossing the weekly closing: weekly morning replaced", berlinWeek, holidays, at(2026, 12, 28, 9, 0), false},
		// The date is the queue's: 23:30 UTC on 24 December is already the
		// 25th in Berlin, closed; 23:30 UTC on the 23rd is 00:30 on the 24th.
		{"date in the queue's zone: Christmas in Berlin, not yet in UTC", berlinWeek, holidays, utc(2026, 12, 24, 23, 30), false},
		{"date in the queue's zone: 24th already", berlinWeek, holidays, utc(2026, 12, 24, 10, 30), true},
		// 29 March 2026: 02:00 CET becomes 03:00 CEST, so 01:00–04:00 is
		// two hours: 00:00–02:00 UTC.
		{"DST forward: before the special opening", berlinWeek, holidays, utc(2026, 3, 28, 23, 59), false},
		{"DST forward: at the opening (01:00 CET)", berlinWeek, holidays, utc(2026, 3, 29, 0, 0), true},
		{"DST forward: after the change (03:30 CEST)", berlinWeek, holidays, utc(2026, 3, 29, 1, 30), true},
		{"DST forward: at the closing (04:00 CEST)", berlinWeek, holidays, utc(2026, 3, 29, 2, 0), false},
		// 25 October 2026: 03:00 CEST becomes 02:00 CET, so 01:00–04:00 is
		// four hours: 23:00 UTC (the 24th) to 03:00 UTC.
		{"DST back: at the opening (01:00 CEST)", berlinWeek, holidays, utc(2026, 10, 24, 23, 0), true},
		{"DST back: the repeated hour (02:30 CET)", berlinWeek, holidays, utc(2026, 10, 25, 1, 30), true},
		{"DST back: 03:59 CET", berlinWeek, holidays, utc(2026, 10, 25, 2, 59), true},
		{"DST back: at the closing (04:00 CET)", berlinWeek, holidays, utc(2026, 10, 25, 3, 0), false},
		{"DST back without a calendar: Sunday closed", berlinWeek, nil, utc(2026, 10, 25, 1, 30), false},
		// The Monday after the change: weekly 08:00 is 07:00 UTC in CET.
		{"after DST back: 08:00 CET is 07:00 UTC", berlinWeek, holidays, utc(2026, 10, 26, 7, 0), true},
		{"after DST back: 06:59 UTC is 07:59 CET", berlinWeek, holidays, utc(2026, 10, 26, 6, 59), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := setup.OpenAt(tc.hours, tc.cal, tc.t); got != tc.open {
				t.Errorf("OpenAt(%s) = %v, want %v", tc.t.In(berlin).Format(time.RFC3339), got, tc.open)
			}
			q := setup.Queue{Hours: tc.hours, Calendar: tc.cal}
			if got := q.OpenAt(tc.t); got != tc.open {
				t.Errorf("Queue.OpenAt(%s) = %v, want %v", tc.t.In(berlin).Format(time.RFC3339), got, tc.open)
			}
		})
	}
}

func TestNextOpening_CalendarRules(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	at := func(y int, mo time.Month, d, h, m int) time.Time { return time.Date(y, mo, d, h, m, 0, 0, berlin) }
	utc := func(y int, mo time.Month, d, h, m int) time.Time { return time.Date(y, mo, d, h, m, 0, 0, time.UTC) }
	// Opening at 02:30, a wall time that 29 March skips and 25 October repeats.
	night := &setup.BusinessHours{Timezone: "Europe/Berlin", Days: map[string][2]string{"sun": {"02:30", "05:00"}}}
	closedForGood := &setup.Calendar{Entries: []setup.CalendarEntry{{Date: "2026-12-27", Closed: true}}}
	onlyOneSunday := &setup.BusinessHours{Timezone: "Europe/Berlin", Days: map[string][2]string{"sun": {"10:00", "11:00"}}}
	var allSundays []setup.CalendarEntry
	for d := at(2026, 12, 6, 12, 0); d.Year() < 2031; d = d.AddDate(0, 0, 7) {
		allSundays = append(allSundays, setup.CalendarEntry{Date: d.Format(time.DateOnly), Closed: true})
	}
	for _, tc := range []struct {
		name  string
		hours *setup.BusinessHours
		cal   *setup.Calendar
		from  time.Time
		want  time.Time // zero: never
	}{
		{"open now: now", berlinWeek, holidays, at(2026, 12, 23, 9, 15), at(2026, 12, 23, 9, 15)},
		{"no hours: now", nil, nil, at(2026, 12, 25, 3, 0), at(2026, 12, 25, 3, 0)},
		{"no calendar: tomorrow morning", berlinWeek, nil, at(2026, 12, 22, 19, 0), at(2026, 12, 23, 8, 0)},
		{"no calendar: before today's opening", berlinWeek, nil, at(2026, 12, 22, 6, 0), at(2026, 12, 22, 8, 0)},
		{"no calendar: Saturday evening to Monday", berlinWeek, nil, at(2026, 12, 19, 13, 0), at(2026, 12, 21, 8, 0)},
		{"special hours on the next day", berlinWeek, holidays, at(2026, 12, 23, 19, 0), at(2026, 12, 24, 9, 0)},
		{"special hours today, later than the week", berlinWeek, holidays, at(2026, 12, 24, 8, 0), at(2026, 12, 24, 9, 0)},
		{"past the special hours, over the closed day", berlinWeek, holidays, at(2026, 12, 24, 12, 0), at(2026, 12, 26, 17, 0)},
		{"special evening opening on a Saturday", berlinWeek, holidays, at(2026, 12, 26, 10, 30), at(2026, 12, 26, 17, 0)},
		{"special hours on a Sunday closed weekly", berlinWeek, holidays, at(2026, 12, 26, 21, 0), at(2026, 12, 27, 11, 0)},
		{"special hours crossing the weekly closing", berlinWeek, holidays, at(2026, 12, 28, 7, 0), at(2026, 12, 28, 16, 0)},
		{"DST forward: a skipped opening opens at the change", night, nil, utc(2026, 3, 28, 22, 0), utc(2026, 3, 29, 1, 0)},
		{"DST back: a repeated opening opens the first time", night, nil, utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 0, 30)},
		{"DST forward: a special opening before the change", berlinWeek, holidays, at(2026, 3, 28, 13, 0), utc(2026, 3, 29, 0, 0)},
		{"the only open day closed by the calendar: the week after", onlyOneSunday, closedForGood, at(2026, 12, 26, 9, 0), at(2027, 1, 3, 10, 0)},
		{"every open day closed within the horizon: never", onlyOneSunday, &setup.Calendar{Entries: allSundays}, at(2026, 12, 1, 9, 0), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := setup.Queue{Hours: tc.hours, Calendar: tc.cal}
			got, ok := q.NextOpening(tc.from)
			if tc.want.IsZero() {
				if ok {
					t.Fatalf("NextOpening = %s, want never", got.In(berlin).Format(time.RFC3339))
				}
				return
			}
			if !ok || !got.Equal(tc.want) {
				t.Fatalf("NextOpening(%s) = %s %v, want %s", tc.from.In(berlin).Format(time.RFC3339),
					got.In(berlin).Format(time.RFC3339), ok, tc.want.In(berlin).Format(time.RFC3339))
			}
			if !q.OpenAt(got) {
				t.Errorf("not open at its next opening %s", got.In(berlin).Format(time.RFC3339))
			}
			if got.After(tc.from) && q.OpenAt(got.Add(-time.Minute)) {
				t.Errorf("open a minute before its next opening %s", got.In(berlin).Format(time.RFC3339))
			}
		})
	}
}
