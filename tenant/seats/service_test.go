package seats

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant"
)

// world is a migrated database with the tenant and seat services wired as
// in production (the trial grant at sign-up), on the Redis given.
type world struct {
	db      *testenv.DB
	tenants *tenant.Service
	seats   *Service
	rdb     redis.UniversalClient
}

func newWorld(t *testing.T, rdb redis.UniversalClient) *world {
	t.Helper()
	db := testenv.NewDB(t)
	ts := tenant.NewService(&tenant.DB{Pool: db.App}, tenant.GenerateKeys(), nil)
	ts.Password = tenant.FastPasswordParams
	ts.OnSignup = []tenant.SignupHook{TrialHook(DefaultTrial)}
	s := NewService(ts.DB, NewLeases(rdb, testenv.Prefix()), slog.New(slog.DiscardHandler))
	return &world{db: db, tenants: ts, seats: s, rdb: rdb}
}

// company is a signed-up tenant: its owner and its name.
type company struct {
	tenant.SignupResult
	owner tenant.Actor
}

const testPassword = "correct horse battery"

func (w *world) signup(t *testing.T, name, slug string) company {
	t.Helper()
	res, err := w.tenants.Signup(testenv.Context(t), tenant.SignupInput{Company: name, Slug: slug, Name: "Olive Owner",
		Email: "owner@" + slug + ".example", Password: testPassword, Currency: "EUR"}, tenant.ClientMeta{IP: "192.0.2.1"})
	if err != nil {
		t.Fatalf("signup %s: %v", slug, err)
	}
	return company{SignupResult: res, owner: tenant.Actor{TenantID: res.Tenant.ID, UserID: res.User.ID, Role: cic.RoleOwner, IP: "192.0.2.1"}}
}

func (w *world) department(t *testing.T, c company, name string) uuid.UUID {
	t.Helper()
	d, err := w.tenants.CreateDepartment(testenv.Context(t), c.owner, tenant.DepartmentInput{Name: name})
	if err != nil {
		t.Fatalf("create department %s: %v", name, err)
	}
	return d.ID
}

// member creates a user of c and logs them in, so the principal is the
// one the edge would hand the seat service.
func (w *world) member(t *testing.T, c company, local string, role cic.Role, dept *uuid.UUID) tenant.Principal {
	t.Helper()
	email := local + "@" + c.Tenant.Slug + ".example"
	_, err := w.tenants.CreateUser(testenv.Context(t), c.owner, tenant.NewUser{Email: email, Name: "User " + local, Role: role,
		Password: testPassword, DepartmentID: dept})
	if err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
	_, p, err := w.tenants.Login(testenv.Context(t), tenant.LoginInput{Tenant: c.Tenant.Slug, Email: email, Password: testPassword},
		tenant.ClientMeta{IP: "198.51.100.7"})
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return p
}

// grant adds seats to c's pool directly, as a subscription will.
func (w *world) grant(t *testing.T, c company, seats int) {
	t.Helper()
	_, err := w.db.Owner.Exec(testenv.Context(t), `INSERT INTO seat_grants (tenant_id, id, source, seats, valid_from, valid_until)
		VALUES ($1, $2, 'subscription', $3, now() - interval '1 hour', now() + interval '30 days')`, c.Tenant.ID, uuid.New(), seats)
	if err != nil {
		t.Fatal(err)
	}
}

func (w *world) acquire(t *testing.T, p tenant.Principal, ws string) Granted {
	t.Helper()
	g, err := w.seats.Acquire(testenv.Context(t), p, ws, "198.51.100.7")
	if err != nil {
		t.Fatalf("%s acquires at %s: %v", p.Email, ws, err)
	}
	return g
}

// holders are the user ids holding a seat of the tenant, as Redis has them.
func (w *world) holders(t *testing.T, tenantID uuid.UUID) map[uuid.UUID]bool {
	t.Helper()
	ls, err := w.seats.Leases.List(testenv.Context(t), tenantID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uuid.UUID]bool{}
	for _, l := range ls {
		out[l.UserID] = true
	}
	return out
}

