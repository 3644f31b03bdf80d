// Package outbound is how the product calls a URL that a tenant gave it
// (a provider's API root today, webhooks later): only https, only to a
// public address. The URL is checked when it is saved (CheckURL), and the
// client (Client) checks again the address each connection actually goes
// to, after DNS, so a name that resolved to a public address at save time
// and to 127.0.0.1 or 169.254.169.254 later (DNS rebinding) still reaches
// nothing. AllowPrivate turns both checks off (ALLOW_PRIVATE_OUTBOUND=1:
// tests and `make run`, whose provider stubs listen on loopback).
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	cic "github.com/cic-platform/cic"
)

// ErrNotAllowed is the cause of every refused destination, at save time
// and at connect time.
var ErrNotAllowed = errors.New("outbound: destination not allowed")

// Resolver looks host names up; *net.Resolver is one. Tests hook it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy decides where outbound calls may go. The zero value (and a nil
// *Policy) is the strict one.
type Policy struct {
	// AllowPrivate allows http and private, loopback and link-local
	// addresses (ALLOW_PRIVATE_OUTBOUND=1).
	AllowPrivate bool
	// Resolver looks names up, at save time and at connect time; nil:
	// net.DefaultResolver.
	Resolver Resolver
}

func (p *Policy) allowPrivate() bool { return p != nil && p.AllowPrivate }

func (p *Policy) resolver() Resolver {
	if p == nil || p.Resolver == nil {
		return net.DefaultResolver
	}
	return p.Resolver
}

func notAllowed(format string, args ...any) error {
	return fmt.Errorf("%w: %w", cic.Codef(cic.EINVALID, "url_not_allowed", format, args...), ErrNotAllowed)
}

// lookupTimeout bounds the name lookup of a URL being saved.
const lookupTimeout = 5 * time.Second

// CheckURL reports whether raw may be called: an absolute https URL
// without credentials whose host is a public address or a name that
// resolves only to public addresses. Refusals are EINVALID url_not_allowed.
func (p *Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return notAllowed("The address is not an absolute https:// URL.")
	}
	if u.User != nil {
		return notAllowed("The address may not carry a user name or password; enter the credentials in their own fields.")
	}
	if err := p.checkStatic(u); err != nil {
		return err
	}
	if p.allowPrivate() {
		return nil
	}
	host := canonicalHost(u.Hostname())
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // checkStatic checked the literal
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := p.resolver().LookupNetIP(lctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return notAllowed("The server name %s could not be resolved.", host)
	}
	for _, a := range addrs {
		if !AddrAllowed(a) {
			return notAllowed("The address must lead to a public server, not to a private or local network.")
		}
	}
	return nil
}

// checkStatic is what needs no DNS: the scheme, and a host that is an
// address literal or a local-only name. The client applies it to every
// request, redirects included.
func (p *Policy) checkStatic(u *url.URL) error {
	scheme := strings.ToLower(u.Scheme)
	if p.allowPrivate() {
		if scheme != "https" && scheme != "http" {
			return notAllowed("The address is not an http(s):// URL.")
		}
		return nil
	}
	if scheme != "https" {
		return notAllowed("The address must start with https://.")
	}
	host := canonicalHost(u.Hostname())
	if a, err := netip.ParseAddr(host); err == nil {
		if !AddrAllowed(a) {
			return notAllowed("The address must lead to a public server, not to a private or local network.")
		}
		return nil
	}
	if !publicName(host) {
		return notAllowed("The address must name a public server.")
	}
	return nil
}

