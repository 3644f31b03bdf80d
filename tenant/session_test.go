package tenant_test

import (
	"strings"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant"
)

func TestLogin_ReturnsWorkingTokensAndThePrincipal(t *testing.T) {
	s, db := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")

	tok, p, err := s.Login(c, tenant.LoginInput{Tenant: " ACME ", Email: " Owner@ACME.example ", Password: goodPassword}, client)
	mustOK(t, err)
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn != int(s.AccessTTL.Seconds()) {
		t.Fatalf("tokens %+v", tok)
	}
	if !strings.HasPrefix(tok.RefreshToken, "rt1."+r.Tenant.ID.String()+".") {
		t.Fatalf("refresh token %q does not name the tenant", tok.RefreshToken)
	}
	if p.UserID != r.User.ID || p.TenantID != r.Tenant.ID || p.Role != cic.RoleOwner ||
		p.Email != "owner@acme.example" || p.TenantSlug != "acme" || p.TenantName != "Company acme" {
		t.Fatalf("principal %+v", p)
	}
	claims, err := s.Keys.Verify(tok.AccessToken, time.Now())
	mustOK(t, err)
	if claims.Subject != r.User.ID.String() || claims.Tenant != r.Tenant.ID.String() || claims.Role != "owner" {
		t.Fatalf("claims %+v", claims)
	}
	got, err := s.Authenticate(c, tok.AccessToken)
	mustOK(t, err)
	if got.UserID != r.User.ID || got.TenantSlug != "acme" {
		t.Fatalf("authenticated %+v", got)
	}

	// The refresh token is stored hashed, with where it came from.
	var hash []byte
	var ip, ua string
	mustOK(t, db.Owner.QueryRow(c, `SELECT token_hash, ip, user_agent FROM refresh_tokens WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT 1`, r.Tenant.ID).Scan(&hash, &ip, &ua))
	secret := tok.RefreshToken[strings.LastIndexByte(tok.RefreshToken, '.')+1:]
	if len(hash) != 32 || strings.Contains(string(hash), secret) {
		t.Fatalf("stored token hash %x looks like the secret itself", hash)
	}
	if ip != client.IP || ua != client.UserAgent {
		t.Fatalf("stored ip %q ua %q", ip, ua)
	}
	var last *time.Time
	mustOK(t, db.Owner.QueryRow(c, `SELECT last_login_at FROM users WHERE id = $1`, r.User.ID).Scan(&last))
	if last == nil {
		t.Fatal("last_login_at not set")
	}
}

func TestLogin_AllFailuresLookTheSame(t *testing.T) {
	s, db := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	signup(t, s, "other")
	o := ownerActor(r)
	gone := createUser(t, s, o, "gone@acme.example", cic.RoleAgent)
	_, err := s.DeactivateUser(c, o, gone.ID)
	mustOK(t, err)
	_, _, err = s.InviteUser(c, o, tenant.NewUser{Email: "invited@acme.example", Name: "Ivy", Role: cic.RoleAgent})
	mustOK(t, err)
	signup(t, s, "frozen")
	_, err = db.Owner.Exec(c, `UPDATE tenants SET status = 'suspended' WHERE slug = 'frozen'`)
	mustOK(t, err)

	_, _, ref := s.Login(c, tenant.LoginInput{Tenant: "acme", Email: "owner@acme.example", Password: "wrong password!"}, client)
	want := wantError(t, ref, cic.EUNAUTHORIZED, "invalid_credentials")

	for _, tc := range []struct {
		name string
		in   tenant.LoginInput
	}{
		{"unknown user", tenant.LoginInput{Tenant: "acme", Email: "nobody@acme.example", Password: goodPassword}},
		{"unknown company", tenant.LoginInput{Tenant: "no-such-co", Email: "owner@acme.example", Password: goodPassword}},
		{"user of another company", tenant.LoginInput{Tenant: "acme", Email: "owner@other.example", Password: goodPassword}},
		{"deactivated user, right password", tenant.LoginInput{Tenant: "acme", Email: "gone@acme.example", Password: goodPassword}},
		{"invited user without password", tenant.LoginInput{Tenant: "acme", Email: "invited@acme.example", Password: goodPassword}},
		{"suspended company, right password", tenant.LoginInput{Tenant: "frozen", Email: "owner@frozen.example", Password: goodPassword}},
		{"overlong password", tenant.LoginInput{Tenant: "acme", Email: "owner@acme.example", Password: strings.Repeat("x", 129)}},
		{"overlong company", tenant.LoginInput{Tenant: strings.Repeat("a", 65), Email: "owner@acme.example", Password: goodPassword}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, p, err := s.Login(c, tc.in, client)
			e := wantError(t, err, cic.EUNAUTHORIZED, "invalid_credentials")
			if *e != *want {
				t.Fatalf("error %+v differs from a wrong password's %+v", e, want)
			}
			if tok != (tenant.Tokens{}) || p.UserID != uuid.Nil {
				t.Fatalf("returned tokens %+v / principal %+v alongside the error", tok, p)
			}
		})
	}
}

