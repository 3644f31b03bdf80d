package metering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Meter records handled contacts against prepaid bundles, exactly once
// per contact id, with group commit: concurrent callers' batches are
// written by a few flushers, many tenants per transaction, and each caller
// returns only after the COMMIT that made its records durable.
type Meter struct {
	DB *tenant.DB
	// MaxBatch caps the contacts of one group commit.
	MaxBatch int
	// Flushers is how many transactions may be in flight at once.
	Flushers int
	Logger   *slog.Logger
	Now      func() time.Time

	reqs      chan *request
	startOnce sync.Once
	wg        sync.WaitGroup
	quit      chan struct{}
	closeOnce sync.Once
}

// NewMeter returns a Meter with production defaults; Start it before use.
func NewMeter(db *tenant.DB) *Meter {
	return &Meter{DB: db, MaxBatch: 5000, Flushers: 4, Logger: slog.Default(), Now: time.Now}
}

// MaxContactsPerCall bounds one Meter call (the ingest API's batch limit).
const MaxContactsPerCall = 1000

var errClosed = cic.Codef(cic.EUNAVAILABLE, "metering_closed", "Metering is shutting down; retry shortly.")

// Start launches the flushers.
func (m *Meter) Start() {
	m.startOnce.Do(func() {
		m.reqs = make(chan *request, 4096)
		m.quit = make(chan struct{})
		for range max(m.Flushers, 1) {
			m.wg.Add(1)
			go m.flusher()
		}
	})
}

// Close stops taking work, lets the flushers commit what they hold and
// waits for them. Callers still waiting get errClosed.
func (m *Meter) Close() {
	m.closeOnce.Do(func() {
		if m.quit != nil {
			close(m.quit)
			m.wg.Wait()
		}
	})
}

// Meter meters contacts for tenantID. Invalid items are refused one by
// one in Result.Errors; the valid ones are metered. An error means none of
// the valid items is known to be durable: the caller retries the whole
// call, which is safe because metering is idempotent by contact id.
func (m *Meter) Meter(ctx context.Context, tenantID uuid.UUID, source string, contacts []HandledContact) (Result, error) {
	res := Result{Accepted: []string{}, Duplicates: []string{}, Errors: []ItemError{}}
	if len(contacts) > MaxContactsPerCall {
		return res, cic.Codef(cic.EINVALID, "batch_too_large", "At most %d contacts per batch.", MaxContactsPerCall)
	}
	now := m.Now()
	valid := make([]HandledContact, 0, len(contacts))
	for i := range contacts {
		c := contacts[i]
		if e := validate(&c, now); e != nil {
			res.Errors = append(res.Errors, *e)
			continue
		}
		valid = append(valid, c)
	}
	if len(valid) == 0 {
		return res, nil
	}
	if m.reqs == nil {
		return res, errors.New("meter: not started")
	}
	req := &request{tenant: tenantID, source: source, contacts: valid, done: make(chan outcome, 1)}
	// Checked first: with room in the queue, a select would happily pick
	// the send after Close, and nobody would ever answer.
	select {
	case <-m.quit:
		return res, errClosed
	default:
	}
	select {
	case m.reqs <- req:
	case <-m.quit:
		return res, errClosed
	case <-ctx.Done():
		return res, ctx.Err()
	}
	// Once queued, the outcome is awaited even if ctx ends: the records may
	// be committing, and the caller must learn it from a retry.
	select {
	case o := <-req.done:
		if o.err != nil {
			return res, o.err
		}
		res.Accepted = append(res.Accepted, o.accepted...)
		res.Duplicates = append(res.Duplicates, o.duplicates...)
		return res, nil
	case <-ctx.Done():
		return res, ctx.Err()
	}
}

// flusher takes whatever is queued (at least one request, at most
// MaxBatch contacts) and commits it as one transaction. Under load, the
// queue fills while a commit is in flight, so batches grow by themselves;
// when idle, a lone request is committed at once.
func (m *Meter) flusher() {
	defer m.wg.Done()
	for {
		var first *request
		select {
		case first = <-m.reqs:
		case <-m.quit:
			m.drain()
			return
		}
		batch := []*request{first}
		n := len(first.contacts)
	gather:
		for n < m.MaxBatch {
			select {
			case r := <-m.reqs:
				batch = append(batch, r)
				n += len(r.contacts)
			default:
				break gather
			}
		}
		m.commit(batch)
	}
}

// drain answers what is still queued at Close.
func (m *Meter) drain() {
	for {
		select {
		case r := <-m.reqs:
			r.done <- outcome{err: errClosed}
		default:
			return
		}
	}
}

