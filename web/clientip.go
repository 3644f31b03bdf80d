package web

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// DefaultTrustedProxies is whom X-Forwarded-For is believed from when
// Config.TrustedProxies is empty: a proxy on the same host only.
var DefaultTrustedProxies = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}

// ParseTrustedProxies reads a comma-separated list of CIDRs or single
// addresses (TRUSTED_PROXIES).
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR (10.0.0.0/8) nor an address", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

const localClientIP = "cic.clientIP"

// resolveClientIP, the first middleware, works out the client's address
// once per request, for clientIP.
func (s *Server) resolveClientIP(c *fiber.Ctx) error {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	var xff []string
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		xff = append(xff, string(v))
	}
	c.Locals(localClientIP, clientAddr(peer, xff, s.trusted).String())
	return c.Next()
}

// clientIP is the client's address, the one rate limits, audit entries,
// seat leases and logs use: the peer's address, unless the peer is a
// trusted proxy, then the rightmost address of X-Forwarded-For that is not
// a trusted proxy. Every handler takes it from here, never from c.IP()
// (TestClientIP_NoHandlerReadsFiberIP checks).
func clientIP(c *fiber.Ctx) string {
	if ip, ok := c.Locals(localClientIP).(string); ok {
		return ip
	}
	// Not behind resolveClientIP (never in routes()): the peer.
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return peer.Unmap().String()
}

// clientAddr walks the X-Forwarded-For chain from the right, starting at
// the peer: each trusted hop vouches for the address to its left, and the
// first address not trusted is the client. The header's values are
// joined in order (several header lines are one list). A value that is
// not an address ends the walk at the last trusted hop: nothing left of
// it can be believed. When every hop is trusted, the leftmost is the
// client.
func clientAddr(peer netip.Addr, xff []string, trusted []netip.Prefix) netip.Addr {
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer
	}
	var hops []string
	for _, v := range xff {
		hops = append(hops, strings.Split(v, ",")...)
	}
	last := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			return last
		}
		if !isTrusted(a, trusted) {
			return a
		}
		last = a
	}
	return last
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop reads one X-Forwarded-For element: an address, possibly with a
// port ("192.0.2.1:4711", "[2001:db8::1]:4711") or in brackets.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Zone() == "" {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}
