package metering_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"

	"github.com/cic-platform/cic/metering"
)

// trialBundle returns the id of the tenant's trial bundle.
func (e *env) trialBundle(t testing.TB, tenantID uuid.UUID) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	if err := e.DB.Owner.QueryRow(context.Background(), `SELECT id FROM bundles WHERE tenant_id = $1 AND source = 'trial'`, tenantID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func percents(ws []metering.Warning) []int {
	out := []int{}
	for _, w := range ws {
		out = append(out, w.Percent)
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCheckLowBalance_Thresholds: which thresholds a balance has reached,
// on the 250-contact trial (default thresholds 20, 5, 0).
func TestCheckLowBalance_Thresholds(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tests := []struct {
		name     string
		use      int
		expire   bool  // the trial has expired
		warn     []int // custom thresholds; nil means the defaults
		want     []int
		wantLeft int64
	}{
		{name: "full", use: 0, want: []int{}, wantLeft: 250},
		{name: "just above 20 %", use: 199, want: []int{}, wantLeft: 51},
		{name: "exactly 20 %", use: 200, want: []int{20}, wantLeft: 50},
		{name: "two thresholds at once", use: 240, want: []int{20, 5}, wantLeft: 10},
		{name: "one left is not 0 %", use: 249, want: []int{20, 5}, wantLeft: 1},
		{name: "used up", use: 250, want: []int{20, 5, 0}, wantLeft: 0},
		{name: "expired unused", use: 0, expire: true, want: []int{20, 5, 0}, wantLeft: 0},
		{name: "custom thresholds", use: 130, warn: []int{10, 50, 50, 150, -1}, want: []int{50}, wantLeft: 120},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tid := e.newTenant(t, "tenant-"+itoa(i))
			trial := e.trialBundle(t, tid)
			e.use(t, tid, trial, tc.use)
			if tc.expire {
				if _, err := e.DB.Owner.Exec(c, `UPDATE bundles SET valid_from = now() - interval '1 hour', valid_until = now() - interval '1 minute' WHERE tenant_id = $1 AND id = $2`, tid, trial); err != nil {
					t.Fatal(err)
				}
			}
			if tc.warn != nil {
				if _, err := e.DB.Owner.Exec(c, `INSERT INTO metering_settings (tenant_id, warn_percents) VALUES ($1, $2)`, tid, tc.warn); err != nil {
					t.Fatal(err)
				}
			}
			ws, err := metering.CheckLowBalance(c, e.Tenants.DB, tid, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if !equalInts(percents(ws), tc.want) {
				t.Fatalf("warnings at %v %%, want %v", percents(ws), tc.want)
			}
			for _, w := range ws {
				if w.Remaining != tc.wantLeft || w.Cycle != 250 || w.CreatedAt.IsZero() {
					t.Errorf("warning %+v, want remaining %d cycle 250", w, tc.wantLeft)
				}
			}
			// Once per threshold: a second check finds nothing new.
			again, err := metering.CheckLowBalance(c, e.Tenants.DB, tid, time.Now())
			if err != nil || len(again) != 0 {
				t.Fatalf("second check: %v, %v", again, err)
			}
		})
	}
}

// TestCheckLowBalance_Cycles: warnings come once per threshold crossed; a
// purchase starts a new cycle in which they come again; an expiry does
// not; unread ones are listed newest first until marked read.
func TestCheckLowBalance_Cycles(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")
	other := e.newTenant(t, "other")
	db := e.Tenants.DB
	check := func(want ...int) []metering.Warning {
		t.Helper()
		ws, err := metering.CheckLowBalance(c, db, tid, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = []int{}
		}
		if !equalInts(percents(ws), want) {
			t.Fatalf("warnings at %v %%, want %v", percents(ws), want)
		}
		return ws
	}

	// Metered through the real path: 200 of the 250 trial contacts.
	if _, err := e.Meter.Meter(c, tid, metering.SourceAPI, contacts("a", 200)); err != nil {
		t.Fatal(err)
	}
	check(20)
	check()
	time.Sleep(5 * time.Millisecond)
	if _, err := e.Meter.Meter(c, tid, metering.SourceAPI, contacts("b", 40)); err != nil {
		t.Fatal(err)
	}
	check(5)

	unread, err := metering.UnreadWarnings(c, db, tid)
	if err != nil {
		t.Fatal(err)
	}
	if !equalInts(percents(unread), []int{5, 20}) {
		t.Fatalf("unread %v, want newest first [5 20]", percents(unread))
	}
	if u, err := metering.UnreadWarnings(c, db, other); err != nil || len(u) != 0 {
		t.Fatalf("other tenant sees %v, %v", u, err)
	}
	if err := metering.MarkWarningsRead(c, db, tid); err != nil {
		t.Fatal(err)
	}
	if u, err := metering.UnreadWarnings(c, db, tid); err != nil || len(u) != 0 {
		t.Fatalf("after MarkWarningsRead: %v, %v", u, err)
	}

	// A purchase: 10 + 1000 of 1250 left, 80 %: a new cycle, no warning.
	now := time.Now()
	bought := e.addBundle(t, tid, 1000, 2000_00, now.Add(-time.Minute), now.Add(365*24*time.Hour))
	check()
	// The trial expires with its 10 left: the cycle stays (1250), so
	// nothing is repeated; 1000 of 1000 valid is 100 %.
	if _, err := e.DB.Owner.Exec(c, `UPDATE bundles SET valid_from = now() - interval '1 hour', valid_until = now() - interval '1 second' WHERE tenant_id = $1 AND source = 'trial'`, tid); err != nil {
		t.Fatal(err)
	}
	check()
	// Down to 150 of 1000: 20 % warns again, in the new cycle.
	e.use(t, tid, bought, 850)
	ws := check(20)
	if ws[0].Cycle != 1250 || ws[0].Remaining != 150 {
		t.Errorf("warning %+v, want cycle 1250 remaining 150", ws[0])
	}
	e.checkInvariants(t)
}

// TestCheckLowBalance_Concurrent: replicas checking at once give each
// warning once.
func TestCheckLowBalance_Concurrent(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")
	e.use(t, tid, e.trialBundle(t, tid), 250)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got []int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, err := metering.CheckLowBalance(c, e.Tenants.DB, tid, time.Now())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			got = append(got, percents(ws)...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(got) != 3 {
		t.Fatalf("%d warnings in all (%v), want 3", len(got), got)
	}
}

// addUser adds a user directly (a fixture).
func (e *env) addUser(t testing.TB, tenantID uuid.UUID, email, name, role, status string) {
	t.Helper()
	if _, err := e.DB.Owner.Exec(context.Background(), `INSERT INTO users (tenant_id, id, email, name, role, status) VALUES ($1, $2, $3, $4, $5, $6)`,
		tenantID, uuid.New(), email, name, role, status); err != nil {
		t.Fatal(err)
	}
}

func (e *env) emailedCount(t testing.TB, tenantID uuid.UUID) (emailed, total int) {
	t.Helper()
	if err := e.DB.Owner.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE emailed_at IS NOT NULL), count(*)
		FROM balance_warnings WHERE tenant_id = $1`, tenantID).Scan(&emailed, &total); err != nil {
		t.Fatal(err)
	}
	return emailed, total
}

// TestNotifyWarnings: new warnings are e-mailed once, in one message, to
// the active owners, admins and finance users; a failed send is retried
// and a successful one is not repeated.
func TestNotifyWarnings(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	db := e.Tenants.DB
	tid := e.newTenant(t, "acme") // owner@acme.example, the sign-up owner
	e.addUser(t, tid, "admin@acme.example", "Ada Admin", "admin", "active")
	e.addUser(t, tid, "fin@acme.example", "Zoë Finance", "finance", "active")
	e.addUser(t, tid, "agent@acme.example", "Al Agent", "agent", "active")
	e.addUser(t, tid, "sup@acme.example", "Sue Supervisor", "supervisor", "active")
	e.addUser(t, tid, "gone@acme.example", "Gone Admin", "admin", "deactivated")
	e.addUser(t, tid, "new@acme.example", "New Finance", "finance", "invited")
	ms := newMailServer(t)
	m := &metering.SMTPMailer{Addr: ms.Addr, From: "cic@cic.example", Timeout: 5 * time.Second}
	link := "https://cic.example.com"

	// Nothing to say: nothing sent.
	if n, err := metering.NotifyWarnings(c, db, m, tid, time.Now(), link); err != nil || n != 0 {
		t.Fatalf("no warnings: %d, %v", n, err)
	}

	e.use(t, tid, e.trialBundle(t, tid), 240) // 10 left: 20 % and 5 %
	if _, err := metering.CheckLowBalance(c, db, tid, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The SMTP server fails the message: no emailed_at, an error.
	ms.setFailData(&smtp.SMTPError{Code: 451, Message: "try again later"})
	if _, err := metering.NotifyWarnings(c, db, m, tid, time.Now(), link); err == nil {
		t.Fatal("failed send: no error")
	}
	if emailed, _ := e.emailedCount(t, tid); emailed != 0 {
		t.Fatalf("%d warnings marked e-mailed after a failed send", emailed)
	}
	// The retry sends.
	ms.setFailData(nil)
	n, err := metering.NotifyWarnings(c, db, m, tid, time.Now(), link)
	if err != nil || n != 2 {
		t.Fatalf("retry: %d, %v; want 2 warnings mailed", n, err)
	}
	got := ms.messages()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	if to := strings.Join(got[0].To, ","); to != "admin@acme.example,fin@acme.example,owner@acme.example" {
		t.Errorf("sent to %s, want the active owner, admin and finance user", to)
	}
	msg, body := got[0].parsed(t)
	if s := subjectOf(t, msg); !strings.Contains(s, "Co acme") || !strings.Contains(s, "10 prepaid contacts left") {
		t.Errorf("subject %q", s)
	}
	for _, want := range []string{"10 prepaid contacts left", "5 %", `"overage"`, link} {
		if !strings.Contains(body, want) {
			t.Errorf("body does not say %q:\n%s", want, body)
		}
	}
	to, _ := msg.Header.AddressList("To")
	names := []string{}
	for _, a := range to {
		names = append(names, a.Name)
	}
	if !strings.Contains(strings.Join(names, ","), "Zoë Finance") {
		t.Errorf("To names %v", names)
	}
	if emailed, total := e.emailedCount(t, tid); emailed != 2 || total != 2 {
		t.Fatalf("emailed %d of %d", emailed, total)
	}

	// Run again: nothing new to send.
	if n, err := metering.NotifyWarnings(c, db, m, tid, time.Now(), link); err != nil || n != 0 {
		t.Fatalf("again: %d, %v", n, err)
	}
	// Used up: one more message, for the 0 % warning only.
	e.use(t, tid, e.trialBundle(t, tid), 10)
	if ws, err := metering.CheckLowBalance(c, db, tid, time.Now()); err != nil || !equalInts(percents(ws), []int{0}) {
		t.Fatalf("used up: %v, %v", ws, err)
	}
	if n, err := metering.NotifyWarnings(c, db, m, tid, time.Now(), link); err != nil || n != 1 {
		t.Fatalf("used up: %d, %v", n, err)
	}
	got = ms.messages()
	if len(got) != 2 {
		t.Fatalf("%d messages, want 2", len(got))
	}
	if msg, _ := got[1].parsed(t); !strings.Contains(subjectOf(t, msg), "used up") {
		t.Errorf("subject %q", subjectOf(t, msg))
	}
}

// TestNotifyWarnings_Concurrent: notifiers racing on one tenant send one
// message.
func TestNotifyWarnings_Concurrent(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")
	e.use(t, tid, e.trialBundle(t, tid), 250)
	if _, err := metering.CheckLowBalance(c, e.Tenants.DB, tid, time.Now()); err != nil {
		t.Fatal(err)
	}
	ms := newMailServer(t)
	m := &metering.SMTPMailer{Addr: ms.Addr, From: "cic@cic.example", Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := metering.NotifyWarnings(c, e.Tenants.DB, m, tid, time.Now(), ""); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := ms.messages(); len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
}

// TestNotifyWarnings_NoRecipients: a tenant nobody can be mailed for is
// not retried for ever.
func TestNotifyWarnings_NoRecipients(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")
	if _, err := e.DB.Owner.Exec(c, `UPDATE users SET status = 'deactivated' WHERE tenant_id = $1`, tid); err != nil {
		t.Fatal(err)
	}
	e.use(t, tid, e.trialBundle(t, tid), 250)
	if _, err := metering.CheckLowBalance(c, e.Tenants.DB, tid, time.Now()); err != nil {
		t.Fatal(err)
	}
	sent := 0
	m := mailerFunc(func(context.Context, metering.Message) error { sent++; return nil })
	if n, err := metering.NotifyWarnings(c, e.Tenants.DB, m, tid, time.Now(), ""); err != nil || n != 3 || sent != 0 {
		t.Fatalf("%d, %v, sent %d", n, err, sent)
	}
}

type mailerFunc func(context.Context, metering.Message) error

func (f mailerFunc) Send(ctx context.Context, m metering.Message) error { return f(ctx, m) }
