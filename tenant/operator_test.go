package tenant_test

import (
	"strings"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant"
)

// clock is a settable time for the operators' TOTP steps.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newOperators(t *testing.T, limits tenant.OperatorLimits) (*tenant.Operators, *testenv.DB, *clock) {
	t.Helper()
	s, db := newService(t)
	ops := tenant.NewOperators(s.DB, s.Keys, tenant.NewLimiter(testenv.NewRedis(t), testenv.Prefix(), tenant.Limits{}))
	ops.Password = tenant.FastPasswordParams
	ops.Limits = limits
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	ops.Now = clk.now
	return ops, db, clk
}

var opClient = tenant.ClientMeta{IP: "198.51.100.20", RequestID: "req-op"}

const opPassword = "operator pass phrase 1"

// enrolled adds an operator and takes them through the first login; it
// returns their TOTP secret.
func enrolled(t *testing.T, ops *tenant.Operators, clk *clock, email, name string) (tenant.Operator, string) {
	t.Helper()
	c := ctx(t)
	op, once, err := ops.Add(c, email, name, tenant.ClientMeta{RequestID: "cli"})
	mustOK(t, err)
	sess, err := ops.Login(c, tenant.OperatorLogin{Email: email, Password: once}, tenant.OperatorPage, true, opClient)
	mustOK(t, err)
	if sess.Kind != tenant.OperatorEnroll {
		t.Fatalf("first login opened a %q session, want enroll", sess.Kind)
	}
	e, err := ops.Enrollment(c, sess.Token)
	mustOK(t, err)
	if !strings.HasPrefix(e.URL, "otpauth://totp/") || !strings.Contains(e.URL, "secret="+e.Secret) || !strings.HasPrefix(e.QR, "data:image/png;base64,") {
		t.Fatalf("enrollment shows %q / %q", e.URL, e.QR[:min(len(e.QR), 30)])
	}
	code, _ := tenant.TOTPCode(e.Secret, clk.now())
	_, err = ops.Enroll(c, sess.Token, opPassword, code, opClient)
	mustOK(t, err)
	clk.advance(30 * time.Second)
	return op, e.Secret
}

func code(t *testing.T, secret string, clk *clock) string {
	t.Helper()
	c, err := tenant.TOTPCode(secret, clk.now())
	mustOK(t, err)
	return c
}

