package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant/seats"
	"github.com/cic-platform/cic/web"
)

func (ts *testServer) lease(t *testing.T, who company, ws string) answer {
	t.Helper()
	return ts.call(t, "POST", "/api/v1/seats/lease", who.Token, map[string]any{"workstation": ws})
}

func (ts *testServer) heartbeat(t *testing.T, who company, leaseID string) answer {
	t.Helper()
	return ts.call(t, "POST", "/api/v1/seats/lease/heartbeat", who.Token, map[string]any{"lease_id": leaseID})
}

func (ts *testServer) holders(t *testing.T, admin company) []any {
	t.Helper()
	a := ts.call(t, "GET", "/api/v1/seats", admin.Token, nil).mustStatus(t, http.StatusOK)
	h, _ := a.JSON["holders"].([]any)
	return h
}

func TestSeats_LeaseLifecycle(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	a1 := ts.createUser(t, owner, "a1@acme.example", "agent")
	a2 := ts.createUser(t, owner, "a2@acme.example", "agent")
	a3 := ts.createUser(t, owner, "a3@acme.example", "agent")

	l1 := ts.lease(t, a1, "desk-1").mustStatus(t, http.StatusCreated)
	if l1.str("lease_id") == "" || l1.JSON["heartbeat_every"] != float64(20) || l1.str("expires_at") == "" {
		t.Fatalf("lease answer: %s", l1.Body)
	}
	exp, err := time.Parse(time.RFC3339, l1.str("expires_at"))
	if err != nil || time.Until(exp) < 50*time.Second {
		t.Fatalf("expires_at %q: want about 60 s ahead (%v)", l1.str("expires_at"), err)
	}
	l2 := ts.lease(t, a2, "desk-2").mustStatus(t, http.StatusCreated)

	// The trial has 2 seats: the third agent is refused with a message
	// that says who can help and when to retry.
	refused := ts.lease(t, a3, "desk-3").mustStatus(t, http.StatusConflict)
	msg := refused.str("error", "message")
	if refused.errCode() != "seats_exhausted" || !strings.Contains(msg, "All 2 seats of Company acme are in use — ask an admin to free one, or try again in a moment") {
		t.Fatalf("refusal: %s", refused.Body)
	}

	// Logout-style release frees the seat at once.
	ts.call(t, "DELETE", "/api/v1/seats/lease?lease_id="+l1.str("lease_id"), a1.Token, nil).mustStatus(t, http.StatusNoContent)
	if c := ts.heartbeat(t, a1, l1.str("lease_id")).mustStatus(t, http.StatusConflict).errCode(); c != "lease_ended" {
		t.Errorf("heartbeat after release: %s, want lease_ended", c)
	}
	if c := ts.call(t, "DELETE", "/api/v1/seats/lease?lease_id="+l1.str("lease_id"), a1.Token, nil).mustStatus(t, http.StatusConflict).errCode(); c != "lease_not_held" {
		t.Errorf("second release: %s, want lease_ended", c)
	}
	l3 := ts.lease(t, a3, "desk-3").mustStatus(t, http.StatusCreated)

	// Heartbeats extend the lease; the lease can only be renewed by its holder.
	hb := ts.heartbeat(t, a2, l2.str("lease_id")).mustStatus(t, http.StatusOK)
	if hb.str("lease_id") != l2.str("lease_id") || hb.JSON["reacquired"] != nil {
		t.Errorf("heartbeat: %s", hb.Body)
	}
	if c := ts.heartbeat(t, a3, l2.str("lease_id")).mustStatus(t, http.StatusConflict).errCode(); c != "lease_not_held" {
		t.Errorf("heartbeat of someone else's lease: %s", c)
	}
	// A heartbeat with a lease Redis does not know re-takes a seat only
	// for a user seated nowhere: a3 keeps desk-3.
	if c := ts.heartbeat(t, a3, "5f0c7f4e-4a4e-4f39-9d0b-5d9c4b0c9a11").mustStatus(t, http.StatusConflict).errCode(); c != "lease_moved" {
		t.Errorf("stale heartbeat of a seated user: %s", c)
	}

	// A second workstation moves the lease; the first is told where.
	moved := ts.lease(t, a2, "desk-9").mustStatus(t, http.StatusCreated)
	if moved.str("moved_from") != "desk-2" {
		t.Errorf("moved_from %q, want desk-2", moved.str("moved_from"))
	}
	old := ts.heartbeat(t, a2, l2.str("lease_id")).mustStatus(t, http.StatusConflict)
	if old.errCode() != "lease_moved" || !strings.Contains(old.str("error", "message"), `"desk-9"`) {
		t.Errorf("old workstation's heartbeat: %s", old.Body)
	}

	// Routes for agents at a seat need the lease in X-Seat-Lease.
	ts.call(t, "GET", "/api/v1/seats/lease", a3.Token, nil).mustStatus(t, http.StatusForbidden)
	req := newRequest("GET", "/api/v1/seats/lease", nil)
	req.Header.Set("Authorization", "Bearer "+a3.Token)
	req.Header.Set("X-Seat-Lease", l3.str("lease_id"))
	if cur := ts.do(t, req).mustStatus(t, http.StatusOK); cur.str("lease_id") != l3.str("lease_id") {
		t.Errorf("current lease: %s", cur.Body)
	}
	req = newRequest("GET", "/api/v1/seats/lease", nil)
	req.Header.Set("Authorization", "Bearer "+a2.Token)
	req.Header.Set("X-Seat-Lease", l2.str("lease_id"))
	if c := ts.do(t, req).mustStatus(t, http.StatusConflict).errCode(); c != "lease_moved" {
		t.Errorf("seat route with a moved lease: %s", c)
	}
}

