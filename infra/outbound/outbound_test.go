package outbound_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/outbound"
)

// fakeDNS answers from a table; rebind names answer their first address
// once and their second ever after (DNS rebinding).
type fakeDNS struct {
	mu     sync.Mutex
	names  map[string][]string
	rebind map[string][2]string
	asked  map[string]int
}

func (f *fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.asked == nil {
		f.asked = map[string]int{}
	}
	f.asked[host]++
	if r, ok := f.rebind[host]; ok {
		if f.asked[host] == 1 {
			return []netip.Addr{netip.MustParseAddr(r[0])}, nil
		}
		return []netip.Addr{netip.MustParseAddr(r[1])}, nil
	}
	ss, ok := f.names[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

func TestAddrAllowed_OnlyPublicUnicast(t *testing.T) {
	for _, tc := range []struct {
		give string
		want bool
	}{
		{"93.184.216.34", true},
		{"8.8.8.8", true},
		{"2606:4700::1111", true},
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"10.0.0.1", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"172.32.0.1", true},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"0.0.0.0", false},
		{"255.255.255.255", false},
		{"224.0.0.1", false},
		{"198.18.0.1", false},
		{"::", false},
		{"::1", false},
		{"::127.0.0.1", false},      // IPv4-compatible
		{"::ffff:127.0.0.1", false}, // IPv4-mapped
		{"::ffff:169.254.169.254", false},
		{"::ffff:93.184.216.34", true},
		{"64:ff9b::7f00:1", false},    // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", false}, // NAT64 of 169.254.169.254
		{"64:ff9b::5db8:d822", true},  // NAT64 of 93.184.216.34
		{"2002:7f00:1::", false},      // 6to4 of 127.0.0.1
		{"2002:a00:1::1", false},      // 6to4 of 10.0.0.1
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"2001:db8::1", false},
		{"2001::1", false}, // Teredo
		{"fd00:ec2::254", false},
	} {
		if got := outbound.AddrAllowed(netip.MustParseAddr(tc.give)); got != tc.want {
			t.Errorf("AddrAllowed(%s) = %v, want %v", tc.give, got, tc.want)
		}
	}
}

func strictPolicy() *outbound.Policy {
	return &outbound.Policy{Resolver: &fakeDNS{names: map[string][]string{
		"api.provider.example":  {"93.184.216.34"},
		"v6.provider.example":   {"2606:4700::1111"},
		"internal.example":      {"127.0.0.1"},
		"meta.example":          {"169.254.169.254"},
		"mixed.example":         {"93.184.216.34", "10.1.2.3"},
		"mapped.example":        {"::ffff:10.0.0.1"},
		"localhost.example.com": {"127.0.0.1"},
	}}}
}

func TestCheckURL_RefusesWhatIsNotHTTPSToAPublicServer(t *testing.T) {
	p := strictPolicy()
	for _, tc := range []struct {
		give string
		ok   bool
	}{
		{"https://api.provider.example", true},
		{"https://api.provider.example:8443/v1/", true},
		{"https://API.Provider.Example./v1", true},
		{"https://v6.provider.example", true},
		{"https://93.184.216.34/x", true},
		{"https://[2606:4700::1111]/", true},

		{"http://127.0.0.1:6379/", false},
		{"http://169.254.169.254/latest/meta-data", false},
		{"https://169.254.169.254/latest/meta-data", false},
		{"https://10.0.0.1", false},
		{"https://[::1]", false},
		{"https://[::1]:8443/", false},
		{"https://localhost", false},
		{"https://localhost.:443", false},
		{"https://api.localhost", false},
		{"https://internal.example", false}, // resolves to loopback
		{"https://localhost.example.com", false},
		{"https://meta.example/latest", false},
		{"https://mixed.example", false}, // one private answer is enough
		{"https://mapped.example", false},
		{"https://[::ffff:127.0.0.1]", false},
		{"https://[::ffff:7f00:1]", false},
		{"https://[64:ff9b::a9fe:a9fe]", false},
		{"https://[fe80::1%25eth0]/", false},
		{"https://[fd00::1]", false},
		{"https://0.0.0.0", false},
		{"https://127.1", false},
		{"https://2130706433", false},
		{"https://0x7f.0x0.0x0.0x1", false},
		{"https://017700000001", false},
		{"https://redis", false},
		{"https://metadata.google.internal", false},
		{"https://printer.local", false},
		{"https://unknown.example", false}, // does not resolve
		{"https://user:pw@api.provider.example", false},
		{"http://api.provider.example", false},
		{"ftp://api.provider.example", false},
		{"//api.provider.example", false},
		{"api.provider.example", false},
		{"https://", false},
		{"https:api.provider.example", false},
		{"", false},
	} {
		err := p.CheckURL(context.Background(), tc.give)
		if tc.ok {
			if err != nil {
				t.Errorf("CheckURL(%q) = %v, want allowed", tc.give, err)
			}
			continue
		}
		if e, ok := cic.AsError(err); !ok || e.Code != "url_not_allowed" || e.Kind != cic.EINVALID || !outbound.Refused(err) {
			t.Errorf("CheckURL(%q) = %v, want EINVALID url_not_allowed", tc.give, err)
		}
	}
}

