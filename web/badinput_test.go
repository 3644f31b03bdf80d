package web_test

import (
	"testing"
)

func TestBadInput_Answers4xxWithErrorBody(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	signup := func(over map[string]any) map[string]any {
		m := map[string]any{"company": "Beta", "slug": "beta", "name": "Bea", "email": "bea@beta.example", "password": goodPassword, "currency": "EUR"}
		for k, v := range over {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	cases := []struct {
		name, method, path, token string
		body                      any
		contentType               string
		want                      int
		code                      string
	}{
		{"malformed json", "POST", "/api/v1/signup", "", `{"company": "x",`, "", 400, "invalid_json"},
		{"not an object", "POST", "/api/v1/signup", "", `[1,2]`, "", 400, "invalid_json"},
		{"two objects", "POST", "/api/v1/auth/login", "", `{} {}`, "", 400, "invalid_json"},
		{"empty body", "POST", "/api/v1/auth/login", "", "", "", 400, "invalid_json"},
		{"unknown field", "POST", "/api/v1/auth/login", "", `{"tenant":"acme","email":"a@b.c","pasword":"x"}`, "", 400, "invalid_json"},
		{"wrong type", "POST", "/api/v1/signup", "", `{"company": 12}`, "", 400, "invalid_json"},
		{"form body to api", "POST", "/api/v1/auth/login", "", "tenant=acme", "application/x-www-form-urlencoded", 400, "unsupported_media_type"},
		{"missing company", "POST", "/api/v1/signup", "", signup(map[string]any{"company": nil}), "", 400, ""},
		{"missing email", "POST", "/api/v1/signup", "", signup(map[string]any{"email": nil}), "", 400, ""},
		{"bad email", "POST", "/api/v1/signup", "", signup(map[string]any{"email": "not-an-email"}), "", 400, ""},
		{"email with spaces", "POST", "/api/v1/signup", "", signup(map[string]any{"email": "a b@c.example"}), "", 400, ""},
		{"weak password", "POST", "/api/v1/signup", "", signup(map[string]any{"password": "short"}), "", 400, ""},
		{"common password", "POST", "/api/v1/signup", "", signup(map[string]any{"password": "password123"}), "", 400, ""},
		{"one-char password", "POST", "/api/v1/signup", "", signup(map[string]any{"password": "aaaaaaaaaaaa"}), "", 400, ""},
		{"bad currency", "POST", "/api/v1/signup", "", signup(map[string]any{"currency": "EURO"}), "", 400, ""},
		{"bad slug", "POST", "/api/v1/signup", "", signup(map[string]any{"slug": "Not A Slug!"}), "", 400, ""},
		{"user bad role", "POST", "/api/v1/users", a.Token, map[string]any{"email": "x@acme.example", "name": "X", "role": "emperor", "password": goodPassword}, "", 400, ""},
		{"user bad email", "POST", "/api/v1/users", a.Token, map[string]any{"email": "x@", "name": "X", "role": "agent", "password": goodPassword}, "", 400, ""},
		{"user weak password", "POST", "/api/v1/users", a.Token, map[string]any{"email": "x@acme.example", "name": "X", "role": "agent", "password": "12345"}, "", 400, ""},
		{"user bad department id", "POST", "/api/v1/users", a.Token, `{"email":"x@acme.example","name":"X","role":"agent","password":"` + goodPassword + `","department_id":"nope"}`, "", 400, "invalid_json"},
		{"user id not a uuid", "GET", "/api/v1/users/123", a.Token, nil, "", 404, "not_found"},
		{"department empty name", "POST", "/api/v1/departments", a.Token, map[string]any{"name": "  "}, "", 400, ""},
		{"audit bad cursor", "GET", "/api/v1/audit?before=x", a.Token, nil, "", 400, "invalid_cursor"},
		{"unknown api route", "GET", "/api/v1/nope", "", nil, "", 404, "not_found"},
		{"wrong method", "PUT", "/api/v1/signup", "", nil, "", 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(tc.method, tc.path, nil)
			if tc.body != nil {
				req = jsonRequest(t, tc.method, tc.path, tc.body)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			ans := ts.do(t, req).mustStatus(t, tc.want)
			if tc.code != "" && ans.errCode() != tc.code {
				t.Fatalf("code %q, want %q: %s", ans.errCode(), tc.code, ans.Body)
			}
			msg, _ := ans.JSON["error"].(map[string]any)["message"].(string)
			if msg == "" {
				t.Fatalf("no message: %s", ans.Body)
			}
		})
	}
	// None of it created a tenant.
	var n int
	if err := ts.DB.Owner.QueryRow(t.Context(), `SELECT count(*) FROM tenants`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("tenants = %d (%v), want 1", n, err)
	}
}
