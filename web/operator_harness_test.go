package web_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/cic-platform/cic/tenant"
)

// testOperator is the operator the harness enrolled, and the last TOTP
// step it used (each code opens one login).
type testOperator struct {
	email, name, secret string
	lastStep            int64
	token               string
}

const testOperatorPassword = "operator pass phrase 1"

// enrollOperator adds an operator and takes them through the first login
// (one-time password, own password, first code) with the service.
func (ts *testServer) enrollOperator(t testing.TB, email, name string) *testOperator {
	t.Helper()
	c := t.Context()
	_, once, err := ts.Operators.Add(c, email, name, tenant.ClientMeta{RequestID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := ts.Operators.Login(c, tenant.OperatorLogin{Email: email, Password: once}, tenant.OperatorPage, true, tenant.ClientMeta{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := ts.Operators.Enrollment(c, sess.Token)
	if err != nil {
		t.Fatal(err)
	}
	op := &testOperator{email: email, name: name, secret: e.Secret}
	if _, err := ts.Operators.Enroll(c, sess.Token, testOperatorPassword, op.nextCode(t), tenant.ClientMeta{}); err != nil {
		t.Fatal(err)
	}
	return op
}

// nextCode is a code not used yet: the earliest step in the window of
// clock skew the server accepts (one step either side of now) after the
// last one used. Three logins fit in each 30 seconds.
func (op *testOperator) nextCode(t testing.TB) string {
	t.Helper()
	now := time.Now().Unix() / 30
	step := max(op.lastStep+1, now-1)
	if step > now+1 {
		t.Fatal("the test used more operator codes than the clock allows")
	}
	op.lastStep = step
	code, err := tenant.TOTPCode(op.secret, time.Unix(step*30, 0))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// operatorToken logs the harness's operator in over the API (once per
// server) and returns the bearer token.
func (ts *testServer) operatorToken(t testing.TB) string {
	t.Helper()
	if ts.op.token != "" {
		return ts.op.token
	}
	if ts.op.secret == "" {
		ts.op = *ts.enrollOperator(t, "olga@operators.example", "Olga Operator")
	}
	ans := ts.call(t, "POST", "/api/v1/operator/login", "", map[string]any{
		"email": ts.op.email, "password": testOperatorPassword, "code": ts.op.nextCode(t)}).mustStatus(t, http.StatusOK)
	ts.op.token = ans.str("token")
	return ts.op.token
}
