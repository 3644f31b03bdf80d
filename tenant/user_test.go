package tenant_test

import (
	"fmt"
	"sort"
	"testing"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

func TestCreateUser_CreatesAnActiveUserWhoCanLogIn(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	u, err := s.CreateUser(c, ownerActor(r), tenant.NewUser{Email: " Ada@ACME.example ", Name: " Ada ", Role: cic.RoleSupervisor, Password: otherPassword})
	mustOK(t, err)
	if u.Email != "ada@acme.example" || u.Name != "Ada" || u.Role != cic.RoleSupervisor || u.Status != tenant.StatusActive || u.TenantID != r.Tenant.ID {
		t.Fatalf("user %+v", u)
	}
	got, err := s.GetUser(c, ownerActor(r), u.ID)
	mustOK(t, err)
	if got.ID != u.ID || got.Email != u.Email || got.Role != u.Role {
		t.Fatalf("GetUser %+v, want %+v", got, u)
	}
	_, p, err := s.Login(c, tenant.LoginInput{Tenant: "acme", Email: "ada@acme.example", Password: otherPassword}, client)
	mustOK(t, err)
	if p.UserID != u.ID || p.Role != cic.RoleSupervisor {
		t.Fatalf("principal %+v", p)
	}
}

func TestCreateUser_RefusesBadInput(t *testing.T) {
	s, _ := newService(t)
	r := signup(t, s, "acme")
	for _, tc := range []struct {
		name string
		in   tenant.NewUser
		code string
	}{
		{"bad email", tenant.NewUser{Email: "ada", Name: "Ada", Role: cic.RoleAgent, Password: goodPassword}, "invalid_email"},
		{"no name", tenant.NewUser{Email: "ada@acme.example", Role: cic.RoleAgent, Password: goodPassword}, "missing_name"},
		{"unknown role", tenant.NewUser{Email: "ada@acme.example", Name: "Ada", Role: "root", Password: goodPassword}, "invalid_role"},
		{"no role", tenant.NewUser{Email: "ada@acme.example", Name: "Ada", Password: goodPassword}, "invalid_role"},
		{"weak password", tenant.NewUser{Email: "ada@acme.example", Name: "Ada", Role: cic.RoleAgent, Password: "aaaaaaaaaaaa"}, "weak_password"},
		{"no password", tenant.NewUser{Email: "ada@acme.example", Name: "Ada", Role: cic.RoleAgent}, "weak_password"},
		{"unknown department", tenant.NewUser{Email: "ada@acme.example", Name: "Ada", Role: cic.RoleAgent, Password: goodPassword, DepartmentID: ptr(uuid.New())}, "invalid_department"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateUser(ctx(t), ownerActor(r), tc.in)
			wantError(t, err, cic.EINVALID, tc.code)
		})
	}
}

func TestCreateUser_DuplicateEmailIsAConflict(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	createUser(t, s, ownerActor(r), "ada@acme.example", cic.RoleAgent)
	_, err := s.CreateUser(c, ownerActor(r), tenant.NewUser{Email: "ADA@acme.example", Name: "Ada Two", Role: cic.RoleAgent, Password: goodPassword})
	wantError(t, err, cic.ECONFLICT, "email_taken")
	// The same address in another tenant is another person.
	b := signup(t, s, "other")
	createUser(t, s, ownerActor(b), "ada@acme.example", cic.RoleAgent)
}