func TestLogin_RequiresAllThreeFields(t *testing.T) {
	s, _ := newService(t)
	for name, in := range map[string]tenant.LoginInput{
		"no company":  {Email: "a@b.example", Password: goodPassword},
		"no e-mail":   {Tenant: "acme", Password: goodPassword},
		"no password": {Tenant: "acme", Email: "a@b.example"},
		"blank":       {Tenant: "  ", Email: " ", Password: goodPassword},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := s.Login(ctx(t), in, client)
			wantError(t, err, cic.EINVALID, "missing_credentials")
		})
	}
}

func TestLogin_WritesAnAuditEntry(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	_, _, err := s.Login(c, loginInput(r), client)
	mustOK(t, err)
	entries, err := s.ListAudit(c, ownerActor(r), 0, 1)
	mustOK(t, err)
	if len(entries) != 1 || entries[0].Action != "session.login" || entries[0].IP != client.IP ||
		entries[0].RequestID != client.RequestID || entries[0].ActorID == nil || *entries[0].ActorID != r.User.ID {
		t.Fatalf("newest audit entry %+v, want session.login by the owner from %s", entries, client.IP)
	}
}

func TestLogin_ThirdAttemptPerAccountIsRateLimited(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	s.Limiter = tenant.NewLimiter(testenv.NewRedis(t), testenv.Prefix(), tenant.Limits{LoginPerAccount: redis_rate.PerMinute(2)})

	_, _, err := s.Login(c, loginInput(r), client)
	mustOK(t, err)
	bad := loginInput(r)
	bad.Password = "wrong password!"
	_, _, err = s.Login(c, bad, client)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_credentials")

	// Even the right password is refused now: the limit comes first.
	_, _, err = s.Login(c, loginInput(r), client)
	e := wantError(t, err, cic.ERATELIMIT, "rate_limited")
	if !strings.Contains(e.Message, "seconds") {
		t.Fatalf("message %q does not say how long to wait", e.Message)
	}
	// The bucket is per account: e-mail case does not escape it...
	other := loginInput(r)
	other.Email = strings.ToUpper(other.Email)
	_, _, err = s.Login(c, other, tenant.ClientMeta{IP: "192.0.2.200"})
	wantError(t, err, cic.ERATELIMIT, "rate_limited")
	// ...but another account is unaffected.
	u := createUser(t, s, ownerActor(r), "agent@acme.example", cic.RoleAgent)
	_, _, err = s.Login(c, tenant.LoginInput{Tenant: "acme", Email: u.Email, Password: goodPassword}, client)
	mustOK(t, err)
}

func TestLogin_IsRateLimitedPerIP(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	s.Limiter = tenant.NewLimiter(testenv.NewRedis(t), testenv.Prefix(), tenant.Limits{LoginPerIP: redis_rate.PerMinute(1)})
	_, _, err := s.Login(c, loginInput(r), client)
	mustOK(t, err)
	_, _, err = s.Login(c, loginInput(r), client)
	wantError(t, err, cic.ERATELIMIT, "rate_limited")
	_, _, err = s.Login(c, loginInput(r), tenant.ClientMeta{IP: "192.0.2.99"})
	mustOK(t, err)
}

func TestLogin_FailsClosedWhenRedisIsDown(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	rdb := testenv.NewRedis(t)
	s.Limiter = tenant.NewLimiter(rdb, testenv.Prefix(), tenant.DefaultLimits)
	mustOK(t, rdb.Close())
	_, _, err := s.Login(c, loginInput(r), client)
	wantError(t, err, cic.EUNAVAILABLE, "rate_limiter_unavailable")
}

func TestRefresh_RotatesTheRefreshToken(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	first, _, err := s.Login(c, loginInput(r), client)
	mustOK(t, err)

	second, p, err := s.Refresh(c, first.RefreshToken, client)
	mustOK(t, err)
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("refresh returned the same tokens")
	}
	if p.UserID != r.User.ID || p.TenantSlug != "acme" {
		t.Fatalf("principal %+v", p)
	}
	if _, err := s.Authenticate(c, second.AccessToken); err != nil {
		t.Fatalf("new access token: %v", err)
	}
	// The old refresh token is spent.
	_, _, err = s.Refresh(c, first.RefreshToken, client)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_refresh_token")
}