func TestOperator_AddFirstLoginEnrollThenLogin(t *testing.T) {
	ops, _, clk := newOperators(t, tenant.OperatorLimits{})
	c := ctx(t)
	op, once, err := ops.Add(c, " Olga@Platform.Example ", "Olga Operator", tenant.ClientMeta{})
	mustOK(t, err)
	if op.Email != "olga@platform.example" || op.Name != "Olga Operator" || len(once) < 16 || op.TOTPEnabled {
		t.Fatalf("added %+v with one-time password %q", op, once)
	}
	_, _, err = ops.Add(c, "olga@platform.example", "", tenant.ClientMeta{})
	wantError(t, err, cic.ECONFLICT, "operator_exists")

	// The one-time password never opens the API, nor a console session.
	_, err = ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: once}, tenant.OperatorAPI, false, opClient)
	wantError(t, err, cic.EFORBIDDEN, "enrollment_required")
	sess, err := ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: once}, tenant.OperatorPage, true, opClient)
	mustOK(t, err)
	if _, err := ops.Authenticate(c, sess.Token, tenant.OperatorPage); err == nil {
		t.Fatal("an enrollment session opened the console")
	}
	e, err := ops.Enrollment(c, sess.Token)
	mustOK(t, err)
	again, err := ops.Enrollment(c, sess.Token)
	mustOK(t, err)
	if again.Secret != e.Secret {
		t.Fatal("reloading the enrollment changed the secret the app scanned")
	}
	good := code(t, e.Secret, clk)
	_, err = ops.Enroll(c, sess.Token, once, good, opClient)
	wantError(t, err, cic.EINVALID, "password_unchanged")
	_, err = ops.Enroll(c, sess.Token, "short", good, opClient)
	wantError(t, err, cic.EINVALID, "weak_password")
	_, err = ops.Enroll(c, sess.Token, opPassword, "000000", opClient)
	wantError(t, err, cic.EINVALID, "invalid_code")
	page, err := ops.Enroll(c, sess.Token, opPassword, good, opClient)
	mustOK(t, err)
	if got, err := ops.Authenticate(c, page.Token, tenant.OperatorPage); err != nil || got.Name != "Olga Operator" {
		t.Fatalf("console session after enrollment: %+v %v", got, err)
	}
	// The one-time password is gone, and so is the enrollment session.
	_, err = ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: once}, tenant.OperatorPage, true, opClient)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_credentials")
	if _, err := ops.Enrollment(c, sess.Token); err == nil {
		t.Fatal("the enrollment session outlived the enrollment")
	}

	clk.advance(30 * time.Second)
	api, err := ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: opPassword, Code: code(t, e.Secret, clk)}, tenant.OperatorAPI, false, opClient)
	mustOK(t, err)
	if api.Kind != tenant.OperatorAPI || !api.ExpiresAt.Equal(clk.now().Add(ops.APITTL)) {
		t.Fatalf("api session %+v", api)
	}
	if _, err := ops.Authenticate(c, api.Token, tenant.OperatorAPI); err != nil {
		t.Fatal(err)
	}
	// Kinds do not mix: the API token is no console cookie.
	if _, err := ops.Authenticate(c, api.Token, tenant.OperatorPage); err == nil {
		t.Fatal("an API token opened the console")
	}
	clk.advance(ops.APITTL + time.Second)
	_, err = ops.Authenticate(c, api.Token, tenant.OperatorAPI)
	wantError(t, err, cic.EUNAUTHORIZED, "unauthenticated")
	mustOK(t, ops.Logout(c, page.Token))
	_, err = ops.Authenticate(c, page.Token, tenant.OperatorPage)
	wantError(t, err, cic.EUNAUTHORIZED, "unauthenticated")
}

func TestOperator_WrongPasswordWrongCodeReplayedCode(t *testing.T) {
	ops, db, clk := newOperators(t, tenant.OperatorLimits{})
	c := ctx(t)
	op, secret := enrolled(t, ops, clk, "otto@platform.example", "Otto")
	good := code(t, secret, clk)
	for _, tc := range []struct {
		name string
		in   tenant.OperatorLogin
	}{
		{"wrong password", tenant.OperatorLogin{Email: op.Email, Password: "not the password", Code: good}},
		{"no code", tenant.OperatorLogin{Email: op.Email, Password: opPassword}},
		{"wrong code", tenant.OperatorLogin{Email: op.Email, Password: opPassword, Code: wrongCode(good)}},
		{"unknown operator", tenant.OperatorLogin{Email: "nobody@platform.example", Password: opPassword, Code: good}},
		{"code of an hour ago", tenant.OperatorLogin{Email: op.Email, Password: opPassword, Code: mustCode(t, secret, clk.now().Add(-time.Hour))}},
	} {
		_, err := ops.Login(c, tc.in, tenant.OperatorAPI, false, opClient)
		wantError(t, err, cic.EUNAUTHORIZED, "invalid_credentials")
	}
	var failed int
	mustOK(t, db.Owner.QueryRow(c, `SELECT failed_logins FROM operators WHERE id = $1`, op.ID).Scan(&failed))
	if failed != 4 {
		t.Fatalf("failed_logins = %d, want 4", failed)
	}
	_, err := ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: opPassword, Code: good}, tenant.OperatorAPI, false, opClient)
	mustOK(t, err)
	// The same code again, within its 30 seconds: refused.
	_, err = ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: opPassword, Code: good}, tenant.OperatorPage, false, opClient)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_credentials")
	// And the code of the step before, still in the clock-skew window.
	_, err = ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: opPassword, Code: mustCode(t, secret, clk.now().Add(-30*time.Second))}, tenant.OperatorPage, false, opClient)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_credentials")
	clk.advance(30 * time.Second)
	_, err = ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: opPassword, Code: code(t, secret, clk)}, tenant.OperatorPage, false, opClient)
	mustOK(t, err)
	mustOK(t, db.Owner.QueryRow(c, `SELECT failed_logins FROM operators WHERE id = $1`, op.ID).Scan(&failed))
	if failed != 0 {
		t.Fatalf("failed_logins = %d after a good login, want 0", failed)
	}
}