// canonicalHost lower-cases a host and drops the root's trailing dot.
func canonicalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// publicName refuses the names that never lead to a public server:
// single labels (intranet names), localhost (RFC 6761) and the local-use
// suffixes, and numeric spellings of addresses that some resolvers take
// as IPv4 (127.1, 2130706433, 0x7f.0.0.1).
func publicName(host string) bool {
	if host == "" || !strings.Contains(host, ".") || strings.ContainsAny(host, "%[]:") {
		return false
	}
	for _, suffix := range []string{".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan", ".intranet", ".corp"} {
		if strings.HasSuffix("."+host, suffix) {
			return false
		}
	}
	labels := strings.Split(host, ".")
	tld := labels[len(labels)-1]
	if tld == "" || strings.HasPrefix(tld, "0x") || strings.Trim(tld, "0123456789") == "" {
		return false
	}
	return true
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Not public: IANA's special-purpose registries, the parts no public
// server lives in.
var (
	blocked4 = mustPrefixes(
		"0.0.0.0/8",       // this network, unspecified
		"10.0.0.0/8",      // private
		"100.64.0.0/10",   // carrier-grade NAT
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, cloud metadata (169.254.169.254)
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.88.99.0/24",  // 6to4 relay anycast
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, broadcast 255.255.255.255
	)
	global6  = netip.MustParsePrefix("2000::/3")
	blocked6 = mustPrefixes(
		"2001::/32",      // Teredo (hides an IPv4 address)
		"2001:db8::/32",  // documentation
		"2001:10::/28",   // ORCHID
		"2001:20::/28",   // ORCHIDv2
		"3fff::/20",      // documentation
		"64:ff9b:1::/48", // local-use NAT64
	)
	nat64   = netip.MustParsePrefix("64:ff9b::/96") // well-known NAT64: the IPv4 address is the last 32 bits
	sixTo4  = netip.MustParsePrefix("2002::/16")    // 6to4: the IPv4 address is bits 16-48
	compat4 = netip.MustParsePrefix("::/96")        // IPv4-compatible (deprecated), ::, ::1
)

// AddrAllowed reports whether a is a public unicast address. IPv4-mapped
// (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::)
// forms are judged by the IPv4 address they carry.
func AddrAllowed(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	if !a.IsValid() {
		return false
	}
	if a.Is4() {
		for _, p := range blocked4 {
			if p.Contains(a) {
				return false
			}
		}
		return true
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return AddrAllowed(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	case sixTo4.Contains(a):
		return AddrAllowed(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	case compat4.Contains(a):
		return false
	case !global6.Contains(a): // fc00::/7, fe80::/10, fec0::/10, ff00::/8, ::/8, 100::/64 ...
		return false
	}
	for _, p := range blocked6 {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// control is the dialer's last word: it sees the address the socket is
// about to connect to, whatever resolved it.
func control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !AddrAllowed(ap.Addr()) {
		return fmt.Errorf("connect to %s: %w", address, ErrNotAllowed)
	}
	return nil
}

// dial resolves the host through the policy's resolver and connects to
// its allowed addresses in turn, each connection checked by control.
func (p *Policy) dial(ctx context.Context, network, address string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if p.allowPrivate() {
		return d.DialContext(ctx, network, address)
	}
	d.Control = control
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ipNet := "ip"
		switch network {
		case "tcp4":
			ipNet = "ip4"
		case "tcp6":
			ipNet = "ip6"
		}
		if addrs, err = p.resolver().LookupNetIP(ctx, ipNet, host); err != nil {
			return nil, err
		}
	}
	var firstErr error
	for _, a := range addrs {
		if !AddrAllowed(a) {
			if firstErr == nil {
				firstErr = fmt.Errorf("connect to %s (%s): %w", host, a, ErrNotAllowed)
			}
			continue
		}
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.WithZone("").Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil || errors.Is(firstErr, ErrNotAllowed) {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("no address for %s", host)
	}
	return nil, firstErr
}

// guard checks every request the client sends, redirects included,
// before any connection is made.
type guard struct {
	p    *Policy
	next http.RoundTripper
}

func (g guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := g.p.checkStatic(req.URL); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return g.next.RoundTrip(req)
}

// maxRedirects is how many redirects a call follows, each to an allowed
// place (the guard and the dialer check it as the first request).
const maxRedirects = 3

// Client returns an HTTP client for tenant-given URLs under the policy:
// no proxy from the environment (a proxy would hide the destination
// from the dialer's check), requests time out after timeout.
func (p *Policy) Client(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           p.dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Timeout:   timeout,
		Transport: guard{p: p, next: tr},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return p.checkStatic(req.URL)
		},
	}
}

// strict is the client of the zero policy, for callers given none.
var strict = (*Policy)(nil).Client(15 * time.Second)

// Strict returns the shared strict client (15 s timeout): what a channel
// uses when it was given no client.
func Strict() *http.Client { return strict }

// Refused reports whether err (from a Client's call) is a refused
// destination.
func Refused(err error) bool { return errors.Is(err, ErrNotAllowed) }

// What a failed call shows: a neutral code and message. The cause (a
// dial error, the provider's own error text) stays in the error chain,
// for the log only: a provider's answer is never reflected to a user, so
// a tenant cannot read another server's replies through us.

// Unreachable is a call that got no answer: url_not_allowed when the
// destination was refused, else provider_unreachable.
func Unreachable(err error) error {
	if Refused(err) {
		return fmt.Errorf("%w: %w", cic.Codef(cic.ECONFLICT, "url_not_allowed",
			"The provider's API address is not allowed (https to a public server only); an admin can correct it under Channels."), err)
	}
	return fmt.Errorf("%w: %w", cic.Codef(cic.EUNAVAILABLE, "provider_unreachable",
		"The provider could not be reached; try again later."), err)
}

// AnswerError is a provider's error answer, for the log.
type AnswerError struct {
	Status int
	Text   string
}

func (e *AnswerError) Error() string {
	t := e.Text
	if len(t) > 300 {
		t = t[:300]
	}
	return fmt.Sprintf("provider answered HTTP %d: %q", e.Status, t)
}

// Answered is a provider's error answer (status, and its text): the user
// sees provider_refused with the status only.
func Answered(status int, text string) error {
	return fmt.Errorf("%w: %w", cic.Codef(cic.EUNAVAILABLE, "provider_refused",
		"The provider refused the request (HTTP %d); the details are in the server log.", status), &AnswerError{Status: status, Text: text})
}

// Shown is what of err a user may see (its message), for places that
// record a failure as text: the cic message, never the cause.
func Shown(err error) string {
	if e, ok := cic.AsError(err); ok && e.Kind != cic.EINTERNAL {
		return e.Message
	}
	return "The provider call failed; the details are in the server log."
}
