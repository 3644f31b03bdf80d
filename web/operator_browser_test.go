package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cic-platform/cic/tenant"
)

// TestBrowser_OperatorFirstLoginInGermanThenLoginInEnglish: an operator
// added with a one-time password sets up the account on the German page
// (own password, authenticator app from the shown secret), leaves, and
// logs in on the English page with e-mail, password and a fresh code.
func TestBrowser_OperatorFirstLoginInGermanThenLoginInEnglish(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	_, once, err := ts.Operators.Add(t.Context(), "olga@operators.example", "Olga Operator", tenant.ClientMeta{})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)

	run(t, b, "German login page",
		chromedp.Navigate(base+"/operator?lang=de"),
		visible("#operator-login"),
	)
	if h, lang := read(t, b, "h1"), pageLangOf(t, b); lang != "de" || h != "Plattform-Betrieb" || !strings.Contains(read(t, b, "#operator-login"), "Passwort") {
		t.Fatalf("German page: lang %q, title %q, form %q", lang, h, read(t, b, "#operator-login"))
	}
	run(t, b, "wrong one-time password",
		fill(`#operator-login input[name=email]`, "olga@operators.example"),
		fill(`#operator-login input[name=password]`, "not the one-time password"),
		click(`#operator-login button[type=submit]`),
		visible("#error"),
	)
	if e := read(t, b, "#error"); e != "E-Mail, Passwort oder Code ist nicht richtig." {
		t.Fatalf("German error: %q", e)
	}
	run(t, b, "first login with the one-time password",
		fill(`#operator-login input[name=password]`, once),
		click(`#operator-login button[type=submit]`),
		visible("#operator-enroll"),
		visible("#totp-qr"),
	)
	if h := read(t, b, "h1"); h != "Betreiberkonto einrichten" {
		t.Fatalf("enrollment title %q", h)
	}
	secret := read(t, b, "#totp-secret")
	if !strings.Contains(read(t, b, "#totp-url"), "secret="+secret) {
		t.Fatalf("otpauth URL %q lacks the secret %q", read(t, b, "#totp-url"), secret)
	}
	op := &testOperator{email: "olga@operators.example", secret: secret}
	run(t, b, "passwords differ",
		fill(`#operator-enroll input[name=password]`, testOperatorPassword),
		fill(`#operator-enroll input[name=password2]`, testOperatorPassword+"x"),
		fill(`#operator-enroll input[name=code]`, "123456"),
		click(`#operator-enroll button[type=submit]`),
		visible("#error"),
	)
	if e := read(t, b, "#error"); e != "Die beiden Passwörter stimmen nicht überein." {
		t.Fatalf("German enrollment error: %q", e)
	}
	run(t, b, "enroll",
		fill(`#operator-enroll input[name=password]`, testOperatorPassword),
		fill(`#operator-enroll input[name=password2]`, testOperatorPassword),
		fill(`#operator-enroll input[name=code]`, op.nextCode(t)),
		click(`#operator-enroll button[type=submit]`),
		visible("#operator-catalog"),
	)
	if who := read(t, b, "#operator-who"); !strings.Contains(who, "Angemeldet als") || !strings.Contains(who, "Olga Operator") {
		t.Fatalf("console after enrollment: %q", who)
	}
	run(t, b, "leave, switch to English",
		click("#operator-logout"),
		visible("#operator-login"),
		click("#lang-en"),
		visible("#operator-login"),
	)
	if h, lang := read(t, b, "h1"), pageLangOf(t, b); lang != "en" || h != "Platform operator" {
		t.Fatalf("English page: lang %q, title %q", lang, h)
	}
	run(t, b, "wrong code",
		fill(`#operator-login input[name=email]`, op.email),
		fill(`#operator-login input[name=password]`, testOperatorPassword),
		fill(`#operator-login input[name=code]`, "000000"),
		click(`#operator-login button[type=submit]`),
		visible("#error"),
	)
	if e := read(t, b, "#error"); e != "The e-mail, password or code is not right." {
		t.Fatalf("English error: %q", e)
	}
	run(t, b, "log in with a fresh code",
		fill(`#operator-login input[name=password]`, testOperatorPassword),
		fill(`#operator-login input[name=code]`, op.nextCode(t)),
		click(`#operator-login button[type=submit]`),
		visible("#operator-catalog"),
	)
	if who := read(t, b, "#operator-who"); !strings.Contains(who, "Logged in as") || !strings.Contains(who, "Olga Operator") {
		t.Fatalf("console: %q", who)
	}
	if audit := read(t, b, "#operator-audit"); !strings.Contains(audit, "operator.enrolled") || !strings.Contains(audit, "operator.login") {
		t.Fatalf("audit table: %q", audit)
	}
}

// pageLangOf is the lang attribute of the page's html element.
func pageLangOf(t *testing.T, ctx context.Context) string {
	t.Helper()
	res, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("html"), "lang"))
	if err != nil {
		t.Fatal(err)
	}
	return res.Value
}