func TestCreateUser_RoleRules(t *testing.T) {
	s, _ := newService(t)
	r := signup(t, s, "acme")
	o := ownerActor(r)
	admin := actorOf(createUser(t, s, o, "admin@acme.example", cic.RoleAdmin))
	sup := actorOf(createUser(t, s, o, "sup@acme.example", cic.RoleSupervisor))
	agent := actorOf(createUser(t, s, o, "agent@acme.example", cic.RoleAgent))
	fin := actorOf(createUser(t, s, o, "fin@acme.example", cic.RoleFinance))

	n := 0
	for _, tc := range []struct {
		name  string
		actor tenant.Actor
		role  cic.Role
		ok    bool
	}{
		{"owner grants owner", o, cic.RoleOwner, true},
		{"owner grants admin", o, cic.RoleAdmin, true},
		{"admin grants admin", admin, cic.RoleAdmin, true},
		{"admin grants agent", admin, cic.RoleAgent, true},
		{"admin grants finance", admin, cic.RoleFinance, true},
		{"admin cannot grant owner", admin, cic.RoleOwner, false},
		{"supervisor cannot create users", sup, cic.RoleAgent, false},
		{"agent cannot create users", agent, cic.RoleAgent, false},
		{"finance cannot create users", fin, cic.RoleAgent, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n++
			u, err := s.CreateUser(ctx(t), tc.actor, tenant.NewUser{Email: fmt.Sprintf("new%d@acme.example", n), Name: "New", Role: tc.role, Password: goodPassword})
			if tc.ok {
				mustOK(t, err)
				if u.Role != tc.role {
					t.Fatalf("role %s, want %s", u.Role, tc.role)
				}
				return
			}
			wantError(t, err, cic.EFORBIDDEN, "forbidden")
		})
	}
}

func TestGetUser_OtherTenantsUserIsNotFound(t *testing.T) {
	s, _ := newService(t)
	a := signup(t, s, "tenant-a")
	b := signup(t, s, "tenant-b")
	u := createUser(t, s, ownerActor(a), "ada@a.example", cic.RoleAgent)
	got, err := s.GetUser(ctx(t), ownerActor(b), u.ID)
	wantError(t, err, cic.ENOTFOUND, "not_found")
	if got.ID != uuid.Nil {
		t.Fatalf("returned %+v", got)
	}
	_, err = s.GetUser(ctx(t), ownerActor(b), a.User.ID)
	wantError(t, err, cic.ENOTFOUND, "not_found")
}

func TestGetUser_AgentsSeeOnlyThemselves(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	agent := createUser(t, s, ownerActor(r), "agent@acme.example", cic.RoleAgent)
	sup := createUser(t, s, ownerActor(r), "sup@acme.example", cic.RoleSupervisor)

	me, err := s.GetUser(c, actorOf(agent), agent.ID)
	mustOK(t, err)
	if me.ID != agent.ID {
		t.Fatalf("got %s", me.ID)
	}
	_, err = s.GetUser(c, actorOf(agent), r.User.ID)
	wantError(t, err, cic.EFORBIDDEN, "forbidden")
	if _, err := s.GetUser(c, actorOf(sup), agent.ID); err != nil {
		t.Fatalf("supervisor reading an agent: %v", err)
	}
	_, _, err = s.ListUsers(c, actorOf(agent), tenant.UserFilter{})
	wantError(t, err, cic.EFORBIDDEN, "forbidden")
}

