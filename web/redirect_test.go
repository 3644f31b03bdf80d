package web

import (
	"net/url"
	"strings"
	"testing"
)

// resolveLikeABrowser is what a browser does with a Location header:
// it drops tabs and newlines, reads backslashes as slashes and resolves
// the rest against the page's URL.
func resolveLikeABrowser(loc string) (*url.URL, error) {
	loc = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return -1
		case r == '\\':
			return '/'
		}
		return r
	}, strings.Trim(loc, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "))
	base, _ := url.Parse("https://cic.example/login")
	ref, err := url.Parse(loc)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(ref), nil
}

func TestSafeNext_OnlySameSitePaths(t *testing.T) {
	tests := []struct{ name, give, want string }{
		{"empty", "", "/dashboard"},
		{"plain path", "/users", "/users"},
		{"path with query", "/customers?q=M%C3%BCller&x=1", "/customers?q=M%C3%BCller&x=1"},
		{"path with fragment", "/reports#kpi", "/reports#kpi"},
		{"tab between slashes", "/\t/evil.example", "/dashboard"},
		{"newline between slashes", "/\n/evil.example", "/dashboard"},
		{"carriage return", "/\r/evil.example", "/dashboard"},
		{"NUL between slashes", "/\x00/evil.example", "/dashboard"},
		{"C1 control", "/\u0085/evil.example", "/dashboard"},
		{"protocol relative", "//evil.example", "/dashboard"},
		{"slash backslash", "/\\evil.example", "/dashboard"},
		{"backslash backslash", "\\\\evil.example", "/dashboard"},
		{"backslash tab", "/\\\t\\evil.example", "/dashboard"},
		{"absolute https", "https://evil.example/", "/dashboard"},
		{"scheme relative", "https:evil.example", "/dashboard"},
		{"javascript", "javascript:alert(1)", "/dashboard"},
		{"leading space", " /\t/evil.example", "/dashboard"},
		{"relative", "evil.example", "/dashboard"},
		{"encoded slashes", "/%2F%2Fevil.example", "/dashboard"},
		{"encoded slash after slash", "/%2Fevil.example", "/dashboard"},
		{"encoded backslash", "/%5Cevil.example", "/dashboard"},
		{"encoded tab", "/%09/evil.example", "/dashboard"},
		{"double encoded slashes", "/%252F%252Fevil.example", "/dashboard"},
		{"bad escape", "/%zz", "/dashboard"},
		{"userinfo trick", "/@evil.example", "/@evil.example"},
		{"inner double slash is a path", "/a//b", "/a//b"},
		{"stripped control kept on site", "/us\ters", "/users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := safeNext(tt.give)
			if got != tt.want {
				t.Fatalf("safeNext(%q) = %q, want %q", tt.give, got, tt.want)
			}
			u, err := resolveLikeABrowser(got)
			if err != nil || u.Host != "cic.example" {
				t.Fatalf("safeNext(%q) = %q leads to %v (%v)", tt.give, got, u, err)
			}
		})
	}
}

// FuzzSafeNext: whatever next= says, the redirect never leaves the site.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/users", "/\t/evil.example", "//evil.example", "/\\evil", "https://evil.example",
		"/%2F%2Fevil", "/%5Cevil", "\\/evil", "/\u3000/evil", "/%E3%80%80/evil", "/.//evil", "/..//evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		for i := 0; i < len(got); i++ {
			if got[i] < 0x20 || got[i] == 0x7f || got[i] == '\\' {
				t.Fatalf("safeNext(%q) = %q keeps a control character or backslash", next, got)
			}
		}
		u, err := resolveLikeABrowser(got)
		if err != nil {
			t.Fatalf("safeNext(%q) = %q does not parse: %v", next, got, err)
		}
		if u.Scheme != "https" || u.Host != "cic.example" {
			t.Fatalf("safeNext(%q) = %q leaves the site: %v", next, got, u)
		}
		// A second decoding (a proxy, a framework) must not leave either.
		if d, err := url.PathUnescape(got); err == nil {
			if u, err := resolveLikeABrowser(d); err == nil && u.Host != "cic.example" {
				t.Fatalf("safeNext(%q) = %q decodes to %q, off-site", next, got, d)
			}
		}
	})
}
