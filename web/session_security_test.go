package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// cookie is the named cookie the browser holds for base, "" if none.
func (b *browserClient) cookie(name string) string {
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browserClient) setCookie(name, value string) {
	u, _ := url.Parse(b.base)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// The form token changes at login and is bound to the login session: a
// token taken before the login (or planted with its cookie by another
// site, "cookie tossing") does not pass once the user is logged in.
func TestCSRF_RotatesAtLoginAndIsBoundToTheSession(t *testing.T) {
	ts := newServer(t)
	ts.signup(t, "acme")
	b := newBrowserClient(t, ts.listen(t))
	_, _, pre := b.get("/login")
	preSeed := b.cookie("cic_csrf")
	if pre == "" || preSeed == "" {
		t.Fatalf("login page: token %q, seed cookie %q", pre, preSeed)
	}
	resp, body := b.post("/login", url.Values{"_csrf": {pre}, "tenant": {"acme"}, "email": {"owner@acme.example"}, "password": {goodPassword}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	if b.cookie("cic_csrf") == preSeed {
		t.Fatal("the CSRF seed was not replaced at login")
	}
	// The pre-login token is dead after the login.
	if resp, _ := b.post("/departments", url.Values{"_csrf": {pre}, "name": {"Sales"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("pre-login token after login: %d, want 403", resp.StatusCode)
	}
	// Even with the old seed put back (an attacker who set it), the token
	// made for no session is refused in this session.
	post := b.cookie("cic_csrf")
	b.setCookie("cic_csrf", preSeed)
	if resp, _ := b.post("/departments", url.Values{"_csrf": {pre}, "name": {"Sales"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("planted seed with its pre-login token: %d, want 403", resp.StatusCode)
	}
	b.setCookie("cic_csrf", post)
	_, _, cur := b.get("/departments")
	if cur == "" || cur == pre {
		t.Fatalf("token after login %q (before: %q)", cur, pre)
	}
	// A second session of the same user, with the same seed copied over,
	// still gets another token: the token names the session.
	other := newBrowserClient(t, b.base)
	other.login("acme", "owner@acme.example", goodPassword)
	other.setCookie("cic_csrf", post)
	_, _, otherTok := other.get("/departments")
	if otherTok == cur {
		t.Fatal("two sessions with one seed got the same token")
	}
	if resp, _ := other.post("/departments", url.Values{"_csrf": {cur}, "name": {"Sales"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another session's token: %d, want 403", resp.StatusCode)
	}
	if resp, body := b.post("/departments", url.Values{"_csrf": {cur}, "name": {"Sales"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("own token: %d %s", resp.StatusCode, body)
	}
	// Logging out replaces the seed too.
	b.post("/logout", url.Values{"_csrf": {cur}})
	if s := b.cookie("cic_csrf"); s == post || s == "" {
		t.Fatalf("seed after logout %q", s)
	}
}

// An access token dies with its session or with the user's standing:
// logout, deactivation, a role change and a password change each end it
// at once, on the API and on the pages.
func TestAccessTokens_EndAtOnce(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	me := func(tok string) int { return ts.call(t, "GET", "/api/v1/me", tok, nil).Status }

	// Logout.
	u := ts.createUser(t, a, "sup1@acme.example", "supervisor")
	ts.call(t, "POST", "/api/v1/auth/logout", "", map[string]any{"refresh_token": u.Refresh}).mustStatus(t, http.StatusNoContent)
	if st := me(u.Token); st != http.StatusUnauthorized {
		t.Fatalf("after logout: %d, want 401", st)
	}
	// Role change.
	u = ts.createUser(t, a, "sup2@acme.example", "supervisor")
	ts.call(t, "PATCH", "/api/v1/users/"+u.UserID.String(), a.Token, map[string]any{"role": "finance"}).mustStatus(t, http.StatusOK)
	if st := me(u.Token); st != http.StatusUnauthorized {
		t.Fatalf("after role change: %d, want 401", st)
	}
	// Deactivation.
	u = ts.createUser(t, a, "sup3@acme.example", "supervisor")
	ts.call(t, "POST", "/api/v1/users/"+u.UserID.String()+"/deactivate", a.Token, nil).mustStatus(t, http.StatusOK)
	if st := me(u.Token); st != http.StatusUnauthorized {
		t.Fatalf("after deactivation: %d, want 401", st)
	}
	// Password change: the other sessions end, the caller's new one works.
	u = ts.createUser(t, a, "sup4@acme.example", "supervisor")
	second := ts.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"tenant": "acme", "email": "sup4@acme.example", "password": goodPassword}).mustStatus(t, http.StatusOK)
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "sup4@acme.example", goodPassword)
	if resp, _, _ := b.get("/dashboard"); resp.StatusCode != http.StatusOK {
		t.Fatalf("page before the change: %d", resp.StatusCode)
	}
	ch := ts.call(t, "POST", "/api/v1/me/password", u.Token, map[string]any{"current_password": goodPassword, "new_password": "a much newer passphrase"}).mustStatus(t, http.StatusOK)
	if st := me(u.Token); st != http.StatusUnauthorized {
		t.Fatalf("old token after password change: %d, want 401", st)
	}
	if st := me(second.str("access_token")); st != http.StatusUnauthorized {
		t.Fatalf("other session's token after password change: %d, want 401", st)
	}
	ts.call(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": second.str("refresh_token")}).mustStatus(t, http.StatusUnauthorized)
	if st := me(ch.str("access_token")); st != http.StatusOK {
		t.Fatalf("new token after password change: %d", st)
	}
	resp, _, _ := b.get("/dashboard")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("page session after password change: %d %s, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	ts.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"tenant": "acme", "email": "sup4@acme.example", "password": goodPassword}).mustStatus(t, http.StatusUnauthorized)
	ts.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"tenant": "acme", "email": "sup4@acme.example", "password": "a much newer passphrase"}).mustStatus(t, http.StatusOK)
}

func TestChangePassword_BadInput(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	for _, tc := range []struct {
		name string
		body any
		want int
		code string
	}{
		{"wrong current", map[string]any{"current_password": "not my password", "new_password": "a much newer passphrase"}, 400, "wrong_password"},
		{"weak new", map[string]any{"current_password": goodPassword, "new_password": "password12"}, 400, "weak_password"},
		{"short new", map[string]any{"current_password": goodPassword, "new_password": "abc"}, 400, "weak_password"},
		{"no current", map[string]any{"new_password": "a much newer passphrase"}, 400, "wrong_password"},
		{"broken json", `{"current_password":`, 400, ""},
		{"unknown field", map[string]any{"current_password": goodPassword, "new_password": "a much newer passphrase", "user_id": a.UserID}, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ts.call(t, "POST", "/api/v1/me/password", a.Token, tc.body).mustStatus(t, tc.want)
			if tc.code != "" && got.errCode() != tc.code {
				t.Fatalf("code %q, want %q: %s", got.errCode(), tc.code, got.Body)
			}
		})
	}
	// An API key is no user's session: it changes no password.
	k := ts.call(t, "POST", "/api/v1/api-keys", a.Token, map[string]any{"name": "bridge"}).mustStatus(t, http.StatusCreated)
	ts.call(t, "POST", "/api/v1/me/password", k.str("key"), map[string]any{"current_password": goodPassword, "new_password": "a much newer passphrase"}).mustStatus(t, http.StatusUnauthorized)
	ts.call(t, "POST", "/api/v1/me/password", "", map[string]any{"current_password": goodPassword, "new_password": "a much newer passphrase"}).mustStatus(t, http.StatusUnauthorized)
	// Nothing changed on the way.
	ts.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"tenant": "acme", "email": "owner@acme.example", "password": goodPassword}).mustStatus(t, http.StatusOK)
}

// The password policy holds on every door: sign-up, invitation, change.
func TestPasswordPolicy_OnEveryDoor(t *testing.T) {
	ts := newServer(t)
	got := ts.call(t, "POST", "/api/v1/signup", "", map[string]any{
		"company": "Weak Co", "slug": "weak", "name": "Wes", "email": "wes@weak.example", "password": "password12", "currency": "EUR",
	}).mustStatus(t, http.StatusBadRequest)
	if got.errCode() != "weak_password" {
		t.Fatalf("sign-up with password12: %s", got.Body)
	}
	a := ts.signup(t, "acme")
	inv := ts.call(t, "POST", "/api/v1/users/invite", a.Token, map[string]any{"email": "ivy@acme.example", "name": "Ivy", "role": "agent"}).mustStatus(t, http.StatusCreated)
	got = ts.call(t, "POST", "/api/v1/invitations/"+inv.str("invite_token")+"/accept", "", map[string]any{"password": "password12"}).mustStatus(t, http.StatusBadRequest)
	if got.errCode() != "weak_password" {
		t.Fatalf("invitation with password12: %s", got.Body)
	}
	// The sign-up page says it in words and keeps the form.
	b := newBrowserClient(t, ts.listen(t))
	_, _, tok := b.get("/signup")
	resp, body := b.post("/signup", url.Values{"_csrf": {tok}, "company": {"Weak Co"}, "slug": {"weak"}, "name": {"Wes"},
		"email": {"wes@weak.example"}, "password": {"password12"}, "currency": {"EUR"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "too easy to guess") || !strings.Contains(body, `value="Weak Co"`) {
		t.Fatalf("sign-up page with password12: %d %s", resp.StatusCode, body)
	}
}

func TestRevokeInvitation_API(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	other := ts.signup(t, "globex")
	inv := ts.call(t, "POST", "/api/v1/users/invite", a.Token, map[string]any{"email": "ivy@acme.example", "name": "Ivy", "role": "agent"}).mustStatus(t, http.StatusCreated)
	id, token := inv.str("user", "id"), inv.str("invite_token")
	path := "/api/v1/users/" + id + "/invitation"

	// Another tenant's owner does not find the user; an agent may not.
	ts.call(t, "DELETE", path, other.Token, nil).mustStatus(t, http.StatusNotFound)
	agent := ts.createUser(t, a, "ada@acme.example", "agent")
	ts.call(t, "DELETE", path, agent.Token, nil).mustStatus(t, http.StatusForbidden)
	ts.call(t, "DELETE", "/api/v1/users/not-a-uuid/invitation", a.Token, nil).mustStatus(t, http.StatusNotFound)
	ts.call(t, "GET", "/api/v1/invitations/"+token, "", nil).mustStatus(t, http.StatusOK)

	ts.call(t, "DELETE", path, a.Token, nil).mustStatus(t, http.StatusNoContent)
	ts.call(t, "GET", "/api/v1/invitations/"+token, "", nil).mustStatus(t, http.StatusNotFound)
	ts.call(t, "POST", "/api/v1/invitations/"+token+"/accept", "", map[string]any{"password": goodPassword}).mustStatus(t, http.StatusNotFound)
	ts.call(t, "DELETE", path, a.Token, nil).mustStatus(t, http.StatusConflict)
	// An active user has no invitation to revoke.
	ts.call(t, "DELETE", "/api/v1/users/"+agent.UserID.String()+"/invitation", a.Token, nil).mustStatus(t, http.StatusConflict)
}

func TestAccountAndUsersPages_PasswordAndInvitation(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	ts.call(t, "POST", "/api/v1/users/invite", a.Token, map[string]any{"email": "ivy@acme.example", "name": "Ivy", "role": "agent"}).mustStatus(t, http.StatusCreated)
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "owner@acme.example", goodPassword)

	// Revoke from the users page.
	_, body, tok := b.get("/users")
	i := strings.Index(body, `data-revoke="ivy@acme.example"`)
	if i < 0 {
		t.Fatalf("no revoke button for the invited user: %s", body)
	}
	start := strings.LastIndex(body[:i], `action="/users/`)
	action := body[start+len(`action="`) : start+strings.Index(body[start:], `/revoke-invitation"`)+len("/revoke-invitation")]
	resp, _ := b.post(action, url.Values{"_csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/users?done=revoked" {
		t.Fatalf("revoke: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = b.post(action, url.Values{"_csrf": {tok}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "no open invitation") {
		t.Fatalf("second revoke: %d %s", resp.StatusCode, body)
	}

	// The account page, in German, refuses a weak password in German.
	_, body, tok = b.get("/account?lang=de")
	if !strings.Contains(body, "Passwort ändern") || !strings.Contains(body, `lang="de"`) {
		t.Fatalf("account page in German: %s", body)
	}
	resp, body = b.post("/account/password", url.Values{"_csrf": {tok}, "current_password": {goodPassword}, "new_password": {"password12"}, "new_password2": {"password12"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "zu leicht zu erraten") {
		t.Fatalf("weak password on the page: %d %s", resp.StatusCode, body)
	}
	resp, body = b.post("/account/password", url.Values{"_csrf": {tok}, "current_password": {goodPassword}, "new_password": {"a much newer passphrase"}, "new_password2": {"another passphrase"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "verschieden") {
		t.Fatalf("mismatch on the page: %d %s", resp.StatusCode, body)
	}
	resp, _ = b.post("/account/password", url.Values{"_csrf": {tok}, "current_password": {goodPassword}, "new_password": {"a much newer passphrase"}, "new_password2": {"a much newer passphrase"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account?done=password" {
		t.Fatalf("change on the page: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// This browser carries on in its new session; the old API token is dead.
	resp, body, _ = b.get("/account?done=password")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Ihr Passwort ist geändert") {
		t.Fatalf("after the change: %d %s", resp.StatusCode, body)
	}
	ts.call(t, "GET", "/api/v1/me", a.Token, nil).mustStatus(t, http.StatusUnauthorized)
	// The English page.
	_, body, _ = b.get("/account?lang=en")
	if !strings.Contains(body, "Change your password") {
		t.Fatalf("account page in English: %s", body)
	}
}
