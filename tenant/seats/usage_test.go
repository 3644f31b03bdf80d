package seats

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant"
)

// awayFromMinuteEdge waits, if need be, until the minute has at least
// 10 s left, so that what a test does lands in one minute of Redis' clock
// (the same host's).
func awayFromMinuteEdge(t *testing.T) {
	t.Helper()
	if s := time.Now().Second(); s >= 50 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
}

func minuteOf(t time.Time) int64 { return t.UnixMilli() / 60000 }

// stateKey is the tenant's state hash in Redis, whose "p:<minute>" and
// "r:<minute>" fields hold each minute's peak and refused logins.
func (w *world) stateKey(tenantID uuid.UUID) string {
	_, keys := w.seats.Leases.keys(tenantID)
	return keys[1]
}

// setMinutes writes minute fields as the acquire script would have in
// earlier minutes: "<minute>" the most seats held, "r:<minute>" the
// refusals.
func (w *world) setMinutes(t *testing.T, tenantID uuid.UUID, fields map[string]int) {
	t.Helper()
	args := make([]any, 0, 2*len(fields))
	for f, v := range fields {
		if !strings.HasPrefix(f, "r:") {
			f = "p:" + f
		}
		args = append(args, f, v)
	}
	if err := w.rdb.HSet(testenv.Context(t), w.stateKey(tenantID), args...).Err(); err != nil {
		t.Fatal(err)
	}
}

