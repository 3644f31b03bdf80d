package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"

	"github.com/cic-platform/cic/web"
)

func TestClientAddr_RightmostUntrustedHop(t *testing.T) {
	trusted, err := web.ParseTrustedProxies("127.0.0.0/8, ::1, 10.0.0.0/8 ,fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	cases := []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"untrusted peer ignores the header", "198.51.100.1", []string{"203.0.113.7"}, "198.51.100.1"},
		{"untrusted peer, mapped IPv4", "::ffff:198.51.100.1", []string{"203.0.113.7"}, "198.51.100.1"},
		{"trusted peer without header", "127.0.0.1", nil, "127.0.0.1"},
		{"trusted peer, empty header", "127.0.0.1", []string{""}, "127.0.0.1"},
		{"one hop", "127.0.0.1", []string{"203.0.113.7"}, "203.0.113.7"},
		{"spoofed left part is ignored", "127.0.0.1", []string{"1.2.3.4, 5.6.7.8, 203.0.113.7"}, "203.0.113.7"},
		{"trusted hops are skipped", "127.0.0.1", []string{"1.2.3.4, 203.0.113.7, 10.0.0.5, 10.9.9.9"}, "203.0.113.7"},
		{"spaces and tabs", "127.0.0.1", []string{"  1.2.3.4 ,\t203.0.113.7\t,  10.0.0.5  "}, "203.0.113.7"},
		{"several header lines are one list", "127.0.0.1", []string{"1.2.3.4", "203.0.113.7, 10.0.0.5"}, "203.0.113.7"},
		{"IPv6", "::1", []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv6 behind trusted IPv6 proxy", "::1", []string{"2001:db8::1, fd00::7"}, "2001:db8::1"},
		{"IPv6 in brackets with port", "127.0.0.1", []string{"[2001:db8::2]:4711"}, "2001:db8::2"},
		{"IPv6 in brackets", "127.0.0.1", []string{"[2001:db8::3]"}, "2001:db8::3"},
		{"IPv4 with port", "127.0.0.1", []string{"203.0.113.8:4711"}, "203.0.113.8"},
		{"mapped IPv4 in header", "127.0.0.1", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"garbage next to the peer: the peer", "127.0.0.1", []string{"203.0.113.7, not-an-ip"}, "127.0.0.1"},
		{"garbage beyond a trusted hop: that hop", "127.0.0.1", []string{"evil, 10.0.0.5"}, "10.0.0.5"},
		{"garbage left of the client is ignored", "127.0.0.1", []string{"<script>, 203.0.113.7"}, "203.0.113.7"},
		{"NUL", "127.0.0.1", []string{"203.0.113.7\x00"}, "127.0.0.1"},
		{"zone is refused", "127.0.0.1", []string{"fe80::1%eth0"}, "127.0.0.1"},
		{"empty element", "127.0.0.1", []string{"203.0.113.7,,10.0.0.5"}, "10.0.0.5"},
		{"all trusted: the leftmost", "127.0.0.1", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"CIDR in header is not an address", "127.0.0.1", []string{"203.0.113.0/24"}, "127.0.0.1"},
		{"many hops", "127.0.0.1", []string{strings.Repeat("9.9.9.9, ", 500) + "203.0.113.7," + strings.Repeat("10.1.1.1,", 50) + "10.0.0.1"}, "203.0.113.7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := web.ClientAddr(netip.MustParseAddr(tc.peer), tc.xff, trusted)
			if got.String() != tc.want {
				t.Fatalf("client %s, want %s", got, tc.want)
			}
		})
	}
	// No trusted proxy at all: the header is never read.
	if got := web.ClientAddr(lo, []string{"203.0.113.7"}, nil); got != lo {
		t.Fatalf("no trusted proxies: %s", got)
	}
}

