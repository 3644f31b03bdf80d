package tenant_test

import (
	"strings"
	"testing"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

func TestNormalizeEmail_AcceptsPlainAddressesAndLowerCasesThem(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"olive@example.com", "olive@example.com"},
		{"Olive.Owner@Example.COM", "olive.owner@example.com"},
		{"  olive@example.com\t", "olive@example.com"},
		{"olive+tag@mail.example.co.uk", "olive+tag@mail.example.co.uk"},
		{"o@x.io", "o@x.io"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := tenant.NormalizeEmail(tc.in)
			if err != nil {
				t.Fatalf("NormalizeEmail(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("NormalizeEmail(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNormalizeEmail_RefusesAnythingButABareAddress(t *testing.T) {
	for name, in := range map[string]string{
		"empty":             "",
		"blank":             "   ",
		"no at":             "olive.example.com",
		"no local part":     "@example.com",
		"no domain":         "olive@",
		"dotless domain":    "olive@localhost",
		"trailing dot":      "olive@example.com.",
		"display name":      "Olive <olive@example.com>",
		"space inside":      "olive owner@example.com",
		"two ats":           "olive@@example.com",
		"header injection":  "olive@example.com\r\nBcc: x@example.com",
		"longer than 254":   strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190) + ".com",
		"angle address":     "<olive@example.com>",
		"comma-joined list": "a@example.com,b@example.com",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := tenant.NormalizeEmail(in)
			wantError(t, err, cic.EINVALID, "invalid_email")
			if got != "" {
				t.Fatalf("returned %q alongside the error", got)
			}
		})
	}
}

func TestValidatePassword_EnforcesThePolicy(t *testing.T) {
	for _, tc := range []struct {
		name, pw, email, code string
	}{
		{"ok", goodPassword, "olive@example.com", ""},
		{"ok exactly ten characters", "tulip-fox7", "", ""},
		{"ok ten runes of multi-byte text", "äöüßéèêëçñ", "", ""},
		{"ok short local part may appear", "bob-likes-tea", "bob@example.com", ""},
		{"too short", "abc123!", "", "weak_password"},
		{"nine characters", "abcde1234", "", "weak_password"},
		{"too few distinct characters", "abababababab", "", "weak_password"},
		{"one repeated rune", strings.Repeat("ä", 12), "", "weak_password"},
		{"common password", "password123", "", "weak_password"},
		{"common password in other case", "PassWord123", "", "weak_password"},
		{"password12 (the invitation page took it)", "password12", "", "weak_password"},
		{"listed word with a year and symbol", "Welcome2026!", "", "weak_password"},
		{"listed word behind digits", "2026sunshine", "", "weak_password"},
		{"leetspeak", "p4ssw0rd2026", "", "weak_password"},
		{"listed word twice", "dragondragon", "", "weak_password"},
		{"listed long password", "1234567890", "", "weak_password"},
		{"ok passphrase with a listed word inside", "tea-dragon-lamp-42", "", ""},
		{"contains the e-mail local part", "olive-secret-42", "olive@example.com", "weak_password"},
		{"contains the local part in other case", "my OLIVE secret", "Olive@example.com", "weak_password"},
		{"longer than 128 bytes", strings.Repeat("abcdefgh", 17), "", "invalid_password"},
		{"not UTF-8", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6", "", "invalid_password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tenant.ValidatePassword(tc.pw, tc.email)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("ValidatePassword(%q): %v", tc.pw, err)
				}
				return
			}
			wantError(t, err, cic.EINVALID, tc.code)
		})
	}
}

func TestValidateSlug_AllowsLowerCaseWordsWithSingleInnerHyphens(t *testing.T) {
	for _, s := range []string{"abc", "acme", "acme-co", "a1b", "123", "acme-gmbh-co", strings.Repeat("a", 40)} {
		if err := tenant.ValidateSlug(s); err != nil {
			t.Errorf("ValidateSlug(%q): %v", s, err)
		}
	}
}

func TestValidateSlug_RefusesMalformedSlugs(t *testing.T) {
	for name, s := range map[string]string{
		"empty":           "",
		"two characters":  "ab",
		"41 characters":   strings.Repeat("a", 41),
		"upper case":      "Acme",
		"leading hyphen":  "-acme",
		"trailing hyphen": "acme-",
		"double hyphen":   "ac--me",
		"underscore":      "acme_co",
		"space":           "acme co",
		"dot":             "acme.co",
		"non-ASCII":       "äcme",
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, tenant.ValidateSlug(s), cic.EINVALID, "invalid_slug")
		})
	}
}

