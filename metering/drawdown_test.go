package metering

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Table tests of the pure draw-down rules: which bundles are usable at a
// moment, in which order they are spent, and what is left as overage.

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// bid gives readable, fixed bundle ids: bid(1) = 00000000-...-000000000001.
func bid(n int) uuid.UUID {
	var u uuid.UUID
	u[15] = byte(n)
	u[14] = byte(n >> 8)
	return u
}

// bun is a bundle valid [from, until) relative to t0, created at t0+created.
func bun(n int, remaining int64, from, until, created time.Duration) drawBundle {
	return drawBundle{
		ID: bid(n), Contacts: remaining + 10, Remaining: remaining, PriceMinor: 1000,
		ValidFrom: t0.Add(from), ValidUntil: t0.Add(until), CreatedAt: t0.Add(created),
	}
}

const (
	hour = time.Hour
	day  = 24 * time.Hour
)

// taken is a draw as {bundle number: contacts taken}, in draw order.
type taken struct {
	order   []int
	take    []int64
	overage int
}

func summarize(d draw) taken {
	var s taken
	for i, b := range d.usable {
		s.order = append(s.order, int(b.ID[15])|int(b.ID[14])<<8)
		s.take = append(s.take, d.take[i])
	}
	s.overage = d.overage
	return s
}

func TestDrawDown_Rules(t *testing.T) {
	cases := []struct {
		name    string
		bundles []drawBundle
		n       int
		at      time.Time
		want    taken
	}{
		{
			name: "earliest expiry first, whatever the input order",
			bundles: []drawBundle{
				bun(1, 10, -day, 30*day, -day),
				bun(2, 10, -day, 2*day, -hour),
				bun(3, 10, -day, 10*day, -2*day),
			},
			n: 15, at: t0,
			want: taken{order: []int{2, 3, 1}, take: []int64{10, 5, 0}},
		},
		{
			name: "same expiry: oldest created first",
			bundles: []drawBundle{
				bun(1, 5, -day, day, -hour),
				bun(2, 5, -day, day, -3*hour),
				bun(3, 5, -day, day, -2*hour),
			},
			n: 7, at: t0,
			want: taken{order: []int{2, 3, 1}, take: []int64{5, 2, 0}},
		},
		{
			name: "same expiry and creation: lowest id first (deterministic)",
			bundles: []drawBundle{
				bun(9, 5, -day, day, -hour),
				bun(4, 5, -day, day, -hour),
			},
			n: 6, at: t0,
			want: taken{order: []int{4, 9}, take: []int64{5, 1}},
		},
		{
			name:    "partial bundle: only what it still holds is drawn",
			bundles: []drawBundle{bun(1, 3, -day, day, -day), bun(2, 100, -day, 2*day, -day)},
			n:       10, at: t0,
			want: taken{order: []int{1, 2}, take: []int64{3, 7}},
		},
		{
			name:    "fewer contacts than the first bundle holds",
			bundles: []drawBundle{bun(1, 50, -day, day, -day), bun(2, 50, -day, 2*day, -day)},
			n:       1, at: t0,
			want: taken{order: []int{1, 2}, take: []int64{1, 0}},
		},
		{
			name:    "exhausted: the rest is overage",
			bundles: []drawBundle{bun(1, 4, -day, day, -day), bun(2, 6, -day, 2*day, -day)},
			n:       25, at: t0,
			want: taken{order: []int{1, 2}, take: []int64{4, 6}, overage: 15},
		},
		{
			name:    "exactly exhausted: no overage",
			bundles: []drawBundle{bun(1, 4, -day, day, -day), bun(2, 6, -day, 2*day, -day)},
			n:       10, at: t0,
			want: taken{order: []int{1, 2}, take: []int64{4, 6}},
		},
		{
			name: "no bundles at all: everything is overage",
			n:    3, at: t0,
			want: taken{overage: 3},
		},
		{
			name:    "empty bundles are not usable",
			bundles: []drawBundle{bun(1, 0, -day, day, -day), bun(2, 2, -day, 2*day, -day)},
			n:       5, at: t0,
			want: taken{order: []int{2}, take: []int64{2}, overage: 3},
		},
		{
			name: "not yet valid and already expired bundles are ignored",
			bundles: []drawBundle{
				bun(1, 10, hour, 30*day, -day),      // starts in an hour
				bun(2, 10, -30*day, -hour, -30*day), // expired an hour ago
				bun(3, 10, -day, 3*day, -day),
			},
			n: 12, at: t0,
			want: taken{order: []int{3}, take: []int64{10}, overage: 2},
		},
		{
			name: "valid_from equal to at: usable (validity is [from, until))",
			bundles: []drawBundle{
				bun(1, 10, 0, day, -day),
			},
			n: 4, at: t0,
			want: taken{order: []int{1}, take: []int64{4}},
		},
		{
			name: "expiry mid-batch: valid_until equal to at is no longer usable",
			bundles: []drawBundle{
				bun(1, 10, -day, 0, -day), // expires exactly at t0
				bun(2, 10, -day, day, -day),
			},
			n: 12, at: t0,
			want: taken{order: []int{2}, take: []int64{10}, overage: 2},
		},
		{
			name: "expiry mid-batch: one nanosecond before expiry it still is",
			bundles: []drawBundle{
				bun(1, 10, -day, time.Nanosecond, -day),
				bun(2, 10, -day, day, -day),
			},
			n: 12, at: t0,
			want: taken{order: []int{1, 2}, take: []int64{10, 2}},
		},
		{
			name:    "zero contacts: nothing taken, no overage",
			bundles: []drawBundle{bun(1, 10, -day, day, -day)},
			n:       0, at: t0,
			want: taken{order: []int{1}, take: []int64{0}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]drawBundle(nil), tc.bundles...)
			d := drawDown(in, tc.n, tc.at)
			got := summarize(d)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("drawDown(n=%d):\n got  %+v\n want %+v", tc.n, got, tc.want)
			}
			if !reflect.DeepEqual(in, tc.bundles) {
				t.Errorf("drawDown changed its input")
			}
			checkDraw(t, tc.bundles, tc.n, tc.at, d)
		})
	}
}

