package tenant_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

func invite(t *testing.T, s *tenant.Service, a tenant.Actor, email string, role cic.Role) (tenant.User, string) {
	t.Helper()
	u, token, err := s.InviteUser(ctx(t), a, tenant.NewUser{Email: email, Name: "Ivy Invitee", Role: role})
	if err != nil {
		t.Fatalf("invite %s: %v", email, err)
	}
	return u, token
}

func TestInvitation_AcceptSetsPasswordActivatesAndLogsIn(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	u, token := invite(t, s, ownerActor(r), "Ivy@Acme.example", cic.RoleSupervisor)
	if u.Status != tenant.StatusInvited || u.Email != "ivy@acme.example" || u.Role != cic.RoleSupervisor {
		t.Fatalf("invited user %+v", u)
	}
	if !strings.HasPrefix(token, "iv1."+r.Tenant.ID.String()+".") {
		t.Fatalf("token %q", token)
	}

	inv, err := s.GetInvitation(c, token)
	mustOK(t, err)
	if inv.Email != "ivy@acme.example" || inv.Name != "Ivy Invitee" || inv.TenantSlug != "acme" || inv.TenantName != "Company acme" {
		t.Fatalf("invitation %+v", inv)
	}
	if d := time.Until(inv.ExpiresAt); d < 6*24*time.Hour || d > 7*24*time.Hour {
		t.Fatalf("expires in %v, want about 7 days", d)
	}

	tok, p, err := s.AcceptInvitation(c, token, otherPassword, client)
	mustOK(t, err)
	if p.UserID != u.ID || p.Role != cic.RoleSupervisor || p.TenantSlug != "acme" {
		t.Fatalf("principal %+v", p)
	}
	if _, err := s.Authenticate(c, tok.AccessToken); err != nil {
		t.Fatalf("access token from accepting: %v", err)
	}
	if _, _, err := s.Refresh(c, tok.RefreshToken, client); err != nil {
		t.Fatalf("refresh token from accepting: %v", err)
	}
	got, err := s.GetUser(c, ownerActor(r), u.ID)
	mustOK(t, err)
	if got.Status != tenant.StatusActive || got.LastLoginAt == nil {
		t.Fatalf("user after accepting %+v", got)
	}
	if _, _, err := s.Login(c, tenant.LoginInput{Tenant: "acme", Email: "ivy@acme.example", Password: otherPassword}, client); err != nil {
		t.Fatalf("login with the chosen password: %v", err)
	}
	entries, err := s.ListAudit(c, ownerActor(r), 0, 0)
	mustOK(t, err)
	var sawInvite, sawAccept bool
	for _, e := range entries {
		sawInvite = sawInvite || (e.Action == "user.invite" && e.TargetID == u.ID.String() && *e.ActorID == r.User.ID)
		sawAccept = sawAccept || (e.Action == "user.accept_invitation" && *e.ActorID == u.ID && e.IP == client.IP)
	}
	if !sawInvite || !sawAccept {
		t.Fatalf("audit has invite=%v accept=%v: %+v", sawInvite, sawAccept, entries)
	}
}

func TestInvitation_WorksOnce(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	_, token := invite(t, s, ownerActor(r), "ivy@acme.example", cic.RoleAgent)
	_, _, err := s.AcceptInvitation(c, token, otherPassword, client)
	mustOK(t, err)

	_, _, err = s.AcceptInvitation(c, token, "a hijacker's password", client)
	wantError(t, err, cic.ENOTFOUND, "invalid_invitation")
	_, err = s.GetInvitation(c, token)
	wantError(t, err, cic.ENOTFOUND, "invalid_invitation")
	// The first password still holds.
	_, _, err = s.Login(c, tenant.LoginInput{Tenant: "acme", Email: "ivy@acme.example", Password: "a hijacker's password"}, client)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_credentials")
}

func TestInvitation_ExpiredIsRefused(t *testing.T) {
	// Expiry is checked against the database clock, so the invitation is
	// made in the past (s.Now) rather than accepted in the future.
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	s.Now = func() time.Time { return time.Now().Add(-s.InviteTTL - time.Minute) }
	u, token := invite(t, s, ownerActor(r), "ivy@acme.example", cic.RoleAgent)
	s.Now = time.Now

	_, err := s.GetInvitation(c, token)
	wantError(t, err, cic.ENOTFOUND, "invalid_invitation")
	_, _, err = s.AcceptInvitation(c, token, otherPassword, client)
	wantError(t, err, cic.ENOTFOUND, "invalid_invitation")
	got, err := s.GetUser(c, ownerActor(r), u.ID)
	mustOK(t, err)
	if got.Status != tenant.StatusInvited {
		t.Fatalf("status %s after an expired accept", got.Status)
	}
	// Inviting again gives a working link.
	_, fresh := invite(t, s, ownerActor(r), "ivy@acme.example", cic.RoleAgent)
	if _, _, err := s.AcceptInvitation(c, fresh, otherPassword, client); err != nil {
		t.Fatalf("fresh invitation: %v", err)
	}
}