func TestSeats_AdminListsAndForceReleases(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	agent := ts.createUser(t, owner, "agent@acme.example", "agent")
	sup := ts.createUser(t, owner, "sup@acme.example", "supervisor")
	l := ts.lease(t, agent, "Floor 2, desk 14").mustStatus(t, http.StatusCreated)

	list := ts.call(t, "GET", "/api/v1/seats", owner.Token, nil).mustStatus(t, http.StatusOK)
	h := ts.holders(t, owner)
	if list.JSON["limit"] != float64(2) || list.JSON["in_use"] != float64(1) || len(h) != 1 {
		t.Fatalf("seats: %s", list.Body)
	}
	first := h[0].(map[string]any)
	if first["email"] != "agent@acme.example" || first["workstation"] != "Floor 2, desk 14" || first["ip"] == "" ||
		first["since"] == nil || first["last_heartbeat"] == nil || first["lease_id"] != l.str("lease_id") {
		t.Errorf("holder: %v", first)
	}
	// A supervisor sees the holders but may not release; an agent sees nothing.
	ts.call(t, "GET", "/api/v1/seats", sup.Token, nil).mustStatus(t, http.StatusOK)
	ts.call(t, "DELETE", "/api/v1/seats/"+l.str("lease_id"), sup.Token, nil).mustStatus(t, http.StatusForbidden)
	ts.call(t, "GET", "/api/v1/seats", agent.Token, nil).mustStatus(t, http.StatusForbidden)

	ts.call(t, "DELETE", "/api/v1/seats/"+l.str("lease_id"), owner.Token, nil).mustStatus(t, http.StatusNoContent)
	if c := ts.heartbeat(t, agent, l.str("lease_id")).mustStatus(t, http.StatusConflict).errCode(); c != "lease_released" {
		t.Errorf("holder's heartbeat after force release: %s", c)
	}
	ts.call(t, "DELETE", "/api/v1/seats/"+l.str("lease_id"), owner.Token, nil).mustStatus(t, http.StatusNotFound)
	ts.call(t, "DELETE", "/api/v1/seats/not-a-uuid", owner.Token, nil).mustStatus(t, http.StatusNotFound)
	audit := ts.call(t, "GET", "/api/v1/audit", owner.Token, nil).mustStatus(t, http.StatusOK)
	if !strings.Contains(string(audit.Body), `"seat.force_release"`) || !strings.Contains(string(audit.Body), l.str("lease_id")) {
		t.Errorf("force release not audited: %s", audit.Body)
	}
	if len(ts.holders(t, owner)) != 0 {
		t.Error("the released seat is still listed")
	}
}

func TestSeats_LogoutAndDeactivationFreeTheSeat(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	a1 := ts.createUser(t, owner, "a1@acme.example", "agent")
	a2 := ts.createUser(t, owner, "a2@acme.example", "agent")
	ts.lease(t, a1, "desk-1").mustStatus(t, http.StatusCreated)
	ts.lease(t, a2, "desk-2").mustStatus(t, http.StatusCreated)
	ts.call(t, "POST", "/api/v1/auth/logout", "", map[string]any{"refresh_token": a1.Refresh}).mustStatus(t, http.StatusNoContent)
	if n := len(ts.holders(t, owner)); n != 1 {
		t.Fatalf("after logout %d holders, want 1", n)
	}
	ts.call(t, "POST", "/api/v1/users/"+a2.UserID.String()+"/deactivate", owner.Token, nil).mustStatus(t, http.StatusOK)
	if n := len(ts.holders(t, owner)); n != 0 {
		t.Fatalf("after deactivation %d holders, want 0", n)
	}
}

