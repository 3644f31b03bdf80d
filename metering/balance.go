package metering

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// BurnWindow is the period the burn rate is measured over.
const BurnWindow = 7 * 24 * time.Hour

// Why a balance runs out (Balance.RunOut).
const (
	RunOutByUse        = "by_use"        // at the current rate, the contacts are used up on ProjectedRunOut
	RunOutExpiresFirst = "expires_first" // the last bundle expires before the rate uses it up
	RunOutNoUsage      = "no_usage"      // nothing was metered in the burn window
	RunOutNoneLeft     = "none_left"     // no contacts left in any active bundle
)

// Balance is what a tenant has left, how fast it goes and what overage
// it ran up this month. Counts are contacts; money is integer minor units.
type Balance struct {
	AsOf           time.Time `json:"as_of"`
	Currency       string    `json:"currency"`
	Policy         string    `json:"policy"`
	TotalRemaining int64     `json:"total_remaining"`
	// Bundles are the active ones (valid now, contacts left), in draw-down
	// order: earliest expiry first.
	Bundles []Bundle `json:"bundles"`
	// NextExpiry is when the first active bundle expires.
	NextExpiry *time.Time `json:"next_expiry"`
	// ContactsLast7Days are the contacts metered in the last 7 days;
	// BurnRatePerDay is that divided by 7, as a decimal with one digit
	// ("12.3"), so no float is involved.
	ContactsLast7Days int64  `json:"contacts_last_7_days"`
	BurnRatePerDay    string `json:"burn_rate_per_day"`
	// ProjectedRunOut is the UTC date the contacts left are used up at
	// the current rate, drawing earliest expiry first; null unless RunOut
	// is "by_use".
	ProjectedRunOut *string `json:"projected_run_out"`
	RunOut          string  `json:"run_out"`
	// ExpiringUnused is how many of the contacts left will expire unused
	// at the current rate.
	ExpiringUnused int64 `json:"expiring_unused"`
	// Overage in the current period (the calendar month in UTC, by the
	// time contacts were metered): contacts served with no bundle left,
	// and their exact cost.
	PeriodStart      time.Time `json:"period_start"`
	PeriodEnd        time.Time `json:"period_end"`
	OverageContacts  int64     `json:"overage_contacts"`
	OverageCostMinor int64     `json:"overage_cost_minor"`
}

