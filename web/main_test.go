package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/live"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
	"github.com/cic-platform/cic/web"
)

// testServer is the real server on a fresh database and a private Redis
// prefix, wired like production except for cheap password hashing.
type testServer struct {
	*web.Server
	Tenants *tenant.Service
	DB      *testenv.DB
	Rdb     *redis.Client
	Meter   *metering.Meter
	Billing *billing.Service
	Seats   *seats.Service
	// Setup and Contacts are the routing services the server uses, for
	// tests that seed contacts without the API.
	Setup    *setup.Service
	Contacts *contacts.Service
	// Operators are the operator accounts; operatorToken logs one in.
	Operators *tenant.Operators
	op        testOperator
}

// newServer builds the test server; opts may change its configuration
// (e.g. PublicURL) before it is built.
func newServer(t testing.TB, opts ...func(*web.Config)) *testServer {
	t.Helper()
	db := testenv.NewDB(t)
	rdb := testenv.NewRedis(t)
	svc := tenant.NewService(&tenant.DB{Pool: db.App}, tenant.GenerateKeys(), tenant.NewLimiter(rdb, testenv.Prefix(), tenant.Limits{}))
	svc.Password = tenant.FastPasswordParams
	svc.OnSignup = []tenant.SignupHook{metering.TrialHook(metering.DefaultTrial), seats.TrialHook(seats.DefaultTrial)}
	meter := metering.NewMeter(svc.DB)
	meter.Start()
	t.Cleanup(meter.Close)
	seatSvc := seats.NewService(svc.DB, seats.NewLeases(rdb, testenv.Prefix()), nil)
	svc.AfterDeactivate = func(ctx context.Context, tenantID, userID uuid.UUID) error {
		return seatSvc.ReleaseUser(ctx, tenantID, userID)
	}
	// Local mode (BILLING_MODE=local): the local checkout's events are
	// signed with the secret derived from the server's keys and posted to
	// this server's own webhook.
	bill := &billing.Service{DB: svc.DB, PublicURL: "http://cic.test", Local: true, WebhookSecret: billing.LocalWebhookSecret(svc.Keys),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	// Routing as cmd/cic wires it, with live events for the desk and wallboard.
	prefix := testenv.Prefix()
	routingSetup := &setup.Service{DB: svc.DB}
	contactSvc := contacts.New(svc.DB, routing.New(rdb, prefix), routingSetup, meter, nil)
	contactSvc.Notify = live.NewPublisher(rdb, prefix, nil).Notify
	ops := tenant.NewOperators(svc.DB, svc.Keys, svc.Limiter)
	ops.Password = tenant.FastPasswordParams
	cfg := web.Config{Tenants: svc, Pool: db.App, Redis: rdb, PublicURL: "http://cic.test", RedisPrefix: prefix, BodyLimit: 64 << 10,
		Meter: meter, Seats: seatSvc, Billing: bill, Operators: ops, Setup: routingSetup, Contacts: contactSvc,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Server: srv, Tenants: svc, DB: db, Rdb: rdb, Meter: meter, Seats: seatSvc, Billing: bill, Setup: routingSetup, Contacts: contactSvc,
		Operators: ops}
}

// answer is a decoded response.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func (a answer) errCode() string {
	e, _ := a.JSON["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// str digs a string out of the JSON body: str("tenant", "id").
func (a answer) str(path ...string) string {
	var v any = a.JSON
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

// call sends a request through the whole Fiber stack. body may be nil, a
// string (sent as-is) or a value (encoded as JSON).
func (ts *testServer) call(t testing.TB, method, path, token string, body any) answer {
	t.Helper()
	req := newRequest(method, path, nil)
	if body != nil {
		req = jsonRequest(t, method, path, body)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return ts.do(t, req)
}

// jsonRequest builds a request whose body is body (a string sent as-is or
// a value encoded as JSON).
func jsonRequest(t testing.TB, method, path string, body any) *http.Request {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req := newRequest(method, path, r)
	req.Header.Set("Content-Type", "application/json")
	return req
}

func newRequest(method, path string, body io.Reader) *http.Request {
	return httptest.NewRequest(method, path, body)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// do sends req through the whole Fiber stack and decodes the answer.
func (ts *testServer) do(t testing.TB, req *http.Request) answer {
	t.Helper()
	method, path := req.Method, req.URL.Path
	resp, err := ts.App().Test(req, 30_000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Header: resp.Header, Body: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.JSON); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v: %s", method, path, err, raw)
		}
	}
	return a
}

// mustStatus fails unless the answer has the status; 4xx/5xx answers
// must carry the error body.
func (a answer) mustStatus(t testing.TB, want int) answer {
	t.Helper()
	if a.Status != want {
		t.Fatalf("status %d, want %d: %s", a.Status, want, a.Body)
	}
	if want >= 400 && a.errCode() == "" {
		t.Fatalf("status %d without {\"error\":{\"code\"}} body: %s", a.Status, a.Body)
	}
	return a
}

// company is a signed-up tenant as the API client sees it.
type company struct {
	TenantID uuid.UUID
	Slug     string
	UserID   uuid.UUID
	Token    string
	Refresh  string
}

const goodPassword = "correct horse battery"

func (ts *testServer) signup(t testing.TB, slug string) company {
	t.Helper()
	a := ts.call(t, "POST", "/api/v1/signup", "", map[string]any{
		"company": "Company " + slug, "slug": slug, "name": "Olive Owner",
		"email": "owner@" + slug + ".example", "password": goodPassword, "currency": "EUR",
	}).mustStatus(t, http.StatusCreated)
	return company{
		TenantID: uuid.MustParse(a.str("tenant", "id")), Slug: a.str("tenant", "slug"),
		UserID: uuid.MustParse(a.str("user", "id")), Token: a.str("access_token"), Refresh: a.str("refresh_token"),
	}
}

// createUser makes a user with a password through the API and logs them in.
func (ts *testServer) createUser(t testing.TB, c company, email, role string) company {
	t.Helper()
	a := ts.call(t, "POST", "/api/v1/users", c.Token, map[string]any{
		"email": email, "name": "User " + role, "role": role, "password": goodPassword,
	}).mustStatus(t, http.StatusCreated)
	l := ts.call(t, "POST", "/api/v1/auth/login", "", map[string]any{
		"tenant": c.Slug, "email": email, "password": goodPassword,
	}).mustStatus(t, http.StatusOK)
	return company{TenantID: c.TenantID, Slug: c.Slug, UserID: uuid.MustParse(a.str("id")),
		Token: l.str("access_token"), Refresh: l.str("refresh_token")}
}