// commit writes a batch, retrying transient failures; if the batch as a
// whole keeps failing, each request is tried alone so one bad request
// cannot fail its neighbours.
func (m *Meter) commit(batch []*request) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	for attempt := range 3 {
		var outs map[*request]outcome
		if outs, err = m.write(ctx, batch); err == nil {
			for _, r := range batch {
				r.done <- outs[r]
			}
			return
		}
		time.Sleep(time.Duration(10*(attempt+1)) * time.Millisecond)
	}
	m.Logger.Error("meter batch failed", "requests", len(batch), "err", err)
	if len(batch) == 1 {
		batch[0].done <- outcome{err: fmt.Errorf("meter: %w", err)}
		return
	}
	for _, r := range batch {
		m.commit([]*request{r})
	}
}

// pending is one tenant's share of a batch: contacts in arrival order,
// each id once, and which request each came from.
type pending struct {
	tenant   uuid.UUID
	source   []string
	contacts []HandledContact
	owner    []*request
	seen     map[string]*request
	// later holds repeats of an id inside the batch: duplicates of the
	// first occurrence, whatever happens to it.
	later map[*request][]string
}

func groupByTenant(batch []*request) []*pending {
	byTenant := map[uuid.UUID]*pending{}
	for _, r := range batch {
		p := byTenant[r.tenant]
		if p == nil {
			p = &pending{tenant: r.tenant, seen: map[string]*request{}, later: map[*request][]string{}}
			byTenant[r.tenant] = p
		}
		for _, c := range r.contacts {
			if _, dup := p.seen[c.ID]; dup {
				p.later[r] = append(p.later[r], c.ID)
				continue
			}
			p.seen[c.ID] = r
			p.contacts = append(p.contacts, c)
			p.owner = append(p.owner, r)
			p.source = append(p.source, r.source)
		}
	}
	out := make([]*pending, 0, len(byTenant))
	for _, p := range byTenant {
		out = append(out, p)
	}
	// A fixed tenant order keeps concurrent flushers from deadlocking on
	// each other's tenant locks.
	sort.Slice(out, func(i, j int) bool { return out[i].tenant.String() < out[j].tenant.String() })
	return out
}