func TestSeats_DepartmentReservations(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	dept := ts.call(t, "POST", "/api/v1/departments", owner.Token, map[string]any{"name": "Support"}).mustStatus(t, http.StatusCreated)
	deptID := dept.str("id")
	path := "/api/v1/seats/reservations/" + deptID
	if c := ts.call(t, "PUT", path, owner.Token, map[string]any{"seats": 3}).mustStatus(t, http.StatusBadRequest).errCode(); c != "reservation_exceeds_limit" {
		t.Errorf("reserving 3 of 2 seats: %s", c)
	}
	ts.call(t, "PUT", path, owner.Token, map[string]any{}).mustStatus(t, http.StatusBadRequest)
	ts.call(t, "PUT", path, owner.Token, map[string]any{"seats": -1}).mustStatus(t, http.StatusBadRequest)
	ts.call(t, "PUT", "/api/v1/seats/reservations/"+owner.UserID.String(), owner.Token, map[string]any{"seats": 1}).mustStatus(t, http.StatusNotFound)
	ts.call(t, "PUT", path, owner.Token, map[string]any{"seats": 1}).mustStatus(t, http.StatusOK)

	mk := func(email string, inSupport bool) company {
		body := map[string]any{"email": email, "name": "Agent", "role": "agent", "password": goodPassword}
		if inSupport {
			body["department_id"] = deptID
		}
		ts.call(t, "POST", "/api/v1/users", owner.Token, body).mustStatus(t, http.StatusCreated)
		l := ts.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"tenant": "acme", "email": email, "password": goodPassword}).mustStatus(t, http.StatusOK)
		return company{Token: l.str("access_token")}
	}
	s1, s2 := mk("s1@acme.example", true), mk("s2@acme.example", true)
	n1, n2 := mk("n1@acme.example", false), mk("n2@acme.example", false)
	ts.lease(t, n1, "n1").mustStatus(t, http.StatusCreated)
	// The one shared seat is taken; the reserved one is Support's only.
	if c := ts.lease(t, n2, "n2").mustStatus(t, http.StatusConflict).errCode(); c != "seats_exhausted" {
		t.Fatalf("n2: %s", c)
	}
	ts.lease(t, s1, "s1").mustStatus(t, http.StatusCreated)
	msg := ts.lease(t, s2, "s2").mustStatus(t, http.StatusConflict).str("error", "message")
	if !strings.Contains(msg, "All 2 seats of Company acme are in use") || !strings.Contains(msg, "reserved for your department, Support") {
		t.Errorf("Support agent's refusal: %s", msg)
	}
	list := ts.call(t, "GET", "/api/v1/seats", owner.Token, nil).mustStatus(t, http.StatusOK)
	res, _ := list.JSON["reservations"].([]any)
	if len(res) != 1 || res[0].(map[string]any)["held"] != float64(1) || res[0].(map[string]any)["department"] != "Support" {
		t.Errorf("reservations: %s", list.Body)
	}
	ts.call(t, "PUT", path, owner.Token, map[string]any{"seats": 0}).mustStatus(t, http.StatusOK)
	audit := ts.call(t, "GET", "/api/v1/audit", owner.Token, nil).mustStatus(t, http.StatusOK)
	if strings.Count(string(audit.Body), `"seat.reserve"`) != 2 {
		t.Errorf("reservations not audited twice: %s", audit.Body)
	}
}

func TestSeats_BadInput(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	agent := ts.createUser(t, owner, "agent@acme.example", "agent")
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"no workstation", "POST", "/api/v1/seats/lease", map[string]any{}, 400, "invalid_workstation"},
		{"long workstation", "POST", "/api/v1/seats/lease", map[string]any{"workstation": strings.Repeat("w", 101)}, 400, "invalid_workstation"},
		{"control character", "POST", "/api/v1/seats/lease", map[string]any{"workstation": "desk\n1"}, 400, "invalid_workstation"},
		{"not JSON", "POST", "/api/v1/seats/lease", `{"workstation":`, 400, "invalid_json"},
		{"unknown field", "POST", "/api/v1/seats/lease", map[string]any{"workstation": "a", "seat": 1}, 400, "invalid_json"},
		{"heartbeat without lease", "POST", "/api/v1/seats/lease/heartbeat", map[string]any{}, 400, "invalid_lease_id"},
		{"heartbeat bad lease", "POST", "/api/v1/seats/lease/heartbeat", map[string]any{"lease_id": "nope"}, 400, "invalid_lease_id"},
		{"release bad lease", "DELETE", "/api/v1/seats/lease?lease_id=nope", nil, 400, "invalid_lease_id"},
		{"release without a lease", "DELETE", "/api/v1/seats/lease", nil, 409, "lease_not_held"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := ts.call(t, tc.method, tc.path, agent.Token, tc.body).mustStatus(t, tc.status)
			if a.errCode() != tc.code {
				t.Errorf("code %q, want %q: %s", a.errCode(), tc.code, a.Body)
			}
		})
	}
	ts.call(t, "POST", "/api/v1/seats/lease", "", map[string]any{"workstation": "a"}).mustStatus(t, http.StatusUnauthorized)
}

