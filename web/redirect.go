package web

import (
	"net/url"
	"strings"
)

// defaultNext is where a login goes when its next= is missing or unsafe.
const defaultNext = "/dashboard"

// safeNext keeps post-login redirects on this site. Browsers drop tabs
// and newlines from a URL and read a backslash as a slash, so
// "/\t/evil.example" and "/\evil.example" mean "//evil.example", another
// host. Control characters are stripped and backslashes read as slashes
// first, as the browser would; what is left must be a
// path of this site: one leading slash, no scheme, no host, and no
// encoded form of "//" or "/\" at its start that a later decoder could
// turn into one. Anything else goes to the dashboard.
func safeNext(next string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return -1
		case r == '\\':
			return '/'
		}
		return r
	}, next)
	if !sitePath(clean) {
		return defaultNext
	}
	// Percent-decoding must not reveal a host either (/%2F%2Fevil,
	// /%5Cevil, /%09/evil), however many times it is applied.
	dec := clean
	for range 3 {
		d, err := url.PathUnescape(dec)
		if err != nil {
			return defaultNext
		}
		d = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			if r == '\\' {
				return '/'
			}
			return r
		}, d)
		if !strings.HasPrefix(d, "/") || strings.HasPrefix(d, "//") {
			return defaultNext
		}
		if d == dec {
			break
		}
		dec = d
	}
	return clean
}

// sitePath says p is an absolute path on this host: printable ASCII,
// "/" then anything but a second "/", parsing to no scheme, host or user.
func sitePath(p string) bool {
	if len(p) == 0 || len(p) > 2048 || p[0] != '/' || strings.HasPrefix(p, "//") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] >= 0x7f || p[i] == '\\' {
			return false
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && u.Opaque == ""
}
