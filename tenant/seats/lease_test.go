package seats

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/infra/testenv"
)

func newLeases(t testing.TB) *Leases {
	t.Helper()
	return NewLeases(testenv.NewRedis(t), testenv.Prefix())
}

func req(tenantID uuid.UUID, dept *uuid.UUID, ws string) Request {
	return Request{TenantID: tenantID, UserID: uuid.New(), DepartmentID: dept, Workstation: ws, IP: "127.0.0.1"}
}

func mustAcquire(t *testing.T, l *Leases, r Request, p Pool) Granted {
	t.Helper()
	g, err := l.Acquire(testenv.Context(t), r, p)
	if err != nil {
		t.Fatalf("acquire for %s: %v", r.Workstation, err)
	}
	return g
}

func refused(t *testing.T, err error) *Refusal {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("want a refusal, got %v", err)
	}
	return r
}

func TestLease_LimitAndRelease(t *testing.T) {
	l := newLeases(t)
	c := testenv.Context(t)
	tid := uuid.New()
	pool := Pool{Limit: 2}
	a := mustAcquire(t, l, req(tid, nil, "ws-a"), pool)
	b := mustAcquire(t, l, req(tid, nil, "ws-b"), pool)
	if b.Token <= a.Token {
		t.Errorf("fencing tokens must grow: %d then %d", a.Token, b.Token)
	}
	if ttl := time.Until(a.ExpiresAt); ttl < 50*time.Second || ttl > 61*time.Second {
		t.Errorf("expires in %v, want about the 60 s TTL", ttl)
	}
	third := req(tid, nil, "ws-c")
	_, err := l.Acquire(c, third, pool)
	if r := refused(t, err); r.Held != 2 || r.Limit != 2 {
		t.Errorf("refusal %+v, want 2 of 2 held", r)
	}
	// Another tenant's pool is its own.
	mustAcquire(t, l, req(uuid.New(), nil, "other"), pool)

	if err := l.Release(c, tid, a.ID, a.UserID); err != nil {
		t.Fatal(err)
	}
	// A second release of the same lease, and a release by someone who is
	// not the holder, fail cleanly.
	var gone *Gone
	if err := l.Release(c, tid, a.ID, a.UserID); !errors.As(err, &gone) {
		t.Errorf("second release: %v, want *Gone", err)
	}
	if err := l.Release(c, tid, b.ID, uuid.New()); !errors.As(err, &gone) {
		t.Errorf("release by a stranger: %v, want *Gone", err)
	}
	if _, err := l.Renew(c, tid, a.ID, a.UserID); !errors.As(err, &gone) {
		t.Errorf("renew of a released lease: %v, want *Gone", err)
	}
	g := mustAcquire(t, l, third, pool)
	if g.Token <= b.Token {
		t.Errorf("token after release %d, want > %d", g.Token, b.Token)
	}
	held, err := l.List(c, tid)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 2 || held[0].ID != b.ID || held[1].ID != g.ID || held[1].Workstation != "ws-c" || held[1].IP != "127.0.0.1" {
		t.Errorf("holders %+v, want ws-b then ws-c", held)
	}
}

