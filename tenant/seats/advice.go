package seats

import (
	"fmt"
	"strings"
)

// Advice tells an admin whether the seat count fits the use.
type Advice struct {
	// Kind is "none" (too little data), "at_limit", "far_below" or "fits".
	Kind      string `json:"kind"`
	Message   string `json:"message"`
	Peak      int    `json:"peak"`
	DaysFull  int    `json:"days_full"`
	Refused   int    `json:"refused"`
	Suggested int    `json:"suggested_seats"`
}

// The thresholds of Advise: a pool whose busiest moment over the period
// stays at or under farBelow of the limit is oversized; one full on
// fullDays days or more, or that refused anyone, is too small.
const (
	farBelowPct = 60
	fullDays    = 3
)

// Advise reads the daily peaks of the last days against the current limit.
func Advise(daily []UsagePoint, limit int) Advice {
	var a Advice
	used := false
	for _, d := range daily {
		a.Peak = max(a.Peak, d.Peak)
		a.Refused += d.Refused
		if d.Limit > 0 && d.Peak >= d.Limit {
			a.DaysFull++
		}
		if d.Peak > 0 || d.Refused > 0 {
			used = true
		}
	}
	switch {
	case !used:
		a.Kind = "none"
		a.Message = "No seat has been used in this period yet, so there is nothing to advise."
	case a.DaysFull >= fullDays || a.Refused > 0:
		a.Kind = "at_limit"
		a.Suggested = limit + max(1, (limit+9)/10)
		// Say only what happened: a pool may refuse logins on days it was
		// never full (shared seats taken, reserved ones free), or be full
		// without refusing anyone.
		var why []string
		if a.DaysFull > 0 {
			why = append(why, fmt.Sprintf("every seat was taken on %d of the last %d days", a.DaysFull, len(daily)))
		}
		if a.Refused == 1 {
			why = append(why, "1 login was refused")
		} else if a.Refused > 1 {
			why = append(why, fmt.Sprintf("%d logins were refused", a.Refused))
		}
		msg := strings.Join(why, " and ")
		a.Message = fmt.Sprintf("%s%s. Consider raising the seat count to about %d so agents are not turned away.",
			strings.ToUpper(msg[:1]), msg[1:], a.Suggested)
	case limit > 0 && a.Peak*100 <= limit*farBelowPct:
		a.Kind = "far_below"
		a.Suggested = max(1, (a.Peak*12+9)/10)
		a.Message = fmt.Sprintf("At the busiest moment of the last %d days only %d of %d seats were in use. "+
			"About %d seats would keep 20%% headroom and cost less.", len(daily), a.Peak, limit, a.Suggested)
	default:
		a.Kind = "fits"
		a.Message = fmt.Sprintf("The seat count fits: at most %d of %d seats were in use at once in the last %d days.", a.Peak, limit, len(daily))
	}
	return a
}