func TestInvitation_TamperedTokenIsRefused(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	a := signup(t, s, "acme")
	b := signup(t, s, "other")
	_, token := invite(t, s, ownerActor(a), "ivy@acme.example", cic.RoleAgent)
	parts := strings.Split(token, ".")
	flip := []byte(parts[3])
	if flip[0] == 'A' {
		flip[0] = 'B'
	} else {
		flip[0] = 'A'
	}
	for name, tok := range map[string]string{
		"secret changed":    strings.Join([]string{parts[0], parts[1], parts[2], string(flip)}, "."),
		"secret truncated":  strings.Join([]string{parts[0], parts[1], parts[2], parts[3][:39]}, "."),
		"other tenant":      strings.Join([]string{parts[0], b.Tenant.ID.String(), parts[2], parts[3]}, "."),
		"other id":          strings.Join([]string{parts[0], parts[1], uuid.NewString(), parts[3]}, "."),
		"refresh prefix":    strings.Join([]string{"rt1", parts[1], parts[2], parts[3]}, "."),
		"a refresh token":   a.Tokens.RefreshToken,
		"empty":             "",
		"nil tenant":        strings.Join([]string{parts[0], uuid.Nil.String(), parts[2], parts[3]}, "."),
		"extra part":        token + ".x",
		"tenant not a uuid": strings.Join([]string{parts[0], "acme", parts[2], parts[3]}, "."),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.GetInvitation(c, tok)
			wantError(t, err, cic.ENOTFOUND, "invalid_invitation")
			_, _, err = s.AcceptInvitation(c, tok, otherPassword, client)
			wantError(t, err, cic.ENOTFOUND, "invalid_invitation")
		})
	}
	// None of that used up the real link.
	if _, _, err := s.AcceptInvitation(c, token, otherPassword, client); err != nil {
		t.Fatalf("genuine token after tampering attempts: %v", err)
	}
}

func TestInvitation_WeakPasswordIsRefusedAndTheLinkStaysValid(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	_, token := invite(t, s, ownerActor(r), "ivy@acme.example", cic.RoleAgent)
	for _, pw := range []string{"short", "password123", "aaaaaaaaaaaa"} {
		_, _, err := s.AcceptInvitation(c, token, pw, client)
		wantError(t, err, cic.EINVALID, "weak_password")
	}
	if _, err := s.GetInvitation(c, token); err != nil {
		t.Fatalf("invitation spent by a refused password: %v", err)
	}
	if _, _, err := s.AcceptInvitation(c, token, otherPassword, client); err != nil {
		t.Fatal(err)
	}
}

func TestInviteUser_AgainReplacesTheLink(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	u1, old := invite(t, s, ownerActor(r), "ivy@acme.example", cic.RoleAgent)
	u2, fresh := invite(t, s, ownerActor(r), "IVY@acme.example", cic.RoleAgent)
	if u1.ID != u2.ID {
		t.Fatalf("re-invite created another user: %s vs %s", u1.ID, u2.ID)
	}
	if old == fresh {
		t.Fatal("re-invite returned the same token")
	}
	_, err := s.GetInvitation(c, old)
	wantError(t, err, cic.ENOTFOUND, "invalid_invitation")
	if _, _, err := s.AcceptInvitation(c, fresh, otherPassword, client); err != nil {
		t.Fatalf("new link: %v", err)
	}
}

func TestInviteUser_RefusesExistingUsersAndFollowsRoleRules(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	o := ownerActor(r)
	admin := actorOf(createUser(t, s, o, "admin@acme.example", cic.RoleAdmin))
	agent := actorOf(createUser(t, s, o, "agent@acme.example", cic.RoleAgent))

	_, _, err := s.InviteUser(c, o, tenant.NewUser{Email: "agent@acme.example", Name: "Again", Role: cic.RoleAgent})
	wantError(t, err, cic.ECONFLICT, "email_taken")
	_, _, err = s.InviteUser(c, admin, tenant.NewUser{Email: "boss@acme.example", Name: "Boss", Role: cic.RoleOwner})
	wantError(t, err, cic.EFORBIDDEN, "forbidden")
	_, _, err = s.InviteUser(c, agent, tenant.NewUser{Email: "pal@acme.example", Name: "Pal", Role: cic.RoleAgent})
	wantError(t, err, cic.EFORBIDDEN, "forbidden")
	_, _, err = s.InviteUser(c, o, tenant.NewUser{Email: "bad", Name: "Bad", Role: cic.RoleAgent})
	wantError(t, err, cic.EINVALID, "invalid_email")
	if _, _, err := s.InviteUser(c, admin, tenant.NewUser{Email: "pal@acme.example", Name: "Pal", Role: cic.RoleFinance}); err != nil {
		t.Fatalf("admin inviting finance: %v", err)
	}
}

func TestInviteUser_InvitedUserCannotLogInUntilAccepting(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	_, token := invite(t, s, ownerActor(r), "ivy@acme.example", cic.RoleAgent)
	in := tenant.LoginInput{Tenant: "acme", Email: "ivy@acme.example", Password: otherPassword}
	_, _, err := s.Login(c, in, client)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_credentials")
	_, _, err = s.AcceptInvitation(c, token, otherPassword, client)
	mustOK(t, err)
	_, _, err = s.Login(c, in, client)
	mustOK(t, err)
}
