package setup

import (
	"fmt"
	"time"

	cic "github.com/cic-platform/cic"
)

// BusinessHours are when a queue takes contacts: per weekday an opening
// and a closing time in the queue's time zone. A day missing is closed.
type BusinessHours struct {
	Timezone string               `json:"timezone"`
	Days     map[string][2]string `json:"days"` // "mon".."sun" -> ["08:00", "18:00"]
}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

var dayNames = map[string]string{"sun": "Sunday", "mon": "Monday", "tue": "Tuesday", "wed": "Wednesday",
	"thu": "Thursday", "fri": "Friday", "sat": "Saturday"}

func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Validate checks the time zone, the day names and that each day opens
// before it closes ("24:00" is not needed: "00:00"-"23:59" is all day).
// "Local" is refused: it is whatever zone each server runs in.
func (h *BusinessHours) Validate() error {
	if h.Timezone == "" {
		return cic.Codef(cic.EINVALID, "invalid_timezone", "Business hours need an IANA time zone such as Europe/Berlin.")
	}
	if _, err := time.LoadLocation(h.Timezone); err != nil || h.Timezone == "Local" {
		return cic.Codef(cic.EINVALID, "invalid_timezone", "%q is not an IANA time zone; write one such as Europe/Berlin.", h.Timezone)
	}
	if len(h.Days) == 0 {
		return cic.Codef(cic.EINVALID, "invalid_business_hours", "Business hours need at least one open day (or none at all for always open).")
	}
	for d, span := range h.Days {
		known := false
		for _, w := range weekdays {
			known = known || w == d
		}
		if !known {
			return cic.Codef(cic.EINVALID, "invalid_business_hours", "Unknown day %q: use mon, tue, wed, thu, fri, sat, sun.", d)
		}
		open, err1 := parseClock(span[0])
		closing, err2 := parseClock(span[1])
		if err1 != nil || err2 != nil || open >= closing {
			return cic.Codef(cic.EINVALID, "invalid_business_hours", "On %s the hours must be an opening time HH:MM and a later closing time HH:MM.", dayNames[d])
		}
	}
	return nil
}

// OpenAt says whether the weekly hours are open at t (nil hours are
// always open). It knows no calendar: a queue's check is Queue.OpenAt,
// which adds the exceptions of the queue's calendar.
func (h *BusinessHours) OpenAt(t time.Time) bool {
	if h == nil {
		return true
	}
	loc, err := time.LoadLocation(h.Timezone)
	if err != nil {
		return false
	}
	local := t.In(loc)
	span, ok := h.Days[weekdays[local.Weekday()]]
	if !ok {
		return false
	}
	open, err1 := parseClock(span[0])
	closing, err2 := parseClock(span[1])
	if err1 != nil || err2 != nil {
		return false
	}
	m := local.Hour()*60 + local.Minute()
	return m >= open && m < closing
}

func (h *BusinessHours) String() string {
	if h == nil {
		return "always open"
	}
	return fmt.Sprintf("%v (%s)", h.Days, h.Timezone)
}