// checkDraw asserts the invariants every draw must keep, whatever the
// input: nothing below zero, every contact accounted for exactly once,
// only bundles valid at `at` drawn, and overage only once all are empty.
func checkDraw(t testing.TB, bundles []drawBundle, n int, at time.Time, d draw) {
	t.Helper()
	if len(d.take) != len(d.usable) {
		t.Fatalf("%d takes for %d usable bundles", len(d.take), len(d.usable))
	}
	if d.overage < 0 {
		t.Fatalf("negative overage %d", d.overage)
	}
	var sum int64
	var left int64
	for i, b := range d.usable {
		if b.Remaining <= 0 || at.Before(b.ValidFrom) || !at.Before(b.ValidUntil) {
			t.Fatalf("bundle %s usable at %s but valid [%s, %s) with %d left", b.ID, at, b.ValidFrom, b.ValidUntil, b.Remaining)
		}
		if d.take[i] < 0 || d.take[i] > b.Remaining {
			t.Fatalf("bundle %s: took %d of %d (remaining would be %d)", b.ID, d.take[i], b.Remaining, b.Remaining-d.take[i])
		}
		if i > 0 {
			p := d.usable[i-1]
			if p.ValidUntil.After(b.ValidUntil) ||
				(p.ValidUntil.Equal(b.ValidUntil) && p.CreatedAt.After(b.CreatedAt)) {
				t.Fatalf("bundle %s (until %s) drawn before %s (until %s)", p.ID, p.ValidUntil, b.ID, b.ValidUntil)
			}
			// A later bundle is only touched once the earlier one is empty.
			if d.take[i] > 0 && d.take[i-1] != p.Remaining {
				t.Fatalf("bundle %s drawn while %s still had %d left", b.ID, p.ID, p.Remaining-d.take[i-1])
			}
		}
		sum += d.take[i]
		left += b.Remaining - d.take[i]
	}
	if sum+int64(d.overage) != int64(n) {
		t.Fatalf("took %d + overage %d, want %d contacts", sum, d.overage, n)
	}
	if d.overage > 0 && left != 0 {
		t.Fatalf("overage %d while %d contacts were left in bundles", d.overage, left)
	}
	// Every bundle valid at `at` with contacts left is usable.
	usable := map[uuid.UUID]bool{}
	for _, b := range d.usable {
		usable[b.ID] = true
	}
	for _, b := range bundles {
		valid := b.Remaining > 0 && !at.Before(b.ValidFrom) && at.Before(b.ValidUntil)
		if valid != usable[b.ID] {
			t.Fatalf("bundle %s valid=%v but usable=%v", b.ID, valid, usable[b.ID])
		}
	}
	src := d.sources(n)
	if len(src) != n {
		t.Fatalf("sources(%d) has %d entries", n, len(src))
	}
	count := make([]int64, len(d.usable))
	over := 0
	for k, s := range src {
		switch {
		case s == -1:
			over++
		case s >= 0 && s < len(d.usable):
			if over > 0 {
				t.Fatalf("source %d at position %d after overage", s, k)
			}
			count[s]++
		default:
			t.Fatalf("source %d out of range", s)
		}
		if k > 0 && s != -1 && src[k-1] > s {
			t.Fatalf("sources out of draw order: %v", src)
		}
	}
	for i := range count {
		if count[i] != d.take[i] {
			t.Fatalf("sources give bundle %d %d contacts, take says %d", i, count[i], d.take[i])
		}
	}
	if over != d.overage {
		t.Fatalf("sources give %d overage, draw says %d", over, d.overage)
	}
}