// minuteFields reads the minute fields back, named as setMinutes takes them.
func (w *world) minuteFields(t *testing.T, tenantID uuid.UUID) map[string]string {
	t.Helper()
	all, err := w.rdb.HGetAll(testenv.Context(t), w.stateKey(tenantID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for f, v := range all {
		switch {
		case strings.HasPrefix(f, "p:"):
			m[f[2:]] = v
		case strings.HasPrefix(f, "r:"):
			m[f] = v
		}
	}
	return m
}

// usageRows prints the tenant's rows of seat_samples, seat_usage_hourly
// and seat_usage_daily, one per line, in time order:
// "minute|hour|day <UTC time> peak=.. limit=.. refused=.. [seat_minutes=..]".
func (w *world) usageRows(t *testing.T, tenantID uuid.UUID) []string {
	t.Helper()
	rows, err := w.db.Owner.Query(testenv.Context(t), `
		SELECT 'minute', minute, peak, seat_limit, refused, NULL::bigint FROM seat_samples WHERE tenant_id = $1
		UNION ALL SELECT 'hour', hour, peak, seat_limit, refused, seat_minutes FROM seat_usage_hourly WHERE tenant_id = $1
		UNION ALL SELECT 'day', day::timestamp AT TIME ZONE 'UTC', peak, seat_limit, refused, seat_minutes FROM seat_usage_daily WHERE tenant_id = $1
		ORDER BY 1 DESC, 2`, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var kind string
		var at time.Time
		var peak, limit, refused int
		var minutes *int64
		if err := rows.Scan(&kind, &at, &peak, &limit, &refused, &minutes); err != nil {
			t.Fatal(err)
		}
		s := fmt.Sprintf("%s %s peak=%d limit=%d refused=%d", kind, at.UTC().Format(time.RFC3339), peak, limit, refused)
		if minutes != nil {
			s += fmt.Sprintf(" seat_minutes=%d", *minutes)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantRows(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("usage rows:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func ts(m int64) string { return time.Unix(m*60, 0).UTC().Format(time.RFC3339) }

// pastMinutes is a day of history kept in Redis: three minutes of one
// hour two hours ago (the last with refusals only), and one minute of the
// same hour the day before. rows are what sampling it stores, for a
// limit of 2.
func pastMinutes(now time.Time) (fields map[string]int, rows []string, hour time.Time) {
	hour = now.UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	m := minuteOf(hour.Add(10 * time.Minute))
	d := m - 24*60
	f := func(m int64) string { return strconv.FormatInt(m, 10) }
	fields = map[string]int{f(d): 1, f(m): 3, f(m + 1): 2, "r:" + f(m+1): 4, "r:" + f(m+2): 1}
	day := func(m int64) string { return time.Unix(m*60, 0).UTC().Truncate(24 * time.Hour).Format(time.RFC3339) }
	rows = []string{
		"minute " + ts(d) + " peak=1 limit=2 refused=0",
		"minute " + ts(m) + " peak=3 limit=2 refused=0",
		"minute " + ts(m+1) + " peak=2 limit=2 refused=4",
		"minute " + ts(m+2) + " peak=0 limit=2 refused=1",
		"hour " + hour.Add(-24*time.Hour).Format(time.RFC3339) + " peak=1 limit=2 refused=0 seat_minutes=1",
		"hour " + hour.Format(time.RFC3339) + " peak=3 limit=2 refused=5 seat_minutes=5",
		"day " + day(d) + " peak=1 limit=2 refused=0 seat_minutes=1",
		"day " + day(m) + " peak=3 limit=2 refused=5 seat_minutes=5",
	}
	return fields, rows, hour
}

func TestSample_StoresMinutesAndRollsUp(t *testing.T) {
	w := newWorld(t, testenv.NewRedis(t))
	acme := w.signup(t, "Acme", "acme")
	fields, want, _ := pastMinutes(time.Now())
	w.setMinutes(t, acme.Tenant.ID, fields)

	if err := w.seats.SampleTenant(testenv.Context(t), acme.Tenant.ID); err != nil {
		t.Fatal(err)
	}
	wantRows(t, w.usageRows(t, acme.Tenant.ID), want)
	if left := w.minuteFields(t, acme.Tenant.ID); len(left) != 0 {
		t.Errorf("stored minutes left in Redis: %v", left)
	}
	// Nothing new: the next run stores nothing more.
	if err := w.seats.SampleTenant(testenv.Context(t), acme.Tenant.ID); err != nil {
		t.Fatal(err)
	}
	wantRows(t, w.usageRows(t, acme.Tenant.ID), want)
}

// TestSample_IsIdempotent: a run repeated, or one that stored its minutes
// but crashed before clearing them from Redis, stores the same rows.
func TestSample_IsIdempotent(t *testing.T) {
	w := newWorld(t, testenv.NewRedis(t))
	acme := w.signup(t, "Acme", "acme")
	awayFromMinuteEdge(t)
	now := time.Now()
	fields, past, _ := pastMinutes(now)
	w.setMinutes(t, acme.Tenant.ID, fields)
	w.acquire(t, w.member(t, acme, "ann", cic.RoleAgent, nil), "desk-1")

	if err := w.seats.SampleTenant(testenv.Context(t), acme.Tenant.ID); err != nil {
		t.Fatal(err)
	}
	first := w.usageRows(t, acme.Tenant.ID)
	// The current minute (one seat held) is stored too, and rolled up.
	cur := minuteOf(now)
	hour := time.Unix(cur*60, 0).UTC().Truncate(time.Hour)
	want := append([]string(nil), past[:4]...)
	want = append(want, "minute "+ts(cur)+" peak=1 limit=2 refused=0")
	want = append(want, past[4:6]...)
	want = append(want, "hour "+hour.Format(time.RFC3339)+" peak=1 limit=2 refused=0 seat_minutes=1")
	if day := hour.Truncate(24 * time.Hour).Format(time.RFC3339); strings.HasPrefix(past[7], "day "+day) {
		want = append(want, past[6], "day "+day+" peak=3 limit=2 refused=5 seat_minutes=6")
	} else {
		want = append(want, past[6:8]...)
		want = append(want, "day "+day+" peak=1 limit=2 refused=0 seat_minutes=1")
	}
	wantRows(t, first, want)

	if err := w.seats.SampleTenant(testenv.Context(t), acme.Tenant.ID); err != nil {
		t.Fatal(err)
	}
	wantRows(t, w.usageRows(t, acme.Tenant.ID), first)
	// A crash after storing but before clearing leaves the minutes in
	// Redis: the next run stores them again, to the same rows.
	w.setMinutes(t, acme.Tenant.ID, fields)
	if err := w.seats.SampleTenant(testenv.Context(t), acme.Tenant.ID); err != nil {
		t.Fatal(err)
	}
	wantRows(t, w.usageRows(t, acme.Tenant.ID), first)
	if got := minuteOf(time.Now()); got != cur {
		t.Fatalf("the minute changed during the test (%d to %d): slow machine?", cur, got)
	}
}

// TestSample_PeakBetweenSamples: five seats taken and four freed within a
// minute, then one sample: the minute's peak is 5, not the 1 held when
// the sampler looked.
func TestSample_PeakBetweenSamples(t *testing.T) {
	w := newWorld(t, testenv.NewRedis(t))
	acme := w.signup(t, "Acme", "acme")
	w.grant(t, acme, 8)
	info, err := w.seats.Pool(testenv.Context(t), acme.Tenant.ID)
	if err != nil || info.Limit != 10 {
		t.Fatalf("pool %+v, %v; want 10 seats", info, err)
	}
	awayFromMinuteEdge(t)
	cur := minuteOf(time.Now())
	var held []Granted
	for i := range 5 {
		held = append(held, mustAcquire(t, w.seats.Leases, req(acme.Tenant.ID, nil, fmt.Sprintf("desk-%d", i)), info.pool()))
	}
	for _, g := range held[1:] {
		if err := w.seats.Leases.Release(testenv.Context(t), acme.Tenant.ID, g.ID, g.UserID); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.seats.SampleTenant(testenv.Context(t), acme.Tenant.ID); err != nil {
		t.Fatal(err)
	}
	hour := time.Unix(cur*60, 0).UTC().Truncate(time.Hour)
	wantRows(t, w.usageRows(t, acme.Tenant.ID), []string{
		"minute " + ts(cur) + " peak=5 limit=10 refused=0",
		"hour " + hour.Format(time.RFC3339) + " peak=5 limit=10 refused=0 seat_minutes=5",
		"day " + hour.Truncate(24*time.Hour).Format(time.RFC3339) + " peak=5 limit=10 refused=0 seat_minutes=5",
	})
	if got := minuteOf(time.Now()); got != cur {
		t.Fatalf("the minute changed during the test (%d to %d): slow machine?", cur, got)
	}
}

// TestSample_KeepsMinutesInRedisUntilStored: with PostgreSQL out of reach
// the sample fails and Redis keeps every minute; once stored, the past
// minutes go and the current one, still counting, stays.
func TestSample_KeepsMinutesInRedisUntilStored(t *testing.T) {
	w := newWorld(t, testenv.NewRedis(t))
	acme := w.signup(t, "Acme", "acme")
	awayFromMinuteEdge(t)
	cur := strconv.FormatInt(minuteOf(time.Now()), 10)
	fields, past, _ := pastMinutes(time.Now())
	w.setMinutes(t, acme.Tenant.ID, fields)
	w.acquire(t, w.member(t, acme, "ann", cic.RoleAgent, nil), "desk-1")
	before := w.minuteFields(t, acme.Tenant.ID)
	if len(before) != len(fields)+1 || before[cur] != "1" {
		t.Fatalf("minute fields %v, want the %d past ones and %s=1", before, len(fields), cur)
	}

	closed, err := pgxpool.New(testenv.Context(t), w.db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	down := NewService(&tenant.DB{Pool: closed}, w.seats.Leases, slog.New(slog.DiscardHandler))
	if err := down.SampleTenant(testenv.Context(t), acme.Tenant.ID); err == nil {
		t.Fatal("sampling with PostgreSQL closed succeeded")
	}
	after := w.minuteFields(t, acme.Tenant.ID)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("minute fields after the failed sample %v, want them all kept: %v", after, before)
	}
	if rows := w.usageRows(t, acme.Tenant.ID); len(rows) != 0 {
		t.Errorf("rows stored by the failed sample: %v", rows)
	}

	if err := w.seats.SampleTenant(testenv.Context(t), acme.Tenant.ID); err != nil {
		t.Fatal(err)
	}
	if left := w.minuteFields(t, acme.Tenant.ID); len(left) != 1 || left[cur] != "1" {
		t.Errorf("minute fields after storing %v, want only the current minute %s=1", left, cur)
	}
	rows := w.usageRows(t, acme.Tenant.ID)
	for _, r := range past[:4] {
		if !strings.Contains(strings.Join(rows, "\n"), r) {
			t.Errorf("row %q not stored; rows: %v", r, rows)
		}
	}
}

func TestUsage_ThirtyDaysEveryHourAndDay(t *testing.T) {
	w := newWorld(t, testenv.NewRedis(t))
	acme := w.signup(t, "Acme", "acme")
	now := time.Now().UTC()
	w.seats.Now = func() time.Time { return now }
	fields, _, hour := pastMinutes(now)
	w.setMinutes(t, acme.Tenant.ID, fields)
	if err := w.seats.SampleTenant(testenv.Context(t), acme.Tenant.ID); err != nil {
		t.Fatal(err)
	}
	today := now.Truncate(24 * time.Hour)
	// Roll-ups at the edges of the window: the oldest day shown, and the
	// day and hour just before it, which are not.
	_, err := w.db.Owner.Exec(testenv.Context(t), `
		INSERT INTO seat_usage_daily (tenant_id, day, peak, seat_limit, refused, seat_minutes)
		VALUES ($1, $2::date, 1, 2, 0, 7), ($1, $3::date, 9, 9, 9, 9);
		`, acme.Tenant.ID, today.AddDate(0, 0, -29), today.AddDate(0, 0, -30))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Owner.Exec(testenv.Context(t), `INSERT INTO seat_usage_hourly (tenant_id, hour, peak, seat_limit, refused, seat_minutes)
		VALUES ($1, $2, 9, 9, 9, 9)`, acme.Tenant.ID, now.Truncate(time.Hour).Add(-720*time.Hour)); err != nil {
		t.Fatal(err)
	}

	agent := w.member(t, acme, "ann", cic.RoleAgent, nil)
	_, err = w.seats.Usage(testenv.Context(t), agent.Actor)
	wantCode(t, err, cic.EFORBIDDEN, "forbidden")

	u, err := w.seats.Usage(testenv.Context(t), acme.owner)
	if err != nil {
		t.Fatal(err)
	}
	if u.Limit != 2 || len(u.Hourly) != 30*24 || len(u.Daily) != 30 {
		t.Fatalf("limit %d, %d hourly and %d daily points; want 2, 720 and 30", u.Limit, len(u.Hourly), len(u.Daily))
	}
	check := func(kind string, points []UsagePoint, last time.Time, step time.Duration, want map[int]UsagePoint) {
		t.Helper()
		for i, p := range points {
			at := last.Add(-time.Duration(len(points)-1-i) * step)
			w, ok := want[i]
			if !ok {
				w = UsagePoint{Limit: 2}
			}
			w.At = at
			if !p.At.Equal(w.At) || p.Peak != w.Peak || p.Limit != w.Limit || p.Refused != w.Refused || p.SeatMinutes != w.SeatMinutes {
				t.Errorf("%s point %d: %+v, want %+v", kind, i, p, w)
			}
		}
	}
	hi := 719 - int(now.Truncate(time.Hour).Sub(hour)/time.Hour) // 717
	check("hourly", u.Hourly, now.Truncate(time.Hour), time.Hour, map[int]UsagePoint{
		hi:      {Peak: 3, Limit: 2, Refused: 5, SeatMinutes: 5},
		hi - 24: {Peak: 1, Limit: 2, SeatMinutes: 1},
	})
	di := 29 - int(today.Sub(hour.Truncate(24*time.Hour))/(24*time.Hour))
	check("daily", u.Daily, today, 24*time.Hour, map[int]UsagePoint{
		0:      {Peak: 1, Limit: 2, SeatMinutes: 7},
		di:     {Peak: 3, Limit: 2, Refused: 5, SeatMinutes: 5},
		di - 1: {Peak: 1, Limit: 2, SeatMinutes: 1},
	})
	if u.Advice.Kind != "at_limit" || u.Advice.Refused != 5 || u.Advice.Peak != 3 || u.Advice.Suggested != 3 {
		t.Errorf("advice %+v, want at_limit with 5 refused and 3 seats suggested", u.Advice)
	}
}
