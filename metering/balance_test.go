package metering_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/metering"
)

func TestBalance_TrialUsedUpThenOverage(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")

	b, err := metering.GetBalance(c, e.Tenants.DB, tid, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if b.TotalRemaining != 250 || len(b.Bundles) != 1 || b.Bundles[0].Source != metering.SourceTrial ||
		b.RunOut != metering.RunOutNoUsage || b.BurnRatePerDay != "0.0" || b.Policy != metering.PolicyOverage ||
		b.NextExpiry == nil || b.Currency != "EUR" {
		t.Fatalf("fresh tenant: %+v", b)
	}

	if _, err := e.Meter.Meter(c, tid, metering.SourceAPI, contacts("a", 300)); err != nil {
		t.Fatal(err)
	}
	b, err = metering.GetBalance(c, e.Tenants.DB, tid, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// 250 from the trial, 50 overage at the default 5 minor units.
	if b.TotalRemaining != 0 || len(b.Bundles) != 0 || b.OverageContacts != 50 || b.OverageCostMinor != 250 ||
		b.ContactsLast7Days != 300 || b.BurnRatePerDay != "42.9" || b.RunOut != metering.RunOutNoneLeft ||
		b.ProjectedRunOut != nil || b.NextExpiry != nil {
		t.Fatalf("after 300: %+v", b)
	}
	now := time.Now().UTC()
	if !b.PeriodStart.Equal(time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)) || !b.PeriodEnd.Equal(b.PeriodStart.AddDate(0, 1, 0)) {
		t.Fatalf("period %v .. %v", b.PeriodStart, b.PeriodEnd)
	}
	e.checkInvariants(t)
}

func TestBalance_ProjectsRunOutEarliestExpiryFirst(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")
	// PostgreSQL keeps microseconds: a whole second survives the round
	// trip. Rounded up, so the trial granted at sign-up is valid by then.
	now := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	big := e.addBundle(t, tid, 1000, 2000, now.Add(-time.Hour), now.Add(60*24*time.Hour))
	// 70 in the last 7 days: 10 a day, all drawn from the trial (earliest expiry).
	if _, err := e.Meter.Meter(c, tid, metering.SourceRouting, contacts("x", 70)); err != nil {
		t.Fatal(err)
	}
	b, err := metering.GetBalance(c, e.Tenants.DB, tid, now)
	if err != nil {
		t.Fatal(err)
	}
	if b.TotalRemaining != 1180 || len(b.Bundles) != 2 || b.Bundles[0].Source != metering.SourceTrial ||
		b.Bundles[0].Remaining != 180 || b.Bundles[1].ID != big || b.Bundles[1].Remaining != 1000 {
		t.Fatalf("bundles: %+v", b)
	}
	// The trial lasts 18 more days; the 1000 then have 42 days at 10 a day.
	if b.BurnRatePerDay != "10.0" || b.RunOut != metering.RunOutExpiresFirst || b.ProjectedRunOut != nil || b.ExpiringUnused != 580 {
		t.Fatalf("projection: rate %s run-out %s %v unused %d", b.BurnRatePerDay, b.RunOut, b.ProjectedRunOut, b.ExpiringUnused)
	}
	if b.NextExpiry == nil || !b.NextExpiry.Equal(b.Bundles[0].ValidUntil) {
		t.Fatalf("next expiry %v, want the trial's %v", b.NextExpiry, b.Bundles[0].ValidUntil)
	}

	// 350 more make 60 a day: the trial is gone and the 1000 - 170 last
	// 830/60 = 13.8 days.
	if _, err := e.Meter.Meter(c, tid, metering.SourceRouting, contacts("y", 350)); err != nil {
		t.Fatal(err)
	}
	b, err = metering.GetBalance(c, e.Tenants.DB, tid, now)
	if err != nil {
		t.Fatal(err)
	}
	want := now.Add(time.Duration(830*7*24*3600/420) * time.Second).Format(time.DateOnly)
	if b.TotalRemaining != 830 || b.RunOut != metering.RunOutByUse || b.ProjectedRunOut == nil || *b.ProjectedRunOut != want || b.OverageContacts != 0 {
		t.Fatalf("after 420: remaining %d run-out %s %v (want %s) overage %d", b.TotalRemaining, b.RunOut, b.ProjectedRunOut, want, b.OverageContacts)
	}
	e.checkInvariants(t)
}

func TestBalance_IsPerTenant(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	a := e.newTenant(t, "acme")
	bt := e.newTenant(t, "bravo")
	if _, err := e.Meter.Meter(c, a, metering.SourceAPI, contacts("a", 260)); err != nil {
		t.Fatal(err)
	}
	b, err := metering.GetBalance(c, e.Tenants.DB, bt, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if b.TotalRemaining != 250 || b.ContactsLast7Days != 0 || b.OverageContacts != 0 {
		t.Fatalf("B sees A's usage: %+v", b)
	}
	days, err := metering.Daily(c, e.Tenants.DB, bt, time.Now().AddDate(0, 0, -1), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range days {
		if d.Total != 0 {
			t.Fatalf("B's daily shows A's contacts: %+v", days)
		}
	}
	if _, err := metering.GetBalance(c, e.Tenants.DB, uuid.New(), time.Now()); cic.ErrorKind(err) != cic.ENOTFOUND {
		t.Fatalf("unknown tenant: %v", err)
	}
}

func TestDaily_CountsPerUTCDayAndChannel(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")
	today := time.Now().UTC().Truncate(24 * time.Hour)
	yesterday := today.AddDate(0, 0, -1)
	batch := []metering.HandledContact{
		{ID: "1", Channel: "chat", HandledAt: today.Add(time.Minute)},
		{ID: "2", Channel: "chat", HandledAt: today.Add(2 * time.Minute)},
		{ID: "3", Channel: "voice", HandledAt: today.Add(3 * time.Minute)},
		{ID: "4", Channel: "email", HandledAt: yesterday.Add(23*time.Hour + 59*time.Minute)},
		{ID: "5", Channel: "sms", HandledAt: yesterday.AddDate(0, 0, -1)}, // before the range
	}
	if _, err := e.Meter.Meter(c, tid, metering.SourceAPI, batch); err != nil {
		t.Fatal(err)
	}
	// A date in another zone names the same calendar day in UTC.
	days, err := metering.Daily(c, e.Tenants.DB, tid, yesterday.Add(5*time.Hour), today.Add(20*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 2 || days[0].Date != yesterday.Format(time.DateOnly) || days[1].Date != today.Format(time.DateOnly) {
		t.Fatalf("days: %+v", days)
	}
	if days[0].Total != 1 || days[0].Channels["email"] != 1 || days[1].Total != 3 || days[1].Channels["chat"] != 2 ||
		days[1].Channels["voice"] != 1 || days[1].Channels["sms"] != 0 || len(days[1].Channels) != len(metering.Channels) {
		t.Fatalf("counts: %+v", days)
	}

	for _, bad := range []struct {
		name     string
		from, to time.Time
		code     string
	}{
		{"missing", time.Time{}, today, "invalid_range"},
		{"reversed", today, yesterday, "invalid_range"},
		{"367 days", today.AddDate(0, 0, -366), today, "range_too_long"},
	} {
		_, err := metering.Daily(c, e.Tenants.DB, tid, bad.from, bad.to)
		if e, ok := cic.AsError(err); !ok || e.Kind != cic.EINVALID || e.Code != bad.code {
			t.Errorf("%s: %v, want %s", bad.name, err, bad.code)
		}
	}
	if days, err := metering.Daily(c, e.Tenants.DB, tid, today.AddDate(0, 0, -365), today); err != nil || len(days) != 366 {
		t.Fatalf("366 days: %d %v", len(days), err)
	}
}

func TestAuthorize_OnlyBlockWithNothingLeftRefuses(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")
	owner := ownerOf(tid)
	may := func(want bool) {
		t.Helper()
		ok, err := metering.Authorize(c, e.Tenants.DB, tid, "voice")
		if err != nil || ok != want {
			t.Fatalf("Authorize = %v %v, want %v", ok, err, want)
		}
	}
	may(true)
	if _, err := e.Meter.Meter(c, tid, metering.SourceAPI, contacts("a", 250)); err != nil {
		t.Fatal(err)
	}
	may(true) // overage keeps serving
	st := metering.DefaultSettings("EUR")
	st.Policy = metering.PolicyBlock
	if _, err := metering.UpdateSettings(c, e.Tenants.DB, owner, st); err != nil {
		t.Fatal(err)
	}
	may(false)
	e.addBundle(t, tid, 10, 100, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	may(true)
	// A bundle not yet valid does not count.
	if _, err := e.DB.Owner.Exec(c, `UPDATE bundles SET valid_from = now() + interval '1 day', valid_until = now() + interval '2 days'
		WHERE tenant_id = $1 AND source = 'purchase'`, tid); err != nil {
		t.Fatal(err)
	}
	may(false)
	if _, err := metering.Authorize(c, e.Tenants.DB, tid, "pigeon"); cic.ErrorKind(err) != cic.EINVALID {
		t.Fatalf("unknown channel: %v", err)
	}
}
