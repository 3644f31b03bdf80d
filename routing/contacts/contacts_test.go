package contacts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/contacts/contactstest"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
)

type world struct {
	db       *testenv.DB
	tenants  *tenant.Service
	setup    *setup.Service
	contacts *contacts.Service
	rdb      *redis.Client
	prefix   string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db := testenv.NewDB(t)
	ts := tenant.NewService(&tenant.DB{Pool: db.App}, tenant.GenerateKeys(), nil)
	ts.Password = tenant.FastPasswordParams
	ts.OnSignup = []tenant.SignupHook{metering.TrialHook(metering.DefaultTrial)}
	m := metering.NewMeter(ts.DB)
	m.Start()
	t.Cleanup(m.Close)
	st := &setup.Service{DB: ts.DB}
	rdb, prefix := testenv.NewRedis(t), testenv.Prefix()
	eng := routing.New(rdb, prefix)
	cs := contacts.New(ts.DB, eng, st, m, nil)
	st.OnChange = cs.SetupChanged
	return &world{db: db, tenants: ts, setup: st, contacts: cs, rdb: rdb, prefix: prefix}
}

type company struct {
	owner  tenant.Principal
	agents []tenant.Principal
	queue  setup.Queue
}

// company is a tenant with a chat queue, a "solved" disposition and
// agents available for one chat each, the first idling longest.
func (w *world) company(t *testing.T, slug string, agents int) company {
	t.Helper()
	c := testenv.Context(t)
	co := contactstest.New(t, c, w.tenants, w.setup, w.contacts, slug, agents, 1)
	if _, err := w.setup.SetDisposition(c, co.Owner.Actor, setup.Disposition{Code: "solved", Label: "Solved", Resolved: true}); err != nil {
		t.Fatal(err)
	}
	return company{owner: co.Owner, agents: co.Agents, queue: co.Queue}
}

