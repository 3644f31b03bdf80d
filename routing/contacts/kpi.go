package contacts

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
)

// KPI definitions. Every historical number is computed from the contacts
// table alone, per UTC day and queue, so that a day's numbers never change
// once its contacts have ended:
//
//   - A contact counts on the UTC day it entered a queue (created_at,
//     which is its first queued_at) and in the queue it is in now (the
//     last one, after transfers). Contacts never queued (blocked for want
//     of credit) and contacts of a deleted queue are not counted.
//   - Offered: contacts that entered the queue that day, answered or not.
//   - Accepted: of those, the ones an agent accepted (accepted_at set).
//   - Abandoned: of those, the ones the customer left before any accept.
//   - Wait of an accepted contact: accepted_at - queued_at (first queueing
//     to first accept: a transfer does not restart the clock); of an
//     abandoned one: closed_at - queued_at.
//   - Service level %: contacts accepted with a wait of at most the queue's
//     sl_seconds, divided by the contacts accepted plus those abandoned
//     after waiting longer than sl_seconds (abandons within the target are
//     left out: the customer gave up before the centre could have failed
//     them). Null when that divisor is 0.
//   - ASA (average speed of answer, s): mean wait of the accepted contacts.
//   - AHT (average handle time, s): mean of wrap_up_at (or closed_at, for a
//     contact closed without wrap-up) - accepted_at over the accepted
//     contacts that got that far; contacts still in conversation wait.
//   - Abandon rate %: abandoned / offered.
//   - FCR % (first-contact resolution): of the accepted inbound contacts
//     of a known customer, the share after which that customer did not
//     come back (no other inbound contact of theirs, on any channel,
//     queued within 7 days after it). A day's FCR is provisional until
//     7 days have passed.
//   - CSAT: the satisfaction survey answers (1 to 5) of the day's
//     contacts: their count, mean score, and % satisfied (4 or 5).
//
// Percentages and seconds are rounded to one decimal.

// KPIQuery selects the days (UTC, both included) and optionally a queue.
type KPIQuery struct {
	From, To time.Time
	QueueID  *uuid.UUID
}

// MaxKPIDays is the longest period one KPI query covers.
const MaxKPIDays = 366

// KPI is one queue's numbers for one day (or, on the wallboard, today).
type KPI struct {
	Day              string    `json:"day"`
	QueueID          uuid.UUID `json:"queue_id"`
	Queue            string    `json:"queue"`
	SLSeconds        int       `json:"sl_seconds"`
	SLTargetPercent  int       `json:"sl_target_percent"`
	Offered          int       `json:"offered"`
	Accepted         int       `json:"accepted"`
	Abandoned        int       `json:"abandoned"`
	AnsweredInSL     int       `json:"answered_within_sl"`
	AbandonedAfterSL int       `json:"abandoned_after_sl"`
	Handled          int       `json:"handled"`
	ServiceLevel     *float64  `json:"service_level_percent"`
	ASA              *float64  `json:"asa_seconds"`
	AHT              *float64  `json:"aht_seconds"`
	AbandonRate      *float64  `json:"abandon_rate_percent"`
	FCREligible      int       `json:"fcr_eligible"`
	FCRResolved      int       `json:"fcr_resolved"`
	FCR              *float64  `json:"fcr_percent"`
	CSATResponses    int       `json:"csat_responses"`
	CSATSatisfied    int       `json:"csat_satisfied"`
	CSATAverage      *float64  `json:"csat_average"`
	CSAT             *float64  `json:"csat_percent"`

	waitMillis, handleMillis, csatSum int64
}

// CanSeeKPIs says who may read the wallboard and the KPIs.
func CanSeeKPIs(r cic.Role) bool {
	return r.In(cic.RoleOwner, cic.RoleAdmin, cic.RoleSupervisor)
}

var errNotKPIViewer = cic.Codef(cic.EFORBIDDEN, "forbidden", "Only owners, admins and supervisors see the wallboard and KPIs.")

