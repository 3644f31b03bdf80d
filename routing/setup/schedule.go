package setup

import (
	"time"
)

// A queue's opening hours are its weekly business hours with its
// calendar's exceptions: on a date the calendar names (in the queue's time
// zone) the entry replaces that weekday's hours, closed all day or open
// only the entry's hours. Every business-hours check goes through
// Queue.OpenAt; Queue.NextOpening says when a closed queue opens.

// OpenAt says whether the queue takes contacts at t: its weekly hours,
// overridden on the dates of its calendar. A queue without business hours
// is always open (a calendar needs the hours' time zone, so it is only
// attached to a queue that has them).
func (q *Queue) OpenAt(t time.Time) bool {
	return OpenAt(q.Hours, q.Calendar, t)
}

// NextOpening is the first instant at or after t at which the queue is
// open: t itself when it is open at t. ok is false when it does not open
// within the next three years (e.g. its only open day is closed by the
// calendar for good).
func (q *Queue) NextOpening(t time.Time) (at time.Time, ok bool) {
	return NextOpening(q.Hours, q.Calendar, t)
}

// OpenAt is Queue.OpenAt for hours and a calendar (nil: none).
func OpenAt(h *BusinessHours, cal *Calendar, t time.Time) bool {
	if h == nil {
		return true
	}
	loc, err := time.LoadLocation(h.Timezone)
	if err != nil {
		return false
	}
	local := t.In(loc)
	open, closing, ok := daySpan(h, cal, local)
	if !ok {
		return false
	}
	m := local.Hour()*60 + local.Minute()
	return m >= open && m < closing
}

// nextOpeningDays bounds NextOpening's search.
const nextOpeningDays = 3 * 366

// NextOpening is Queue.NextOpening for hours and a calendar (nil: none).
func NextOpening(h *BusinessHours, cal *Calendar, t time.Time) (time.Time, bool) {
	if OpenAt(h, cal, t) {
		return t, true
	}
	loc, err := time.LoadLocation(h.Timezone)
	if err != nil {
		return time.Time{}, false
	}
	local := t.In(loc)
	y, mo, d := local.Date()
	for i := 0; i < nextOpeningDays; i++ {
		day := time.Date(y, mo, d+i, 12, 0, 0, 0, loc) // noon: on the date whatever the zone does at night
		open, _, ok := daySpan(h, cal, day)
		if !ok {
			continue
		}
		at := firstAtOrAfter(day, open, loc)
		if at.Before(t) {
			continue // today's opening has passed: the queue closed already
		}
		if OpenAt(h, cal, at) {
			return at, true
		}
	}
	return time.Time{}, false
}

// daySpan is the opening and closing minute of local's date: the
// calendar's entry for the date when there is one, else the weekday's
// hours; ok false when closed all day.
func daySpan(h *BusinessHours, cal *Calendar, local time.Time) (open, closing int, ok bool) {
	span, has := h.Days[weekdays[local.Weekday()]]
	if cal != nil {
		date := local.Format(time.DateOnly)
		for _, e := range cal.Entries {
			if e.Date != date {
				continue
			}
			if e.Closed {
				return 0, 0, false
			}
			span, has = [2]string{e.Opens, e.Closes}, true
			break
		}
	}
	if !has {
		return 0, 0, false
	}
	open, err1 := parseClock(span[0])
	closing, err2 := parseClock(span[1])
	if err1 != nil || err2 != nil || open >= closing {
		return 0, 0, false
	}
	return open, closing, true
}

func minuteOf(t time.Time) int { return t.Hour()*60 + t.Minute() }

// firstAtOrAfter is the earliest instant on day's date (in loc) whose
// wall clock reads minute or later. time.Date alone is not enough on a
// day the clocks change: a wall time skipped by the spring change is
// normalised past the change, and of a wall time that the autumn change
// repeats time.Date may pick either.
func firstAtOrAfter(day time.Time, minute int, loc *time.Location) time.Time {
	y, mo, d := day.Date()
	best := time.Date(y, mo, d, minute/60, minute%60, 0, 0, loc)
	fits := func(c time.Time) bool {
		l := c.In(loc)
		ly, lm, ld := l.Date()
		return ly == y && lm == mo && ld == d && minuteOf(l) >= minute
	}
	start, _ := best.ZoneBounds()
	if start.IsZero() {
		return best
	}
	// The same wall time under the zone before this one (the earlier of
	// a repeated time), and the instant of the change (the first instant
	// past a skipped time).
	_, off := best.Zone()
	_, prevOff := start.Add(-time.Second).Zone()
	for _, c := range []time.Time{best.Add(time.Duration(off-prevOff) * time.Second), start} {
		if c.Before(best) && fits(c) {
			best = c
		}
	}
	return best
}
