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
	"github.com/jackc/pgx/v5/pgconn"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Meter records handled contacts against prepaid bundles, exactly once
// per contact id, with group commit: concurrent callers' batches are
// written by a few flushers, many tenants per transaction, and each caller
// returns only after the COMMIT that made its records durable. Each tenant
// belongs to one flusher (by its id), so flushers never queue behind each
// other's tenant locks.
type Meter struct {
	DB *tenant.DB
	// MaxBatch caps the contacts of one group commit.
	MaxBatch int
	// Flushers is how many transactions may be in flight at once, each
	// for its own share of the tenants.
	Flushers int
	Logger   *slog.Logger
	Now      func() time.Time

	// parts[i] is flusher i's queue.
	parts     []chan *request
	startOnce sync.Once
	wg        sync.WaitGroup
	quit      chan struct{}
	closeOnce sync.Once
	// mu makes "not closed yet, so enqueue" atomic against Close: a request
	// enqueued is always seen by a flusher before it exits.
	mu     sync.RWMutex
	closed bool
}

// NewMeter returns a Meter with production defaults; Start it before use.
func NewMeter(db *tenant.DB) *Meter {
	return &Meter{DB: db, MaxBatch: 5000, Flushers: 2, Logger: slog.Default(), Now: time.Now}
}

// MaxContactsPerCall bounds one Meter call (the ingest API's batch limit).
const MaxContactsPerCall = 1000

var errClosed = cic.Codef(cic.EUNAVAILABLE, "metering_closed", "Metering is shutting down; retry shortly.")

// Start launches the flushers.
func (m *Meter) Start() {
	m.startOnce.Do(func() {
		m.quit = make(chan struct{})
		for range max(m.Flushers, 1) {
			q := make(chan *request, 4096)
			m.parts = append(m.parts, q)
			m.wg.Add(1)
			go m.flusher(q)
		}
	})
}

// Close stops taking work, lets the flushers commit what they hold and
// waits for them. Callers still waiting get errClosed.
func (m *Meter) Close() {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
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
	if m.parts == nil {
		return res, errors.New("meter: not started")
	}
	req := &request{tenant: tenantID, source: source, contacts: valid, done: make(chan outcome, 1)}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return res, errClosed
	}
	select {
	case m.parts[int(tenantID[15])%len(m.parts)] <- req:
		m.mu.RUnlock()
	case <-ctx.Done():
		m.mu.RUnlock()
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
		res.Errors = append(res.Errors, o.errors...)
		return res, nil
	case <-ctx.Done():
		return res, ctx.Err()
	}
}