// wantCode fails unless err carries a *cic.Error of kind and code with a
// message for people, and returns it.
func wantCode(t *testing.T, err error, kind cic.Kind, code string) *cic.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s/%s", kind, code)
	}
	e, ok := cic.AsError(err)
	if !ok {
		t.Fatalf("got unclassified error %v, want %s/%s", err, kind, code)
	}
	if e.Kind != kind || e.Code != code || e.Message == "" {
		t.Fatalf("got %s/%s (%q), want %s/%s with a message", e.Kind, e.Code, e.Message, kind, code)
	}
	return e
}

func TestService_RefusalNamesCompanyAndLimit(t *testing.T) {
	w := newWorld(t, testenv.NewRedis(t))
	acme := w.signup(t, "Acme", "acme")
	a1 := w.member(t, acme, "ann", cic.RoleAgent, nil)
	a2 := w.member(t, acme, "bob", cic.RoleAgent, nil)
	a3 := w.member(t, acme, "cy", cic.RoleAgent, nil)
	g1 := w.acquire(t, a1, "desk-1")
	if every := w.seats.Leases.HeartbeatEvery(); every != 20*time.Second {
		t.Errorf("heartbeat every %v, want 20s (a third of the 60 s TTL)", every)
	}
	w.acquire(t, a2, "desk-2")

	_, err := w.seats.Acquire(testenv.Context(t), a3, "desk-3", "198.51.100.7")
	e := wantCode(t, err, cic.ECONFLICT, "seats_exhausted")
	const want = "All 2 seats of Acme are in use — ask an admin to free one, or try again in a moment."
	if e.Message != want {
		t.Errorf("message %q, want %q", e.Message, want)
	}
	if h := w.holders(t, acme.Tenant.ID); len(h) != 2 || h[a3.UserID] {
		t.Errorf("holders %v after the refusal, want ann and bob only", h)
	}

	// Logout frees the seat at once.
	if err := w.seats.Release(testenv.Context(t), a1, g1.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, w.seats.Release(testenv.Context(t), a1, g1.ID), cic.ECONFLICT, "lease_not_held")
	w.acquire(t, a3, "desk-3")

	// A workstation name is required and checked before any seat is taken.
	_, err = w.seats.Acquire(testenv.Context(t), a1, " desk ", "198.51.100.7")
	wantCode(t, err, cic.EINVALID, "invalid_workstation")
}

func TestService_RefusalNamesDepartmentReservation(t *testing.T) {
	w := newWorld(t, testenv.NewRedis(t))
	acme := w.signup(t, "Acme", "acme")
	support := w.department(t, acme, "Support")
	if err := w.seats.SetReservation(testenv.Context(t), acme.owner, support, 1); err != nil {
		t.Fatal(err)
	}
	s1 := w.member(t, acme, "sue", cic.RoleAgent, &support)
	s2 := w.member(t, acme, "sam", cic.RoleAgent, &support)
	other := w.member(t, acme, "otto", cic.RoleAgent, nil)
	w.acquire(t, s1, "desk-1")
	w.acquire(t, other, "desk-2")

	_, err := w.seats.Acquire(testenv.Context(t), s2, "desk-3", "198.51.100.7")
	e := wantCode(t, err, cic.ECONFLICT, "seats_exhausted")
	const want = "All 2 seats of Acme are in use — ask an admin to free one, or try again in a moment." +
		" The 1 seat reserved for your department, Support, is taken."
	if e.Message != want {
		t.Errorf("message %q,\nwant    %q", e.Message, want)
	}
	// Someone outside the department is not told about it.
	third := w.member(t, acme, "tia", cic.RoleAgent, nil)
	_, err = w.seats.Acquire(testenv.Context(t), third, "desk-4", "198.51.100.7")
	if e := wantCode(t, err, cic.ECONFLICT, "seats_exhausted"); strings.Contains(e.Message, "department") {
		t.Errorf("message %q names a department to a user outside it", e.Message)
	}
}