func TestListUsers_PagesThroughEveryUserOnceInEmailOrder(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	other := signup(t, s, "other")
	createUser(t, s, ownerActor(other), "zz-other@other.example", cic.RoleAgent)
	want := []string{r.User.Email}
	for _, name := range []string{"gus", "ada", "fay", "bob", "eve", "cy", "dan"} {
		u := createUser(t, s, ownerActor(r), name+"@acme.example", cic.RoleAgent)
		want = append(want, u.Email)
	}
	sort.Strings(want) // 8 users: the owner and 7 agents

	var got []string
	cursor := ""
	pages := 0
	for {
		users, next, err := s.ListUsers(c, ownerActor(r), tenant.UserFilter{Cursor: cursor, Limit: 3})
		mustOK(t, err)
		pages++
		if len(users) > 3 {
			t.Fatalf("page of %d users, limit 3", len(users))
		}
		for _, u := range users {
			if u.TenantID != r.Tenant.ID {
				t.Fatalf("another tenant's user %s listed", u.Email)
			}
			got = append(got, u.Email)
		}
		if next == "" {
			break
		}
		if pages > 10 {
			t.Fatal("cursor never ends")
		}
		cursor = next
	}
	if pages != 3 {
		t.Errorf("%d pages, want 3 for 8 users by 3", pages)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
}

func TestListUsers_ExactlyFullLastPageHasNoNextCursor(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	createUser(t, s, ownerActor(r), "ada@acme.example", cic.RoleAgent)
	users, next, err := s.ListUsers(c, ownerActor(r), tenant.UserFilter{Limit: 2})
	mustOK(t, err)
	if len(users) != 2 || next != "" {
		t.Fatalf("%d users, next %q; want 2 and no next page", len(users), next)
	}
}

func TestListUsers_FiltersByRoleAndStatus(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	o := ownerActor(r)
	createUser(t, s, o, "ada@acme.example", cic.RoleAgent)
	gone := createUser(t, s, o, "bob@acme.example", cic.RoleAgent)
	createUser(t, s, o, "cy@acme.example", cic.RoleFinance)
	_, err := s.DeactivateUser(c, o, gone.ID)
	mustOK(t, err)
	_, _, err = s.InviteUser(c, o, tenant.NewUser{Email: "dan@acme.example", Name: "Dan", Role: cic.RoleAgent})
	mustOK(t, err)

	emails := func(f tenant.UserFilter) string {
		t.Helper()
		users, _, err := s.ListUsers(c, o, f)
		mustOK(t, err)
		var out []string
		for _, u := range users {
			out = append(out, u.Email)
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		f    tenant.UserFilter
		want string
	}{
		{tenant.UserFilter{Role: cic.RoleAgent}, "[ada@acme.example bob@acme.example dan@acme.example]"},
		{tenant.UserFilter{Role: cic.RoleAgent, Status: tenant.StatusActive}, "[ada@acme.example]"},
		{tenant.UserFilter{Status: tenant.StatusDeactivated}, "[bob@acme.example]"},
		{tenant.UserFilter{Status: tenant.StatusInvited}, "[dan@acme.example]"},
		{tenant.UserFilter{Role: cic.RoleFinance}, "[cy@acme.example]"},
		{tenant.UserFilter{Role: cic.RoleSupervisor}, "[]"},
	} {
		if got := emails(tc.f); got != tc.want {
			t.Errorf("filter %+v: %s, want %s", tc.f, got, tc.want)
		}
	}
}

func TestListUsers_RefusesBadFilters(t *testing.T) {
	s, _ := newService(t)
	r := signup(t, s, "acme")
	for _, tc := range []struct {
		f    tenant.UserFilter
		code string
	}{
		{tenant.UserFilter{Cursor: "not base64!"}, "invalid_cursor"},
		{tenant.UserFilter{Role: "root"}, "invalid_role"},
		{tenant.UserFilter{Status: "banned"}, "invalid_status"},
	} {
		_, _, err := s.ListUsers(ctx(t), ownerActor(r), tc.f)
		wantError(t, err, cic.EINVALID, tc.code)
	}
}

func TestUpdateUser_ChangesNameRoleAndDepartment(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	o := ownerActor(r)
	d, err := s.CreateDepartment(c, o, tenant.DepartmentInput{Name: "Support"})
	mustOK(t, err)
	u := createUser(t, s, o, "ada@acme.example", cic.RoleAgent)
	sup, name := cic.RoleSupervisor, " Ada Lovelace "
	got, err := s.UpdateUser(c, o, u.ID, tenant.UserUpdate{Name: &name, Role: &sup, DepartmentID: &d.ID})
	mustOK(t, err)
	if got.Name != "Ada Lovelace" || got.Role != cic.RoleSupervisor || got.DepartmentID == nil || *got.DepartmentID != d.ID {
		t.Fatalf("updated %+v", got)
	}
	if !got.UpdatedAt.After(u.UpdatedAt) {
		t.Errorf("updated_at %v not after %v", got.UpdatedAt, u.UpdatedAt)
	}
	got, err = s.UpdateUser(c, o, u.ID, tenant.UserUpdate{ClearDepartment: true})
	mustOK(t, err)
	if got.DepartmentID != nil || got.Role != cic.RoleSupervisor || got.Name != "Ada Lovelace" {
		t.Fatalf("after clearing the department %+v", got)
	}
}

func TestUpdateUser_RefusesBadInput(t *testing.T) {
	s, _ := newService(t)
	r := signup(t, s, "acme")
	o := ownerActor(r)
	u := createUser(t, s, o, "ada@acme.example", cic.RoleAgent)
	empty, root, invited, foreign := "", cic.Role("root"), tenant.StatusInvited, uuid.New()
	for _, tc := range []struct {
		name string
		id   uuid.UUID
		up   tenant.UserUpdate
		kind cic.Kind
		code string
	}{
		{"empty name", u.ID, tenant.UserUpdate{Name: &empty}, cic.EINVALID, "missing_name"},
		{"unknown role", u.ID, tenant.UserUpdate{Role: &root}, cic.EINVALID, "invalid_role"},
		{"status invited", u.ID, tenant.UserUpdate{Status: &invited}, cic.EINVALID, "invalid_status"},
		{"unknown department", u.ID, tenant.UserUpdate{DepartmentID: &foreign}, cic.EINVALID, "invalid_department"},
		{"unknown user", uuid.New(), tenant.UserUpdate{Name: ptr("X")}, cic.ENOTFOUND, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.UpdateUser(ctx(t), o, tc.id, tc.up)
			wantError(t, err, tc.kind, tc.code)
		})
	}
}

func TestUpdateUser_OnlyManagersMayAndAdminsCannotTouchOwners(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	o := ownerActor(r)
	admin := actorOf(createUser(t, s, o, "admin@acme.example", cic.RoleAdmin))
	sup := actorOf(createUser(t, s, o, "sup@acme.example", cic.RoleSupervisor))
	agent := createUser(t, s, o, "agent@acme.example", cic.RoleAgent)
	owner2 := createUser(t, s, o, "owner2@acme.example", cic.RoleOwner)
	ownerRole, agentRole, name := cic.RoleOwner, cic.RoleAgent, "Renamed"

	_, err := s.UpdateUser(c, sup, agent.ID, tenant.UserUpdate{Name: &name})
	wantError(t, err, cic.EFORBIDDEN, "forbidden")
	_, err = s.UpdateUser(c, admin, agent.ID, tenant.UserUpdate{Role: &ownerRole})
	wantError(t, err, cic.EFORBIDDEN, "forbidden")
	_, err = s.UpdateUser(c, admin, owner2.ID, tenant.UserUpdate{Role: &agentRole})
	wantError(t, err, cic.EFORBIDDEN, "forbidden")
	_, err = s.DeactivateUser(c, admin, owner2.ID)
	wantError(t, err, cic.EFORBIDDEN, "forbidden")
	_, err = s.UpdateUser(c, admin, owner2.ID, tenant.UserUpdate{Name: &name})
	wantError(t, err, cic.EFORBIDDEN, "forbidden")
	// Nothing changed.
	got, err := s.GetUser(c, o, owner2.ID)
	mustOK(t, err)
	if got.Role != cic.RoleOwner || got.Status != tenant.StatusActive || got.Name == name {
		t.Fatalf("owner changed by an admin: %+v", got)
	}
	// An owner may demote another owner.
	got, err = s.UpdateUser(c, o, owner2.ID, tenant.UserUpdate{Role: &agentRole})
	mustOK(t, err)
	if got.Role != cic.RoleAgent {
		t.Fatalf("role %s", got.Role)
	}
}

func TestUpdateUser_NobodyChangesTheirOwnRoleOrStatus(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	o := ownerActor(r)
	admin := createUser(t, s, o, "admin@acme.example", cic.RoleAdmin)
	agentRole, name := cic.RoleAgent, "New Name"

	_, err := s.UpdateUser(c, o, r.User.ID, tenant.UserUpdate{Role: &agentRole})
	wantError(t, err, cic.EINVALID, "cannot_change_self")
	_, err = s.DeactivateUser(c, o, r.User.ID)
	wantError(t, err, cic.EINVALID, "cannot_change_self")
	_, err = s.DeactivateUser(c, actorOf(admin), admin.ID)
	wantError(t, err, cic.EINVALID, "cannot_change_self")
	// Renaming yourself is fine.
	got, err := s.UpdateUser(c, o, r.User.ID, tenant.UserUpdate{Name: &name})
	mustOK(t, err)
	if got.Name != name || got.Role != cic.RoleOwner {
		t.Fatalf("after renaming self %+v", got)
	}
}

func TestUpdateUser_TheLastActiveOwnerCannotBeDemotedOrDeactivated(t *testing.T) {
	// Two owners each demote the other, one after the other: the second
	// acts with a role it has just lost (a request already in flight, as
	// when both click at once), and must not leave the tenant ownerless.
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	o1 := ownerActor(r)
	owner2 := createUser(t, s, o1, "owner2@acme.example", cic.RoleOwner)
	o2 := actorOf(owner2)
	agentRole := cic.RoleAgent

	_, err := s.UpdateUser(c, o1, owner2.ID, tenant.UserUpdate{Role: &agentRole})
	mustOK(t, err)
	_, err = s.UpdateUser(c, o2, r.User.ID, tenant.UserUpdate{Role: &agentRole})
	wantError(t, err, cic.ECONFLICT, "last_owner")
	_, err = s.DeactivateUser(c, o2, r.User.ID)
	wantError(t, err, cic.ECONFLICT, "last_owner")

	got, err := s.GetUser(c, o1, r.User.ID)
	mustOK(t, err)
	if got.Role != cic.RoleOwner || got.Status != tenant.StatusActive {
		t.Fatalf("last owner is now %s/%s", got.Role, got.Status)
	}
	// A deactivated owner does not count either.
	owner3 := createUser(t, s, o1, "owner3@acme.example", cic.RoleOwner)
	_, err = s.DeactivateUser(c, o1, owner3.ID)
	mustOK(t, err)
	_, err = s.DeactivateUser(c, actorOf(owner3), r.User.ID)
	wantError(t, err, cic.ECONFLICT, "last_owner")
}

func TestDeactivateUser_EndsLoginAndSessions(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	u := createUser(t, s, ownerActor(r), "ada@acme.example", cic.RoleAgent)
	in := tenant.LoginInput{Tenant: "acme", Email: u.Email, Password: goodPassword}
	tok, _, err := s.Login(c, in, client)
	mustOK(t, err)

	got, err := s.DeactivateUser(c, ownerActor(r), u.ID)
	mustOK(t, err)
	if got.Status != tenant.StatusDeactivated {
		t.Fatalf("status %s", got.Status)
	}
	_, _, err = s.Login(c, in, client)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_credentials")
	_, _, err = s.Refresh(c, tok.RefreshToken, client)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_refresh_token")

	// Reactivated, they can log in again (old sessions stay ended).
	active := tenant.StatusActive
	_, err = s.UpdateUser(c, ownerActor(r), u.ID, tenant.UserUpdate{Status: &active})
	mustOK(t, err)
	if _, _, err := s.Login(c, in, client); err != nil {
		t.Fatalf("login after reactivation: %v", err)
	}
	_, _, err = s.Refresh(c, tok.RefreshToken, client)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_refresh_token")
}

func TestUpdateUser_InvitedUserCannotBeActivatedByHand(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	u, _, err := s.InviteUser(c, ownerActor(r), tenant.NewUser{Email: "ivy@acme.example", Name: "Ivy", Role: cic.RoleAgent})
	mustOK(t, err)
	st := tenant.StatusActive
	_, err = s.UpdateUser(c, ownerActor(r), u.ID, tenant.UserUpdate{Status: &st})
	wantError(t, err, cic.ECONFLICT, "invitation_pending")
}

func TestDeactivateUser_InvitedUserLosesTheInvitation(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	u, token, err := s.InviteUser(c, ownerActor(r), tenant.NewUser{Email: "ivy@acme.example", Name: "Ivy", Role: cic.RoleAgent})
	mustOK(t, err)
	_, err = s.DeactivateUser(c, ownerActor(r), u.ID)
	mustOK(t, err)
	_, _, err = s.AcceptInvitation(c, token, goodPassword, client)
	wantError(t, err, cic.ENOTFOUND, "invalid_invitation")
}

func TestRevokeInvitation_LinkNoLongerWorks(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	other := signup(t, s, "other")
	u, token, err := s.InviteUser(c, ownerActor(r), tenant.NewUser{Email: "ivy@acme.example", Name: "Ivy", Role: cic.RoleAgent})
	mustOK(t, err)
	// Another tenant's owner cannot revoke it.
	err = s.RevokeInvitation(c, ownerActor(other), u.ID)
	wantError(t, err, cic.ENOTFOUND, "not_found")
	mustOK(t, s.RevokeInvitation(c, ownerActor(r), u.ID))
	_, _, err = s.AcceptInvitation(c, token, goodPassword, client)
	wantError(t, err, cic.ENOTFOUND, "invalid_invitation")
	err = s.RevokeInvitation(c, ownerActor(r), u.ID)
	wantError(t, err, cic.ECONFLICT, "not_invited")
}

func TestChangePassword_PolicyAndTokensEnd(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	_, err := s.ChangePassword(c, ownerActor(r), tenant.PasswordChange{Current: goodPassword, New: "password12"}, client)
	wantError(t, err, cic.EINVALID, "weak_password")
	_, err = s.ChangePassword(c, ownerActor(r), tenant.PasswordChange{Current: "wrong password!", New: otherPassword}, client)
	wantError(t, err, cic.EINVALID, "wrong_password")
	fresh, err := s.ChangePassword(c, ownerActor(r), tenant.PasswordChange{Current: goodPassword, New: otherPassword}, client)
	mustOK(t, err)
	_, err = s.Authenticate(c, r.Tokens.AccessToken)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_token")
	_, _, err = s.Refresh(c, r.Tokens.RefreshToken, client)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_refresh_token")
	_, err = s.Authenticate(c, fresh.AccessToken)
	mustOK(t, err)
}

func TestLogout_EndsTheAccessTokenAtOnce(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	mustOK(t, s.Logout(c, r.Tokens.RefreshToken))
	_, err := s.Authenticate(c, r.Tokens.AccessToken)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_token")
}

func TestAcceptInvitation_RefusesPassword12(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	_, token, err := s.InviteUser(c, ownerActor(r), tenant.NewUser{Email: "ivy@acme.example", Name: "Ivy", Role: cic.RoleAgent})
	mustOK(t, err)
	_, _, err = s.AcceptInvitation(c, token, "password12", client)
	wantError(t, err, cic.EINVALID, "weak_password")
}

func TestUpdateUser_AcrossTenantsIsNotFound(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	a := signup(t, s, "tenant-a")
	b := signup(t, s, "tenant-b")
	u := createUser(t, s, ownerActor(a), "ada@a.example", cic.RoleAgent)
	_, err := s.DeactivateUser(c, ownerActor(b), u.ID)
	wantError(t, err, cic.ENOTFOUND, "not_found")
	got, err := s.GetUser(c, ownerActor(a), u.ID)
	mustOK(t, err)
	if got.Status != tenant.StatusActive {
		t.Fatalf("tenant B deactivated tenant A's user")
	}
}

func TestAudit_RecordsUserCreateUpdateAndDeactivate(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	o := ownerActor(r)
	o.IP, o.RequestID = "203.0.113.50", "req-audit"
	u := createUser(t, s, o, "ada@acme.example", cic.RoleAgent)
	sup := cic.RoleSupervisor
	_, err := s.UpdateUser(c, o, u.ID, tenant.UserUpdate{Role: &sup})
	mustOK(t, err)
	_, err = s.DeactivateUser(c, o, u.ID)
	mustOK(t, err)
	// A no-op update writes nothing.
	_, err = s.UpdateUser(c, o, u.ID, tenant.UserUpdate{Role: &sup})
	mustOK(t, err)

	entries, err := s.ListAudit(c, o, 0, 3)
	mustOK(t, err)
	if len(entries) != 3 {
		t.Fatalf("%d entries", len(entries))
	}
	// Newest first.
	wantActions := []string{"user.update", "user.update", "user.create"}
	for i, e := range entries {
		if e.Action != wantActions[i] || e.ActorID == nil || *e.ActorID != r.User.ID || e.ActorRole != "owner" ||
			e.IP != o.IP || e.RequestID != o.RequestID || e.TargetType != "user" || e.TargetID != u.ID.String() {
			t.Errorf("entry %d: %+v, want %s of %s by the owner from %s", i, e, wantActions[i], u.ID, o.IP)
		}
		if i > 0 && !(e.ID < entries[i-1].ID) {
			t.Errorf("entries not newest first: %d after %d", e.ID, entries[i-1].ID)
		}
	}
	if st, _ := entries[0].Details["status"].(map[string]any); st["from"] != "active" || st["to"] != "deactivated" {
		t.Errorf("deactivation details %v", entries[0].Details)
	}
	if rl, _ := entries[1].Details["role"].(map[string]any); rl["from"] != "agent" || rl["to"] != "supervisor" {
		t.Errorf("role change details %v", entries[1].Details)
	}
	if entries[2].Details["email"] != "ada@acme.example" || entries[2].Details["role"] != "agent" {
		t.Errorf("create details %v", entries[2].Details)
	}

	// Paging back with before.
	older, err := s.ListAudit(c, o, entries[2].ID, 200)
	mustOK(t, err)
	for _, e := range older {
		if e.ID >= entries[2].ID {
			t.Fatalf("before=%d returned entry %d", entries[2].ID, e.ID)
		}
	}
	if len(older) == 0 || older[len(older)-1].Action != "tenant.signup" {
		t.Fatalf("oldest entry is not the sign-up: %+v", older)
	}
}

func TestAudit_IsForManagersAndOwnTenantOnly(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	a := signup(t, s, "tenant-a")
	b := signup(t, s, "tenant-b")
	agent := createUser(t, s, ownerActor(a), "agent@a.example", cic.RoleAgent)
	_, err := s.ListAudit(c, actorOf(agent), 0, 0)
	wantError(t, err, cic.EFORBIDDEN, "forbidden")
	entries, err := s.ListAudit(c, ownerActor(b), 0, 0)
	mustOK(t, err)
	for _, e := range entries {
		if e.TargetID == agent.ID.String() || e.TargetID == a.Tenant.ID.String() {
			t.Fatalf("tenant B sees tenant A's audit entry %+v", e)
		}
	}
}

func TestDepartments_CreateAssignAndRefuseToDeleteWhileInUse(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	o := ownerActor(r)
	d, err := s.CreateDepartment(c, o, tenant.DepartmentInput{Name: " Support ", CostCentre: " CC-100 "})
	mustOK(t, err)
	if d.Name != "Support" || d.CostCentre != "CC-100" || d.Users != 0 {
		t.Fatalf("department %+v", d)
	}
	u, err := s.CreateUser(c, o, tenant.NewUser{Email: "ada@acme.example", Name: "Ada", Role: cic.RoleAgent, Password: goodPassword, DepartmentID: &d.ID})
	mustOK(t, err)
	if u.DepartmentID == nil || *u.DepartmentID != d.ID {
		t.Fatalf("user department %v", u.DepartmentID)
	}
	got, err := s.GetDepartment(c, o, d.ID)
	mustOK(t, err)
	if got.Users != 1 {
		t.Fatalf("department users %d, want 1", got.Users)
	}

	err = s.DeleteDepartment(c, o, d.ID)
	wantError(t, err, cic.ECONFLICT, "department_in_use")
	if _, err := s.GetDepartment(c, o, d.ID); err != nil {
		t.Fatalf("department gone after a refused delete: %v", err)
	}

	_, err = s.UpdateUser(c, o, u.ID, tenant.UserUpdate{ClearDepartment: true})
	mustOK(t, err)
	mustOK(t, s.DeleteDepartment(c, o, d.ID))
	_, err = s.GetDepartment(c, o, d.ID)
	wantError(t, err, cic.ENOTFOUND, "not_found")
	err = s.DeleteDepartment(c, o, d.ID)
	wantError(t, err, cic.ENOTFOUND, "not_found")
}

func TestDepartments_NamesAreUniqueIgnoringCase(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	o := ownerActor(r)
	_, err := s.CreateDepartment(c, o, tenant.DepartmentInput{Name: "Support"})
	mustOK(t, err)
	sales, err := s.CreateDepartment(c, o, tenant.DepartmentInput{Name: "Sales"})
	mustOK(t, err)
	_, err = s.CreateDepartment(c, o, tenant.DepartmentInput{Name: "SUPPORT"})
	wantError(t, err, cic.ECONFLICT, "department_exists")
	_, err = s.UpdateDepartment(c, o, sales.ID, tenant.DepartmentInput{Name: "support"})
	wantError(t, err, cic.ECONFLICT, "department_exists")
	// Another tenant may use the name.
	b := signup(t, s, "other")
	_, err = s.CreateDepartment(c, ownerActor(b), tenant.DepartmentInput{Name: "Support"})
	mustOK(t, err)

	list, err := s.ListDepartments(c, o)
	mustOK(t, err)
	if len(list) != 2 || list[0].Name != "Sales" || list[1].Name != "Support" {
		t.Fatalf("departments %+v, want Sales and Support by name", list)
	}
}

func TestDepartments_UpdateRenamesAndRefusesBadInput(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	o := ownerActor(r)
	d, err := s.CreateDepartment(c, o, tenant.DepartmentInput{Name: "Support"})
	mustOK(t, err)
	got, err := s.UpdateDepartment(c, o, d.ID, tenant.DepartmentInput{Name: "Customer Care", CostCentre: "CC-7"})
	mustOK(t, err)
	if got.ID != d.ID || got.Name != "Customer Care" || got.CostCentre != "CC-7" {
		t.Fatalf("updated %+v", got)
	}
	_, err = s.UpdateDepartment(c, o, uuid.New(), tenant.DepartmentInput{Name: "X"})
	wantError(t, err, cic.ENOTFOUND, "not_found")
	_, err = s.CreateDepartment(c, o, tenant.DepartmentInput{Name: ""})
	wantError(t, err, cic.EINVALID, "missing_name")
	_, err = s.CreateDepartment(c, o, tenant.DepartmentInput{Name: "Ops", CostCentre: "CC\n1"})
	wantError(t, err, cic.EINVALID, "invalid_cost_centre")
	_, err = s.CreateDepartment(c, o, tenant.DepartmentInput{Name: "Ops", CostCentre: fmt.Sprintf("%051d", 0)})
	wantError(t, err, cic.EINVALID, "invalid_cost_centre")
}

func TestDepartments_OnlyManagersChangeThem(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	o := ownerActor(r)
	d, err := s.CreateDepartment(c, o, tenant.DepartmentInput{Name: "Support"})
	mustOK(t, err)
	sup := actorOf(createUser(t, s, o, "sup@acme.example", cic.RoleSupervisor))
	_, err = s.CreateDepartment(c, sup, tenant.DepartmentInput{Name: "Shadow"})
	wantError(t, err, cic.EFORBIDDEN, "forbidden")
	_, err = s.UpdateDepartment(c, sup, d.ID, tenant.DepartmentInput{Name: "Mine"})
	wantError(t, err, cic.EFORBIDDEN, "forbidden")
	wantError(t, s.DeleteDepartment(c, sup, d.ID), cic.EFORBIDDEN, "forbidden")
	// Reading is for everyone in the tenant.
	list, err := s.ListDepartments(c, sup)
	mustOK(t, err)
	if len(list) != 1 {
		t.Fatalf("%d departments", len(list))
	}
}

func TestDepartments_AnotherTenantsDepartmentCannotBeUsed(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	a := signup(t, s, "tenant-a")
	b := signup(t, s, "tenant-b")
	d, err := s.CreateDepartment(c, ownerActor(a), tenant.DepartmentInput{Name: "Support"})
	mustOK(t, err)
	_, err = s.GetDepartment(c, ownerActor(b), d.ID)
	wantError(t, err, cic.ENOTFOUND, "not_found")
	wantError(t, s.DeleteDepartment(c, ownerActor(b), d.ID), cic.ENOTFOUND, "not_found")
	_, err = s.CreateUser(c, ownerActor(b), tenant.NewUser{Email: "x@b.example", Name: "X", Role: cic.RoleAgent, Password: goodPassword, DepartmentID: &d.ID})
	wantError(t, err, cic.EINVALID, "invalid_department")
	_, err = s.UpdateUser(c, ownerActor(b), b.User.ID, tenant.UserUpdate{DepartmentID: &d.ID})
	wantError(t, err, cic.EINVALID, "invalid_department")
}

func ptr[T any](v T) *T { return &v }