func TestValidateSlug_ReservedSlugsAreTaken(t *testing.T) {
	for _, s := range []string{"admin", "api", "www", "app", "platform", "login", "signup", "support"} {
		t.Run(s, func(t *testing.T) {
			wantError(t, tenant.ValidateSlug(s), cic.ECONFLICT, "slug_taken")
		})
	}
}

func TestSlugify_DerivesAValidSlugFromACompanyName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Acme GmbH & Co.", "acme-gmbh-co"},
		{"  Hello   World  ", "hello-world"},
		{"ACME", "acme"},
		{"Café Olé", "caf-ol"},
		{"Ünïcode Ltd", "n-code-ltd"},
		{"A", "a-co"},
		{"AB", "ab-co"},
		{"3M", "3m-co"},
		{"x__y", "x-y"},
		{strings.Repeat("long ", 20), strings.TrimSuffix(strings.Repeat("long-", 8), "-")},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got := tenant.Slugify(tc.in)
			if got != tc.want {
				t.Fatalf("Slugify(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if err := tenant.ValidateSlug(got); err != nil {
				t.Fatalf("Slugify(%q) = %q, which ValidateSlug refuses: %v", tc.in, got, err)
			}
		})
	}
}

func TestSlugify_GivesNothingForNamesWithoutASCIILettersOrDigits(t *testing.T) {
	for _, in := range []string{"", "!!!", "   ", "株式会社", "Ωμέγα"} {
		if got := tenant.Slugify(in); got != "" {
			t.Errorf("Slugify(%q) = %q, want empty", in, got)
		}
	}
}

func TestSlugify_NeverExceedsFortyCharacters(t *testing.T) {
	for _, in := range []string{strings.Repeat("a", 100), strings.Repeat("ab ", 50), strings.Repeat("x", 39) + " yz"} {
		got := tenant.Slugify(in)
		if len(got) > 40 {
			t.Errorf("Slugify(%q) = %q: %d characters", in, got, len(got))
		}
		if err := tenant.ValidateSlug(got); err != nil {
			t.Errorf("Slugify(%q) = %q, which ValidateSlug refuses: %v", in, got, err)
		}
	}
}

func TestValidateCurrency_AcceptsKnownCodesInAnyCase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"EUR", "EUR"}, {"usd", "USD"}, {" gbp ", "GBP"}, {"Chf", "CHF"},
	} {
		got, err := tenant.ValidateCurrency(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ValidateCurrency(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestValidateCurrency_RefusesUnknownCodes(t *testing.T) {
	for _, in := range []string{"", "XYZ", "EURO", "EU", "€", "JPY"} {
		t.Run(in, func(t *testing.T) {
			got, err := tenant.ValidateCurrency(in)
			e := wantError(t, err, cic.EINVALID, "invalid_currency")
			if got != "" {
				t.Fatalf("returned %q alongside the error", got)
			}
			if !strings.Contains(e.Message, "EUR") {
				t.Fatalf("message %q does not list the currencies", e.Message)
			}
		})
	}
}

func TestValidateName_TrimsAndAcceptsOneLineUpToMax(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"  Acme  ", 200, "Acme"},
		{"Zoë Ångström", 200, "Zoë Ångström"},
		{strings.Repeat("é", 10), 10, strings.Repeat("é", 10)}, // max counts runes, not bytes
	} {
		got, err := tenant.ValidateName("company", tc.in, tc.max)
		if err != nil || got != tc.want {
			t.Errorf("ValidateName(%q, %d) = %q, %v; want %q", tc.in, tc.max, got, err, tc.want)
		}
	}
}

func TestValidateName_RefusesEmptyLongAndMultiLineNames(t *testing.T) {
	for _, tc := range []struct {
		name, field, in string
		max             int
		code, message   string
	}{
		{"empty", "company", "", 200, "missing_company", "Company is required."},
		{"blank", "name", " \t ", 200, "missing_name", "Name is required."},
		{"too long", "name", strings.Repeat("a", 11), 10, "invalid_name", "Name must be at most 10 characters on one line."},
		{"newline", "name", "Olive\nOwner", 200, "invalid_name", ""},
		{"carriage return", "name", "Olive\rOwner", 200, "invalid_name", ""},
		{"NUL", "company", "Acme\x00", 200, "invalid_company", ""},
		{"not UTF-8", "company", "Acme \xff", 200, "invalid_company", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tenant.ValidateName(tc.field, tc.in, tc.max)
			e := wantError(t, err, cic.EINVALID, tc.code)
			if tc.message != "" && e.Message != tc.message {
				t.Fatalf("message %q, want %q", e.Message, tc.message)
			}
			if got != "" {
				t.Fatalf("returned %q alongside the error", got)
			}
		})
	}
}