// GetBalance reads the tenant's balance as of now (the app's clock; the
// burn window counts records metered since now - 7 days by the database's).
func GetBalance(ctx context.Context, db *tenant.DB, tenantID uuid.UUID, now time.Time) (Balance, error) {
	now = now.UTC()
	b := Balance{AsOf: now, Bundles: []Bundle{}}
	b.PeriodStart = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	b.PeriodEnd = b.PeriodStart.AddDate(0, 1, 0)
	err := db.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		st, err := loadSettings(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		b.Policy, b.Currency = st.Policy, st.Currency
		bundles, err := ActiveBundles(ctx, tx, tenantID, now)
		if err != nil {
			return err
		}
		if bundles != nil {
			b.Bundles = bundles
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM meter_records
			WHERE tenant_id = $1 AND metered_at > $2`,
			tenantID, now.Add(-BurnWindow)).Scan(&b.ContactsLast7Days); err != nil {
			return fmt.Errorf("burn rate: %w", err)
		}
		b.OverageContacts, b.OverageCostMinor, err = Overage(ctx, tx, tenantID, b.PeriodStart, b.PeriodEnd)
		return err
	})
	if err != nil {
		return Balance{}, err
	}
	for _, x := range b.Bundles {
		b.TotalRemaining += x.Remaining
		if b.NextExpiry == nil || x.ValidUntil.Before(*b.NextExpiry) {
			t := x.ValidUntil.UTC()
			b.NextExpiry = &t
		}
	}
	b.BurnRatePerDay = perDay(b.ContactsLast7Days)
	p := project(b.Bundles, b.ContactsLast7Days, now)
	b.RunOut, b.ExpiringUnused = p.reason, p.forfeit
	if p.at != nil {
		d := p.at.UTC().Format(time.DateOnly)
		b.ProjectedRunOut = &d
	}
	return b, nil
}

// Overage counts the contacts metered in [from, to) that no bundle
// covered and their cost, rounded once to minor units. Billing charges a
// month of it; the balance shows the month so far.
func Overage(ctx context.Context, q tenant.Querier, tenantID uuid.UUID, from, to time.Time) (contacts, minor int64, err error) {
	rows, err := q.Query(ctx, `SELECT cost_den, count(*), sum(cost_num) FROM meter_records
		WHERE tenant_id = $1 AND bundle_id IS NULL AND metered_at >= $2 AND metered_at < $3
		GROUP BY cost_den`, tenantID, from, to)
	if err != nil {
		return 0, 0, fmt.Errorf("overage: %w", err)
	}
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (costPart, error) {
		var p costPart
		return p, r.Scan(&p.den, &p.count, &p.num)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("overage: %w", err)
	}
	contacts, minor = sumCost(parts)
	return contacts, minor, nil
}

// costPart is the records of one cost denominator: count of them and the
// sum of their numerators.
type costPart struct {
	den, count, num int64
}

// sumCost adds exact rational costs and rounds the total once, half up,
// to minor units. Overage costs have denominator 1, so theirs is exact.
func sumCost(parts []costPart) (contacts, minor int64) {
	total := new(big.Rat)
	for _, p := range parts {
		contacts += p.count
		total.Add(total, big.NewRat(p.num, p.den))
	}
	return contacts, roundHalfUp(total)
}

func roundHalfUp(r *big.Rat) int64 {
	// floor(r + 1/2) for r >= 0.
	x := new(big.Rat).Add(r, big.NewRat(1, 2))
	q := new(big.Int).Quo(x.Num(), x.Denom())
	return q.Int64()
}

// perDay is n/7 as a decimal with one digit, rounded half up.
func perDay(n int64) string {
	tenths := (n*20 + 7) / 14
	return fmt.Sprintf("%d.%d", tenths/10, tenths%10)
}

// projection is when a balance runs out at a steady rate.
type projection struct {
	at      *time.Time
	reason  string
	forfeit int64
}

const windowSeconds = int64(BurnWindow / time.Second)

// project spends bundles (valid now, in draw-down order) at `used`
// contacts per BurnWindow, earliest expiry first, the way the Meter
// draws: each bundle is used from when the one before it ran out (or
// expired) until it runs out or expires. All arithmetic is on integers.
func project(bundles []Bundle, used int64, now time.Time) projection {
	var total int64
	for _, b := range bundles {
		total += b.Remaining
	}
	switch {
	case total <= 0:
		return projection{reason: RunOutNoneLeft}
	case used <= 0:
		return projection{reason: RunOutNoUsage, forfeit: total}
	}
	t := now
	var p projection
	endedByExpiry := false
	for _, b := range bundles {
		if b.Remaining <= 0 {
			continue
		}
		if !b.ValidUntil.After(t) {
			p.forfeit += b.Remaining
			endedByExpiry = true
			continue
		}
		avail := int64(b.ValidUntil.Sub(t) / time.Second)
		// Contacts the rate uses before the bundle expires.
		usable := mulDiv(avail, used, windowSeconds, false)
		if usable >= b.Remaining {
			need := mulDiv(b.Remaining, windowSeconds, used, true)
			t = t.Add(time.Duration(need) * time.Second)
			endedByExpiry = false
			continue
		}
		p.forfeit += b.Remaining - usable
		t = b.ValidUntil
		endedByExpiry = true
	}
	if endedByExpiry {
		p.reason = RunOutExpiresFirst
		return p
	}
	p.reason, p.at = RunOutByUse, &t
	return p
}

// mulDiv is a*b/c without overflow, rounded down or up; results beyond
// int64 saturate (a projection centuries away).
func mulDiv(a, b, c int64, up bool) int64 {
	x := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	q, r := new(big.Int).QuoRem(x, big.NewInt(c), new(big.Int))
	if up && r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 1<<63 - 1
	}
	return q.Int64()
}

// MaxDailyRange is the longest period Daily answers for.
const MaxDailyRange = 366

// DayCount is the contacts handled on one UTC day, by channel.
type DayCount struct {
	Date     string           `json:"date"`
	Total    int64            `json:"total"`
	Channels map[string]int64 `json:"channels"`
}

// Daily counts the tenant's metered contacts per UTC day (by when they
// were handled) and channel, for every day from `from` to `to`
// inclusive; days without contacts are there with zeros.
func Daily(ctx context.Context, db *tenant.DB, tenantID uuid.UUID, from, to time.Time) ([]DayCount, error) {
	if from.IsZero() || to.IsZero() {
		return nil, cic.Codef(cic.EINVALID, "invalid_range", "from and to are required dates (YYYY-MM-DD).")
	}
	from, to = dayOf(from), dayOf(to)
	if to.Before(from) {
		return nil, cic.Codef(cic.EINVALID, "invalid_range", "to must not be before from.")
	}
	n := int(to.Sub(from)/(24*time.Hour)) + 1
	if n > MaxDailyRange {
		return nil, cic.Codef(cic.EINVALID, "range_too_long", "At most %d days at a time.", MaxDailyRange)
	}
	out := make([]DayCount, n)
	for i := range out {
		out[i] = DayCount{Date: from.AddDate(0, 0, i).Format(time.DateOnly), Channels: make(map[string]int64, len(Channels))}
		for _, ch := range Channels {
			out[i].Channels[ch] = 0
		}
	}
	err := db.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT (handled_at AT TIME ZONE 'UTC')::date, channel, count(*) FROM meter_records
			WHERE tenant_id = $1 AND handled_at >= $2 AND handled_at < $3
			GROUP BY 1, 2`, tenantID, from, to.AddDate(0, 0, 1))
		if err != nil {
			return err
		}
		var day time.Time
		var ch string
		var cnt int64
		_, err = pgx.ForEachRow(rows, []any{&day, &ch, &cnt}, func() error {
			i := int(dayOf(day).Sub(from) / (24 * time.Hour))
			if i < 0 || i >= n {
				return nil
			}
			out[i].Channels[ch] += cnt
			out[i].Total += cnt
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("daily usage: %w", err)
	}
	return out, nil
}

// dayOf is the start of t's day in UTC, the calendar date t names.
func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
