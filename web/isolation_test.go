package web_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// route is one resource route; ":id" in Path is replaced by the resource.
type route struct {
	Method string
	Path   string
	Body   any
}

// assertIsolated proves that tenant B's token gets 404 from every route
// on a resource that tenant A owns (not 403, which would confirm the id
// exists, and never the data), and that A's resource is unchanged after.
// readPath is how A reads the resource back.
func assertIsolated(t *testing.T, ts *testServer, owner, intruder company, readPath string, routes []route) {
	t.Helper()
	before := ts.call(t, "GET", readPath, owner.Token, nil).mustStatus(t, http.StatusOK)
	id := readPath[strings.LastIndex(readPath, "/")+1:]
	for _, r := range routes {
		path := strings.ReplaceAll(r.Path, ":id", id)
		a := ts.call(t, r.Method, path, intruder.Token, r.Body)
		if a.Status != http.StatusNotFound || a.errCode() == "" {
			t.Errorf("tenant B: %s %s = %d %s, want 404 with an error body", r.Method, path, a.Status, a.Body)
		}
		if bytes.Contains(a.Body, []byte(id)) {
			t.Errorf("tenant B: %s %s leaks the resource: %s", r.Method, path, a.Body)
		}
	}
	after := ts.call(t, "GET", readPath, owner.Token, nil).mustStatus(t, http.StatusOK)
	if !bytes.Equal(before.Body, after.Body) {
		t.Errorf("tenant A's %s changed under tenant B:\nbefore %s\nafter  %s", readPath, before.Body, after.Body)
	}
}

func TestIsolation_UsersAreInvisibleToOtherTenants(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	b := ts.signup(t, "bravo")
	agent := ts.createUser(t, a, "agent@acme.example", "agent")
	assertIsolated(t, ts, a, b, "/api/v1/users/"+agent.UserID.String(), []route{
		{"GET", "/api/v1/users/:id", nil},
		{"PATCH", "/api/v1/users/:id", map[string]any{"role": "admin", "name": "Hijacked"}},
		{"POST", "/api/v1/users/:id/deactivate", nil},
	})
	// B's list shows only B's owner.
	list := ts.call(t, "GET", "/api/v1/users", b.Token, nil).mustStatus(t, http.StatusOK)
	if users, _ := list.JSON["users"].([]any); len(users) != 1 || bytes.Contains(list.Body, []byte("acme.example")) {
		t.Fatalf("tenant B's user list shows A's users: %s", list.Body)
	}
}

func TestIsolation_DepartmentsAreInvisibleToOtherTenants(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	b := ts.signup(t, "bravo")
	d := ts.call(t, "POST", "/api/v1/departments", a.Token, map[string]any{"name": "Support", "cost_centre": "CC-1"}).mustStatus(t, http.StatusCreated)
	assertIsolated(t, ts, a, b, "/api/v1/departments/"+d.str("id"), []route{
		{"GET", "/api/v1/departments/:id", nil},
		{"PATCH", "/api/v1/departments/:id", map[string]any{"name": "Hijacked", "cost_centre": "X"}},
		{"DELETE", "/api/v1/departments/:id", nil},
	})
	list := ts.call(t, "GET", "/api/v1/departments", b.Token, nil).mustStatus(t, http.StatusOK)
	if bytes.Contains(list.Body, []byte("Support")) {
		t.Fatalf("tenant B sees A's department: %s", list.Body)
	}
	// B cannot put its own user into A's department either: the id names
	// nothing B can see.
	ts.call(t, "POST", "/api/v1/users", b.Token, map[string]any{
		"email": "x@bravo.example", "name": "X", "role": "agent", "password": goodPassword, "department_id": d.str("id"),
	}).mustStatus(t, http.StatusBadRequest)
}

func TestIsolation_AuditLogIsPerTenant(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	b := ts.signup(t, "bravo")
	agent := ts.createUser(t, a, "agent@acme.example", "agent")
	la := ts.call(t, "GET", "/api/v1/audit", a.Token, nil).mustStatus(t, http.StatusOK)
	if !bytes.Contains(la.Body, []byte(agent.UserID.String())) {
		t.Fatalf("A's audit log misses the user creation: %s", la.Body)
	}
	lb := ts.call(t, "GET", "/api/v1/audit", b.Token, nil).mustStatus(t, http.StatusOK)
	if bytes.Contains(lb.Body, []byte(agent.UserID.String())) || bytes.Contains(lb.Body, []byte(a.TenantID.String())) {
		t.Fatalf("B's audit log shows A's entries: %s", lb.Body)
	}
}
