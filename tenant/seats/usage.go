package seats

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/tenant"
)

// SampleRetention is how long the per-minute samples are kept; the
// hourly and daily roll-ups are kept for good.
const SampleRetention = 72 * time.Hour

type minuteUse struct{ peak, refused int64 }

// Sample stores every tenant's seat usage since the last run: the most
// seats held at once in each minute (tracked by the acquire script, so a
// peak between two samples is not missed) and the refused logins, then
// rolls them up into the hourly and daily peaks. It is idempotent: a run
// repeated, or one that crashed halfway, stores the same numbers.
func (s *Service) Sample(ctx context.Context) error {
	var ids []uuid.UUID
	err := s.DB.PlatformTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id FROM tenants ORDER BY tenant_id`)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		return fmt.Errorf("list tenants: %w", err)
	}
	var failed int
	var firstErr error
	for _, id := range ids {
		if err := s.SampleTenant(ctx, id); err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			s.Logger.Error("seat sample", "tenant", id, "err", err)
		}
	}
	if firstErr != nil {
		return fmt.Errorf("seat sample: %d of %d tenants failed, first: %w", failed, len(ids), firstErr)
	}
	return nil
}

// SampleTenant stores one tenant's seat usage (see Sample).
func (s *Service) SampleTenant(ctx context.Context, tenantID uuid.UUID) error {
	_, keys := s.Leases.keys(tenantID)
	state := keys[1]
	res, err := drainScript.Run(ctx, s.Leases.rdb, keys).Slice()
	if err != nil {
		return fmt.Errorf("read seat usage: %w", err)
	}
	r := reply(res)
	live, current := r.int(0), r.int(1)
	use := map[int64]*minuteUse{}
	var past []string
	for i := 2; i+1 < len(res); i += 2 {
		f := r.str(i)
		m, err := strconv.ParseInt(f[2:], 10, 64) // "p:<minute>" or "r:<minute>"
		if err != nil {
			continue
		}
		if use[m] == nil {
			use[m] = &minuteUse{}
		}
		if strings.HasPrefix(f, "r:") {
			use[m].refused = r.int(i + 1)
		} else {
			use[m].peak = r.int(i + 1)
		}
		if m < current {
			past = append(past, f)
		}
	}
	if live > 0 || use[current] != nil {
		if use[current] == nil {
			use[current] = &minuteUse{}
		}
		use[current].peak = max(use[current].peak, live)
	}
	if len(use) == 0 {
		return nil
	}
	first, last := current, current
	for m := range use {
		first, last = min(first, m), max(last, m)
	}
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		limit, err := Limit(ctx, tx, tenantID, s.Now())
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		for m, u := range use {
			b.Queue(`INSERT INTO seat_samples (tenant_id, minute, peak, seat_limit, refused) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (tenant_id, minute) DO UPDATE SET peak = greatest(seat_samples.peak, excluded.peak),
					refused = greatest(seat_samples.refused, excluded.refused), seat_limit = excluded.seat_limit`,
				tenantID, minuteTime(m), u.peak, limit, u.refused)
		}
		from := minuteTime(first).Truncate(time.Hour)
		to := minuteTime(last).Truncate(time.Hour).Add(time.Hour)
		b.Queue(`INSERT INTO seat_usage_hourly (tenant_id, hour, peak, seat_limit, refused, seat_minutes)
			SELECT tenant_id, date_trunc('hour', minute, 'UTC'), max(peak), max(seat_limit), sum(refused), sum(peak)
			FROM seat_samples WHERE tenant_id = $1 AND minute >= $2 AND minute < $3 GROUP BY 1, 2
			ON CONFLICT (tenant_id, hour) DO UPDATE SET peak = excluded.peak, seat_limit = excluded.seat_limit,
				refused = excluded.refused, seat_minutes = excluded.seat_minutes`, tenantID, from, to)
		dayFrom := from.Truncate(24 * time.Hour)
		dayTo := to.Add(-time.Nanosecond).Truncate(24 * time.Hour).Add(24 * time.Hour)
		b.Queue(`INSERT INTO seat_usage_daily (tenant_id, day, peak, seat_limit, refused, seat_minutes)
			SELECT tenant_id, (hour AT TIME ZONE 'UTC')::date, max(peak), max(seat_limit), sum(refused), sum(seat_minutes)
			FROM seat_usage_hourly WHERE tenant_id = $1 AND hour >= $2 AND hour < $3 GROUP BY 1, 2
			ON CONFLICT (tenant_id, day) DO UPDATE SET peak = excluded.peak, seat_limit = excluded.seat_limit,
				refused = excluded.refused, seat_minutes = excluded.seat_minutes`, tenantID, dayFrom, dayTo)
		b.Queue(`DELETE FROM seat_samples WHERE tenant_id = $1 AND minute < $2`, tenantID, s.Now().Add(-SampleRetention))
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("store seat usage: %w", err)
	}
	// Only now that PostgreSQL has them may the past minutes go; a crash
	// before this line leaves them for the next run, which stores the
	// same values again.
	if len(past) > 0 {
		if err := s.Leases.rdb.HDel(ctx, state, past...).Err(); err != nil {
			return fmt.Errorf("clear stored seat usage: %w", err)
		}
	}
	return nil
}

func minuteTime(m int64) time.Time { return time.Unix(m*60, 0).UTC() }

// UsagePoint is the peak of seats held in one hour or day.
type UsagePoint struct {
	At          time.Time `json:"at"`
	Peak        int       `json:"peak"`
	Limit       int       `json:"limit"`
	Refused     int       `json:"refused"`
	SeatMinutes int64     `json:"seat_minutes"`
}

// Usage is the seat usage of the last days with advice on sizing.
type Usage struct {
	Limit  int          `json:"limit"`
	Hourly []UsagePoint `json:"hourly"`
	Daily  []UsagePoint `json:"daily"`
	Advice Advice       `json:"advice"`
}

// UsageDays is how far back the seats chart looks.
const UsageDays = 30

// Usage returns hourly and daily peaks for the last UsageDays days, every
// hour and day present (zero where nobody held a seat).
func (s *Service) Usage(ctx context.Context, a tenant.Actor) (Usage, error) {
	if !CanView(a.Role) {
		return Usage{}, errNotSeatViewer
	}
	now := s.Now().UTC()
	dayTo := now.Truncate(24 * time.Hour)
	dayFrom := dayTo.AddDate(0, 0, -(UsageDays - 1))
	hourTo := now.Truncate(time.Hour)
	hourFrom := hourTo.Add(-time.Duration(UsageDays*24-1) * time.Hour)
	var u Usage
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		if u.Limit, err = Limit(ctx, tx, a.TenantID, now); err != nil {
			return err
		}
		hourly, err := usagePoints(ctx, tx, `SELECT hour, peak, seat_limit, refused, seat_minutes FROM seat_usage_hourly
			WHERE tenant_id = $1 AND hour >= $2 AND hour <= $3`, a.TenantID, hourFrom, hourTo)
		if err != nil {
			return err
		}
		daily, err := usagePoints(ctx, tx, `SELECT day::timestamp AT TIME ZONE 'UTC', peak, seat_limit, refused, seat_minutes FROM seat_usage_daily
			WHERE tenant_id = $1 AND day >= $2::date AND day <= $3::date`, a.TenantID, dayFrom, dayTo)
		if err != nil {
			return err
		}
		u.Hourly = fill(hourly, hourFrom, hourTo, time.Hour, u.Limit)
		u.Daily = fill(daily, dayFrom, dayTo, 24*time.Hour, u.Limit)
		return nil
	})
	if err != nil {
		return Usage{}, fmt.Errorf("seat usage: %w", err)
	}
	u.Advice = Advise(u.Daily, u.Limit)
	return u, nil
}

func usagePoints(ctx context.Context, q tenant.Querier, sql string, args ...any) (map[int64]UsagePoint, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	out := map[int64]UsagePoint{}
	var p UsagePoint
	_, err = pgx.ForEachRow(rows, []any{&p.At, &p.Peak, &p.Limit, &p.Refused, &p.SeatMinutes}, func() error {
		out[p.At.Unix()] = p
		return nil
	})
	return out, err
}

// fill lists every step from from to to, taking the stored point where
// there is one; a step without one had nobody holding a seat.
func fill(points map[int64]UsagePoint, from, to time.Time, step time.Duration, limit int) []UsagePoint {
	var out []UsagePoint
	for t := from; !t.After(to); t = t.Add(step) {
		p, ok := points[t.Unix()]
		if !ok {
			p = UsagePoint{Limit: limit}
		}
		p.At = t
		out = append(out, p)
	}
	return out
}