// percent is 100 num / den, seconds the mean of millis over n, both
// rounded to one decimal; nil when nothing is counted.
func percent(num, den int64) *float64 {
	if den == 0 {
		return nil
	}
	v := math.Round(float64(num*1000)/float64(den)) / 10
	return &v
}

func seconds(millis, n int64) *float64 {
	if n == 0 {
		return nil
	}
	v := math.Round(float64(millis)/float64(n)/100) / 10
	return &v
}

// derive computes the rates from the counts and sums.
func (k *KPI) derive() {
	k.ServiceLevel = percent(int64(k.AnsweredInSL), int64(k.Accepted+k.AbandonedAfterSL))
	k.ASA = seconds(k.waitMillis, int64(k.Accepted))
	k.AHT = seconds(k.handleMillis, int64(k.Handled))
	k.AbandonRate = percent(int64(k.Abandoned), int64(k.Offered))
	k.FCR = percent(int64(k.FCRResolved), int64(k.FCREligible))
	k.CSAT = percent(int64(k.CSATSatisfied), int64(k.CSATResponses))
	if k.CSATResponses > 0 {
		v := math.Round(float64(k.csatSum*100)/float64(k.CSATResponses)) / 100
		k.CSATAverage = &v
	}
}

// KPIs returns the historical KPIs per day and queue, days ascending and
// queues by name; days and queues without contacts are left out.
func (s *Service) KPIs(ctx context.Context, p tenant.Principal, q KPIQuery) ([]KPI, error) {
	if !CanSeeKPIs(p.Role) {
		return nil, errNotKPIViewer
	}
	from, to := utcDay(q.From), utcDay(q.To)
	if to.Before(from) {
		return nil, cic.Codef(cic.EINVALID, "invalid_period", "from must not be after to.")
	}
	if days := int(to.Sub(from).Hours()/24) + 1; days > MaxKPIDays {
		return nil, cic.Codef(cic.EINVALID, "invalid_period", "A period is at most %d days.", MaxKPIDays)
	}
	return s.kpis(ctx, p.TenantID, from, to.AddDate(0, 0, 1), q.QueueID)
}

func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// kpis aggregates the contacts created in [from, until).
func (s *Service) kpis(ctx context.Context, tenantID uuid.UUID, from, until time.Time, queue *uuid.UUID) ([]KPI, error) {
	sql := `SELECT to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), q.id, q.name, q.sl_seconds, q.sl_percent,
			count(*),
			count(*) FILTER (WHERE c.accepted_at IS NOT NULL),
			count(*) FILTER (WHERE c.state = 'abandoned'),
			count(*) FILTER (WHERE c.accepted_at IS NOT NULL AND c.accepted_at - c.queued_at <= q.sl_seconds * interval '1 second'),
			count(*) FILTER (WHERE c.state = 'abandoned' AND c.closed_at - c.queued_at > q.sl_seconds * interval '1 second'),
			coalesce(round(sum(extract(epoch FROM greatest(c.accepted_at - c.queued_at, interval '0')) * 1000)
				FILTER (WHERE c.accepted_at IS NOT NULL)), 0)::bigint,
			count(*) FILTER (WHERE c.accepted_at IS NOT NULL AND coalesce(c.wrap_up_at, c.closed_at) IS NOT NULL),
			coalesce(round(sum(extract(epoch FROM greatest(coalesce(c.wrap_up_at, c.closed_at) - c.accepted_at, interval '0')) * 1000)
				FILTER (WHERE c.accepted_at IS NOT NULL AND coalesce(c.wrap_up_at, c.closed_at) IS NOT NULL)), 0)::bigint,
			count(*) FILTER (WHERE c.accepted_at IS NOT NULL AND c.customer_id IS NOT NULL AND c.direction = 'inbound'),
			count(*) FILTER (WHERE c.accepted_at IS NOT NULL AND c.customer_id IS NOT NULL AND c.direction = 'inbound'
				AND NOT EXISTS (SELECT 1 FROM contacts r WHERE r.tenant_id = c.tenant_id AND r.customer_id = c.customer_id
					AND r.direction = 'inbound' AND r.queued_at IS NOT NULL AND r.id <> c.id
					AND r.created_at > c.created_at AND r.created_at <= c.created_at + interval '7 days')),
			count(sv.score), coalesce(sum(sv.score), 0)::bigint, count(*) FILTER (WHERE sv.score >= 4)
		FROM contacts c JOIN queues q ON q.tenant_id = c.tenant_id AND q.id = c.queue_id
		LEFT JOIN csat_surveys sv ON sv.tenant_id = c.tenant_id AND sv.contact_id = c.id
		WHERE c.tenant_id = $1 AND c.created_at >= $2 AND c.created_at < $3 AND c.queued_at IS NOT NULL`
	args := []any{tenantID, from, until}
	if queue != nil {
		sql += ` AND c.queue_id = $4`
		args = append(args, *queue)
	}
	sql += ` GROUP BY 1, q.id, q.name, q.sl_seconds, q.sl_percent ORDER BY 1, lower(q.name), q.id`
	var out []KPI
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (KPI, error) {
			var k KPI
			err := r.Scan(&k.Day, &k.QueueID, &k.Queue, &k.SLSeconds, &k.SLTargetPercent, &k.Offered, &k.Accepted, &k.Abandoned,
				&k.AnsweredInSL, &k.AbandonedAfterSL, &k.waitMillis, &k.Handled, &k.handleMillis,
				&k.FCREligible, &k.FCRResolved, &k.CSATResponses, &k.csatSum, &k.CSATSatisfied)
			k.derive()
			return k, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kpis: %w", err)
	}
	if out == nil {
		out = []KPI{}
	}
	return out, nil
}

