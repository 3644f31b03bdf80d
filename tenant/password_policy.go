package tenant

import (
	_ "embed"
	"strings"
	"unicode/utf8"

	cic "github.com/cic-platform/cic"
)

// The one password policy, used by sign-up, user creation, invitation
// acceptance and password changes: 10 to 128 characters, at least 5
// distinct ones, not the e-mail's name, and not a common password, also
// when digits or symbols are added around it or letters are written as
// digits ("Password12!", "p4ssw0rd2026").

//go:embed common_passwords.txt
var commonPasswordList string

var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(commonPasswordList, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			m[line] = true
		}
	}
	return m
}()

var errWeakPassword = cic.Codef(cic.EINVALID, "weak_password", "Password is too easy to guess: avoid common words, repeated characters and your e-mail name.")

// ValidatePassword enforces the password policy.
func ValidatePassword(pw, email string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < 10:
		return cic.Codef(cic.EINVALID, "weak_password", "Password must be at least 10 characters long.")
	case len(pw) > 128:
		return cic.Codef(cic.EINVALID, "invalid_password", "Password must be at most 128 bytes long.")
	case !utf8.ValidString(pw):
		return cic.Codef(cic.EINVALID, "invalid_password", "Password must be valid UTF-8 text.")
	}
	distinct := map[rune]bool{}
	for _, r := range pw {
		distinct[r] = true
	}
	lower := strings.ToLower(pw)
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	if len(distinct) < 5 || isCommonPassword(lower) || (len(local) >= 4 && strings.Contains(lower, local)) {
		return errWeakPassword
	}
	return nil
}

var unleet = strings.NewReplacer("0", "o", "1", "i", "3", "e", "4", "a", "5", "s", "7", "t", "@", "a", "$", "s", "!", "i")

// isCommonPassword says the lower-cased password is a listed one, maybe
// with digits and symbols before or after it, or in leetspeak.
func isCommonPassword(lower string) bool {
	core := strings.TrimFunc(lower, func(r rune) bool { return !isLetter(r) })
	notLetter := func(r rune) bool { return !isLetter(r) }
	for _, c := range []string{lower, core, unleet.Replace(lower), unleet.Replace(core), strings.TrimFunc(unleet.Replace(lower), notLetter)} {
		if commonPasswords[c] {
			return true
		}
	}
	// The same word twice or more ("passwordpassword", "qwerty-qwerty").
	if len(core) >= 8 {
		for size := 4; size <= len(core)/2; size++ {
			if commonPasswords[core[:size]] && strings.Count(core, core[:size])*size >= len(core)-2 {
				return true
			}
		}
	}
	return false
}

func isLetter(r rune) bool { return r >= 'a' && r <= 'z' || r > 0x7f }
