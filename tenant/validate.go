package tenant

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	cic "github.com/cic-platform/cic"
)

// Currencies a tenant may be billed in (ISO 4217).
var Currencies = []string{"EUR", "USD", "GBP", "CHF", "SEK", "DKK", "NOK", "PLN", "CZK", "CAD", "AUD"}

var (
	slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$`)
	// Slugs that would read as ours rather than a customer's.
	reservedSlugs = map[string]bool{"admin": true, "api": true, "www": true, "app": true, "platform": true,
		"operator": true, "static": true, "assets": true, "signup": true, "login": true, "support": true}
)

// NormalizeEmail validates an e-mail address and returns it lower-cased.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", cic.Codef(cic.EINVALID, "invalid_email", "E-mail is required.")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 {
		return "", cic.Codef(cic.EINVALID, "invalid_email", "%q is not a valid e-mail address.", truncate(s, 80))
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || !strings.Contains(s[at+1:], ".") || strings.HasSuffix(s, ".") {
		return "", cic.Codef(cic.EINVALID, "invalid_email", "%q is not a valid e-mail address.", truncate(s, 80))
	}
	return strings.ToLower(s), nil
}

// ValidateSlug checks a tenant slug: 3 to 40 lower-case letters, digits
// and inner hyphens.
func ValidateSlug(s string) error {
	if !slugPattern.MatchString(s) || strings.Contains(s, "--") {
		return cic.Codef(cic.EINVALID, "invalid_slug", "Slug must be 3 to 40 lower-case letters, digits or single hyphens, starting and ending with a letter or digit.")
	}
	if reservedSlugs[s] {
		return cic.Codef(cic.ECONFLICT, "slug_taken", "The slug %q is reserved; choose another.", s)
	}
	return nil
}

// Slugify derives a slug from a company name ("Acme GmbH & Co." → "acme-gmbh-co").
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	for len(s) < 3 && s != "" {
		s += "-co"
	}
	return strings.Trim(s, "-")
}

// ValidateCurrency checks currency against Currencies and upper-cases it.
func ValidateCurrency(c string) (string, error) {
	c = strings.ToUpper(strings.TrimSpace(c))
	for _, k := range Currencies {
		if c == k {
			return c, nil
		}
	}
	return "", cic.Codef(cic.EINVALID, "invalid_currency", "Currency must be one of %s.", strings.Join(Currencies, ", "))
}

// ValidateName checks a person's or company's display name.
func ValidateName(field, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", cic.Codef(cic.EINVALID, "missing_"+field, "%s is required.", capitalize(field))
	}
	if utf8.RuneCountInString(s) > max || !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\r\n") {
		return "", cic.Codef(cic.EINVALID, "invalid_"+field, "%s must be at most %d characters on one line.", capitalize(field), max)
	}
	return s, nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