func TestRefresh_ReusingARotatedTokenRevokesTheWholeFamily(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	first, _, err := s.Login(c, loginInput(r), client)
	mustOK(t, err)
	elsewhere, _, err := s.Login(c, loginInput(r), client) // another device: another family
	mustOK(t, err)
	second, _, err := s.Refresh(c, first.RefreshToken, client)
	mustOK(t, err)

	// A thief replays the first token: refused...
	_, _, err = s.Refresh(c, first.RefreshToken, client)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_refresh_token")
	// ...and the legitimate newer token of that family is dead too.
	_, _, err = s.Refresh(c, second.RefreshToken, client)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_refresh_token")
	// The other device's session is untouched.
	if _, _, err := s.Refresh(c, elsewhere.RefreshToken, client); err != nil {
		t.Fatalf("another family was revoked: %v", err)
	}
}

func TestRefresh_WrongSecretIsRefusedWithoutRevokingTheSession(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	tok, _, err := s.Login(c, loginInput(r), client)
	mustOK(t, err)
	i := strings.LastIndexByte(tok.RefreshToken, '.')
	forged := tok.RefreshToken[:i+1] + strings.Repeat("A", len(tok.RefreshToken)-i-1)
	_, _, err = s.Refresh(c, forged, client)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_refresh_token")
	if _, _, err := s.Refresh(c, tok.RefreshToken, client); err != nil {
		t.Fatalf("a guessed secret ended the real session: %v", err)
	}
}

func TestRefresh_RefusesMalformedAndForeignTokens(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	a := signup(t, s, "acme")
	b := signup(t, s, "other")
	parts := strings.Split(a.Tokens.RefreshToken, ".")
	for name, tok := range map[string]string{
		"empty":              "",
		"access token":       a.Tokens.AccessToken,
		"wrong prefix":       "iv1." + strings.Join(parts[1:], "."),
		"short secret":       strings.Join(parts[:3], ".") + ".abc",
		"nil tenant":         "rt1." + uuid.Nil.String() + "." + parts[2] + "." + parts[3],
		"unknown id":         "rt1." + parts[1] + "." + uuid.NewString() + "." + parts[3],
		"moved to tenant B":  "rt1." + b.Tenant.ID.String() + "." + parts[2] + "." + parts[3],
		"five parts":         a.Tokens.RefreshToken + ".x",
		"tenant not a uuid":  "rt1.acme." + parts[2] + "." + parts[3],
		"id not a uuid":      "rt1." + parts[1] + ".x." + parts[3],
		"secret far too big": strings.Join(parts[:3], ".") + "." + strings.Repeat("A", 65),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := s.Refresh(c, tok, client)
			wantError(t, err, cic.EUNAUTHORIZED, "invalid_refresh_token")
		})
	}
	if _, _, err := s.Refresh(c, a.Tokens.RefreshToken, client); err != nil {
		t.Fatalf("sign-up refresh token: %v", err)
	}
}

func TestRefresh_RefusesExpiredToken(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	s.Now = func() time.Time { return time.Now().Add(-31 * 24 * time.Hour) } // issued long ago
	tok, _, err := s.Login(c, loginInput(r), client)
	mustOK(t, err)
	s.Now = time.Now
	_, _, err = s.Refresh(c, tok.RefreshToken, client)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_refresh_token")
}

func TestLogout_RevokesTheSession(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	first, _, err := s.Login(c, loginInput(r), client)
	mustOK(t, err)
	second, _, err := s.Refresh(c, first.RefreshToken, client)
	mustOK(t, err)
	other, _, err := s.Login(c, loginInput(r), client)
	mustOK(t, err)

	// Logging out with a spent token of the family still ends it.
	mustOK(t, s.Logout(c, first.RefreshToken))
	_, _, err = s.Refresh(c, second.RefreshToken, client)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_refresh_token")
	if _, _, err := s.Refresh(c, other.RefreshToken, client); err != nil {
		t.Fatalf("logout ended another session: %v", err)
	}
	// Twice, or with nonsense, is not an error.
	mustOK(t, s.Logout(c, first.RefreshToken))
	mustOK(t, s.Logout(c, "nonsense"))
	mustOK(t, s.Logout(c, ""))
}

func TestLogout_WithWrongSecretDoesNothing(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	tok, _, err := s.Login(c, loginInput(r), client)
	mustOK(t, err)
	i := strings.LastIndexByte(tok.RefreshToken, '.')
	mustOK(t, s.Logout(c, tok.RefreshToken[:i+1]+strings.Repeat("B", 43)))
	if _, _, err := s.Refresh(c, tok.RefreshToken, client); err != nil {
		t.Fatalf("logout with a guessed secret ended the session: %v", err)
	}
}