func TestCheckURL_AllowPrivateTakesLoopbackButOnlyHTTP(t *testing.T) {
	p := &outbound.Policy{AllowPrivate: true}
	for _, u := range []string{"http://127.0.0.1:6379/", "https://localhost:8443", "http://[::1]:80/x"} {
		if err := p.CheckURL(context.Background(), u); err != nil {
			t.Errorf("AllowPrivate CheckURL(%q) = %v", u, err)
		}
	}
	for _, u := range []string{"ftp://127.0.0.1/", "gopher://localhost", "file:///etc/passwd", "http://u:p@127.0.0.1/"} {
		if err := p.CheckURL(context.Background(), u); !outbound.Refused(err) {
			t.Errorf("AllowPrivate CheckURL(%q) = %v, want refused", u, err)
		}
	}
}

// counting counts the TCP connections a listener accepts: a refused
// destination must not even be connected to.
type counting struct {
	net.Listener
	n atomic.Int64
}

func (c *counting) Accept() (net.Conn, error) {
	conn, err := c.Listener.Accept()
	if err == nil {
		c.n.Add(1)
	}
	return conn, err
}

func loopbackServer(t *testing.T, tls bool) (*httptest.Server, *counting) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &counting{Listener: ln}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("redis secrets"))
	}))
	srv.Listener = cl
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, cl
}

// A name that resolves to a public address when the URL is saved and to
// loopback when the call is made reaches nothing: the check at connect
// time sees the address actually dialled.
func TestClient_DNSRebindingToLoopbackIsRefusedAtConnect(t *testing.T) {
	srv, conns := loopbackServer(t, true)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	dns := &fakeDNS{rebind: map[string][2]string{"rebind.example": {"93.184.216.34", "127.0.0.1"}}}
	p := &outbound.Policy{Resolver: dns}
	u := "https://rebind.example:" + port + "/latest/meta-data"
	if err := p.CheckURL(context.Background(), u); err != nil {
		t.Fatalf("at save time the name is public: %v", err)
	}
	resp, err := p.Client(5 * time.Second).Get(u)
	if err == nil {
		resp.Body.Close()
		t.Fatal("the rebound name was called")
	}
	if !outbound.Refused(err) {
		t.Fatalf("err = %v, want a refused destination", err)
	}
	if n := conns.n.Load(); n != 0 {
		t.Fatalf("%d connections reached the loopback server", n)
	}
	if dns.asked["rebind.example"] < 2 {
		t.Fatalf("the dialer did not resolve again: %v", dns.asked)
	}
}

func TestClient_RefusesPrivateLiteralsAndPlainHTTP(t *testing.T) {
	tlsSrv, tlsConns := loopbackServer(t, true)
	plain, plainConns := loopbackServer(t, false)
	c := (&outbound.Policy{Resolver: &fakeDNS{}}).Client(5 * time.Second)
	for _, u := range []string{tlsSrv.URL, strings.Replace(tlsSrv.URL, "127.0.0.1", "[::ffff:127.0.0.1]", 1), plain.URL} {
		resp, err := c.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s answered", u)
			continue
		}
		if !outbound.Refused(err) {
			t.Errorf("GET %s: %v, want refused", u, err)
		}
	}
	if n := tlsConns.n.Load() + plainConns.n.Load(); n != 0 {
		t.Fatalf("%d connections reached loopback", n)
	}
}

func TestClient_NoRedirectToADisallowedPlace(t *testing.T) {
	c := (&outbound.Policy{}).Client(time.Second)
	prev, _ := http.NewRequest("GET", "https://93.184.216.34/", nil)
	for _, u := range []string{"http://169.254.169.254/latest/meta-data", "https://127.0.0.1/", "https://localhost/", "http://93.184.216.34/"} {
		req, _ := http.NewRequest("GET", u, nil)
		if err := c.CheckRedirect(req, []*http.Request{prev}); !outbound.Refused(err) {
			t.Errorf("redirect to %s: %v, want refused", u, err)
		}
	}
	ok, _ := http.NewRequest("GET", "https://93.184.216.34/next", nil)
	if err := c.CheckRedirect(ok, []*http.Request{prev}); err != nil {
		t.Errorf("redirect to a public https place: %v", err)
	}
	if err := c.CheckRedirect(ok, []*http.Request{prev, prev, prev, prev}); err == nil {
		t.Error("a fifth redirect was followed")
	}
}

// The positive control: with ALLOW_PRIVATE_OUTBOUND the stub on loopback
// is reached (so the refusals above are the policy's, not the network's).
func TestClient_AllowPrivateReachesLoopback(t *testing.T) {
	srv, conns := loopbackServer(t, false)
	resp, err := (&outbound.Policy{AllowPrivate: true}).Client(5 * time.Second).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || conns.n.Load() != 1 {
		t.Fatalf("status %d, %d connections", resp.StatusCode, conns.n.Load())
	}
}

func TestAnswered_ShowsNoProviderText(t *testing.T) {
	err := outbound.Answered(400, "-ERR unknown command 'POST', with args beginning with: secret-from-redis")
	e, ok := cic.AsError(err)
	if !ok || e.Code != "provider_refused" || strings.Contains(e.Message, "secret-from-redis") || strings.Contains(outbound.Shown(err), "secret-from-redis") {
		t.Fatalf("shown: %v / %q", e, outbound.Shown(err))
	}
	var ae *outbound.AnswerError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "secret-from-redis") {
		t.Fatalf("the log loses the provider's text: %v", err)
	}
	u := outbound.Unreachable(&url.Error{Op: "Post", URL: "https://x", Err: errors.New("dial tcp 10.0.0.1:6379: connection refused")})
	if e, _ := cic.AsError(u); e.Code != "provider_unreachable" || strings.Contains(e.Message, "10.0.0.1") {
		t.Fatalf("unreachable shows %v", e)
	}
}
