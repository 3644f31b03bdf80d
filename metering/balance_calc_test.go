package metering

import (
	"testing"
	"time"
)

func TestPerDay_IsOneDecimalRoundedHalfUp(t *testing.T) {
	for _, c := range []struct {
		week int64
		want string
	}{
		{0, "0.0"}, {1, "0.1"}, {7, "1.0"}, {10, "1.4"}, {300, "42.9"}, {70, "10.0"},
		{3, "0.4"}, // 0.428...
		{5, "0.7"}, // 0.714...
		{1_000_000, "142857.1"},
	} {
		if got := perDay(c.week); got != c.want {
			t.Errorf("perDay(%d) = %q, want %q", c.week, got, c.want)
		}
	}
}

func TestSumCost_IsExactAndRoundsOnce(t *testing.T) {
	for _, c := range []struct {
		name     string
		parts    []costPart
		contacts int64
		minor    int64
	}{
		{"none", nil, 0, 0},
		{"overage at 5", []costPart{{den: 1, count: 50, num: 250}}, 50, 250},
		// 3 contacts at 2000/1000 and 1 at 1/3: 6 + 1/3 rounds to 6.
		{"mixed", []costPart{{den: 1000, count: 3, num: 6000}, {den: 3, count: 1, num: 1}}, 4, 6},
		// 1/2 rounds half up.
		{"half", []costPart{{den: 2, count: 1, num: 1}}, 1, 1},
		// Three thirds are exactly 1, not 0.99 nor 3 x round(0.33).
		{"thirds", []costPart{{den: 3, count: 3, num: 3}}, 3, 1},
	} {
		n, m := sumCost(c.parts)
		if n != c.contacts || m != c.minor {
			t.Errorf("%s: %d contacts %d minor, want %d and %d", c.name, n, m, c.contacts, c.minor)
		}
	}
}

func TestProject_RunOutAndForfeits(t *testing.T) {
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	b := func(rem int64, expiresIn time.Duration) Bundle {
		return Bundle{Contacts: rem, Remaining: rem, ValidFrom: now.Add(-day), ValidUntil: now.Add(expiresIn)}
	}
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	for _, c := range []struct {
		name    string
		bundles []Bundle
		week    int64 // contacts in the last 7 days
		reason  string
		at      *time.Time
		forfeit int64
	}{
		{"nothing left", nil, 70, RunOutNoneLeft, nil, 0},
		{"no usage: all expires unused", []Bundle{b(100, 30*day)}, 0, RunOutNoUsage, nil, 100},
		{"used up in 10 days", []Bundle{b(100, 30*day)}, 70, RunOutByUse, at(10 * day), 0},
		{"used up exactly at expiry", []Bundle{b(100, 10*day)}, 70, RunOutByUse, at(10 * day), 0},
		{"expires first", []Bundle{b(100, 5*day)}, 70, RunOutExpiresFirst, nil, 50},
		// 180 at 10/day takes 18 days; the second bundle then has 42 days
		// left, uses 420 and forfeits 580.
		{"second bundle expires first", []Bundle{b(180, 30*day), b(1000, 60*day)}, 70, RunOutExpiresFirst, nil, 580},
		// The first forfeits 50 on day 5; the second lasts 20 more days.
		{"first expires, second used up", []Bundle{b(100, 5*day), b(200, 365*day)}, 70, RunOutByUse, at(25 * day), 50},
		// Same expiry: one after the other.
		{"same expiry", []Bundle{b(30, 10*day), b(40, 10*day)}, 70, RunOutByUse, at(7 * day), 0},
		// Rounding: 1 contact at 3 a week needs 2.33 days, rounded up to the second.
		{"rounds up to the second", []Bundle{b(1, 30*day)}, 3, RunOutByUse, at(201600 * time.Second), 0},
		// Huge numbers do not overflow.
		{"huge", []Bundle{b(1<<40, 200*365*day)}, 1 << 40, RunOutByUse, at(7 * day), 0},
	} {
		p := project(c.bundles, c.week, now)
		if p.reason != c.reason || p.forfeit != c.forfeit || (p.at == nil) != (c.at == nil) || (p.at != nil && !p.at.Equal(*c.at)) {
			t.Errorf("%s: got %s at %v forfeit %d, want %s at %v forfeit %d", c.name, p.reason, p.at, p.forfeit, c.reason, c.at, c.forfeit)
		}
	}
}