// flusher takes whatever is queued (at least one request, at most
// MaxBatch contacts) and commits it as one transaction. Under load, the
// queue fills while a commit is in flight, so batches grow by themselves;
// when idle, a lone request is committed at once.
func (m *Meter) flusher(reqs chan *request) {
	defer m.wg.Done()
	for {
		var first *request
		select {
		case first = <-reqs:
		case <-m.quit:
			m.drain(reqs)
			return
		}
		batch := []*request{first}
		n := len(first.contacts)
	gather:
		for n < m.MaxBatch {
			select {
			case r := <-reqs:
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
func (m *Meter) drain(reqs chan *request) {
	for {
		select {
		case r := <-reqs:
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

// write runs one group commit in four round trips, however many tenants
// it holds: BEGIN; one pipeline that reads (per tenant: enter, lock,
// settings, ids already metered, the clock and the usable bundles); one
// pipeline that writes (per tenant with new contacts: enter, insert the
// records, draw the bundles, request a top-up); COMMIT. The statements
// still run one tenant at a time, each after that tenant's set_config, so
// RLS confines every one of them.
func (m *Meter) write(ctx context.Context, batch []*request) (map[*request]outcome, error) {
	outs := make(map[*request]outcome, len(batch))
	groups := groupByTenant(batch)
	err := m.DB.MultiTx(ctx, func(tx pgx.Tx, _ func(uuid.UUID) error) error {
		clear(outs)
		reads := make([]tenantReads, len(groups))
		rb := &pgx.Batch{}
		for g, p := range groups {
			queueReads(rb, p, &reads[g])
		}
		if err := tx.SendBatch(ctx, rb).Close(); err != nil {
			return fmt.Errorf("meter reads: %w", err)
		}
		wb := &pgx.Batch{}
		var done []func()
		for g, p := range groups {
			if f := queueWrites(wb, p, &reads[g], outs); f != nil {
				done = append(done, f)
			}
		}
		if wb.Len() > 0 {
			if err := tx.SendBatch(ctx, wb).Close(); err != nil {
				return fmt.Errorf("meter writes: %w", err)
			}
		}
		for _, f := range done {
			f()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return outs, nil
}

const lockTenantSQL = `SELECT pg_advisory_xact_lock(hashtextextended($1, 7319))`

// LockTenant serialises metering of one tenant across every replica for
// the rest of tx. Whoever changes what the draw-down reads (expiry,
// forfeits) takes it too.
func LockTenant(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID) error {
	if _, err := tx.Exec(ctx, lockTenantSQL, "metering:"+tenantID.String()); err != nil {
		return fmt.Errorf("lock tenant metering: %w", err)
	}
	return nil
}

// tenantReads is what the read pipeline learnt about one tenant.
type tenantReads struct {
	settings Settings
	known    map[string]bool
	at       time.Time
	bundles  []drawBundle
}

func queueEnter(b *pgx.Batch, tenantID uuid.UUID) {
	b.Queue(`SELECT set_config('app.tenant_id', $1, true)`, tenantID.String())
}

// drawBundlesSQL reads the clock once, after the tenant lock (not now(),
// the time the transaction began, maybe long before it got the lock: once
// ExpireBundles has recorded a bundle's forfeit under this lock, every
// later draw must see that bundle expired), and the bundles usable then.
// With no bundle it still returns the clock, with a NULL bundle.
const drawBundlesSQL = `WITH c AS MATERIALIZED (SELECT clock_timestamp() AS at)
	SELECT c.at, b.id, b.contacts, b.remaining, b.price_minor, b.valid_from, b.valid_until, b.created_at
	FROM c LEFT JOIN bundles b ON b.tenant_id = $1 AND b.remaining > 0 AND b.valid_from <= c.at AND b.valid_until > c.at
	ORDER BY b.valid_until, b.created_at, b.id`

func queueReads(b *pgx.Batch, p *pending, r *tenantReads) {
	ids := make([]string, len(p.contacts))
	for i, c := range p.contacts {
		ids[i] = c.ID
	}
	b.Queue(`SELECT set_config('app.tenant_id', $1, true), pg_advisory_xact_lock(hashtextextended($2, 7319))`, p.tenant.String(), "metering:"+p.tenant.String())
	b.Queue(settingsSQL, p.tenant).QueryRow(func(row pgx.Row) error {
		st, err := scanSettings(row)
		r.settings = st
		return err
	})
	// Under the tenant lock nobody else inserts this tenant's records, so
	// what is absent now is new, and a plain INSERT can never conflict.
	b.Queue(`SELECT contact_id FROM meter_records WHERE tenant_id = $1 AND contact_id = ANY($2)`, p.tenant, ids).
		Query(func(rows pgx.Rows) error {
			known, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("find metered: %w", err)
			}
			r.known = make(map[string]bool, len(known))
			for _, id := range known {
				r.known[id] = true
			}
			return nil
		})
	b.Queue(drawBundlesSQL, p.tenant).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id *uuid.UUID
			var d drawBundle
			var contacts, remaining, price *int64
			var from, until, created *time.Time
			if err := rows.Scan(&r.at, &id, &contacts, &remaining, &price, &from, &until, &created); err != nil {
				return fmt.Errorf("load bundles: %w", err)
			}
			if id == nil {
				continue
			}
			d.ID, d.Contacts, d.Remaining, d.PriceMinor = *id, *contacts, *remaining, *price
			d.ValidFrom, d.ValidUntil, d.CreatedAt = *from, *until, *created
			r.bundles = append(r.bundles, d)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load bundles: %w", err)
		}
		return nil
	})
}

// queueWrites sorts p's contacts into duplicates, refused and new ones,
// queues the writes of the new ones and returns what to add to outs once
// they are done (nil when there is nothing to write).
//
// Under the block policy, a contact reported by the ingest API is taken
// only while the valid bundles have contacts left; the rest get the item
// error no_credit. This is decided here, under the tenant's metering lock
// and from the bundles read after it, so the check and the draw are one
// step: however many batches race, the accepted never exceed the balance.
// Contacts from routing were authorized when they arrived and are in
// progress: they are always recorded (as overage if need be).
func queueWrites(b *pgx.Batch, p *pending, r *tenantReads, outs map[*request]outcome) func() {
	st := r.settings
	var left int64
	for _, bu := range r.bundles {
		if bu.Remaining > 0 && !r.at.Before(bu.ValidFrom) && r.at.Before(bu.ValidUntil) {
			left += bu.Remaining
		}
	}
	var fresh []int
	refused := map[string]bool{}
	for i, c := range p.contacts {
		switch {
		case r.known[c.ID]:
			o := outs[p.owner[i]]
			o.duplicates = append(o.duplicates, c.ID)
			outs[p.owner[i]] = o
		case st.Policy == PolicyBlock && p.source[i] == SourceAPI && left <= 0:
			refused[c.ID] = true
			o := outs[p.owner[i]]
			o.errors = append(o.errors, noCredit(c.ID))
			outs[p.owner[i]] = o
		default:
			fresh = append(fresh, i)
			left--
		}
	}
	for req, later := range p.later {
		o := outs[req]
		for _, id := range later {
			// A repeat of a refused id is refused too: it was not metered.
			if refused[id] {
				o.errors = append(o.errors, noCredit(id))
			} else {
				o.duplicates = append(o.duplicates, id)
			}
		}
		outs[req] = o
	}
	if len(fresh) == 0 {
		return nil
	}
	d := drawDown(r.bundles, len(fresh), r.at)
	src := d.sources(len(fresh))

	n := len(fresh)
	var (
		cid                                       = make([]string, n)
		bid                                       = make([]*uuid.UUID, n)
		num, den                                  = make([]int64, n), make([]int64, n)
		channel, direction, queue, dept, campaign = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		agent, source, queueCC                    = make([]string, n), make([]string, n), make([]string, n)
		handled                                   = make([]time.Time, n)
	)
	for k, i := range fresh {
		c := p.contacts[i]
		cid[k], channel[k], direction[k], handled[k] = c.ID, c.Channel, c.Direction, c.HandledAt
		queue[k], dept[k], campaign[k], agent[k], source[k] = c.Queue, c.Department, c.Campaign, c.Agent, p.source[i]
		queueCC[k] = c.QueueCostCentre
		if bi := src[k]; bi >= 0 {
			id := d.usable[bi].ID
			bid[k], num[k], den[k] = &id, d.usable[bi].PriceMinor, d.usable[bi].Contacts
		} else {
			num[k], den[k] = st.OveragePriceMinor, 1
		}
	}
	queueEnter(b, p.tenant)
	// The department's and the queue's cost centres are snapshotted with
	// the record (chargeback allocates by them), so a later change does not
	// rewrite history. A queue cost centre given by the caller wins.
	b.Queue(`INSERT INTO meter_records (tenant_id, contact_id, bundle_id, cost_num, cost_den, currency,
			channel, direction, handled_at, queue, department, cost_centre, campaign, agent, source, queue_cost_centre)
		SELECT $1, u.cid, u.bid, u.num, u.den, $2, u.channel, u.direction, u.handled, u.queue, u.dept,
			coalesce(d.cost_centre, ''), u.campaign, u.agent, u.source, coalesce(nullif(u.qcc, ''), q.cost_centre, '')
		FROM unnest($3::text[], $4::uuid[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::timestamptz[],
			$10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[])
			AS u(cid, bid, num, den, channel, direction, handled, queue, dept, campaign, agent, source, qcc)
		LEFT JOIN departments d ON d.tenant_id = $1 AND lower(d.name) = lower(u.dept) AND u.dept <> ''
		LEFT JOIN queues q ON q.tenant_id = $1 AND lower(q.name) = lower(u.queue) AND u.queue <> '' AND u.qcc = ''`,
		p.tenant, st.Currency, cid, bid, num, den, channel, direction, handled, queue, dept, campaign, agent, source, queueCC).
		Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != int64(n) {
				return fmt.Errorf("insert meter records: %d of %d inserted", tag.RowsAffected(), n)
			}
			return nil
		})
	var upd []uuid.UUID
	var by []int64
	for i, t := range d.take {
		if t > 0 {
			upd = append(upd, d.usable[i].ID)
			by = append(by, t)
		}
	}
	if len(upd) > 0 {
		b.Queue(`UPDATE bundles b SET remaining = b.remaining - u.n
			FROM unnest($2::uuid[], $3::bigint[]) AS u(id, n)
			WHERE b.tenant_id = $1 AND b.id = u.id`, p.tenant, upd, by).
			Exec(func(tag pgconn.CommandTag) error {
				if tag.RowsAffected() != int64(len(upd)) {
					return fmt.Errorf("draw bundles: %d of %d bundles updated", tag.RowsAffected(), len(upd))
				}
				return nil
			})
	}
	queueTopup(b, p.tenant, st, d)
	owners := p.owner
	return func() {
		for k, i := range fresh {
			o := outs[owners[i]]
			o.accepted = append(o.accepted, cid[k])
			outs[owners[i]] = o
		}
	}
}

// noCredit is the item error of a contact refused by the block policy.
func noCredit(id string) ItemError {
	return ItemError{ID: id, Code: "no_credit",
		Message: "No prepaid contacts are left and the exhaustion policy is block: buy a bundle, then send this contact again."}
}

// queueTopup files a top-up request when the auto_topup policy's
// threshold is crossed; the partial unique index keeps it to one pending.
func queueTopup(b *pgx.Batch, tenantID uuid.UUID, st Settings, d draw) {
	if st.Policy != PolicyAutoTopup || st.TopupThreshold == nil {
		return
	}
	var left int64
	for i, bu := range d.usable {
		left += bu.Remaining - d.take[i]
	}
	if left >= *st.TopupThreshold {
		return
	}
	if st.TopupTier == nil {
		return
	}
	// The request names the tier only: billing prices it from the
	// catalogue when it charges it.
	b.Queue(`INSERT INTO topup_requests (tenant_id, id, tier_id, currency)
		VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) WHERE status = 'pending' DO NOTHING`,
		tenantID, uuid.New(), *st.TopupTier, st.Currency)
}