// TestService_RefusalWhenOnlyReservedSeatsAreFree: the shared seats are
// full while another department's reserved seats stand empty.
func TestService_RefusalWhenOnlyReservedSeatsAreFree(t *testing.T) {
	w := newWorld(t, testenv.NewRedis(t))
	acme := w.signup(t, "Acme", "acme")
	w.grant(t, acme, 3) // 5 seats
	support := w.department(t, acme, "Support")
	sales := w.department(t, acme, "Sales")
	if err := w.seats.SetReservation(testenv.Context(t), acme.owner, support, 2); err != nil {
		t.Fatal(err)
	}
	if err := w.seats.SetReservation(testenv.Context(t), acme.owner, sales, 1); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"al", "bo"} {
		w.acquire(t, w.member(t, acme, n, cic.RoleAgent, nil), "desk-"+n)
	}
	// Sales' own seat is free: a sales agent gets in, then the next one
	// finds the shared seats full.
	w.acquire(t, w.member(t, acme, "sal", cic.RoleAgent, &sales), "desk-sal")
	_, err := w.seats.Acquire(testenv.Context(t), w.member(t, acme, "sid", cic.RoleAgent, &sales), "desk-sid", "198.51.100.7")
	e := wantCode(t, err, cic.ECONFLICT, "seats_exhausted")
	const want = "All 2 shared seats of Acme are in use (2 more are reserved for other departments)" +
		" — ask an admin to free one, or try again in a moment. The 1 seat reserved for your department, Sales, is taken."
	if e.Message != want {
		t.Errorf("message %q,\nwant    %q", e.Message, want)
	}
	// Support's reserved seats are still its own.
	w.acquire(t, w.member(t, acme, "sue", cic.RoleAgent, &support), "desk-sue")
}

func TestService_NoSeatsOnceTheTrialEnds(t *testing.T) {
	w := newWorld(t, testenv.NewRedis(t))
	acme := w.signup(t, "Acme", "acme")
	agent := w.member(t, acme, "ann", cic.RoleAgent, nil)
	if _, err := w.db.Owner.Exec(testenv.Context(t), `UPDATE seat_grants SET valid_from = now() - interval '31 days',
		valid_until = now() - interval '1 minute' WHERE tenant_id = $1 AND source = 'trial'`, acme.Tenant.ID); err != nil {
		t.Fatal(err)
	}
	_, err := w.seats.Acquire(testenv.Context(t), agent, "desk-1", "198.51.100.7")
	e := wantCode(t, err, cic.ECONFLICT, "seats_exhausted")
	if want := "Acme has no seats at the moment — ask an admin to buy seats."; e.Message != want {
		t.Errorf("message %q, want %q", e.Message, want)
	}
	if info, err := w.seats.Pool(testenv.Context(t), acme.Tenant.ID); err != nil || info.Limit != 0 {
		t.Errorf("pool %+v, %v; want limit 0", info, err)
	}
}

func TestService_RedisDownIsUnavailable(t *testing.T) {
	p := testenv.StartRedis(t)
	w := newWorld(t, p.Client())
	acme := w.signup(t, "Acme", "acme")
	agent := w.member(t, acme, "ann", cic.RoleAgent, nil)
	g := w.acquire(t, agent, "desk-1")
	p.Kill()

	_, err := w.seats.Acquire(testenv.Context(t), w.member(t, acme, "bob", cic.RoleAgent, nil), "desk-2", "198.51.100.7")
	e := wantCode(t, err, cic.EUNAVAILABLE, "seat_service_unavailable")
	if !strings.Contains(e.Message, "no new seat") {
		t.Errorf("message %q does not say that no seat is given", e.Message)
	}
	_, err = w.seats.Heartbeat(testenv.Context(t), agent, g.ID, "desk-1", "198.51.100.7")
	wantCode(t, err, cic.EUNAVAILABLE, "seat_service_unavailable")
	_, err = w.seats.Check(testenv.Context(t), agent, g.ID)
	wantCode(t, err, cic.EUNAVAILABLE, "seat_service_unavailable")
	_, err = w.seats.Overview(testenv.Context(t), acme.owner)
	wantCode(t, err, cic.EUNAVAILABLE, "seat_service_unavailable")
	wantCode(t, w.seats.ForceRelease(testenv.Context(t), acme.owner, g.ID), cic.EUNAVAILABLE, "seat_service_unavailable")
}