// Statuses counts agents by routing status.
type Statuses struct {
	Available int `json:"available"`
	Busy      int `json:"busy"`
	Away      int `json:"away"`
	WrapUp    int `json:"wrap_up"`
	Offline   int `json:"offline"`
}

func (c *Statuses) add(s routing.Status) {
	switch s {
	case routing.Available:
		c.Available++
	case routing.Busy:
		c.Busy++
	case routing.Away:
		c.Away++
	case routing.WrapUp:
		c.WrapUp++
	default:
		c.Offline++
	}
}

// QueueBoard is one queue on the wallboard: live numbers from the routing
// engine, today's (UTC) from the contacts.
type QueueBoard struct {
	QueueID  uuid.UUID `json:"queue_id"`
	Name     string    `json:"name"`
	Channels []string  `json:"channels"`
	// Waiting contacts (not offered yet), offered ones (ringing at an
	// agent) and those in conversation.
	Waiting    int `json:"waiting"`
	Ringing    int `json:"ringing"`
	InProgress int `json:"in_progress"`
	// LongestWait is how long the oldest waiting contact has waited (s).
	LongestWait int `json:"longest_wait_seconds"`
	// Agents are the agents the engine knows with capacity on one of the
	// queue's channels, by status.
	Agents Statuses `json:"agents"`
	// Occupancy is the load of those agents who are available over their
	// capacity on the queue's channels, in %; null without capacity.
	Occupancy *float64 `json:"occupancy_percent"`
	Today     KPI      `json:"today"`
}

// Wallboard is a tenant's live state per queue.
type Wallboard struct {
	At     time.Time    `json:"at"`
	Day    string       `json:"day"`
	Agents Statuses     `json:"agents"`
	Queues []QueueBoard `json:"queues"`
}

// Wallboard reads the live routing state and today's KPIs.
func (s *Service) Wallboard(ctx context.Context, p tenant.Principal) (Wallboard, error) {
	if !CanSeeKPIs(p.Role) {
		return Wallboard{}, errNotKPIViewer
	}
	now := s.Now()
	qs, err := s.Setup.Queues(ctx, p.TenantID)
	if err != nil {
		return Wallboard{}, err
	}
	snap, err := s.Engine.Snapshot(ctx, p.TenantID)
	if err != nil {
		return Wallboard{}, err
	}
	day := utcDay(now)
	today, err := s.kpis(ctx, p.TenantID, day, day.AddDate(0, 0, 1), nil)
	if err != nil {
		return Wallboard{}, err
	}
	return LiveBoard(qs, snap, today, now), nil
}

