package metering

import (
	"sort"
	"time"

	"github.com/google/uuid"
)

// Exhaustion policies.
const (
	PolicyOverage   = "overage"
	PolicyAutoTopup = "auto_topup"
	PolicyBlock     = "block"
)

// drawBundle is a bundle as the draw-down sees it.
type drawBundle struct {
	ID         uuid.UUID
	Contacts   int64
	Remaining  int64
	PriceMinor int64
	ValidFrom  time.Time
	ValidUntil time.Time
	CreatedAt  time.Time
}

// draw is where each of n new contacts comes from: take[i] contacts from
// usable[i], and overage contacts from no bundle at all.
type draw struct {
	usable  []drawBundle
	take    []int64
	overage int
}

// drawDown spends n contacts from the bundles valid at `at`, earliest
// expiry first (then oldest purchase), never below zero; what is left
// over is overage. The policy decides elsewhere whether overage may be
// served; contacts already handled are always recorded.
func drawDown(bundles []drawBundle, n int, at time.Time) draw {
	var d draw
	for _, b := range bundles {
		if b.Remaining > 0 && !at.Before(b.ValidFrom) && at.Before(b.ValidUntil) {
			d.usable = append(d.usable, b)
		}
	}
	sort.SliceStable(d.usable, func(i, j int) bool {
		a, b := d.usable[i], d.usable[j]
		if !a.ValidUntil.Equal(b.ValidUntil) {
			return a.ValidUntil.Before(b.ValidUntil)
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID.String() < b.ID.String()
	})
	d.take = make([]int64, len(d.usable))
	left := int64(n)
	for i, b := range d.usable {
		t := min(left, b.Remaining)
		d.take[i] = t
		left -= t
	}
	d.overage = int(left)
	return d
}

// sourceOf returns the bundle index the k-th new contact is drawn from, or
// -1 for overage, following the draw's order.
func (d draw) sources(n int) []int {
	out := make([]int, 0, n)
	for i, t := range d.take {
		for range t {
			out = append(out, i)
		}
	}
	for len(out) < n {
		out = append(out, -1)
	}
	return out
}
