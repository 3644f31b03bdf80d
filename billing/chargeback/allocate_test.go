package chargeback

import (
	"math/big"
	"slices"
	"testing"
	"time"
)

// TestPlan_LargestRemainder: the total is rounded once (half up) and the
// cents left after every line's floor go to the largest fractions, ties
// (equal fractions, even across classes) in stream order.
func TestPlan_LargestRemainder(t *testing.T) {
	c := func(num, den int64) Class { return Class{num, den} }
	tests := []struct {
		name   string
		stream []Class // the contacts in stream order
		total  int64
		lines  []int64
	}{
		{"nothing", nil, 0, nil},
		{"whole cents need no rounding", []Class{c(5, 1), c(5, 1), c(7, 1)}, 17, []int64{5, 5, 7}},
		{"three thirds make one cent, given to the first", []Class{c(1, 3), c(1, 3), c(1, 3)}, 1, []int64{1, 0, 0}},
		{"three two-thirds make two", []Class{c(2, 3), c(2, 3), c(2, 3)}, 2, []int64{1, 1, 0}},
		{"a half rounds up", []Class{c(1, 2)}, 1, []int64{1}},
		{"below a half rounds down", []Class{c(49, 100)}, 0, []int64{0}},
		{"largest fraction first", []Class{c(19, 10), c(35, 100), c(19, 10), c(35, 100)}, 5, []int64{2, 1, 2, 0}},
		{"equal fractions across classes: stream order", []Class{c(3, 2), c(1, 2)}, 2, []int64{2, 0}},
		{"equal fractions across classes, other order", []Class{c(1, 2), c(3, 2)}, 2, []int64{1, 1}},
		{"free trial contacts cost nothing", []Class{c(0, 250), c(0, 250)}, 0, []int64{0, 0}},
		{"overage beside a bundle", []Class{c(5, 1), c(49000, 10000), c(49000, 10000), c(5, 1)}, 20, []int64{5, 5, 5, 5}},
		{"unreduced fractions are the same class of cost", []Class{c(2, 4), c(1, 2), c(50, 100)}, 2, []int64{1, 1, 0}},
		{"a bundle that does not divide", []Class{c(100, 7), c(100, 7), c(100, 7), c(100, 7), c(100, 7), c(100, 7), c(100, 7)},
			100, []int64{15, 15, 14, 14, 14, 14, 14}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counts := map[Class]int64{}
			exact := new(big.Rat)
			for _, k := range tt.stream {
				counts[k]++
				exact.Add(exact, k.Rat())
			}
			p, err := NewPlan(counts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != tt.total || p.Exact.Cmp(exact) != 0 || p.Contacts != int64(len(tt.stream)) {
				t.Fatalf("total %d exact %s contacts %d, want %d %s %d", p.Total, p.Exact, p.Contacts, tt.total, exact, len(tt.stream))
			}
			a := p.Allocator()
			var got []int64
			var sum int64
			for _, k := range tt.stream {
				v, err := a.Next(k)
				if err != nil {
					t.Fatal(err)
				}
				// Every line is its exact cost rounded down or up.
				if f := k.floor(); v != f && v != f+1 {
					t.Fatalf("line %d for %d/%d", v, k.Num, k.Den)
				}
				got = append(got, v)
				sum += v
			}
			if !slices.Equal(got, tt.lines) || sum != p.Total {
				t.Fatalf("lines %v (sum %d), want %v (total %d)", got, sum, tt.lines, p.Total)
			}
			if err := a.Done(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPlan_MillionContactsOfOneClass: a million contacts from a bundle of
// 1,000,000 for 19,000.00 are exactly 19,000.00; every line is 1 or 2
// cents (1.9 each), the first 900,000 in stream order get the 2.
func TestPlan_MillionContactsOfOneClass(t *testing.T) {
	k := Class{1900000, 1000000}
	p, err := NewPlan(map[Class]int64{k: 1000000})
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 1900000 || p.Floors != 1000000 || p.Partial != 900000 {
		t.Fatalf("total %d floors %d partial %d", p.Total, p.Floors, p.Partial)
	}
	a := p.Allocator()
	var sum int64
	for i := range 1000000 {
		v, err := a.Next(k)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(1) + int64(min(1, max(0, 900000-i))); v != want {
			t.Fatalf("line %d: %d, want %d", i, v, want)
		}
		sum += v
	}
	if sum != 1900000 {
		t.Fatalf("lines sum to %d", sum)
	}
}

// TestAllocator_RefusesAStreamThatIsNotThePlan: a stream with more, fewer
// or other contacts than the aggregate counted is an error, not a report
// that does not add up.
func TestAllocator_RefusesAStreamThatIsNotThePlan(t *testing.T) {
	k := Class{1, 3}
	p, err := NewPlan(map[Class]int64{k: 2})
	if err != nil {
		t.Fatal(err)
	}
	a := p.Allocator()
	if _, err := a.Next(Class{1, 4}); err == nil {
		t.Fatal("a class the plan does not know was allocated")
	}
	if _, err := a.Next(k); err != nil {
		t.Fatal(err)
	}
	if err := a.Done(); err == nil {
		t.Fatal("Done after 1 of 2 contacts")
	}
	if _, err := a.Next(k); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Next(k); err == nil {
		t.Fatal("a third contact of a class counted twice")
	}
	if _, err := NewPlan(map[Class]int64{{1, 0}: 1}); err == nil {
		t.Fatal("a zero denominator made a plan")
	}
}

func TestFormatting(t *testing.T) {
	for _, tt := range []struct{ give, want string }{
		{FormatMinor(0), "0.00"}, {FormatMinor(5), "0.05"}, {FormatMinor(123456789), "1234567.89"},
		{thousands("1234567.89"), "1,234,567.89"}, {thousands("123.00"), "123.00"}, {thousands("1000"), "1,000"},
		{unitPrice(Class{1900000, 1000000}), "0.019"}, {unitPrice(Class{5, 1}), "0.05"}, {unitPrice(Class{100, 3}), "0.3333333333"},
		{unitPrice(Class{0, 250}), "0"}, {exactMinor(Class{49000, 10000}), "49/10"},
		{minorToMajorExact("1520000.123456"), "15200.00123456"}, {minorToMajorExact("5.000000"), "0.05"},
		{minorToMajorExact("0.500000"), "0.005"}, {minorToMajorExact("1.9000"), "0.019"},
		{string(appendTime(nil, 1772323202500000)), "2026-03-01T00:00:02.5Z"}, {string(appendTime(nil, 1772323200000000)), "2026-03-01T00:00:00Z"},
		{string(appendField(nil, []byte("=SUM(A1)"), true)), "'=SUM(A1)"}, {string(appendField(nil, []byte(`a,"b"`), true)), `"a,""b"""`},
		{string(appendField(nil, []byte("-1,2"), true)), `"'-1,2"`}, {string(appendJSONString(nil, []byte("a\"\\\n€"))), `"a\"\\\u000a€"`},
		{change(110, 100), "+10.0%"}, {change(90, 100), "-10.0%"}, {change(5, 0), "new (nothing in the previous period)"},
	} {
		if tt.give != tt.want {
			t.Errorf("got %q, want %q", tt.give, tt.want)
		}
	}
}

func TestPreviousPeriod_MonthsAgainstMonthsElseTheSameLength(t *testing.T) {
	d := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	for _, tt := range []struct{ from, to, wantFrom string }{
		{"2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", "2026-02-01T00:00:00Z"}, // March against February, not 31 days
		{"2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z", "2025-10-01T00:00:00Z"}, // a quarter against the quarter before
		{"2026-03-10T00:00:00Z", "2026-03-17T00:00:00Z", "2026-03-03T00:00:00Z"}, // a week against the week before
		{"2026-03-01T00:00:00Z", "2026-03-15T00:00:00Z", "2026-02-15T00:00:00Z"},
		{"2026-03-01T06:00:00Z", "2026-04-01T00:00:00Z", "2026-01-29T12:00:00Z"},
	} {
		from, to := PreviousPeriod(d(tt.from), d(tt.to))
		if !from.Equal(d(tt.wantFrom)) || !to.Equal(d(tt.from)) {
			t.Errorf("[%s, %s): previous [%s, %s), want from %s", tt.from, tt.to, from, to, tt.wantFrom)
		}
	}
}