func TestDraw_SourcesFollowDrawOrder(t *testing.T) {
	d := drawDown([]drawBundle{
		bun(1, 2, -day, 2*day, -day),
		bun(2, 3, -day, day, -day),
	}, 7, t0)
	// bundle 2 (index 0, earlier expiry) ×3, bundle 1 (index 1) ×2, then 2 overage.
	if got, want := d.sources(7), []int{0, 0, 0, 1, 1, -1, -1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("sources = %v, want %v", got, want)
	}
	if d.usable[0].ID != bid(2) || d.usable[1].ID != bid(1) {
		t.Fatalf("usable order %v", summarize(d).order)
	}
	if got := drawDown(nil, 0, t0).sources(0); len(got) != 0 {
		t.Fatalf("sources(0) = %v", got)
	}
	if got, want := drawDown(nil, 3, t0).sources(3), []int{-1, -1, -1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("sources with no bundles = %v, want %v", got, want)
	}
}

// A batch drawn in several steps (the tenant's contacts over several group
// commits) spends the bundles exactly as one batch of the same size would.
func TestDrawDown_StepsEqualOneBatch(t *testing.T) {
	bundles := []drawBundle{
		bun(1, 7, -day, 3*day, -day),
		bun(2, 5, -day, day, -day),
		bun(3, 9, -day, 2*day, -day),
	}
	whole := drawDown(bundles, 30, t0)
	spent := map[uuid.UUID]int64{}
	overage := 0
	cur := append([]drawBundle(nil), bundles...)
	for _, step := range []int{4, 1, 6, 0, 11, 8} {
		d := drawDown(cur, step, t0)
		checkDraw(t, cur, step, t0, d)
		overage += d.overage
		for i, b := range d.usable {
			spent[b.ID] += d.take[i]
			for j := range cur {
				if cur[j].ID == b.ID {
					cur[j].Remaining -= d.take[i]
				}
			}
		}
	}
	if overage != whole.overage {
		t.Fatalf("stepwise overage %d, one batch %d", overage, whole.overage)
	}
	for i, b := range whole.usable {
		if spent[b.ID] != whole.take[i] {
			t.Fatalf("bundle %s: stepwise %d, one batch %d", b.ID, spent[b.ID], whole.take[i])
		}
	}
	for _, b := range cur {
		if b.Remaining < 0 {
			t.Fatalf("bundle %s remaining %d", b.ID, b.Remaining)
		}
	}
}

// FuzzDrawDown: random bundle sets (sizes, validity windows around `at`,
// some expiring exactly at `at`, ties in expiry and creation) and random
// batch sizes keep checkDraw's invariants, and spending the same total in
// random steps spends each bundle exactly as one batch would.
func FuzzDrawDown(f *testing.F) {
	f.Add(uint64(1), uint8(3), uint16(10))
	f.Add(uint64(2), uint8(0), uint16(5))
	f.Add(uint64(3), uint8(8), uint16(0))
	f.Add(uint64(42), uint8(12), uint16(1000))
	f.Add(uint64(7), uint8(1), uint16(1))
	f.Fuzz(func(t *testing.T, seed uint64, nb uint8, n uint16) {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		at := t0.Add(time.Duration(rng.IntN(1000)) * time.Second)
		// Offsets from a small set, so equal bounds (ties, expiry exactly
		// at `at`, start exactly at `at`) are common.
		offs := []time.Duration{-2 * day, -hour, -time.Second, 0, time.Second, hour, 2 * day}
		var bundles []drawBundle
		for i := range int(nb % 16) {
			from := at.Add(offs[rng.IntN(len(offs))])
			until := at.Add(offs[rng.IntN(len(offs))])
			if !until.After(from) {
				until = from.Add(time.Duration(1+rng.IntN(3)) * time.Second)
			}
			contacts := int64(1 + rng.IntN(50))
			bundles = append(bundles, drawBundle{
				ID: bid(i + 1), Contacts: contacts, Remaining: rng.Int64N(contacts + 1), PriceMinor: rng.Int64N(10000),
				ValidFrom: from, ValidUntil: until, CreatedAt: from.Add(-time.Duration(rng.IntN(3)) * hour),
			})
		}
		total := int(n % 2000)
		whole := drawDown(bundles, total, at)
		checkDraw(t, bundles, total, at, whole)

		cur := append([]drawBundle(nil), bundles...)
		spent := map[uuid.UUID]int64{}
		overage := 0
		for left := total; left > 0; {
			step := min(left, rng.IntN(total/3+2))
			d := drawDown(cur, step, at)
			checkDraw(t, cur, step, at, d)
			overage += d.overage
			for i, b := range d.usable {
				spent[b.ID] += d.take[i]
				for j := range cur {
					if cur[j].ID == b.ID {
						cur[j].Remaining -= d.take[i]
					}
				}
			}
			left -= step
		}
		if overage != whole.overage {
			t.Fatalf("stepwise overage %d, one batch %d", overage, whole.overage)
		}
		for i, b := range whole.usable {
			if spent[b.ID] != whole.take[i] {
				t.Fatalf("bundle %s: stepwise %d, one batch %d", b.ID, spent[b.ID], whole.take[i])
			}
		}
	})
}