// TestService_HeartbeatReacquiresAfterRedisLoss: Redis lost every lease
// (FLUSHALL); each holder's next heartbeat takes a seat again, and the
// limit still holds.
func TestService_HeartbeatReacquiresAfterRedisLoss(t *testing.T) {
	p := testenv.StartRedis(t)
	rdb := p.Client()
	w := newWorld(t, rdb)
	acme := w.signup(t, "Acme", "acme")
	ann := w.member(t, acme, "ann", cic.RoleAgent, nil)
	bob := w.member(t, acme, "bob", cic.RoleAgent, nil)
	ga := w.acquire(t, ann, "desk-1")
	gb := w.acquire(t, bob, "desk-2")

	hb, err := w.seats.Heartbeat(testenv.Context(t), ann, ga.ID, "desk-1", "198.51.100.7")
	if err != nil {
		t.Fatal(err)
	}
	if hb.Reacquired || hb.LeaseID != ga.ID || hb.Token != ga.Token || !hb.ExpiresAt.After(time.Now().Add(50*time.Second)) {
		t.Errorf("plain heartbeat %+v, want lease %v renewed for about 60 s with token %d", hb, ga.ID, ga.Token)
	}

	if err := rdb.FlushAll(testenv.Context(t)).Err(); err != nil {
		t.Fatal(err)
	}
	hb, err = w.seats.Heartbeat(testenv.Context(t), ann, ga.ID, "desk-1", "198.51.100.7")
	if err != nil {
		t.Fatalf("heartbeat after FLUSHALL: %v", err)
	}
	if !hb.Reacquired || hb.LeaseID == ga.ID || hb.LeaseID == uuid.Nil || hb.Token <= gb.Token {
		t.Errorf("heartbeat after FLUSHALL %+v, want a new lease with a token above %d", hb, gb.Token)
	}
	if _, err := w.seats.Check(testenv.Context(t), ann, hb.LeaseID); err != nil {
		t.Errorf("the re-acquired lease does not renew: %v", err)
	}
	// A newcomer takes the other seat before bob's heartbeat: bob is
	// refused rather than the pool going over its limit.
	w.acquire(t, w.member(t, acme, "cy", cic.RoleAgent, nil), "desk-3")
	_, err = w.seats.Heartbeat(testenv.Context(t), bob, gb.ID, "desk-2", "198.51.100.7")
	wantCode(t, err, cic.ECONFLICT, "seats_exhausted")
	if h := w.holders(t, acme.Tenant.ID); len(h) != 2 || !h[ann.UserID] || h[bob.UserID] {
		t.Errorf("holders %v, want ann and cy", h)
	}

	// Redis loses everything again; ann logs in on her laptop before the
	// desk's page heartbeats with the lease Redis forgot: the desk is told
	// that the seat moved, and takes no second one.
	if err := rdb.FlushAll(testenv.Context(t)).Err(); err != nil {
		t.Fatal(err)
	}
	laptop := w.acquire(t, ann, "laptop")
	_, err = w.seats.Heartbeat(testenv.Context(t), ann, hb.LeaseID, "desk-1", "198.51.100.7")
	if e := wantCode(t, err, cic.ECONFLICT, "lease_moved"); !strings.Contains(e.Message, `"laptop"`) {
		t.Errorf("message %q does not name the laptop", e.Message)
	}
	if ls, err := w.seats.Leases.List(testenv.Context(t), acme.Tenant.ID); err != nil || len(ls) != 1 || ls[0].ID != laptop.ID {
		t.Errorf("leases %+v, %v; want only ann's laptop", ls, err)
	}
}