// TestSeats_RedisDownRefusesNewLeases: fail closed, with 503
// seat_service_unavailable, never a seat given blind.
func TestSeats_RedisDownRefusesNewLeases(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	agent := ts.createUser(t, owner, "agent@acme.example", "agent")
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	srv, err := web.New(web.Config{Tenants: ts.Tenants, Pool: ts.DB.App, Redis: ts.Rdb, RedisPrefix: testenv.Prefix(), Meter: ts.Meter,
		Seats:  seats.NewService(ts.Tenants.DB, seats.NewLeases(dead, "x:"), slog.New(slog.NewTextHandler(io.Discard, nil))),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	down := &testServer{Server: srv, Tenants: ts.Tenants, DB: ts.DB}
	a := down.lease(t, agent, "desk").mustStatus(t, http.StatusServiceUnavailable)
	if a.errCode() != "seat_service_unavailable" {
		t.Fatalf("%s", a.Body)
	}
	down.heartbeat(t, agent, "5f0c7f4e-4a4e-4f39-9d0b-5d9c4b0c9a11").mustStatus(t, http.StatusServiceUnavailable)
}

func TestSeats_Usage(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	agent := ts.createUser(t, owner, "agent@acme.example", "agent")
	ts.lease(t, agent, "desk").mustStatus(t, http.StatusCreated)
	if err := ts.Seats.SampleTenant(t.Context(), owner.TenantID); err != nil {
		t.Fatal(err)
	}
	u := ts.call(t, "GET", "/api/v1/seats/usage", owner.Token, nil).mustStatus(t, http.StatusOK)
	hourly, _ := u.JSON["hourly"].([]any)
	daily, _ := u.JSON["daily"].([]any)
	if len(hourly) != 30*24 || len(daily) != 30 || u.JSON["limit"] != float64(2) {
		t.Fatalf("usage: %d hourly, %d daily, limit %v", len(hourly), len(daily), u.JSON["limit"])
	}
	if last := daily[len(daily)-1].(map[string]any); last["peak"] != float64(1) {
		t.Errorf("today's peak %v, want 1", last["peak"])
	}
	if adv, _ := u.JSON["advice"].(map[string]any); adv["kind"] == "" || adv["message"] == "" {
		t.Errorf("advice: %v", u.JSON["advice"])
	}
	ts.call(t, "GET", "/api/v1/seats/usage", agent.Token, nil).mustStatus(t, http.StatusForbidden)
}

// TestIsolation_SeatsArePerTenant: tenant B can neither see nor release
// A's seats, nor reserve seats for A's departments.
func TestIsolation_SeatsArePerTenant(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	b := ts.signup(t, "bravo")
	agent := ts.createUser(t, a, "agent@acme.example", "agent")
	l := ts.lease(t, agent, "desk").mustStatus(t, http.StatusCreated)
	dept := ts.call(t, "POST", "/api/v1/departments", a.Token, map[string]any{"name": "Support"}).mustStatus(t, http.StatusCreated)

	if h := ts.holders(t, b); len(h) != 0 {
		t.Errorf("B sees holders: %v", h)
	}
	if r := ts.call(t, "DELETE", "/api/v1/seats/"+l.str("lease_id"), b.Token, nil); r.Status != http.StatusNotFound {
		t.Errorf("B force-releasing A's seat: %d %s", r.Status, r.Body)
	}
	if r := ts.call(t, "PUT", "/api/v1/seats/reservations/"+dept.str("id"), b.Token, map[string]any{"seats": 1}); r.Status != http.StatusNotFound {
		t.Errorf("B reserving for A's department: %d %s", r.Status, r.Body)
	}
	// B's agent heartbeating A's lease id learns nothing and changes nothing.
	bAgent := ts.createUser(t, b, "agent@bravo.example", "agent")
	if r := ts.heartbeat(t, bAgent, l.str("lease_id")); r.Status == http.StatusOK && r.str("lease_id") == l.str("lease_id") {
		t.Errorf("B renewed A's lease: %s", r.Body)
	}
	h := ts.holders(t, a)
	if len(h) != 1 || h[0].(map[string]any)["lease_id"] != l.str("lease_id") {
		t.Errorf("A's holders after B's attempts: %v", h)
	}
	if c := ts.call(t, "GET", "/api/v1/seats", a.Token, nil).mustStatus(t, http.StatusOK); len(c.JSON["reservations"].([]any)) != 0 {
		t.Errorf("B's reservation landed in A: %s", c.Body)
	}
}