func wrongCode(good string) string {
	b := []byte(good)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func mustCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := tenant.TOTPCode(secret, at)
	mustOK(t, err)
	return c
}

func TestOperator_FailedLoginsLockTheAccountAndTheAddress(t *testing.T) {
	ops, _, clk := newOperators(t, tenant.OperatorLimits{
		FailuresPerAccount: redis_rate.Limit{Rate: 3, Burst: 3, Period: time.Hour},
		FailuresPerIP:      redis_rate.Limit{Rate: 5, Burst: 5, Period: time.Hour},
	})
	c := ctx(t)
	op, secret := enrolled(t, ops, clk, "ola@platform.example", "Ola")
	other, otherSecret := enrolled(t, ops, clk, "oskar@platform.example", "Oskar")
	for i := 0; i < 3; i++ {
		_, err := ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: "guess number " + string(rune('a'+i)), Code: "123456"}, tenant.OperatorAPI, false, opClient)
		wantError(t, err, cic.EUNAUTHORIZED, "invalid_credentials")
	}
	// The right password and code, even from another address: locked.
	_, err := ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: opPassword, Code: code(t, secret, clk)}, tenant.OperatorAPI, false, tenant.ClientMeta{IP: "203.0.113.50"})
	wantError(t, err, cic.ERATELIMIT, "rate_limited")
	// Good logins do not count: Oskar logs in from the same address twice.
	for i := 0; i < 2; i++ {
		_, err = ops.Login(c, tenant.OperatorLogin{Email: other.Email, Password: opPassword, Code: code(t, otherSecret, clk)}, tenant.OperatorAPI, false, opClient)
		mustOK(t, err)
		clk.advance(30 * time.Second)
	}
	// Two more failures from the address (on unknown accounts) use up its five.
	for _, e := range []string{"x1@platform.example", "x2@platform.example"} {
		_, err = ops.Login(c, tenant.OperatorLogin{Email: e, Password: "whatever pass", Code: "123456"}, tenant.OperatorAPI, false, opClient)
		wantError(t, err, cic.EUNAUTHORIZED, "invalid_credentials")
	}
	_, err = ops.Login(c, tenant.OperatorLogin{Email: other.Email, Password: opPassword, Code: code(t, otherSecret, clk)}, tenant.OperatorAPI, false, opClient)
	wantError(t, err, cic.ERATELIMIT, "rate_limited")
	// Oskar from elsewhere is fine.
	_, err = ops.Login(c, tenant.OperatorLogin{Email: other.Email, Password: opPassword, Code: code(t, otherSecret, clk)}, tenant.OperatorAPI, false, tenant.ClientMeta{IP: "203.0.113.51"})
	mustOK(t, err)
}

