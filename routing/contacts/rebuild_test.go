package contacts_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
)

// counted reads a counter.
func counted(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// clock is real time plus an offset the test moves forward.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// flushWorld is a world whose routing engine has a redis-server of its
// own, which the test may flush.
type flushWorld struct {
	*world
	redis   *testenv.RedisProcess
	clock   *clock
	metrics *contacts.Metrics
}

func newFlushWorld(t *testing.T) *flushWorld {
	t.Helper()
	db := testenv.NewDB(t)
	ts := tenant.NewService(&tenant.DB{Pool: db.App}, tenant.GenerateKeys(), nil)
	ts.Password = tenant.FastPasswordParams
	ts.OnSignup = []tenant.SignupHook{metering.TrialHook(metering.DefaultTrial)}
	m := metering.NewMeter(ts.DB)
	m.Start()
	t.Cleanup(m.Close)
	st := &setup.Service{DB: ts.DB}
	rp := testenv.StartRedis(t)
	rdb, prefix := rp.Client(), "cic:"
	cs := contacts.New(ts.DB, routing.New(rdb, prefix), st, m, nil)
	clk := &clock{}
	cs.Now = clk.Now
	cs.Metrics = contacts.NewMetrics(prometheus.NewRegistry())
	st.OnChange = cs.SetupChanged
	return &flushWorld{world: &world{db: db, tenants: ts, setup: st, contacts: cs, rdb: rdb, prefix: prefix},
		redis: rp, clock: clk, metrics: cs.Metrics}
}

func (w *flushWorld) flush(t *testing.T) {
	t.Helper()
	if err := w.rdb.FlushAll(testenv.Context(t)).Err(); err != nil {
		t.Fatal(err)
	}
}

// seated says every agent of the companies holds a seat.
func seated(cos ...company) contacts.SeatHolders {
	return func(_ context.Context, tenantID uuid.UUID) (map[uuid.UUID]bool, error) {
		m := map[uuid.UUID]bool{}
		for _, co := range cos {
			if co.owner.TenantID != tenantID {
				continue
			}
			for _, a := range co.agents {
				m[a.UserID] = true
			}
		}
		return m, nil
	}
}

func (w *world) open(t *testing.T, tenantID, queue uuid.UUID, prio int) contacts.Contact {
	t.Helper()
	ct, err := w.contacts.Open(testenv.Context(t), tenantID, contacts.OpenInput{QueueID: queue, Channel: "chat", Priority: prio})
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func (w *world) state(t *testing.T, co company, id uuid.UUID) contacts.Detail {
	t.Helper()
	d, err := w.contacts.Get(testenv.Context(t), co.owner, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// offeredTo is the contact offered to the agent now (from the record),
// waiting up to limit for one.
func (w *world) offeredTo(t *testing.T, co company, agent tenant.Principal, limit time.Duration) (uuid.UUID, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		list, err := w.contacts.List(testenv.Context(t), co.owner, contacts.Filter{State: contacts.StateOffered})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if c.AgentID != nil && *c.AgentID == agent.UserID {
				return c.ID, time.Since(start)
			}
		}
		if time.Since(start) > limit {
			return uuid.Nil, time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *world) handle(t *testing.T, agent tenant.Principal, id uuid.UUID) {
	t.Helper()
	c := testenv.Context(t)
	if _, err := w.contacts.Accept(c, agent, id); err != nil {
		t.Fatalf("accept %s: %v", id, err)
	}
	if err := w.contacts.WrapUp(c, agent, id, "solved"); err != nil {
		t.Fatalf("wrap up %s: %v", id, err)
	}
	if err := w.contacts.Close(c, agent, id); err != nil {
		t.Fatalf("close %s: %v", id, err)
	}
}

func engineContact(t *testing.T, snap routing.Snapshot, id uuid.UUID) (routing.ContactState, bool) {
	t.Helper()
	for _, c := range snap.Contacts {
		if c.ID == id.String() {
			return c, true
		}
	}
	return routing.ContactState{}, false
}

// TestRebuild_AfterFlushEveryContactBackInOrder: with contacts queued in
// two queues (one of a higher priority, one contact of a higher
// priority), one offered and one accepted, Redis is flushed. The running
// ticker sees the tenant's marker gone and rebuilds from PostgreSQL: the
// free agent is offered the best contact within 10 s, the busy agent
// (its accepted contact restored) nothing; every contact is back with
// its original enqueue time and priority, the offered one waiting at its
// original place; draining the queue offers them in the engine's order.
func TestRebuild_AfterFlushEveryContactBackInOrder(t *testing.T) {
	w := newFlushWorld(t)
	co := w.company(t, "acme", 2)
	c := testenv.Context(t)
	a1, a2 := co.agents[0], co.agents[1]
	name, one := "Billing", 1
	billing, err := w.setup.CreateQueue(c, co.owner.Actor, setup.QueueInput{Name: &name, Channels: []string{"chat"}, Priority: &one})
	if err != nil {
		t.Fatal(err)
	}
	tk := &contacts.Ticker{Contacts: w.contacts, Holders: seated(co), Interval: 50 * time.Millisecond}
	tk.Once(c) // the first round finds the state whole and sets the marker
	if n := counted(t, w.metrics.Rebuilds); n != 1 {
		t.Fatalf("rebuilds after the first round: %v", n)
	}

	busy := w.open(t, co.owner.TenantID, co.queue.ID, 0)
	if _, err := w.contacts.Accept(c, a1, busy.ID); err != nil {
		t.Fatal(err)
	}
	offered := w.open(t, co.owner.TenantID, co.queue.ID, 0)
	if offered.State != contacts.StateOffered || *offered.AgentID != a2.UserID {
		t.Fatalf("second contact: %+v", offered)
	}
	type want struct {
		ct   contacts.Contact
		prio int
		enq  time.Time
	}
	queued := map[string]*want{}
	for _, q := range []struct {
		name  string
		queue uuid.UUID
		prio  int
	}{{"q1", co.queue.ID, 0}, {"q2", billing.ID, 0}, {"q3", co.queue.ID, 2}, {"q4", co.queue.ID, 0}} {
		w.clock.Advance(time.Second)
		enq := w.clock.Now()
		ct := w.open(t, co.owner.TenantID, q.queue, q.prio)
		if ct.State != contacts.StateQueued {
			t.Fatalf("%s: %s", q.name, ct.State)
		}
		queued[q.name] = &want{ct: ct, prio: q.prio, enq: enq}
	}
	before, err := w.contacts.Engine.Snapshot(c, co.owner.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	offeredEnq := func() time.Time {
		s, _ := engineContact(t, before, offered.ID)
		return s.EnqueuedAt
	}()

	w.flush(t)
	ctx, stop := context.WithCancel(c)
	done := make(chan struct{})
	go func() { defer close(done); tk.Run(ctx) }()
	defer func() { stop(); <-done }()

	// The free agent is offered the best contact: q3 (contact priority 2
	// is worth 2 minutes), within 10 s of the flush.
	// (Until the rebuild is recorded, the record still shows the old offer.)
	flushed := time.Now()
	var got uuid.UUID
	for time.Since(flushed) < 10*time.Second {
		if got, _ = w.offeredTo(t, co, a2, 10*time.Second); got != offered.ID {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(flushed)
	if got != queued["q3"].ct.ID {
		t.Fatalf("after the flush agent 2 was offered %v (after %v), want q3 %v", got, took, queued["q3"].ct.ID)
	}
	t.Logf("first offer %v after the flush", took)
	stop()
	<-done

	snap, err := w.contacts.Engine.Snapshot(c, co.owner.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Contacts) != 6 {
		t.Fatalf("engine holds %d contacts after the rebuild, want 6: %+v", len(snap.Contacts), snap.Contacts)
	}
	if s, ok := engineContact(t, snap, busy.ID); !ok || s.Status != routing.Assigned || s.Agent != a1.UserID.String() {
		t.Errorf("accepted contact after the rebuild: %+v %v, want assigned to agent 1", s, ok)
	}
	for _, a := range snap.Agents {
		if a.Status != routing.Available || a.Load[routing.Chat] != 1 {
			t.Errorf("agent %s after the rebuild: %s, load %v; want available with one chat", a.ID, a.Status, a.Load)
		}
	}
	for name, q := range queued {
		s, ok := engineContact(t, snap, q.ct.ID)
		was, _ := engineContact(t, before, q.ct.ID)
		if !ok || s.Priority != q.prio || was.Priority != q.prio || !s.EnqueuedAt.Equal(was.EnqueuedAt) || s.EnqueuedAt.Sub(q.enq).Abs() > time.Second/2 {
			t.Errorf("%s after the rebuild: %+v %v, want priority %d enqueued %v", name, s, ok, q.prio, was.EnqueuedAt)
		}
	}
	if s, ok := engineContact(t, snap, offered.ID); !ok || s.Status != routing.Waiting || !s.EnqueuedAt.Equal(offeredEnq) {
		t.Errorf("offered contact after the rebuild: %+v, want waiting, enqueued %v", s, offeredEnq)
	}
	d := w.state(t, co, offered.ID)
	if d.State != contacts.StateQueued || d.AgentID != nil {
		t.Errorf("offered contact's record after the rebuild: %s %v", d.State, d.AgentID)
	}
	if last := d.Events[len(d.Events)-1]; last.Kind != "requeue" || last.Details["reason"] != "rebuilt" {
		t.Errorf("offered contact's last event: %+v, want a requeue for the rebuild", last)
	}
	if n := counted(t, w.metrics.Rebuilds); n != 2 {
		t.Errorf("rebuilds: %v, want 2", n)
	}
	for st, n := range map[string]float64{"queued": 4, "offered": 1, "accepted": 1} {
		if got := counted(t, w.metrics.Contacts.WithLabelValues(st, "rebuild")); got != n {
			t.Errorf("reconciled %s contacts: %v, want %v", st, got, n)
		}
	}

	// Draining with agent 2 offers the rest in the engine's order: q2
	// (queue priority 1), then the formerly offered one at its original
	// place (before q1), q1, q4.
	order := []uuid.UUID{queued["q3"].ct.ID, queued["q2"].ct.ID, offered.ID, queued["q1"].ct.ID, queued["q4"].ct.ID}
	for i, id := range order {
		got, _ := w.offeredTo(t, co, a2, time.Second)
		if got != id {
			t.Fatalf("offer %d to agent 2: %v, want %v", i, got, id)
		}
		w.handle(t, a2, id)
	}
	// Agent 1's restored contact ends normally and frees their room.
	if err := w.contacts.WrapUp(c, a1, busy.ID, "solved"); err != nil {
		t.Fatal(err)
	}
	snap, _ = w.contacts.Engine.Snapshot(c, co.owner.TenantID)
	if len(snap.Contacts) != 0 {
		t.Errorf("engine still holds %+v", snap.Contacts)
	}
}

// dropContact deletes one contact from the engine's Redis, as a failover
// to a replica that missed its write would.
func (w *flushWorld) dropContact(t *testing.T, tenantID, queue, id uuid.UUID) {
	t.Helper()
	c := testenv.Context(t)
	p := w.prefix + "rt:{t:" + tenantID.String() + "}:"
	m, err := w.rdb.HGet(c, p+"c:"+id.String(), "m").Result()
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.rdb.TxPipelined(c, func(pipe redis.Pipeliner) error {
		pipe.Del(c, p+"c:"+id.String())
		pipe.SRem(c, p+"contacts", id.String())
		pipe.ZRem(c, p+"w:"+queue.String()+":chat", m)
		pipe.HIncrBy(c, p+"nw", "chat", -1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReconcile_PutsBackOneLostContactOnce: a contact missing from Redis
// (the rest intact) is put back by the sweep's reconciliation once it was
// missing for the grace period, with its original enqueue time and
// priority, exactly once however often reconciliation runs; it keeps its
// place behind the contact that came first.
func TestReconcile_PutsBackOneLostContactOnce(t *testing.T) {
	w := newFlushWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	agent := co.agents[0]
	holders := seated(co)
	if r, err := w.contacts.Reconcile(c, co.owner.TenantID, holders); err != nil || !r.Rebuilt {
		t.Fatalf("first pass: %+v %v", r, err)
	}
	busy := w.open(t, co.owner.TenantID, co.queue.ID, 0)
	if _, err := w.contacts.Accept(c, agent, busy.ID); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Second)
	first := w.open(t, co.owner.TenantID, co.queue.ID, 0)
	w.clock.Advance(time.Second)
	lost := w.open(t, co.owner.TenantID, co.queue.ID, 3)
	snap, _ := w.contacts.Engine.Snapshot(c, co.owner.TenantID)
	orig, _ := engineContact(t, snap, lost.ID)
	w.dropContact(t, co.owner.TenantID, co.queue.ID, lost.ID)

	r, err := w.contacts.Reconcile(c, co.owner.TenantID, holders)
	if err != nil || r.Rebuilt || len(r.Contacts) != 0 || r.Suspects != 1 {
		t.Fatalf("first sight of the missing contact: %+v %v, want a suspect only", r, err)
	}
	w.clock.Advance(contacts.ReconcileGrace)
	r, err = w.contacts.Reconcile(c, co.owner.TenantID, holders)
	if err != nil || r.Contacts["queued"] != 1 || r.Suspects != 1 {
		t.Fatalf("after the grace: %+v %v, want the contact put back", r, err)
	}
	for range 3 {
		w.clock.Advance(contacts.ReconcileGrace)
		if r, err := w.contacts.Reconcile(c, co.owner.TenantID, holders); err != nil || len(r.Contacts) != 0 || r.Suspects != 0 {
			t.Fatalf("later pass: %+v %v, want nothing to do", r, err)
		}
	}
	snap, _ = w.contacts.Engine.Snapshot(c, co.owner.TenantID)
	if len(snap.Contacts) != 3 {
		t.Fatalf("engine contacts %+v, want 3", snap.Contacts)
	}
	back, _ := engineContact(t, snap, lost.ID)
	if back.Status != routing.Waiting || back.Priority != 3 || !back.EnqueuedAt.Equal(orig.EnqueuedAt) {
		t.Fatalf("put back as %+v, want %+v", back, orig)
	}
	if n := counted(t, w.metrics.Contacts.WithLabelValues("queued", "reconcile")); n != 1 {
		t.Errorf("reconciled contacts counter: %v", n)
	}
	// Priority 3 puts it ahead of the one before it.
	if err := w.contacts.WrapUp(c, agent, busy.ID, "solved"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uuid.UUID{lost.ID, first.ID} {
		got, _ := w.offeredTo(t, co, agent, time.Second)
		if got != id {
			t.Fatalf("offered %v, want %v", got, id)
		}
		w.handle(t, agent, id)
	}
	if got, _ := w.offeredTo(t, co, agent, 200*time.Millisecond); got != uuid.Nil {
		t.Fatalf("a third offer: %v (a duplicate?)", got)
	}
}

// TestRebuild_NoDoubleOffer: contacts the record says are accepted (one
// by each of two agents) or wrapped up, or whose customer left while
// Redis was empty, are never enqueued again: after the flush and any
// number of rebuild and reconciliation passes the accepted ones stay with
// their agents, no agent is offered one of them, and the abandoned one
// stays abandoned.
func TestRebuild_NoDoubleOffer(t *testing.T) {
	w := newFlushWorld(t)
	co := w.company(t, "acme", 3)
	c := testenv.Context(t)
	a1, a2, a3 := co.agents[0], co.agents[1], co.agents[2]
	holders := seated(co)
	x := w.open(t, co.owner.TenantID, co.queue.ID, 0)
	y := w.open(t, co.owner.TenantID, co.queue.ID, 0)
	wrapped := w.open(t, co.owner.TenantID, co.queue.ID, 0)
	for _, h := range []struct {
		a  tenant.Principal
		id uuid.UUID
	}{{a1, x.ID}, {a2, y.ID}, {a3, wrapped.ID}} {
		if _, err := w.contacts.Accept(c, h.a, h.id); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.contacts.WrapUp(c, a3, wrapped.ID, "solved"); err != nil {
		t.Fatal(err)
	}
	// Agent 3 goes away, so the next contact waits.
	if err := w.contacts.SetStatus(c, a3, "away", false); err != nil {
		t.Fatal(err)
	}
	left := w.open(t, co.owner.TenantID, co.queue.ID, 0)
	if left.State != contacts.StateQueued {
		t.Fatalf("contact with every agent busy or away: %s", left.State)
	}
	w.flush(t)
	// The customer leaves while Redis is empty: the record still ends it.
	if err := w.contacts.Abandon(c, co.owner.TenantID, left.ID); err != nil {
		t.Fatalf("abandon with the routing state lost: %v", err)
	}
	for i := range 4 {
		if _, err := w.contacts.Reconcile(c, co.owner.TenantID, holders); err != nil {
			t.Fatalf("pass %d: %v", i, err)
		}
		w.clock.Advance(contacts.ReconcileGrace)
	}
	snap, err := w.contacts.Engine.Snapshot(c, co.owner.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Contacts) != 2 {
		t.Fatalf("engine contacts after the rebuild: %+v, want the two accepted ones", snap.Contacts)
	}
	for _, h := range []struct {
		a  tenant.Principal
		id uuid.UUID
	}{{a1, x.ID}, {a2, y.ID}} {
		s, _ := engineContact(t, snap, h.id)
		if s.Status != routing.Assigned || s.Agent != h.a.UserID.String() {
			t.Errorf("contact %s: %+v, want assigned to %s", h.id, s, h.a.UserID)
		}
		d := w.state(t, co, h.id)
		if d.State != contacts.StateAccepted || *d.AgentID != h.a.UserID {
			t.Errorf("record of %s: %s %v", h.id, d.State, d.AgentID)
		}
		for _, e := range d.Events {
			if e.Kind == "offer" && e.Seq > 2 {
				t.Errorf("contact %s offered again: %+v", h.id, d.Events)
			}
		}
	}
	for _, a := range snap.Agents {
		want := routing.Available
		if a.ID == a3.UserID.String() {
			want = routing.Away
		}
		if a.Status != want {
			t.Errorf("agent %s: %s, want %s", a.ID, a.Status, want)
		}
	}
	if d := w.state(t, co, left.ID); d.State != contacts.StateAbandoned {
		t.Errorf("abandoned contact: %s", d.State)
	}
	if d := w.state(t, co, wrapped.ID); d.State != contacts.StateWrapUp {
		t.Errorf("wrapped-up contact: %s", d.State)
	}
	// An accept of the restored contact is not a first one: no second meter record.
	if n := w.metered(t, co.owner.TenantID, x.ID); n != 1 {
		t.Errorf("metered %d", n)
	}
	// The agents finish as usual.
	for _, h := range []struct {
		a  tenant.Principal
		id uuid.UUID
	}{{a1, x.ID}, {a2, y.ID}} {
		if err := w.contacts.WrapUp(c, h.a, h.id, "solved"); err != nil {
			t.Fatal(err)
		}
	}
	snap, _ = w.contacts.Engine.Snapshot(c, co.owner.TenantID)
	if len(snap.Contacts) != 0 {
		t.Errorf("engine after wrap-up: %+v", snap.Contacts)
	}
}

// TestResume_AgentBackWithRecordedStatus: after Redis lost everything
// (leases too), an agent whose heartbeat took the seat again is put back
// with the status on record and offered the waiting contact; an agent
// whose recorded status is offline is not.
func TestResume_AgentBackWithRecordedStatus(t *testing.T) {
	w := newFlushWorld(t)
	co := w.company(t, "acme", 2)
	c := testenv.Context(t)
	a1, a2 := co.agents[0], co.agents[1]
	if err := w.contacts.SetStatus(c, a2, "offline", false); err != nil {
		t.Fatal(err)
	}
	if err := w.contacts.SetStatus(c, a1, "away", false); err != nil {
		t.Fatal(err)
	}
	if err := w.contacts.SetStatus(c, a1, "available", true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.contacts.Reconcile(c, co.owner.TenantID, nil); err != nil {
		t.Fatal(err)
	}
	// One contact is handled, so a waiting one needs the agent back.
	if err := w.contacts.SetStatus(c, a1, "busy", false); err != nil {
		t.Fatal(err)
	}
	ct := w.open(t, co.owner.TenantID, co.queue.ID, 0)
	if err := w.contacts.SetStatus(c, a1, "available", true); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.offeredTo(t, co, a1, time.Second); got != ct.ID {
		t.Fatalf("before the flush: %v", got)
	}
	if err := w.contacts.Reject(c, a1, ct.ID); err != nil {
		t.Fatal(err)
	}
	w.flush(t)
	// Nobody has a seat yet (the leases went with Redis): the rebuild
	// brings back the contact, no agent.
	if r, err := w.contacts.Reconcile(c, co.owner.TenantID, func(context.Context, uuid.UUID) (map[uuid.UUID]bool, error) { return nil, nil }); err != nil || !r.Rebuilt || r.Agents != 0 {
		t.Fatalf("rebuild without seats: %+v %v", r, err)
	}
	if d := w.state(t, co, ct.ID); d.State != contacts.StateQueued {
		t.Fatalf("contact after the rebuild: %s", d.State)
	}
	// Both heartbeat and take their seat again.
	for _, a := range []tenant.Principal{a1, a2} {
		if err := w.contacts.Resume(c, a); err != nil {
			t.Fatal(err)
		}
	}
	got, took := w.offeredTo(t, co, a1, time.Second)
	if got != ct.ID {
		t.Fatalf("after agent 1 resumed: offered %v", got)
	}
	t.Logf("offered %v after the resume", took)
	if st, ok, _ := w.contacts.Engine.AgentStatus(c, co.owner.TenantID, a2.UserID.String()); ok && st != routing.Offline {
		t.Errorf("agent 2 (offline on record) resumed as %s", st)
	}
}