func TestParseTrustedProxies(t *testing.T) {
	p, err := web.ParseTrustedProxies("10.1.2.3/8, 192.0.2.1, 2001:db8::/32,")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range p {
		got = append(got, x.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 192.0.2.1/32 2001:db8::/32" {
		t.Fatalf("parsed %v", got)
	}
	for _, bad := range []string{"10.0.0.0/33", "localhost", "10.0.0.0/8;rm", "1.2.3"} {
		if _, err := web.ParseTrustedProxies(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// loginFrom posts a failed login through a real loopback connection with
// the given X-Forwarded-For, and returns the status.
func loginFrom(t *testing.T, base, xff, email string) int {
	t.Helper()
	raw, _ := json.Marshal(map[string]string{"tenant": "acme", "email": email, "password": "wrong password here"})
	req, err := http.NewRequest("POST", base+"/api/v1/auth/login", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", xff)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

func limitLogins(ts *testServer, n int) {
	ts.Tenants.Limiter.Limits.LoginPerIP = redis_rate.Limit{Rate: n, Burst: n, Period: time.Hour}
}

// The attack: a client straight on the server (not a trusted proxy)
// sends a new X-Forwarded-For with each attempt. It was believed from
// any private peer, so each attempt had a fresh bucket.
func TestClientIP_RotatingXFFFromUntrustedPeerHitsLoginLimit(t *testing.T) {
	// Loopback is not trusted here: the test's connection is a client's.
	ts := newServer(t, func(c *web.Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")} })
	ts.signup(t, "acme")
	limitLogins(ts, 3)
	base := ts.listen(t)
	for i := range 3 {
		if st := loginFrom(t, base, "198.51.100."+strconv.Itoa(i+1), "u"+strconv.Itoa(i)+"@acme.example"); st != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i+1, st)
		}
	}
	if st := loginFrom(t, base, "198.51.100.99", "u99@acme.example"); st != http.StatusTooManyRequests {
		t.Fatalf("a rotated X-Forwarded-For escaped the login limit: %d", st)
	}
}

// Behind a trusted proxy the client is the rightmost address it did not
// add itself: rotating the part the client wrote changes nothing, the
// audit log shows the real address, and another client has its own bucket.
func TestClientIP_TrustedProxyRightmostUntrustedAddress(t *testing.T) {
	ts := newServer(t, func(c *web.Config) {
		c.TrustedProxies = append([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, web.DefaultTrustedProxies...)
	})
	a := ts.signup(t, "acme")
	limitLogins(ts, 3)
	base := ts.listen(t)
	for i := range 3 {
		xff := "6.6.6." + strconv.Itoa(i) + ", 203.0.113.9, 10.1.2.3"
		if st := loginFrom(t, base, xff, "u"+strconv.Itoa(i)+"@acme.example"); st != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i+1, st)
		}
	}
	if st := loginFrom(t, base, "7.7.7.7, 203.0.113.9, 10.1.2.3", "u9@acme.example"); st != http.StatusTooManyRequests {
		t.Fatalf("the spoofed left part escaped the limit: %d", st)
	}
	if st := loginFrom(t, base, "203.0.113.10, 10.1.2.3", "u10@acme.example"); st != http.StatusUnauthorized {
		t.Fatalf("another client behind the proxy: %d, want 401", st)
	}

	// A successful login is audited with the client's address.
	raw, _ := json.Marshal(map[string]string{"tenant": "acme", "email": "owner@acme.example", "password": goodPassword})
	req, _ := http.NewRequest("POST", base+"/api/v1/auth/login", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.77, 10.1.2.3")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", res.StatusCode)
	}
	audit := ts.call(t, "GET", "/api/v1/audit", a.Token, nil).mustStatus(t, http.StatusOK)
	var body struct {
		Entries []struct{ Action, IP string } `json:"entries"`
	}
	if err := json.Unmarshal(audit.Body, &body); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range body.Entries {
		if e.Action == "session.login" {
			found = true
			if e.IP != "203.0.113.77" {
				t.Fatalf("login audited from %q, want 203.0.113.77: %s", e.IP, audit.Body)
			}
		}
	}
	if !found {
		t.Fatalf("no session.login entry: %s", audit.Body)
	}
}

// Every handler takes the client's address from clientIP; c.IP() (the
// peer, or whatever Fiber believes) would bring the spoofing back.
func TestClientIP_NoHandlerReadsFiberIP(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`\.IPs?\(\)`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			if code, _, _ := strings.Cut(line, "//"); call.MatchString(code) {
				t.Errorf("%s:%d reads the address from Fiber; use clientIP(c): %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
