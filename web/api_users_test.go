package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestUsers_CreateGetUpdateDeactivate(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	d := ts.call(t, "POST", "/api/v1/departments", a.Token, map[string]any{"name": "Support", "cost_centre": "CC-100"}).mustStatus(t, http.StatusCreated)

	u := ts.call(t, "POST", "/api/v1/users", a.Token, map[string]any{
		"email": "Agent@Acme.example", "name": "Ann Agent", "role": "agent", "password": goodPassword, "department_id": d.str("id"),
	}).mustStatus(t, http.StatusCreated)
	id := u.str("id")
	if u.str("email") != "agent@acme.example" || u.str("department_id") != d.str("id") || u.str("role") != "agent" {
		t.Fatalf("created user: %s", u.Body)
	}
	if u.Header.Get("Location") != "/api/v1/users/"+id {
		t.Errorf("Location = %q", u.Header.Get("Location"))
	}
	if strings.Contains(string(u.Body), "password") {
		t.Fatalf("user answer mentions a password: %s", u.Body)
	}
	got := ts.call(t, "GET", "/api/v1/users/"+id, a.Token, nil).mustStatus(t, http.StatusOK)
	if got.str("name") != "Ann Agent" {
		t.Fatalf("get user: %s", got.Body)
	}
	up := ts.call(t, "PATCH", "/api/v1/users/"+id, a.Token, map[string]any{"role": "supervisor"}).mustStatus(t, http.StatusOK)
	if up.str("role") != "supervisor" || up.str("department_id") != d.str("id") {
		t.Fatalf("patch role: %s", up.Body)
	}
	de := ts.call(t, "POST", "/api/v1/users/"+id+"/deactivate", a.Token, nil).mustStatus(t, http.StatusOK)
	if de.str("status") != "deactivated" {
		t.Fatalf("deactivate: %s", de.Body)
	}
	ts.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"tenant": "acme", "email": "agent@acme.example", "password": goodPassword}).mustStatus(t, http.StatusUnauthorized)

	// A department with members cannot be deleted; an empty one can.
	ts.call(t, "DELETE", "/api/v1/departments/"+d.str("id"), a.Token, nil).mustStatus(t, http.StatusConflict)
	ts.call(t, "PATCH", "/api/v1/users/"+id, a.Token, map[string]any{"clear_department": true}).mustStatus(t, http.StatusOK)
	ts.call(t, "DELETE", "/api/v1/departments/"+d.str("id"), a.Token, nil).mustStatus(t, http.StatusNoContent)
	ts.call(t, "GET", "/api/v1/departments/"+d.str("id"), a.Token, nil).mustStatus(t, http.StatusNotFound)
}

func TestUsers_ListIsPaginated(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	for i := range 6 {
		ts.call(t, "POST", "/api/v1/users", a.Token, map[string]any{
			"email": fmt.Sprintf("u%d@acme.example", i), "name": "U", "role": "agent", "password": goodPassword,
		}).mustStatus(t, http.StatusCreated)
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		path := "/api/v1/users?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		p := ts.call(t, "GET", path, a.Token, nil).mustStatus(t, http.StatusOK)
		users, _ := p.JSON["users"].([]any)
		if len(users) > 3 {
			t.Fatalf("page of %d users with limit 3", len(users))
		}
		for _, u := range users {
			email := u.(map[string]any)["email"].(string)
			if seen[email] {
				t.Fatalf("%s seen twice", email)
			}
			seen[email] = true
		}
		pages++
		cursor = p.str("next_cursor")
		if cursor == "" || pages > 5 {
			break
		}
	}
	if len(seen) != 7 || pages != 3 {
		t.Fatalf("saw %d users in %d pages, want 7 in 3", len(seen), pages)
	}
	ts.call(t, "GET", "/api/v1/users?limit=0", a.Token, nil).mustStatus(t, http.StatusBadRequest)
	ts.call(t, "GET", "/api/v1/users?limit=abc", a.Token, nil).mustStatus(t, http.StatusBadRequest)
}

func TestUsers_RolesLimitWhoMayDoWhat(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	admin := ts.createUser(t, a, "admin@acme.example", "admin")
	agent := ts.createUser(t, a, "agent@acme.example", "agent")

	ts.call(t, "POST", "/api/v1/users", agent.Token, map[string]any{
		"email": "x@acme.example", "name": "X", "role": "agent", "password": goodPassword,
	}).mustStatus(t, http.StatusForbidden)
	ts.call(t, "GET", "/api/v1/users", agent.Token, nil).mustStatus(t, http.StatusForbidden)
	ts.call(t, "GET", "/api/v1/audit", agent.Token, nil).mustStatus(t, http.StatusForbidden)
	ts.call(t, "POST", "/api/v1/departments", agent.Token, map[string]any{"name": "D"}).mustStatus(t, http.StatusForbidden)
	// An admin cannot make owners, nor demote the owner.
	ts.call(t, "PATCH", "/api/v1/users/"+agent.UserID.String(), admin.Token, map[string]any{"role": "owner"}).mustStatus(t, http.StatusForbidden)
	// Nobody changes their own role (which also keeps the last owner).
	self := ts.call(t, "PATCH", "/api/v1/users/"+a.UserID.String(), a.Token, map[string]any{"role": "agent"}).mustStatus(t, http.StatusBadRequest)
	if self.errCode() != "cannot_change_self" {
		t.Fatalf("self demotion: %s", self.Body)
	}
}

func TestInvite_AcceptSetsPasswordAndLogsIn(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	inv := ts.call(t, "POST", "/api/v1/users/invite", a.Token, map[string]any{
		"email": "fin@acme.example", "name": "Fay Finance", "role": "finance",
	}).mustStatus(t, http.StatusCreated)
	url, token := inv.str("invite_url"), inv.str("invite_token")
	if !strings.HasPrefix(url, "http://cic.test/invite/") || token == "" {
		t.Fatalf("invite answer: %s", inv.Body)
	}
	ts.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"tenant": "acme", "email": "fin@acme.example", "password": goodPassword}).mustStatus(t, http.StatusUnauthorized)
	info := ts.call(t, "GET", "/api/v1/invitations/"+token, "", nil).mustStatus(t, http.StatusOK)
	if info.str("email") != "fin@acme.example" || info.str("tenant") != "acme" {
		t.Fatalf("invitation: %s", info.Body)
	}
	ts.call(t, "POST", "/api/v1/invitations/"+token+"/accept", "", map[string]any{"password": "short"}).mustStatus(t, http.StatusBadRequest)
	acc := ts.call(t, "POST", "/api/v1/invitations/"+token+"/accept", "", map[string]any{"password": goodPassword}).mustStatus(t, http.StatusOK)
	me := ts.call(t, "GET", "/api/v1/me", acc.str("access_token"), nil).mustStatus(t, http.StatusOK)
	if me.str("user", "role") != "finance" {
		t.Fatalf("/me after accept: %s", me.Body)
	}
	ts.call(t, "POST", "/api/v1/invitations/"+token+"/accept", "", map[string]any{"password": goodPassword}).mustStatus(t, http.StatusNotFound)
}