// LiveBoard puts the wallboard together from the queues, the engine's
// snapshot and today's KPIs.
func LiveBoard(qs []setup.Queue, snap routing.Snapshot, today []KPI, now time.Time) Wallboard {
	w := Wallboard{At: now.UTC(), Day: utcDay(now).Format(time.DateOnly), Queues: []QueueBoard{}}
	for _, a := range snap.Agents {
		w.Agents.add(a.Status)
	}
	byQueue := map[uuid.UUID]KPI{}
	for _, k := range today {
		byQueue[k.QueueID] = k
	}
	for _, q := range qs {
		b := QueueBoard{QueueID: q.ID, Name: q.Name, Channels: q.Channels, Today: byQueue[q.ID]}
		if b.Today.QueueID == uuid.Nil {
			b.Today = KPI{Day: w.Day, QueueID: q.ID, Queue: q.Name, SLSeconds: q.SLSeconds, SLTargetPercent: q.SLPercent}
		}
		chans := make([]routing.Channel, len(q.Channels))
		for i, c := range q.Channels {
			chans[i] = engineChannel(c)
		}
		id := q.ID.String()
		for _, c := range snap.Contacts {
			if c.Queue != id {
				continue
			}
			switch c.Status {
			case routing.Waiting:
				b.Waiting++
				b.LongestWait = max(b.LongestWait, int(now.Sub(c.EnqueuedAt)/time.Second))
			case routing.Reserved:
				b.Ringing++
			case routing.Assigned:
				b.InProgress++
			}
		}
		var load, capacity int64
		for _, a := range snap.Agents {
			serves := false
			for _, ch := range chans {
				serves = serves || a.Capacity[ch] > 0
			}
			if !serves {
				continue
			}
			b.Agents.add(a.Status)
			if a.Status == routing.Available {
				for _, ch := range chans {
					load += int64(a.Load[ch])
					capacity += int64(a.Capacity[ch])
				}
			}
		}
		b.Occupancy = percent(load, capacity)
		w.Queues = append(w.Queues, b)
	}
	return w
}

// HourVolume is the tenant's contacts that entered a queue in one hour.
type HourVolume struct {
	Hour      time.Time `json:"hour"`
	Offered   int       `json:"offered"`
	Accepted  int       `json:"accepted"`
	Abandoned int       `json:"abandoned"`
}

// Hourly returns the last hours' volumes, oldest first, one entry per hour
// (the current one included), for the wallboard's chart.
func (s *Service) Hourly(ctx context.Context, p tenant.Principal, hours int) ([]HourVolume, error) {
	if !CanSeeKPIs(p.Role) {
		return nil, errNotKPIViewer
	}
	hours = min(max(hours, 1), 48)
	first := s.Now().UTC().Truncate(time.Hour).Add(-time.Duration(hours-1) * time.Hour)
	out := make([]HourVolume, hours)
	for i := range out {
		out[i].Hour = first.Add(time.Duration(i) * time.Hour)
	}
	err := s.DB.Tx(ctx, p.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC'), count(*),
				count(*) FILTER (WHERE accepted_at IS NOT NULL), count(*) FILTER (WHERE state = 'abandoned')
			FROM contacts WHERE tenant_id = $1 AND created_at >= $2 AND queued_at IS NOT NULL GROUP BY 1`, p.TenantID, first)
		if err != nil {
			return err
		}
		var h time.Time
		var v HourVolume
		_, err = pgx.ForEachRow(rows, []any{&h, &v.Offered, &v.Accepted, &v.Abandoned}, func() error {
			i := int(time.Date(h.Year(), h.Month(), h.Day(), h.Hour(), 0, 0, 0, time.UTC).Sub(first) / time.Hour)
			if i >= 0 && i < len(out) {
				v.Hour = out[i].Hour
				out[i] = v
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hourly volume: %w", err)
	}
	return out, nil
}