func TestOperator_ResetForgetsTheFactorAndEndsSessions(t *testing.T) {
	ops, _, clk := newOperators(t, tenant.OperatorLimits{})
	c := ctx(t)
	op, secret := enrolled(t, ops, clk, "olaf@platform.example", "Olaf")
	sess, err := ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: opPassword, Code: code(t, secret, clk)}, tenant.OperatorPage, false, opClient)
	mustOK(t, err)
	_, once, err := ops.Reset(c, op.Email, tenant.ClientMeta{})
	mustOK(t, err)
	_, err = ops.Authenticate(c, sess.Token, tenant.OperatorPage)
	wantError(t, err, cic.EUNAUTHORIZED, "unauthenticated")
	clk.advance(30 * time.Second)
	_, err = ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: opPassword, Code: code(t, secret, clk)}, tenant.OperatorPage, true, opClient)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_credentials")
	s2, err := ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: once}, tenant.OperatorPage, true, opClient)
	mustOK(t, err)
	if s2.Kind != tenant.OperatorEnroll {
		t.Fatalf("after reset the one-time password opened %q", s2.Kind)
	}
	_, _, err = ops.Reset(c, "nobody@platform.example", tenant.ClientMeta{})
	wantError(t, err, cic.ENOTFOUND, "operator_not_found")
	// A one-time password expires.
	clk.advance(ops.OneTimeTTL + time.Minute)
	_, err = ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: once}, tenant.OperatorPage, true, opClient)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_credentials")
}

// TestOperator_TablesHiddenFromTenantTransactions: the app role sees no
// operator row outside the operators' own transactions, in particular not
// inside a tenant's, and the TOTP secret is not stored in the clear.
func TestOperator_TablesHiddenFromTenantTransactions(t *testing.T) {
	ops, db, clk := newOperators(t, tenant.OperatorLimits{})
	c := ctx(t)
	op, secret := enrolled(t, ops, clk, "oona@platform.example", "Oona")
	mustOK(t, ops.Audit(c, op, opClient, "catalog.tier_put", "catalog_tier", "bundle-1", nil))
	s := tenant.NewService(ops.DB, tenant.GenerateKeys(), nil)
	s.Password = tenant.FastPasswordParams
	a := signup(t, s, "tenant-op")
	for _, table := range []string{"operators", "operator_sessions", "operator_audit"} {
		var n int
		mustOK(t, db.App.QueryRow(c, `SELECT count(*) FROM `+table).Scan(&n))
		if n != 0 {
			t.Errorf("app role outside any transaction setting sees %d rows of %s", n, table)
		}
		mustOK(t, ops.DB.Tx(c, a.Tenant.ID, func(tx pgx.Tx) error { return tx.QueryRow(c, `SELECT count(*) FROM `+table).Scan(&n) }))
		if n != 0 {
			t.Errorf("a tenant transaction sees %d rows of %s", n, table)
		}
		if countRows(t, db, table) == 0 {
			t.Errorf("no %s rows: the test proves nothing", table)
		}
	}
	var sealed []byte
	mustOK(t, db.Owner.QueryRow(c, `SELECT totp_secret FROM operators WHERE id = $1`, op.ID).Scan(&sealed))
	if len(sealed) == 0 || strings.Contains(string(sealed), secret) {
		t.Fatalf("TOTP secret stored as %q", sealed)
	}
	entries, err := ops.ListAudit(c, 0, 10)
	mustOK(t, err)
	if len(entries) == 0 || entries[0].Action != "catalog.tier_put" || entries[0].OperatorName != "Oona" || entries[0].OperatorEmail != op.Email || entries[0].IP != opClient.IP {
		t.Fatalf("audit %+v", entries)
	}
}

// TestOperator_OneCodeOpensOneSessionUnderRace: the same code sent by
// eight concurrent logins opens exactly one session.
func TestOperator_OneCodeOpensOneSessionUnderRace(t *testing.T) {
	ops, _, clk := newOperators(t, tenant.OperatorLimits{})
	c := ctx(t)
	op, secret := enrolled(t, ops, clk, "olli@platform.example", "Olli")
	good := code(t, secret, clk)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := ops.Login(c, tenant.OperatorLogin{Email: op.Email, Password: opPassword, Code: good}, tenant.OperatorAPI, false, opClient)
			errs <- err
		}()
	}
	ok := 0
	for range 8 {
		if err := <-errs; err == nil {
			ok++
		} else if cic.ErrorKind(err) != cic.EUNAUTHORIZED {
			t.Errorf("a replay answered %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d logins with one code, want 1", ok)
	}
}
