package web_test

import (
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

func TestSignup_AnswersTenantOwnerAndTokens(t *testing.T) {
	ts := newServer(t)
	c := ts.signup(t, "acme")
	if c.Slug != "acme" || c.Token == "" || c.Refresh == "" {
		t.Fatalf("signup answer incomplete: %+v", c)
	}
	me := ts.call(t, "GET", "/api/v1/me", c.Token, nil).mustStatus(t, http.StatusOK)
	if me.str("user", "id") != c.UserID.String() || me.str("user", "role") != "owner" || me.str("tenant", "slug") != "acme" {
		t.Fatalf("/me = %s", me.Body)
	}
}

func TestSignup_TakenSlugIs409(t *testing.T) {
	ts := newServer(t)
	ts.signup(t, "acme")
	a := ts.call(t, "POST", "/api/v1/signup", "", map[string]any{
		"company": "Other", "slug": "acme", "name": "Ann", "email": "ann@other.example", "password": goodPassword, "currency": "EUR",
	}).mustStatus(t, http.StatusConflict)
	if a.errCode() != "slug_taken" {
		t.Fatalf("code %q, want slug_taken", a.errCode())
	}
}

func TestLogin_WrongPasswordAndUnknownUserAnswerAlike(t *testing.T) {
	ts := newServer(t)
	c := ts.signup(t, "acme")
	ok := ts.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"tenant": c.Slug, "email": "owner@acme.example", "password": goodPassword}).mustStatus(t, http.StatusOK)
	if ok.str("access_token") == "" || ok.str("refresh_token") == "" {
		t.Fatalf("login answer: %s", ok.Body)
	}
	cases := []map[string]any{
		{"tenant": c.Slug, "email": "owner@acme.example", "password": "wrong password here"},
		{"tenant": c.Slug, "email": "nobody@acme.example", "password": goodPassword},
		{"tenant": "no-such-company", "email": "owner@acme.example", "password": goodPassword},
	}
	var first []byte
	for i, in := range cases {
		a := ts.call(t, "POST", "/api/v1/auth/login", "", in).mustStatus(t, http.StatusUnauthorized)
		if i == 0 {
			first = a.Body
		} else if string(a.Body) != string(first) {
			t.Errorf("case %d answers %s, case 0 answered %s", i, a.Body, first)
		}
	}
}

func TestRefresh_RotatesAndLogoutEndsSession(t *testing.T) {
	ts := newServer(t)
	c := ts.signup(t, "acme")
	r := ts.call(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": c.Refresh}).mustStatus(t, http.StatusOK)
	next := r.str("refresh_token")
	if next == "" || next == c.Refresh {
		t.Fatalf("refresh did not rotate: %s", r.Body)
	}
	ts.call(t, "GET", "/api/v1/me", r.str("access_token"), nil).mustStatus(t, http.StatusOK)
	// The old refresh token is spent.
	ts.call(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": c.Refresh}).mustStatus(t, http.StatusUnauthorized)

	c2 := ts.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"tenant": "acme", "email": "owner@acme.example", "password": goodPassword}).mustStatus(t, http.StatusOK)
	ts.call(t, "POST", "/api/v1/auth/logout", "", map[string]any{"refresh_token": c2.str("refresh_token")}).mustStatus(t, http.StatusNoContent)
	ts.call(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": c2.str("refresh_token")}).mustStatus(t, http.StatusUnauthorized)
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestAuth_RefusesForgedExpiredAndForeignTokens(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	b := ts.signup(t, "bravo")
	now := time.Now()

	otherKey, err := tenant.GenerateKeys().Sign(a.TenantID, a.UserID, cic.RoleOwner, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := ts.Tenants.Keys.Sign(a.TenantID, a.UserID, cic.RoleOwner, now.Add(-2*time.Hour), 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Right key, but A's user under B's tenant id.
	crossTenant, err := ts.Tenants.Keys.Sign(b.TenantID, a.UserID, cic.RoleOwner, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	claims := `{"tid":"` + a.TenantID.String() + `","role":"owner","iss":"cic","sub":"` + a.UserID.String() +
		`","aud":["cic-api"],"exp":` + itoa(now.Add(time.Hour).Unix()) + `}`
	algNone := b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(claims) + "."
	unknownUser, err := ts.Tenants.Keys.Sign(a.TenantID, uuid.New(), cic.RoleOwner, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, header string
	}{
		{"no header", ""},
		{"basic scheme", "Basic b3duZXI6cHc="},
		{"garbage", "Bearer not-a-token"},
		{"alg none", "Bearer " + algNone},
		{"another key", "Bearer " + otherKey},
		{"expired", "Bearer " + expired},
		{"other tenant", "Bearer " + crossTenant},
		{"unknown user", "Bearer " + unknownUser},
		{"refresh token as access", "Bearer " + a.Refresh},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest("GET", "/api/v1/me", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			ans := ts.do(t, req).mustStatus(t, http.StatusUnauthorized)
			if ans.str("user", "id") != "" {
				t.Fatalf("leaked a user: %s", ans.Body)
			}
		})
	}
}

func TestAuth_DeactivatedUserLosesAccessAtOnce(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	agent := ts.createUser(t, a, "agent@acme.example", "agent")
	ts.call(t, "GET", "/api/v1/me", agent.Token, nil).mustStatus(t, http.StatusOK)
	ts.call(t, "POST", "/api/v1/users/"+agent.UserID.String()+"/deactivate", a.Token, nil).mustStatus(t, http.StatusOK)
	ts.call(t, "GET", "/api/v1/me", agent.Token, nil).mustStatus(t, http.StatusUnauthorized)
	ts.call(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": agent.Refresh}).mustStatus(t, http.StatusUnauthorized)
}
