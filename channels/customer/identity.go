package customer

import (
	"net/mail"
	"strings"

	cic "github.com/cic-platform/cic"
)

// Kinds of identity.
const (
	KindEmail   = "email"
	KindPhone   = "phone"
	KindVisitor = "visitor"
	KindHandle  = "handle"
)

// Normalize returns the stored form of an identity, so that the same
// person is found whatever way they wrote it: lower-case bare e-mail
// address, E.164 phone number (+ and 8 to 15 digits; 00 is read as +),
// "platform:handle" in lower case.
func Normalize(kind, value string) (string, error) {
	v := strings.TrimSpace(value)
	switch kind {
	case KindEmail:
		a, err := mail.ParseAddress(v)
		if err != nil || len(a.Address) > 320 {
			return "", cic.Codef(cic.EINVALID, "invalid_email", "%q is not an e-mail address.", value)
		}
		return strings.ToLower(a.Address), nil
	case KindPhone:
		return NormalizePhone(v)
	case KindVisitor:
		if v == "" || len(v) > 200 {
			return "", cic.Codef(cic.EINVALID, "invalid_visitor", "A visitor id is 1 to 200 characters.")
		}
		return v, nil
	case KindHandle:
		platform, handle, ok := strings.Cut(strings.ToLower(v), ":")
		handle = strings.TrimPrefix(strings.TrimSpace(handle), "@")
		platform = strings.TrimSpace(platform)
		if !ok || platform == "" || handle == "" || len(v) > 320 {
			return "", cic.Codef(cic.EINVALID, "invalid_handle", "A social handle is written platform:handle.")
		}
		return platform + ":" + handle, nil
	}
	return "", cic.Codef(cic.EINVALID, "invalid_kind", "An identity is an email, phone, visitor or handle.")
}

// NormalizePhone returns a phone number in E.164: spaces, dots, dashes
// and brackets are dropped, a leading 00 becomes +. A number without a
// country code is refused: we cannot guess it.
func NormalizePhone(v string) (string, error) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(v) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", cic.Codef(cic.EINVALID, "invalid_phone", "%q is not a phone number.", v)
		}
	}
	s := b.String()
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if !strings.HasPrefix(s, "+") || len(s) < 9 || len(s) > 16 || s[1] == '0' {
		return "", cic.Codef(cic.EINVALID, "invalid_phone", "%q is not a phone number with its country code (+49...).", v)
	}
	return s, nil
}