func TestLease_RenewExtendsAndChecksHolder(t *testing.T) {
	l := newLeases(t)
	l.TTL = 2 * time.Second
	c := testenv.Context(t)
	tid := uuid.New()
	g := mustAcquire(t, l, req(tid, nil, "ws"), Pool{Limit: 1})
	time.Sleep(300 * time.Millisecond)
	r, err := l.Renew(c, tid, g.ID, g.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if !r.ExpiresAt.After(g.ExpiresAt) || r.Token != g.Token {
		t.Errorf("renewed %+v, want a later expiry than %v and the same token %d", r, g.ExpiresAt, g.Token)
	}
	var gone *Gone
	if _, err := l.Renew(c, tid, g.ID, uuid.New()); !errors.As(err, &gone) {
		t.Errorf("renew by another user: %v, want *Gone", err)
	}
	if _, err := l.Renew(c, tid, uuid.New(), g.UserID); !errors.As(err, &gone) || gone.Reason != "" {
		t.Errorf("renew of an unknown lease: %v, want *Gone with no reason", err)
	}
}

func TestLease_ExpiredIsReclaimedByAcquire(t *testing.T) {
	l := newLeases(t)
	l.TTL = 300 * time.Millisecond
	c := testenv.Context(t)
	tid := uuid.New()
	old := mustAcquire(t, l, req(tid, nil, "crashed"), Pool{Limit: 1})
	if _, err := l.Acquire(c, req(tid, nil, "early"), Pool{Limit: 1}); err == nil {
		t.Fatal("a second holder got the only seat")
	}
	time.Sleep(400 * time.Millisecond)
	var gone *Gone
	if _, err := l.Renew(c, tid, old.ID, old.UserID); !errors.As(err, &gone) || gone.Reason != "expired" {
		t.Errorf("renew after the TTL: %v, want expired", err)
	}
	mustAcquire(t, l, req(tid, nil, "next"), Pool{Limit: 1})
	if _, err := l.Renew(c, tid, old.ID, old.UserID); !errors.As(err, &gone) || gone.Reason != "expired" {
		t.Errorf("renew after reclaim: %v, want expired", err)
	}
}

func TestLease_SecondWorkstationMovesTheLease(t *testing.T) {
	l := newLeases(t)
	c := testenv.Context(t)
	tid := uuid.New()
	pool := Pool{Limit: 1}
	first := mustAcquire(t, l, req(tid, nil, "desk-1"), pool)
	// The pool is full, yet the same user moves to another desk.
	again := req(tid, nil, "desk-2")
	again.UserID = first.UserID
	moved := mustAcquire(t, l, again, pool)
	if moved.MovedFrom != "desk-1" {
		t.Errorf("moved from %q, want desk-1", moved.MovedFrom)
	}
	var gone *Gone
	if _, err := l.Renew(c, tid, first.ID, first.UserID); !errors.As(err, &gone) || gone.Reason != "moved" || gone.Workstation != "desk-2" {
		t.Errorf("old desk's heartbeat: %v, want moved to desk-2", err)
	}
	if _, err := l.Renew(c, tid, moved.ID, moved.UserID); err != nil {
		t.Errorf("new desk's heartbeat: %v", err)
	}
	if held, _ := l.List(c, tid); len(held) != 1 || held[0].Workstation != "desk-2" {
		t.Errorf("holders %+v, want only desk-2", held)
	}
}

func TestLease_ForceReleaseLeavesWord(t *testing.T) {
	l := newLeases(t)
	c := testenv.Context(t)
	tid := uuid.New()
	g := mustAcquire(t, l, req(tid, nil, "ws"), Pool{Limit: 1})
	holder, err := l.ForceRelease(c, tid, g.ID)
	if err != nil || holder != g.UserID {
		t.Fatalf("force release: %v %v, want holder %v", holder, err, g.UserID)
	}
	var gone *Gone
	if _, err := l.Renew(c, tid, g.ID, g.UserID); !errors.As(err, &gone) || gone.Reason != "released" {
		t.Errorf("holder's heartbeat: %v, want released", err)
	}
	if _, err := l.ForceRelease(c, tid, g.ID); !errors.As(err, &gone) {
		t.Errorf("second force release: %v, want *Gone", err)
	}
	mustAcquire(t, l, req(tid, nil, "ws2"), Pool{Limit: 1})
}

func TestLease_ReleaseUser(t *testing.T) {
	l := newLeases(t)
	c := testenv.Context(t)
	tid := uuid.New()
	g := mustAcquire(t, l, req(tid, nil, "ws"), Pool{Limit: 1})
	if err := l.ReleaseUser(c, tid, g.UserID); err != nil {
		t.Fatal(err)
	}
	if err := l.ReleaseUser(c, tid, g.UserID); err != nil {
		t.Errorf("releasing a user without a lease: %v, want nil", err)
	}
	mustAcquire(t, l, req(tid, nil, "ws2"), Pool{Limit: 1})
}

// TestLease_Reservations walks the reservation rule: a department's
// reserved seats are its own, the rest float.
func TestLease_Reservations(t *testing.T) {
	support, sales := uuid.New(), uuid.New()
	pool := Pool{Limit: 4, Reserved: map[uuid.UUID]int{support: 2}}
	type step struct {
		dept *uuid.UUID
		ok   bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"others take only the floating seats", []step{{&sales, true}, {nil, true}, {&sales, false}, {&support, true}, {&support, true}, {&support, false}}},
		{"the department overflows into floating seats", []step{{&support, true}, {&support, true}, {&support, true}, {&support, true}, {&sales, false}, {&support, false}}},
		{"floating full, reserved still free", []step{{&support, true}, {nil, true}, {&sales, true}, {&sales, false}, {&support, true}, {&support, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLeases(t)
			tid := uuid.New()
			for i, s := range tc.steps {
				_, err := l.Acquire(testenv.Context(t), req(tid, s.dept, "ws"), pool)
				if (err == nil) != s.ok {
					t.Fatalf("step %d: err %v, want ok=%v", i, err, s.ok)
				}
			}
		})
	}
}

func TestLease_RefusalDetails(t *testing.T) {
	l := newLeases(t)
	tid := uuid.New()
	support := uuid.New()
	pool := Pool{Limit: 3, Reserved: map[uuid.UUID]int{support: 1}}
	mustAcquire(t, l, req(tid, nil, "a"), pool)
	mustAcquire(t, l, req(tid, nil, "b"), pool)
	_, err := l.Acquire(testenv.Context(t), req(tid, nil, "c"), pool)
	r := refused(t, err)
	want := Refusal{Held: 2, Limit: 3, DeptReserved: 0, DeptHeld: 0, AllReserved: 1}
	if *r != want {
		t.Errorf("refusal %+v, want %+v", *r, want)
	}
}

func TestLease_UnavailableRedisFailsClosed(t *testing.T) {
	p := testenv.StartRedis(t)
	l := NewLeases(p.Client(), "t:")
	tid := uuid.New()
	mustAcquire(t, l, req(tid, nil, "before"), Pool{Limit: 5})
	p.Kill()
	_, err := l.Acquire(testenv.Context(t), req(tid, nil, "during"), Pool{Limit: 5})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("acquire with Redis down: %v, want ErrUnavailable", err)
	}
	if _, err := l.Renew(testenv.Context(t), tid, uuid.New(), uuid.New()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("renew with Redis down: %v, want ErrUnavailable", err)
	}
	p.Start()
	g := mustAcquire(t, l, req(tid, nil, "after"), Pool{Limit: 5})
	// The fencing token is seeded from the clock, so it still grows after
	// Redis came back empty.
	if g.Token < time.Now().Add(-time.Hour).UnixMilli()*1000 {
		t.Errorf("token after restart %d, want one seeded from the clock", g.Token)
	}
}

// TestLease_ResumeClaimsTheNextSeat: a holder whose lease Redis lost and
// who finds the pool full gets the next seat freed ahead of new logins.
func TestLease_ResumeClaimsTheNextSeat(t *testing.T) {
	l := newLeases(t)
	c := testenv.Context(t)
	tid := uuid.New()
	pool := Pool{Limit: 1}
	newcomer := mustAcquire(t, l, req(tid, nil, "newcomer"), pool)
	back := req(tid, nil, "returning")
	back.Resume = true
	if _, err := l.Acquire(c, back, pool); err == nil {
		t.Fatal("the returning holder got a seat from a full pool")
	}
	if err := l.Release(c, tid, newcomer.ID, newcomer.UserID); err != nil {
		t.Fatal(err)
	}
	// The freed seat is claimed: a new login is refused, the claimant
	// gets it.
	if _, err := l.Acquire(c, req(tid, nil, "other"), pool); err == nil {
		t.Fatal("a new login took the seat claimed by a returning holder")
	}
	mustAcquire(t, l, back, pool)
}