// write runs one group commit and returns every request's outcome.
func (m *Meter) write(ctx context.Context, batch []*request) (map[*request]outcome, error) {
	outs := make(map[*request]outcome, len(batch))
	groups := groupByTenant(batch)
	err := m.DB.MultiTx(ctx, func(tx pgx.Tx, enter func(uuid.UUID) error) error {
		clear(outs)
		for _, p := range groups {
			if err := enter(p.tenant); err != nil {
				return err
			}
			if err := m.writeTenant(ctx, tx, p, outs); err != nil {
				return fmt.Errorf("tenant %s: %w", p.tenant, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return outs, nil
}

// LockTenant serialises metering of one tenant across every replica for
// the rest of tx. Whoever changes what the draw-down reads (expiry,
// forfeits) takes it too.
func LockTenant(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7319))`, "metering:"+tenantID.String()); err != nil {
		return fmt.Errorf("lock tenant metering: %w", err)
	}
	return nil
}

func (m *Meter) writeTenant(ctx context.Context, tx pgx.Tx, p *pending, outs map[*request]outcome) error {
	if err := LockTenant(ctx, tx, p.tenant); err != nil {
		return err
	}
	st, err := loadSettings(ctx, tx, p.tenant)
	if err != nil {
		return err
	}
	ids := make([]string, len(p.contacts))
	for i, c := range p.contacts {
		ids[i] = c.ID
	}
	// Under the tenant lock nobody else inserts this tenant's records, so
	// what is absent now is new, and a plain INSERT can never conflict.
	rows, err := tx.Query(ctx, `SELECT contact_id FROM meter_records WHERE tenant_id = $1 AND contact_id = ANY($2)`, p.tenant, ids)
	if err != nil {
		return fmt.Errorf("find metered: %w", err)
	}
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("find metered: %w", err)
	}
	isKnown := make(map[string]bool, len(known))
	for _, id := range known {
		isKnown[id] = true
	}
	var fresh []int
	for i, c := range p.contacts {
		if isKnown[c.ID] {
			o := outs[p.owner[i]]
			o.duplicates = append(o.duplicates, c.ID)
			outs[p.owner[i]] = o
		} else {
			fresh = append(fresh, i)
		}
	}
	for r, later := range p.later {
		o := outs[r]
		o.duplicates = append(o.duplicates, later...)
		outs[r] = o
	}
	if len(fresh) == 0 {
		return nil
	}

	// The clock is read now, under the tenant lock, not now() (the time
	// the transaction began, maybe long before it got the lock): once
	// ExpireBundles has recorded a bundle's forfeit under this lock, every
	// later draw must see that bundle expired.
	var at time.Time
	if err := tx.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&at); err != nil {
		return fmt.Errorf("clock: %w", err)
	}
	bundles, err := loadDrawBundles(ctx, tx, p.tenant, at)
	if err != nil {
		return err
	}
	d := drawDown(bundles, len(fresh), at)
	src := d.sources(len(fresh))

	n := len(fresh)
	var (
		cid                                       = make([]string, n)
		bid                                       = make([]*uuid.UUID, n)
		num, den                                  = make([]int64, n), make([]int64, n)
		channel, direction, queue, dept, campaign = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		agent, source                             = make([]string, n), make([]string, n)
		handled                                   = make([]time.Time, n)
	)
	for k, i := range fresh {
		c := p.contacts[i]
		cid[k], channel[k], direction[k], handled[k] = c.ID, c.Channel, c.Direction, c.HandledAt
		queue[k], dept[k], campaign[k], agent[k], source[k] = c.Queue, c.Department, c.Campaign, c.Agent, p.source[i]
		if b := src[k]; b >= 0 {
			id := d.usable[b].ID
			bid[k], num[k], den[k] = &id, d.usable[b].PriceMinor, d.usable[b].Contacts
		} else {
			num[k], den[k] = st.OveragePriceMinor, 1
		}
	}
	// The department's cost centre is snapshotted with the record, so a
	// later rename does not rewrite history.
	_, err = tx.Exec(ctx, `INSERT INTO meter_records (tenant_id, contact_id, bundle_id, cost_num, cost_den, currency,
			channel, direction, handled_at, queue, department, cost_centre, campaign, agent, source)
		SELECT $1, u.cid, u.bid, u.num, u.den, $2, u.channel, u.direction, u.handled, u.queue, u.dept,
			coalesce(d.cost_centre, ''), u.campaign, u.agent, u.source
		FROM unnest($3::text[], $4::uuid[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::timestamptz[],
			$10::text[], $11::text[], $12::text[], $13::text[], $14::text[])
			AS u(cid, bid, num, den, channel, direction, handled, queue, dept, campaign, agent, source)
		LEFT JOIN departments d ON d.tenant_id = $1 AND lower(d.name) = lower(u.dept) AND u.dept <> ''`,
		p.tenant, st.Currency, cid, bid, num, den, channel, direction, handled, queue, dept, campaign, agent, source)
	if err != nil {
		return fmt.Errorf("insert meter records: %w", err)
	}
	var upd []uuid.UUID
	var by []int64
	for i, t := range d.take {
		if t > 0 {
			upd = append(upd, d.usable[i].ID)
			by = append(by, t)
		}
	}
	if len(upd) > 0 {
		tag, err := tx.Exec(ctx, `UPDATE bundles b SET remaining = b.remaining - u.n
			FROM unnest($2::uuid[], $3::bigint[]) AS u(id, n)
			WHERE b.tenant_id = $1 AND b.id = u.id`, p.tenant, upd, by)
		if err != nil {
			return fmt.Errorf("draw bundles: %w", err)
		}
		if tag.RowsAffected() != int64(len(upd)) {
			return fmt.Errorf("draw bundles: %d of %d bundles updated", tag.RowsAffected(), len(upd))
		}
	}
	if err := requestTopup(ctx, tx, p.tenant, st, d); err != nil {
		return err
	}
	for k, i := range fresh {
		o := outs[p.owner[i]]
		o.accepted = append(o.accepted, cid[k])
		outs[p.owner[i]] = o
	}
	return nil
}

// requestTopup files a top-up request when the auto_topup policy's
// threshold is crossed; the partial unique index keeps it to one pending.
func requestTopup(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, st Settings, d draw) error {
	if st.Policy != PolicyAutoTopup || st.TopupThreshold == nil {
		return nil
	}
	var left int64
	for i, b := range d.usable {
		left += b.Remaining - d.take[i]
	}
	if left >= *st.TopupThreshold {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO topup_requests (tenant_id, id, contacts, price_minor, currency, validity_days)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id) WHERE status = 'pending' DO NOTHING`,
		tenantID, uuid.New(), *st.TopupContacts, *st.TopupPriceMinor, st.Currency, *st.TopupValidityDays)
	if err != nil {
		return fmt.Errorf("request top-up: %w", err)
	}
	return nil
}

func loadDrawBundles(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, at time.Time) ([]drawBundle, error) {
	rows, err := tx.Query(ctx, `SELECT id, contacts, remaining, price_minor, valid_from, valid_until, created_at
		FROM bundles WHERE tenant_id = $1 AND remaining > 0 AND valid_from <= $2 AND valid_until > $2
		ORDER BY valid_until, created_at, id`, tenantID, at)
	if err != nil {
		return nil, fmt.Errorf("load bundles: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (drawBundle, error) {
		var b drawBundle
		err := r.Scan(&b.ID, &b.Contacts, &b.Remaining, &b.PriceMinor, &b.ValidFrom, &b.ValidUntil, &b.CreatedAt)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("load bundles: %w", err)
	}
	return out, nil
}