func TestService_HeartbeatAfterMoveOrForceRelease(t *testing.T) {
	w := newWorld(t, testenv.NewRedis(t))
	acme := w.signup(t, "Acme", "acme")
	ann := w.member(t, acme, "ann", cic.RoleAgent, nil)
	first := w.acquire(t, ann, "desk-1")
	moved := w.acquire(t, ann, "desk-2")
	if moved.MovedFrom != "desk-1" {
		t.Errorf("moved from %q, want desk-1", moved.MovedFrom)
	}

	_, err := w.seats.Heartbeat(testenv.Context(t), ann, first.ID, "desk-1", "198.51.100.7")
	e := wantCode(t, err, cic.ECONFLICT, "lease_moved")
	if !strings.Contains(e.Message, `"desk-2"`) {
		t.Errorf("message %q does not name the new workstation", e.Message)
	}
	_, err = w.seats.Check(testenv.Context(t), ann, first.ID)
	wantCode(t, err, cic.ECONFLICT, "lease_moved")

	if err := w.seats.ForceRelease(testenv.Context(t), acme.owner, moved.ID); err != nil {
		t.Fatal(err)
	}
	_, err = w.seats.Heartbeat(testenv.Context(t), ann, moved.ID, "desk-2", "198.51.100.7")
	wantCode(t, err, cic.ECONFLICT, "lease_released")

	// After a logout, a page still open elsewhere heartbeats in vain.
	again := w.acquire(t, ann, "desk-3")
	if err := w.seats.Release(testenv.Context(t), ann, again.ID); err != nil {
		t.Fatal(err)
	}
	_, err = w.seats.Heartbeat(testenv.Context(t), ann, again.ID, "desk-3", "198.51.100.7")
	wantCode(t, err, cic.ECONFLICT, "lease_ended")
	// Another user's lease id is no way in either.
	bob := w.member(t, acme, "bob", cic.RoleAgent, nil)
	gb := w.acquire(t, bob, "desk-4")
	_, err = w.seats.Heartbeat(testenv.Context(t), ann, gb.ID, "desk-4", "198.51.100.7")
	wantCode(t, err, cic.ECONFLICT, "lease_not_held")
	// None of these heartbeats took a seat for ann.
	if h := w.holders(t, acme.Tenant.ID); len(h) != 1 || !h[bob.UserID] {
		t.Errorf("holders %v, want bob only", h)
	}
}

