package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76/webhook"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
)

// testSecret signs the webhook events the tests build.
const testSecret = "whsec_test_billing"

// env is a migrated database, the tenancy service and billing, in Stripe
// mode against stripe-mock (through a recorder) or in local mode.
type env struct {
	DB      *testenv.DB
	Tenants *tenant.Service
	Billing *Service
	Meter   *metering.Meter
	Calls   *recorder
}

func newEnv(t testing.TB, withStripe bool) *env {
	t.Helper()
	db := testenv.NewDB(t)
	svc := tenant.NewService(&tenant.DB{Pool: db.App}, tenant.GenerateKeys(), nil)
	svc.Password = tenant.FastPasswordParams
	svc.OnSignup = []tenant.SignupHook{metering.TrialHook(metering.DefaultTrial), seats.TrialHook(seats.DefaultTrial)}
	m := metering.NewMeter(svc.DB)
	m.Start()
	t.Cleanup(m.Close)
	e := &env{DB: db, Tenants: svc, Meter: m, Calls: &recorder{next: http.DefaultTransport}}
	e.Billing = &Service{DB: svc.DB, WebhookSecret: testSecret, PublicURL: "http://cic.test",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if withStripe {
		e.Billing.Stripe = NewStripe("sk_test_cic", testenv.StripeURL(t), &http.Client{Transport: e.Calls, Timeout: 20 * time.Second})
	} else {
		e.Billing.Local = true // BILLING_MODE=local
	}
	return e
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// signup makes a tenant (250 trial contacts, 2 trial seats) and returns
// its owner as an actor.
func (e *env) signup(t testing.TB, slug string) tenant.Actor {
	t.Helper()
	res, err := e.Tenants.Signup(context.Background(), tenant.SignupInput{
		Company: "Co " + slug, Slug: slug, Name: "Olive", Email: "owner@" + slug + ".example",
		Password: "correct horse battery", Currency: "EUR",
	}, tenant.ClientMeta{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	return tenant.Actor{TenantID: res.Tenant.ID, UserID: res.User.ID, Role: cic.RoleOwner}
}

// count runs a count(*) as the owner (no RLS), for checks.
func (e *env) count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.DB.Owner.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (e *env) seatLimit(t testing.TB, tenantID uuid.UUID) int {
	t.Helper()
	var n int
	err := e.Tenants.DB.Tx(context.Background(), tenantID, func(tx pgx.Tx) (err error) {
		n, err = seats.Limit(context.Background(), tx, tenantID, time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// call is one request the Stripe client sent.
type call struct {
	Method, Path, IdempotencyKey string
	Form                         url.Values
}

// recorder passes requests on to stripe-mock and remembers them, so a
// test can prove what was (and was not) sent to Stripe.
type recorder struct {
	next  http.RoundTripper
	mu    sync.Mutex
	calls []call
	// answer, when set, may change stripe-mock's JSON answer to a request
	// (stripe-mock answers fixtures: a payment intent that never
	// succeeds, a session of no amount), to play what Stripe would say.
	answer func(method, path string, obj map[string]any)
}

// answerWith sets the recorder's answer hook.
func (r *recorder) answerWith(f func(method, path string, obj map[string]any)) {
	r.mu.Lock()
	r.answer = f
	r.mu.Unlock()
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	c := call{Method: req.Method, Path: req.URL.Path, IdempotencyKey: req.Header.Get("Idempotency-Key")}
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(b))
		c.Form, _ = url.ParseQuery(string(b))
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	answer := r.answer
	r.mu.Unlock()
	resp, err := r.next.RoundTrip(req)
	if err != nil || answer == nil || resp.StatusCode/100 != 2 {
		return resp, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) == nil {
		answer(req.Method, req.URL.Path, obj)
		raw, _ = json.Marshal(obj)
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	resp.ContentLength = int64(len(raw))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// to returns the calls of method to paths starting with prefix.
func (r *recorder) to(method, prefix string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if c.Method == method && strings.HasPrefix(c.Path, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// event builds a Stripe event of typ around obj.
func event(t testing.TB, id, typ string, created time.Time, obj map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": "2023-10-16", "type": typ,
		"created": created.Unix(), "livemode": false, "data": map[string]any{"object": obj}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign signs payload like Stripe, at ts.
func sign(payload []byte, secret string, ts time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: ts}).Header
}

// deliver hands a freshly signed event to the webhook.
func (e *env) deliver(t testing.TB, payload []byte) WebhookResult {
	t.Helper()
	r, err := e.Billing.HandleWebhook(context.Background(), payload, sign(payload, testSecret, time.Now()))
	if err != nil {
		t.Fatalf("webhook: %v", err)
	}
	return r
}

// paidSession is the checkout.session.completed object of a purchase.
func paidSession(tenantID uuid.UUID, p Purchase, sessionID string) map[string]any {
	return map[string]any{"id": sessionID, "object": "checkout.session", "mode": "payment", "status": "complete",
		"payment_status": "paid", "amount_total": p.PriceMinor, "currency": strings.ToLower(p.Currency),
		"payment_intent": "pi_test_" + p.ID.String()[:8],
		"metadata":       map[string]string{"tenant_id": tenantID.String(), "purchase_id": p.ID.String(), "kind": "bundle"}}
}

func subEvent(tenantID uuid.UUID, id, status string, quantity int, periodEnd time.Time) map[string]any {
	return map[string]any{"id": id, "object": "subscription", "status": status, "current_period_end": periodEnd.Unix(),
		"metadata": map[string]string{"tenant_id": tenantID.String()},
		"items":    map[string]any{"object": "list", "data": []map[string]any{{"id": "si_" + id, "object": "subscription_item", "quantity": quantity}}}}
}

func asError(err error) (*cic.Error, bool) { return cic.AsError(err) }