func (w *world) metered(t *testing.T, tenantID uuid.UUID, id uuid.UUID) int {
	t.Helper()
	var n int
	if err := w.db.Owner.QueryRow(testenv.Context(t), `SELECT count(*) FROM meter_records WHERE tenant_id = $1 AND contact_id = $2`, tenantID, id.String()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestContact_Lifecycle(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 2)
	c := testenv.Context(t)
	a1, a2 := co.agents[0], co.agents[1]

	ct, err := w.contacts.Open(c, co.owner.TenantID, contacts.OpenInput{QueueID: co.queue.ID, Channel: "chat", CustomerRef: "visitor-1"})
	if err != nil {
		t.Fatal(err)
	}
	if ct.State != contacts.StateOffered || ct.AgentID == nil || *ct.AgentID != a1.UserID {
		t.Fatalf("opened contact: %+v, want offered to the longest idle agent", ct)
	}
	// Agent 1 rejects: the next agent gets the offer.
	if err := w.contacts.Reject(c, a1, ct.ID); err != nil {
		t.Fatal(err)
	}
	d, err := w.contacts.Get(c, co.owner, ct.ID)
	if err != nil || d.State != contacts.StateOffered || *d.AgentID != a2.UserID {
		t.Fatalf("after reject: %+v %v", d.Contact, err)
	}
	// Agent 1 can no longer accept it, and cannot see it.
	if _, err := w.contacts.Accept(c, a1, ct.ID); err == nil {
		t.Fatal("agent 1 accepted a contact offered to agent 2")
	}
	if _, err := w.contacts.Get(c, a1, ct.ID); testenv.Code(err) != "not_found" {
		t.Errorf("agent 1 reading agent 2's contact: %v", err)
	}
	acc, err := w.contacts.Accept(c, a2, ct.ID)
	if err != nil || acc.State != contacts.StateAccepted || acc.MeteredAt == nil {
		t.Fatalf("accept: %+v %v", acc, err)
	}
	if n := w.metered(t, co.owner.TenantID, ct.ID); n != 1 {
		t.Fatalf("metered %d times, want 1", n)
	}
	// A transfer to agent 1 keeps the contact; accepting it again does not meter again.
	if err := w.contacts.Transfer(c, a2, ct.ID, contacts.TransferTo{AgentID: &a1.UserID}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.contacts.Accept(c, a1, ct.ID); err != nil {
		t.Fatal(err)
	}
	if n := w.metered(t, co.owner.TenantID, ct.ID); n != 1 {
		t.Fatalf("after transfer metered %d times, want 1", n)
	}
	if err := w.contacts.WrapUp(c, a1, ct.ID, "nonsense"); testenv.Code(err) != "invalid_disposition" {
		t.Errorf("unknown disposition: %v", err)
	}
	if err := w.contacts.WrapUp(c, a1, ct.ID, "solved"); err != nil {
		t.Fatal(err)
	}
	if err := w.contacts.Close(c, a1, ct.ID); err != nil {
		t.Fatal(err)
	}
	d, _ = w.contacts.Get(c, co.owner, ct.ID)
	kinds := []string{}
	for _, e := range d.Events {
		kinds = append(kinds, e.Kind)
	}
	want := []string{"queued", "offer", "requeue", "offer", "accepted", "transfer", "offer", "accepted", "wrap_up", "closed"}
	if d.State != contacts.StateClosed || *d.Disposition != "solved" || len(kinds) != len(want) {
		t.Fatalf("timeline %v (state %s), want %v", kinds, d.State, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("timeline %v, want %v", kinds, want)
		}
	}
}

func TestContact_AbandonedIsNotMetered(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	// The only agent is busy with a first contact; the second waits.
	first, _ := w.contacts.Open(c, co.owner.TenantID, contacts.OpenInput{QueueID: co.queue.ID, Channel: "chat"})
	if _, err := w.contacts.Accept(c, co.agents[0], first.ID); err != nil {
		t.Fatal(err)
	}
	waiting, err := w.contacts.Open(c, co.owner.TenantID, contacts.OpenInput{QueueID: co.queue.ID, Channel: "chat"})
	if err != nil || waiting.State != contacts.StateQueued {
		t.Fatalf("second contact: %+v %v", waiting, err)
	}
	if err := w.contacts.Abandon(c, co.owner.TenantID, waiting.ID); err != nil {
		t.Fatal(err)
	}
	d, _ := w.contacts.Get(c, co.owner, waiting.ID)
	if d.State != contacts.StateAbandoned || w.metered(t, co.owner.TenantID, waiting.ID) != 0 {
		t.Fatalf("abandoned: %s, metered %d", d.State, w.metered(t, co.owner.TenantID, waiting.ID))
	}
	// Wrapping up the first frees the agent; nothing is offered (the
	// abandoned contact is gone from routing).
	if err := w.contacts.WrapUp(c, co.agents[0], first.ID, "solved"); err != nil {
		t.Fatal(err)
	}
	if d, _ := w.contacts.Get(c, co.owner, waiting.ID); d.State != contacts.StateAbandoned {
		t.Fatalf("abandoned contact came back: %s", d.State)
	}
}

func TestContact_BlockedPolicyRefusesWithoutCredit(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	if _, err := w.db.Owner.Exec(c, `UPDATE bundles SET remaining = 0 WHERE tenant_id = $1`, co.owner.TenantID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Owner.Exec(c, `INSERT INTO metering_settings (tenant_id, policy) VALUES ($1, 'block')
		ON CONFLICT (tenant_id) DO UPDATE SET policy = 'block'`, co.owner.TenantID); err != nil {
		t.Fatal(err)
	}
	ct, err := w.contacts.Open(c, co.owner.TenantID, contacts.OpenInput{QueueID: co.queue.ID, Channel: "chat"})
	if testenv.Code(err) != "service_unavailable" || ct.State != contacts.StateNoCredit {
		t.Fatalf("blocked: %+v %v", ct, err)
	}
}

func TestContact_ClosedQueueAndBadInput(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	msg := "Back on Monday."
	if _, err := w.setup.UpdateQueue(c, co.owner.Actor, co.queue.ID, setup.QueueInput{ClosedMsg: &msg,
		Hours: &setup.BusinessHours{Timezone: "UTC", Days: map[string][2]string{"mon": {"00:00", "00:01"}}}}); err != nil {
		t.Fatal(err)
	}
	w.contacts.Now = func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) } // a Tuesday
	_, err := w.contacts.Open(c, co.owner.TenantID, contacts.OpenInput{QueueID: co.queue.ID, Channel: "chat"})
	if e, ok := cic.AsError(err); !ok || e.Code != "queue_closed" || e.Message != msg {
		t.Fatalf("closed queue: %v", err)
	}
	if _, err := w.contacts.Open(c, co.owner.TenantID, contacts.OpenInput{QueueID: co.queue.ID, Channel: "fax"}); testenv.Code(err) != "invalid_channel" {
		t.Errorf("wrong channel: %v", err)
	}
	if _, err := w.contacts.Open(c, co.owner.TenantID, contacts.OpenInput{QueueID: uuid.New(), Channel: "chat"}); testenv.Code(err) != "not_found" {
		t.Errorf("unknown queue: %v", err)
	}
	if err := w.contacts.SetStatus(c, co.agents[0], "sleeping", true); testenv.Code(err) != "invalid_status" {
		t.Errorf("bad status: %v", err)
	}
	if err := w.contacts.SetStatus(c, co.agents[0], "available", false); testenv.Code(err) != "seat_required" {
		t.Errorf("available without a seat: %v", err)
	}
}

func TestContact_TenantIsolation(t *testing.T) {
	w := newWorld(t)
	a := w.company(t, "acme", 1)
	b := w.company(t, "bravo", 1)
	c := testenv.Context(t)
	ct, err := w.contacts.Open(c, a.owner.TenantID, contacts.OpenInput{QueueID: a.queue.ID, Channel: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.contacts.Get(c, b.owner, ct.ID); testenv.Code(err) != "not_found" {
		t.Errorf("B reads A's contact: %v", err)
	}
	if _, err := w.contacts.Accept(c, b.agents[0], ct.ID); err == nil {
		t.Error("B's agent accepted A's contact")
	}
	if err := w.contacts.Close(c, b.owner, ct.ID); testenv.Code(err) != "not_found" {
		t.Errorf("B closes A's contact: %v", err)
	}
	if _, err := w.contacts.Open(c, b.owner.TenantID, contacts.OpenInput{QueueID: a.queue.ID, Channel: "chat"}); testenv.Code(err) != "not_found" {
		t.Errorf("B opens a contact in A's queue: %v", err)
	}
	list, _ := w.contacts.List(c, b.owner, contacts.Filter{})
	if len(list) != 0 {
		t.Errorf("B lists A's contacts: %+v", list)
	}
	if d, _ := w.contacts.Get(c, a.owner, ct.ID); d.State != contacts.StateOffered {
		t.Errorf("A's contact after B: %s", d.State)
	}
}

// TestTicker_SweepsAgentsWithoutASeat: an available agent whose lease is
// gone (closed browser) is taken out of routing, so the next contact
// waits instead of ringing an empty desk.
func TestTicker_SweepsAgentsWithoutASeat(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	leases := seats.NewLeases(testenv.NewRedis(t), testenv.Prefix())
	agent := co.agents[0]
	g, err := leases.Acquire(c, seats.Request{TenantID: agent.TenantID, UserID: agent.UserID, Workstation: "desk"}, seats.Pool{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	holders := func(ctx context.Context, tenantID uuid.UUID) (map[uuid.UUID]bool, error) {
		ls, err := leases.List(ctx, tenantID)
		m := map[uuid.UUID]bool{}
		for _, l := range ls {
			m[l.UserID] = true
		}
		return m, err
	}
	tk := &contacts.Ticker{Contacts: w.contacts, Holders: holders}
	tk.Once(c)
	first, _ := w.contacts.Open(c, agent.TenantID, contacts.OpenInput{QueueID: co.queue.ID, Channel: "chat"})
	if first.State != contacts.StateOffered {
		t.Fatalf("with a seat the agent gets offers: %s", first.State)
	}
	if err := w.contacts.Reject(c, agent, first.ID); err != nil {
		t.Fatal(err)
	}
	if err := leases.Release(c, agent.TenantID, g.ID, agent.UserID); err != nil {
		t.Fatal(err)
	}
	tk.SweepEvery = time.Nanosecond
	tk.Once(c)
	second, _ := w.contacts.Open(c, agent.TenantID, contacts.OpenInput{QueueID: co.queue.ID, Channel: "chat"})
	if second.State != contacts.StateQueued {
		t.Fatalf("without a seat the agent still gets offers: %s", second.State)
	}
}

// TestMeterPending: a contact accepted while metering failed (as after a
// crash between accept and the Meter's commit) is metered by the
// catch-up, once however often it runs.
func TestMeterPending(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	broken := metering.NewMeter(w.tenants.DB)
	broken.Start()
	broken.Close() // refuses every call from now on
	healthy := w.contacts.Meter
	w.contacts.Meter = broken
	ct, _ := w.contacts.Open(c, co.owner.TenantID, contacts.OpenInput{QueueID: co.queue.ID, Channel: "chat"})
	acc, err := w.contacts.Accept(c, co.agents[0], ct.ID)
	if err != nil || acc.MeteredAt != nil || w.metered(t, co.owner.TenantID, ct.ID) != 0 {
		t.Fatalf("accept with metering down: %+v %v", acc, err)
	}
	w.contacts.Meter = healthy
	if n, err := w.contacts.MeterPending(c, co.owner.TenantID); err != nil || n != 0 {
		t.Fatalf("catch-up before a minute: %d %v (it must not race Accept)", n, err)
	}
	if _, err := w.db.Owner.Exec(c, `UPDATE contacts SET accepted_at = now() - interval '2 minutes' WHERE tenant_id = $1 AND id = $2`, co.owner.TenantID, ct.ID); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := w.contacts.HandleMeterPending(c, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.metered(t, co.owner.TenantID, ct.ID); n != 1 {
		t.Fatalf("metered %d times, want 1", n)
	}
	if d, _ := w.contacts.Get(c, co.owner, ct.ID); d.MeteredAt == nil {
		t.Error("metered_at not set")
	}
}

// TestOverflow: a contact nobody in its queue can take moves to the
// queue's overflow queue once it waited max_wait_seconds, and is offered
// there; one that has not waited that long stays.
func TestOverflow(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	german, err := w.setup.CreateSkill(c, co.owner.Actor, "German")
	if err != nil {
		t.Fatal(err)
	}
	name, wait := "German", 1
	strict, err := w.setup.CreateQueue(c, co.owner.Actor, setup.QueueInput{Name: &name, Channels: []string{"chat"},
		Skills: []setup.Requirement{{SkillID: german.ID, MinLevel: 5}}, MaxWait: &wait, OverflowID: &co.queue.ID})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := w.contacts.Open(c, co.owner.TenantID, contacts.OpenInput{QueueID: strict.ID, Channel: "chat"})
	if err != nil || ct.State != contacts.StateQueued {
		t.Fatalf("no agent speaks German: %+v %v", ct, err)
	}
	if n, err := w.contacts.Overflow(c, co.owner.TenantID); err != nil || n != 0 {
		t.Fatalf("overflow before max wait: %d %v", n, err)
	}
	time.Sleep(1100 * time.Millisecond)
	if n, err := w.contacts.Overflow(c, co.owner.TenantID); err != nil || n != 1 {
		t.Fatalf("overflow after max wait: %d %v", n, err)
	}
	d, err := w.contacts.Get(c, co.owner, ct.ID)
	if err != nil || d.State != contacts.StateOffered || *d.QueueID != co.queue.ID || *d.AgentID != co.agents[0].UserID {
		t.Fatalf("after overflow: %+v %v", d.Contact, err)
	}
	kinds := []string{}
	for _, e := range d.Events {
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, ",") != "queued,overflow,transfer,offer" {
		t.Errorf("timeline %v", kinds)
	}
	if n, _ := w.contacts.Overflow(c, co.owner.TenantID); n != 0 {
		t.Errorf("an offered contact overflowed again")
	}
}

// TestOpen_AfterRedisLostTheRouting: with the engine's state gone (Redis
// restarted empty), a new contact still opens: the queue is configured
// again on demand, and the agent's next status change brings them back.
func TestOpen_AfterRedisLostTheRouting(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	testenv.DeleteKeys(t, w.rdb, w.prefix)
	ct, err := w.contacts.Open(c, co.owner.TenantID, contacts.OpenInput{QueueID: co.queue.ID, Channel: "chat"})
	if err != nil || ct.State != contacts.StateQueued {
		t.Fatalf("open after the routing state was lost: %+v %v", ct, err)
	}
	if err := w.contacts.SetStatus(c, co.agents[0], "available", true); err != nil {
		t.Fatal(err)
	}
	if d, _ := w.contacts.Get(c, co.owner, ct.ID); d.State != contacts.StateOffered {
		t.Fatalf("after the agent came back: %s", d.State)
	}
}

// The calendar's closed day closes a queue its weekly hours keep open,
// and its special hours open one they keep closed.
func TestContact_CalendarDecidesOpen(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	calName := "Holidays"
	cal, err := w.setup.CreateCalendar(c, co.owner.Actor, setup.CalendarInput{Name: &calName, Entries: []setup.CalendarEntry{
		{Date: "2026-12-25", Closed: true}, {Date: "2026-12-27", Opens: "10:00", Closes: "12:00"}}})
	if err != nil {
		t.Fatal(err)
	}
	week := map[string][2]string{"mon": {"08:00", "18:00"}, "tue": {"08:00", "18:00"}, "wed": {"08:00", "18:00"},
		"thu": {"08:00", "18:00"}, "fri": {"08:00", "18:00"}}
	if _, err := w.setup.UpdateQueue(c, co.owner.Actor, co.queue.ID, setup.QueueInput{
		Hours: &setup.BusinessHours{Timezone: "Europe/Berlin", Days: week}, CalendarID: &cal.ID}); err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, tc := range []struct {
		at   time.Time
		open bool
	}{
		{time.Date(2026, 12, 25, 11, 0, 0, 0, berlin), false}, // a Friday, closed by the calendar
		{time.Date(2026, 12, 27, 11, 0, 0, 0, berlin), true},  // a Sunday, opened by the calendar
		{time.Date(2026, 12, 28, 11, 0, 0, 0, berlin), true},  // a Monday, the weekly hours
	} {
		w.contacts.Now = func() time.Time { return tc.at }
		_, err := w.contacts.Open(c, co.owner.TenantID, contacts.OpenInput{QueueID: co.queue.ID, Channel: "chat"})
		if closed := testenv.Code(err) == "queue_closed"; closed == tc.open || (tc.open && err != nil) {
			t.Errorf("%s: open %v, got %v", tc.at.Format(time.RFC3339), tc.open, err)
		}
	}
}