func TestService_ForceReleaseIsAuditedAndForManagers(t *testing.T) {
	w := newWorld(t, testenv.NewRedis(t))
	acme := w.signup(t, "Acme", "acme")
	ann := w.member(t, acme, "ann", cic.RoleAgent, nil)
	bob := w.member(t, acme, "bob", cic.RoleAgent, nil)
	sup := w.member(t, acme, "sup", cic.RoleSupervisor, nil)
	admin := w.member(t, acme, "ada", cic.RoleAdmin, nil)
	g := w.acquire(t, ann, "desk-1")

	wantCode(t, w.seats.ForceRelease(testenv.Context(t), bob.Actor, g.ID), cic.EFORBIDDEN, "forbidden")
	wantCode(t, w.seats.ForceRelease(testenv.Context(t), sup.Actor, g.ID), cic.EFORBIDDEN, "forbidden")
	if !w.holders(t, acme.Tenant.ID)[ann.UserID] {
		t.Fatal("a refused force-release freed the seat")
	}

	if err := w.seats.ForceRelease(testenv.Context(t), admin.Actor, g.ID); err != nil {
		t.Fatal(err)
	}
	if w.holders(t, acme.Tenant.ID)[ann.UserID] {
		t.Error("the seat is still held after the force-release")
	}
	wantCode(t, w.seats.ForceRelease(testenv.Context(t), admin.Actor, g.ID), cic.ENOTFOUND, "not_found")

	rows, err := w.db.Owner.Query(testenv.Context(t), `SELECT tenant_id, actor_id, actor_role, target_type, target_id, details
		FROM audit_log WHERE action = 'seat.force_release'`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
		var tid, actor uuid.UUID
		var role, typ, target string
		var details []byte
		if err := rows.Scan(&tid, &actor, &role, &typ, &target, &details); err != nil {
			t.Fatal(err)
		}
		var d struct {
			UserID uuid.UUID `json:"user_id"`
		}
		if err := json.Unmarshal(details, &d); err != nil {
			t.Fatal(err)
		}
		if tid != acme.Tenant.ID || actor != admin.UserID || role != "admin" || typ != "seat_lease" || target != g.ID.String() || d.UserID != ann.UserID {
			t.Errorf("audit row %v %v %s %s %s %s, want the admin releasing ann's lease %v", tid, actor, role, typ, target, details, g.ID)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d seat.force_release audit rows, want 1 (refused and missed releases are not audited)", n)
	}
}

func TestService_SetReservationValidates(t *testing.T) {
	w := newWorld(t, testenv.NewRedis(t))
	acme := w.signup(t, "Acme", "acme")
	support := w.department(t, acme, "Support")
	sales := w.department(t, acme, "Sales")
	agent := w.member(t, acme, "ann", cic.RoleAgent, &support)
	c := testenv.Context(t)

	wantCode(t, w.seats.SetReservation(c, agent.Actor, support, 1), cic.EFORBIDDEN, "forbidden")
	wantCode(t, w.seats.SetReservation(c, acme.owner, support, -1), cic.EINVALID, "invalid_seats")
	if err := w.seats.SetReservation(c, acme.owner, support, 2); err != nil {
		t.Fatal(err)
	}
	e := wantCode(t, w.seats.SetReservation(c, acme.owner, sales, 1), cic.EINVALID, "reservation_exceeds_limit")
	if want := "Reservations would add up to 3 seats, more than the 2 the company has."; e.Message != want {
		t.Errorf("message %q, want %q", e.Message, want)
	}
	// Changing a department's own reservation counts it once.
	if err := w.seats.SetReservation(c, acme.owner, support, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.seats.SetReservation(c, acme.owner, sales, 1); err != nil {
		t.Fatal(err)
	}
	// An unknown department is not found, whatever the seats asked (even
	// where they would exceed the limit, or remove nothing).
	for _, n := range []int{1, 0} {
		wantCode(t, w.seats.SetReservation(c, acme.owner, uuid.New(), n), cic.ENOTFOUND, "not_found")
	}
	// 0 removes the reservation.
	if err := w.seats.SetReservation(c, acme.owner, sales, 0); err != nil {
		t.Fatal(err)
	}

	info, err := w.seats.Pool(c, acme.Tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Limit != 2 || len(info.Reservations) != 1 || info.Reservations[0] != (Reservation{DepartmentID: support, Department: "Support", Seats: 1}) {
		t.Errorf("pool %+v, want limit 2 and 1 seat reserved for Support", info)
	}

	var audited []string
	rows, err := w.db.Owner.Query(c, `SELECT target_id, details->>'seats' FROM audit_log WHERE action = 'seat.reserve' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var target, seats string
		if err := rows.Scan(&target, &seats); err != nil {
			t.Fatal(err)
		}
		audited = append(audited, map[string]string{support.String(): "support", sales.String(): "sales"}[target]+"="+seats)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := "support=2 support=1 sales=1 sales=0"
	if got := strings.Join(audited, " "); got != want {
		t.Errorf("seat.reserve audit rows %q, want %q (only the changes made)", got, want)
	}
}

func TestService_OverviewListsHoldersByName(t *testing.T) {
	w := newWorld(t, testenv.NewRedis(t))
	acme := w.signup(t, "Acme", "acme")
	w.grant(t, acme, 2)
	support := w.department(t, acme, "Support")
	sales := w.department(t, acme, "Sales")
	if err := w.seats.SetReservation(testenv.Context(t), acme.owner, support, 2); err != nil {
		t.Fatal(err)
	}
	ann := w.member(t, acme, "ann", cic.RoleAgent, &support)
	bob := w.member(t, acme, "bob", cic.RoleAgent, &sales)
	sup := w.member(t, acme, "sup", cic.RoleSupervisor, nil)
	ga := w.acquire(t, ann, "desk-1")
	gb := w.acquire(t, bob, "desk-2")

	_, err := w.seats.Overview(testenv.Context(t), ann.Actor)
	wantCode(t, err, cic.EFORBIDDEN, "forbidden")
	for _, viewer := range []tenant.Actor{acme.owner, sup.Actor} {
		ov, err := w.seats.Overview(testenv.Context(t), viewer)
		if err != nil {
			t.Fatalf("%s: %v", viewer.Role, err)
		}
		if ov.Limit != 4 || len(ov.Holders) != 2 {
			t.Fatalf("%s sees limit %d and %d holders, want 4 and 2", viewer.Role, ov.Limit, len(ov.Holders))
		}
		h0, h1 := ov.Holders[0], ov.Holders[1]
		if h0.ID != ga.ID || h0.UserName != "User ann" || h0.UserEmail != "ann@acme.example" || h0.Department != "Support" ||
			h0.Workstation != "desk-1" || h0.IP != "198.51.100.7" || h0.Since.IsZero() || h0.Heartbeat.IsZero() {
			t.Errorf("first holder %+v, want ann of Support at desk-1", h0)
		}
		if h1.ID != gb.ID || h1.UserName != "User bob" || h1.Department != "Sales" || h1.Workstation != "desk-2" {
			t.Errorf("second holder %+v, want bob of Sales at desk-2", h1)
		}
		want := []ReservationUse{{Reservation: Reservation{DepartmentID: support, Department: "Support", Seats: 2}, Held: 1}}
		if len(ov.Reservations) != 1 || ov.Reservations[0] != want[0] {
			t.Errorf("reservations %+v, want %+v", ov.Reservations, want)
		}
	}
}

// TestService_TenantsAreIsolated: a lease id is no key into another
// tenant's pool.
func TestService_TenantsAreIsolated(t *testing.T) {
	w := newWorld(t, testenv.NewRedis(t))
	acme := w.signup(t, "Acme", "acme")
	globex := w.signup(t, "Globex", "globex")
	support := w.department(t, acme, "Support")
	ann := w.member(t, acme, "ann", cic.RoleAgent, nil)
	g := w.acquire(t, ann, "desk-1")

	wantCode(t, w.seats.ForceRelease(testenv.Context(t), globex.owner, g.ID), cic.ENOTFOUND, "not_found")
	if _, err := w.seats.Check(testenv.Context(t), ann, g.ID); err != nil {
		t.Errorf("acme's lease after globex tried to release it: %v", err)
	}
	ov, err := w.seats.Overview(testenv.Context(t), globex.owner)
	if err != nil {
		t.Fatal(err)
	}
	if len(ov.Holders) != 0 || ov.Limit != 2 {
		t.Errorf("globex sees %+v, want its own empty pool of 2", ov)
	}
	wantCode(t, w.seats.SetReservation(testenv.Context(t), globex.owner, support, 1), cic.ENOTFOUND, "not_found")
	// Globex's pool is its own: both its seats are free.
	w.acquire(t, w.member(t, globex, "gus", cic.RoleAgent, nil), "desk-1")
	w.acquire(t, w.member(t, globex, "gil", cic.RoleAgent, nil), "desk-2")
	if h := w.holders(t, acme.Tenant.ID); len(h) != 1 || !h[ann.UserID] {
		t.Errorf("acme holders %v, want ann only", h)
	}
	// Sampling one tenant stores nothing for the other.
	if err := w.seats.Sample(testenv.Context(t)); err != nil {
		t.Fatal(err)
	}
	var peak int
	if err := w.db.Owner.QueryRow(testenv.Context(t), `SELECT max(peak) FROM seat_samples WHERE tenant_id = $1`, acme.Tenant.ID).Scan(&peak); err != nil {
		t.Fatal(err)
	}
	if peak != 1 {
		t.Errorf("acme's sampled peak %d, want 1", peak)
	}
}