func TestAuthenticate_RefusesTokenOfDeactivatedUser(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	u := createUser(t, s, ownerActor(r), "agent@acme.example", cic.RoleAgent)
	tok, _, err := s.Login(c, tenant.LoginInput{Tenant: "acme", Email: u.Email, Password: goodPassword}, client)
	mustOK(t, err)
	if _, err := s.Authenticate(c, tok.AccessToken); err != nil {
		t.Fatalf("before deactivation: %v", err)
	}
	_, err = s.DeactivateUser(c, ownerActor(r), u.ID)
	mustOK(t, err)

	// The access token has not expired, yet it is refused at once...
	_, err = s.Authenticate(c, tok.AccessToken)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_token")
	// ...and the refresh token was revoked with the deactivation.
	_, _, err = s.Refresh(c, tok.RefreshToken, client)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_refresh_token")
}

func TestAuthenticate_RefusesTokenWhoseTenantIsNotTheUsers(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	a := signup(t, s, "tenant-a")
	b := signup(t, s, "tenant-b")
	// Correctly signed, but naming tenant B with tenant A's user.
	tok, err := s.Keys.Sign(b.Tenant.ID, a.User.ID, cic.RoleOwner, time.Now(), time.Minute)
	mustOK(t, err)
	p, err := s.Authenticate(c, tok)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_token")
	if p.UserID != uuid.Nil {
		t.Fatalf("returned principal %+v alongside the error", p)
	}
	// And a user id that exists nowhere.
	tok, err = s.Keys.Sign(a.Tenant.ID, uuid.New(), cic.RoleOwner, time.Now(), time.Minute)
	mustOK(t, err)
	_, err = s.Authenticate(c, tok)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_token")
}

func TestAuthenticate_RefusesTokensSignedWithAnotherKey(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	tok, err := tenant.GenerateKeys().Sign(r.Tenant.ID, r.User.ID, cic.RoleOwner, time.Now(), time.Minute)
	mustOK(t, err)
	_, err = s.Authenticate(c, tok)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_token")
}

func TestAuthenticate_RefusesTokenOfSuspendedTenant(t *testing.T) {
	s, db := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	_, err := db.Owner.Exec(c, `UPDATE tenants SET status = 'suspended' WHERE tenant_id = $1`, r.Tenant.ID)
	mustOK(t, err)
	_, err = s.Authenticate(c, r.Tokens.AccessToken)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_token")
}

func TestAuthenticate_RoleChangeEndsTheAccessTokenAtOnce(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	u := createUser(t, s, ownerActor(r), "admin@acme.example", cic.RoleAdmin)
	tok, _, err := s.Login(c, tenant.LoginInput{Tenant: "acme", Email: u.Email, Password: goodPassword}, client)
	mustOK(t, err)
	agent := cic.RoleAgent
	_, err = s.UpdateUser(c, ownerActor(r), u.ID, tenant.UserUpdate{Role: &agent})
	mustOK(t, err)
	_, err = s.Authenticate(c, tok.AccessToken)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_token")
	// The session goes on: a refresh gives a token of the new role.
	fresh, _, err := s.Refresh(c, tok.RefreshToken, client)
	mustOK(t, err)
	p, err := s.Authenticate(c, fresh.AccessToken)
	mustOK(t, err)
	if p.Role != cic.RoleAgent {
		t.Fatalf("role %s after demotion, want agent", p.Role)
	}
}

func TestPurgeExpiredSessions_DeletesOnlyLongDeadTokens(t *testing.T) {
	s, db := newService(t)
	c := ctx(t)
	r := signup(t, s, "acme")
	other := signup(t, s, "other")
	live, _, err := s.Login(c, loginInput(r), client)
	mustOK(t, err)
	old, _, err := s.Login(c, loginInput(r), client)
	mustOK(t, err)
	mustOK(t, s.Logout(c, old.RefreshToken))
	_, err = db.Owner.Exec(c, `UPDATE refresh_tokens SET revoked_at = now() - interval '2 days' WHERE revoked_at IS NOT NULL`)
	mustOK(t, err)
	_, err = db.Owner.Exec(c, `UPDATE refresh_tokens SET revoked_at = now() - interval '2 days' WHERE tenant_id = $1`, other.Tenant.ID)
	mustOK(t, err)

	n, err := s.PurgeExpiredSessions(c, r.Tenant.ID)
	mustOK(t, err)
	if n != 1 {
		t.Fatalf("purged %d tokens, want the one logged out", n)
	}
	if _, _, err := s.Refresh(c, live.RefreshToken, client); err != nil {
		t.Fatalf("live session purged: %v", err)
	}
	var left int
	mustOK(t, db.Owner.QueryRow(c, `SELECT count(*) FROM refresh_tokens WHERE tenant_id = $1`, other.Tenant.ID).Scan(&left))
	if left != 1 {
		t.Fatalf("purging tenant acme touched tenant other's tokens: %d left, want 1", left)
	}
}
