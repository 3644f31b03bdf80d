package web_test

import (
	"testing"
)

// fuzzNo5xx sends arbitrary bodies to path: whatever arrives, the answer
// is never a server error, and every error carries the error body.
func fuzzNo5xx(f *testing.F, path string, seeds ...string) {
	ts := newServer(f)
	// A real tenant, so login fuzzing also reaches the password check.
	ts.signup(f, "acme")
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := newRequest("POST", path, nil)
		if body != "" {
			req = jsonRequest(t, "POST", path, body)
		}
		a := ts.do(t, req)
		if a.Status >= 500 {
			t.Fatalf("%s answered %d to %q: %s", path, a.Status, body, a.Body)
		}
		if a.Status >= 400 && a.errCode() == "" {
			t.Fatalf("%s answered %d without error body to %q: %s", path, a.Status, body, a.Body)
		}
	})
}

func FuzzSignupHandler(f *testing.F) {
	fuzzNo5xx(f, "/api/v1/signup",
		`{"company":"Fuzz Co","slug":"fuzz","name":"F","email":"f@fuzz.example","password":"correct horse battery","currency":"EUR"}`,
		`{"company":"Fuzz Co","name":"F","email":"f@fuzz.example","password":"correct horse battery","currency":"EUR"}`,
		`{"company":"\u0000","slug":"acme","name":"","email":"@","password":"","currency":"€"}`,
		`{"company":"`+string(make([]byte, 300))+`"}`,
		`{"slug":"-a-","currency":"usd"}`, `null`, `{}`, `[]`, `"x"`, `{"company":1e400}`, ``)
}

func FuzzLoginHandler(f *testing.F) {
	fuzzNo5xx(f, "/api/v1/auth/login",
		`{"tenant":"acme","email":"owner@acme.example","password":"correct horse battery"}`,
		`{"tenant":"acme","email":"owner@acme.example","password":"wrong"}`,
		`{"tenant":"ACME ","email":" OWNER@acme.example","password":""}`,
		`{"tenant":"\u0000","email":"\ud800","password":"x"}`,
		`{"tenant":"acme'; DROP TABLE users; --","email":"a@b","password":"p"}`, `null`, `{}`, `{"tenant":[]}`, ``)
}
