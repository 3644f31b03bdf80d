package web_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// browserClient is a cookie-keeping HTTP client that does not follow
// redirects, for checking the pages' session and CSRF handling.
type browserClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowserClient(t *testing.T, base string) *browserClient {
	jar, _ := cookiejar.New(nil)
	return &browserClient{t: t, base: base, c: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// get returns the page and the CSRF token of its forms.
func (b *browserClient) get(path string) (*http.Response, string, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	token := ""
	if m := csrfField.FindSubmatch(raw); m != nil {
		token = string(m[1])
	}
	return resp, string(raw), token
}

func (b *browserClient) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

func (b *browserClient) login(slug, email, password string) {
	b.t.Helper()
	_, _, token := b.get("/login")
	resp, body := b.post("/login", url.Values{"_csrf": {token}, "tenant": {slug}, "email": {email}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard" {
		b.t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
}

func TestPages_FormPostsNeedTheCSRFToken(t *testing.T) {
	ts := newServer(t)
	ts.signup(t, "acme")
	b := newBrowserClient(t, ts.listen(t))
	_, _, token := b.get("/login")
	if token == "" {
		t.Fatal("login page has no CSRF token")
	}
	creds := url.Values{"tenant": {"acme"}, "email": {"owner@acme.example"}, "password": {goodPassword}}
	resp, body := b.post("/login", creds)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "reload the page") {
		t.Fatalf("post without token: %d %s", resp.StatusCode, body)
	}
	forged := url.Values{"_csrf": {"forged-token"}}
	for k, v := range creds {
		forged[k] = v
	}
	if resp, _ := b.post("/login", forged); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("post with a forged token: %d", resp.StatusCode)
	}
	// A second browser with its own cookie cannot reuse this one's token.
	other := newBrowserClient(t, b.base)
	other.get("/login")
	creds.Set("_csrf", token)
	if resp, _ := other.post("/login", creds); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("post with another session's token: %d", resp.StatusCode)
	}
	resp, _ = b.post("/login", creds)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("post with the token: %d", resp.StatusCode)
	}
	var access *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "cic_access" {
			access = c
		}
	}
	if access == nil || !access.HttpOnly || access.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v, want HttpOnly SameSite=Lax", access)
	}
}

func TestPages_NeedASession(t *testing.T) {
	ts := newServer(t)
	b := newBrowserClient(t, ts.listen(t))
	for _, p := range []string{"/dashboard", "/users", "/departments", "/audit"} {
		resp, _, _ := b.get(p)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next="+url.QueryEscape(p) {
			t.Errorf("GET %s without session: %d %s", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

func TestPages_AgentCannotManageUsers(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	ts.createUser(t, a, "agent@acme.example", "agent")
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "agent@acme.example", goodPassword)
	resp, body, _ := b.get("/users")
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "owner@acme.example") {
		t.Fatalf("agent GET /users: %d", resp.StatusCode)
	}
}

func TestPages_OtherTenantsUsersAreNotFound(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	ts.signup(t, "bravo")
	agent := ts.createUser(t, a, "agent@acme.example", "agent")
	b := newBrowserClient(t, ts.listen(t))
	b.login("bravo", "owner@bravo.example", goodPassword)
	_, _, token := b.get("/users")
	for _, path := range []string{"/users/" + agent.UserID.String(), "/users/" + agent.UserID.String() + "/deactivate"} {
		resp, body := b.post(path, url.Values{"_csrf": {token}, "role": {"admin"}})
		if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "agent@acme.example") {
			t.Errorf("tenant B POST %s: %d", path, resp.StatusCode)
		}
	}
	u := ts.call(t, "GET", "/api/v1/users/"+agent.UserID.String(), a.Token, nil).mustStatus(t, http.StatusOK)
	if u.str("role") != "agent" || u.str("status") != "active" {
		t.Fatalf("A's agent changed: %s", u.Body)
	}
}

// The login form's next= never sends the browser to another site.
func TestPages_LoginNextStaysOnSite(t *testing.T) {
	ts := newServer(t)
	ts.signup(t, "acme")
	base := ts.listen(t)
	for _, next := range []string{"/\t/evil.example", "//evil.example", "/\\evil.example", "https://evil.example/",
		"/%2F%2Fevil.example", "/\n/evil.example"} {
		b := newBrowserClient(t, base)
		_, _, token := b.get("/login")
		resp, body := b.post("/login", url.Values{"_csrf": {token}, "tenant": {"acme"}, "email": {"owner@acme.example"},
			"password": {goodPassword}, "next": {next}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard" {
			t.Errorf("next=%q: %d Location %q %s", next, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	b := newBrowserClient(t, base)
	_, _, token := b.get("/login")
	resp, _ := b.post("/login", url.Values{"_csrf": {token}, "tenant": {"acme"}, "email": {"owner@acme.example"},
		"password": {goodPassword}, "next": {"/users"}})
	if resp.Header.Get("Location") != "/users" {
		t.Fatalf("next=/users: Location %q", resp.Header.Get("Location"))
	}
}
