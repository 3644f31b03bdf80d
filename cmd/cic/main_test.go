package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant"
)

// emptyDatabase creates a database with nothing in it on the test server
// (testenv's databases come migrated; this one is for `cic migrate`).
func emptyDatabase(t *testing.T) string {
	t.Helper()
	db := testenv.NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := db.Name + "_empty"
	if _, err := db.Owner.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database: %v", err)
	}
	// Registered after testenv's cleanup, so it runs first, while
	// db.Owner is still open.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.Owner.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// cli runs cic commands in-process against env.
type cli struct {
	t   *testing.T
	env map[string]string
}

func (c cli) run(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	m := &Main{Getenv: envOf(c.env), Stdout: &out, Stderr: &errb, passwords: &tenant.FastPasswordParams}
	err = m.Run(ctx, args)
	return out.String(), errb.String(), err
}

func (c cli) mustRun(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, logs, err := c.run(ctx, args...)
	if err != nil {
		c.t.Fatalf("cic %s: %v\nlogs:\n%s", strings.Join(args, " "), err, logs)
	}
	return out
}

func newCLI(t *testing.T, databaseURL string) cli {
	return cli{t: t, env: map[string]string{
		"DATABASE_URL": databaseURL,
		"REDIS_URL":    testenv.RedisURL(),
		"DATA_DIR":     t.TempDir(),
		"PUBLIC_URL":   "http://cic.test:8080",
		"LOG_LEVEL":    "warn",
		// As make run: the built-in local checkout.
		"BILLING_MODE": "local",
		// Tests run in parallel: never the fixed default port.
		"METRICS_ADDR": "127.0.0.1:0",
	}}
}

// TestMigrateThenDemoTwice is the start-up of `make run` on a fresh
// database, twice: migrate, then demo; the second demo must succeed,
// change nothing, and print the same logins.
func TestMigrateThenDemoTwice(t *testing.T) {
	c := newCLI(t, emptyDatabase(t))

	if out := c.mustRun("migrate"); out != "migrated\n" {
		t.Errorf("migrate printed %q, want \"migrated\\n\"", out)
	}
	first := c.mustRun("demo")
	second := c.mustRun("demo")
	if first != second {
		t.Errorf("the second demo printed something else:\nfirst:\n%s\nsecond:\n%s", first, second)
	}
	for _, want := range []string{"http://cic.test:8080", "Company:  demo", demoPassword, "http://cic.test:8080/operator",
		demoOperatorEmail, "TOTP secret " + demoOperatorTOTP, "owner@demo.example", "admin@demo.example", "supervisor@demo.example", "agent@demo.example", "finance@demo.example"} {
		if !strings.Contains(first, want) {
			t.Errorf("demo output lacks %q:\n%s", want, first)
		}
	}

	// What the printed block promises must be true: every login works,
	// with its role, and the agent is in Support (CC-100).
	cfg, err := LoadConfig(envOf(c.env))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, err := cfg.AppDSN()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := infra.OpenPool(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	svc := tenant.NewService(&tenant.DB{Pool: pool}, tenant.GenerateKeys(), nil)
	var owner tenant.Actor
	for _, du := range demoUsers {
		_, p, err := svc.Login(ctx, tenant.LoginInput{Tenant: "demo", Email: demoEmail(du.role), Password: demoPassword}, tenant.ClientMeta{})
		if err != nil {
			t.Errorf("login %s: %v", demoEmail(du.role), err)
			continue
		}
		if p.Role != du.role || p.TenantName != demoCompany {
			t.Errorf("login %s: role %s company %q, want %s %q", demoEmail(du.role), p.Role, p.TenantName, du.role, demoCompany)
		}
		if du.role == cic.RoleOwner {
			owner = p.Actor
		}
		if du.role == cic.RoleAgent {
			if p.DepartmentID == nil {
				t.Errorf("agent has no department")
				continue
			}
			d, err := svc.GetDepartment(ctx, p.Actor, *p.DepartmentID)
			if err != nil {
				t.Fatal(err)
			}
			if d.Name != demoDepartment || d.CostCentre != demoCostCentre {
				t.Errorf("agent's department = %s (%s), want %s (%s)", d.Name, d.CostCentre, demoDepartment, demoCostCentre)
			}
		}
	}
	if owner.TenantID == uuid.Nil {
		t.Fatal("owner could not log in")
	}
	// The printed operator login opens the console, with serve's keys.
	keys, err := loadKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ops := tenant.NewOperators(&tenant.DB{Pool: pool}, keys, nil)
	code, _ := tenant.TOTPCode(demoOperatorTOTP, time.Now())
	if sess, err := ops.Login(ctx, tenant.OperatorLogin{Email: demoOperatorEmail, Password: demoPassword, Code: code}, tenant.OperatorPage, false, tenant.ClientMeta{}); err != nil || sess.Operator.Name != demoOperatorName {
		t.Errorf("demo operator login: %+v %v", sess, err)
	}
	users, _, err := svc.ListUsers(ctx, owner, tenant.UserFilter{})
	if err != nil {
		t.Fatal(err)
	}
	depts, err := svc.ListDepartments(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != len(demoUsers) || len(depts) != 1 {
		t.Errorf("after two runs: %d users and %d departments, want %d and 1", len(users), len(depts), len(demoUsers))
	}
	// Routing: one queue, one skill, two wrap-up codes, profiles for the
	// agent and the supervisor, however often demo runs.
	var queues, skills, dispositions, profiles int
	if err := svc.DB.Tx(ctx, owner.TenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM queues), (SELECT count(*) FROM skills),
			(SELECT count(*) FROM dispositions), (SELECT count(DISTINCT user_id) FROM agent_capacity)`).Scan(&queues, &skills, &dispositions, &profiles)
	}); err != nil {
		t.Fatal(err)
	}
	if queues != 1 || skills != 1 || dispositions != 2 || profiles != 2 {
		t.Errorf("demo routing: %d queues, %d skills, %d dispositions, %d profiles; want 1, 1, 2, 2", queues, skills, dispositions, profiles)
	}
	// The trial, plus one priced bundle and its metered contacts for the
	// chargeback reports: the trial's 250 free, the rest at 4.9 cents.
	var bundles, seatGrants, records, priced int
	var value string
	if err := svc.DB.Tx(ctx, owner.TenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM bundles), (SELECT count(*) FROM seat_grants),
			(SELECT count(*) FROM meter_records), (SELECT count(*) FROM meter_records WHERE cost_num > 0),
			(SELECT coalesce(sum(cost_num::numeric / cost_den), 0)::text FROM meter_records)`).Scan(&bundles, &seatGrants, &records, &priced, &value)
	}); err != nil {
		t.Fatal(err)
	}
	if bundles != 2 || seatGrants != 1 {
		t.Errorf("after two runs: %d bundles and %d seat grants, want 2 (trial, demo) and 1", bundles, seatGrants)
	}
	if records != demoUsageContacts || priced != demoUsageContacts-250 || !strings.HasPrefix(value, "735.0") {
		t.Errorf("demo usage: %d records, %d priced, worth %s minor units; want %d, %d, 735", records, priced, value, demoUsageContacts, demoUsageContacts-250)
	}
}

// TestOperatorCommand: `cic operator add` prints a one-time password that
// opens the first login (and only that); reset issues a new one; list
// shows them; wrong usage is exit 2.
func TestOperatorCommand(t *testing.T) {
	c := newCLI(t, emptyDatabase(t))
	c.mustRun("migrate")
	out := c.mustRun("operator", "add", "Olga@Platform.Example", "--name", "Olga Operator")
	_, pw, ok := strings.Cut(out, "One-time password: ")
	pw, _, _ = strings.Cut(pw, "\n")
	if !ok || len(pw) < 16 || !strings.Contains(out, "Olga Operator <olga@platform.example>") || !strings.Contains(out, "http://cic.test:8080/operator") {
		t.Fatalf("operator add printed:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, _, err := c.run(ctx, "operator", "add", "olga@platform.example"); cic.ErrorKind(err) != cic.ECONFLICT {
		t.Errorf("adding her twice: %v, want a conflict", err)
	}
	cfg, err := LoadConfig(envOf(c.env))
	if err != nil {
		t.Fatal(err)
	}
	dsn, _ := cfg.AppDSN()
	pool, err := infra.OpenPool(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	keys, err := loadKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ops := tenant.NewOperators(&tenant.DB{Pool: pool}, keys, nil)
	ops.Password = tenant.FastPasswordParams
	sess, err := ops.Login(ctx, tenant.OperatorLogin{Email: "olga@platform.example", Password: pw}, tenant.OperatorPage, true, tenant.ClientMeta{})
	if err != nil || sess.Kind != tenant.OperatorEnroll {
		t.Fatalf("first login with the one-time password: %+v %v", sess, err)
	}
	if _, err := ops.Login(ctx, tenant.OperatorLogin{Email: "olga@platform.example", Password: pw}, tenant.OperatorAPI, false, tenant.ClientMeta{}); cic.ErrorKind(err) != cic.EFORBIDDEN {
		t.Errorf("the one-time password on the API: %v, want enrollment_required", err)
	}
	if list := c.mustRun("operator", "list"); !strings.Contains(list, "olga@platform.example") || !strings.Contains(list, "not yet enrolled") {
		t.Errorf("operator list:\n%s", list)
	}
	reset := c.mustRun("operator", "reset", "olga@platform.example")
	if !strings.Contains(reset, "One-time password: ") || strings.Contains(reset, pw) {
		t.Errorf("reset printed:\n%s", reset)
	}
	if _, err := ops.Login(ctx, tenant.OperatorLogin{Email: "olga@platform.example", Password: pw}, tenant.OperatorPage, true, tenant.ClientMeta{}); cic.ErrorKind(err) != cic.EUNAUTHORIZED {
		t.Errorf("the old one-time password after reset: %v", err)
	}
	for _, args := range [][]string{{"operator"}, {"operator", "add"}, {"operator", "add", "a@b.example", "c@d.example"},
		{"operator", "remove", "a@b.example"}, {"operator", "add", "a@b.example", "--name"}, {"operator", "list", "x"}, {"operator", "reset", "a@b.example", "--force"}} {
		var ue *usageError
		if _, _, err := c.run(ctx, args...); !errors.As(err, &ue) {
			t.Errorf("cic %s: %v, want a usage error", strings.Join(args, " "), err)
		}
	}
}

// TestServeAndWorker starts both long-running commands in-process, checks
// the server answers, and that both stop cleanly when their context ends
// (as on SIGTERM).
func TestServeAndWorker(t *testing.T) {
	db := testenv.NewDB(t)
	c := newCLI(t, db.OwnerURL)
	c.env["HTTP_ADDR"] = "127.0.0.1:" + freePort(t)
	c.env["SMTP_ADDR"] = "127.0.0.1:" + freePort(t) // serve's inbound SMTP listener
	c.env["METRICS_ADDR"] = "127.0.0.1:" + freePort(t)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := map[string]chan error{"serve": make(chan error, 1), "worker": make(chan error, 1)}
	logs := map[string]*string{"serve": new(string), "worker": new(string)}
	for name, ch := range done {
		go func() {
			_, l, err := c.run(ctx, name)
			*logs[name] = l
			ch <- err
		}()
	}

	url := "http://" + c.env["HTTP_ADDR"] + "/healthz"
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET /healthz: %d %s", res.StatusCode, body)
			}
			break
		}
		select {
		case err := <-done["serve"]:
			t.Fatalf("serve exited early: %v\n%s", err, *logs["serve"])
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not answer %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The metrics are on METRICS_ADDR, not on the public address.
	for _, g := range []struct {
		url, want string
		status    int
	}{
		{"http://" + c.env["METRICS_ADDR"] + "/metrics", `cic_http_requests_total{method="GET",route="/healthz",status="200"}`, http.StatusOK},
		{"http://" + c.env["HTTP_ADDR"] + "/metrics", "", http.StatusNotFound},
	} {
		res, err := http.Get(g.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != g.status || !strings.Contains(string(body), g.want) {
			t.Errorf("GET %s: %d, want %d with %q:\n%.2000s", g.url, res.StatusCode, g.status, g.want, body)
		}
	}
	// Only serve issues tokens; it keeps its signing key in DATA_DIR.
	if _, err := os.Stat(filepath.Join(c.env["DATA_DIR"], "jwt-keys")); err != nil {
		t.Errorf("serve did not create its signing keys in DATA_DIR: %v", err)
	}
	select {
	case err := <-done["worker"]:
		t.Fatalf("worker exited early: %v\n%s", err, *logs["worker"])
	case <-time.After(500 * time.Millisecond):
	}

	stop()
	for name, ch := range done {
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("%s: %v\n%s", name, err, *logs[name])
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not stop within 30 s of its context ending", name)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// TestDemoConcurrent: `cic demo` started by several replicas at once (a
// compose file scaled up) must succeed everywhere and make one tenant.
func TestDemoConcurrent(t *testing.T) {
	db := testenv.NewDB(t)
	c := newCLI(t, db.OwnerURL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 4
	errs := make(chan error, n)
	for range n {
		go func() {
			_, logs, err := c.run(ctx, "demo")
			if err != nil {
				err = fmt.Errorf("%w\n%s", err, logs)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent demo: %v", err)
		}
	}
	var tenants, users, depts int
	if err := db.Owner.QueryRow(ctx, `SELECT (SELECT count(*) FROM tenants WHERE slug = 'demo'),
		(SELECT count(*) FROM users), (SELECT count(*) FROM departments)`).Scan(&tenants, &users, &depts); err != nil {
		t.Fatal(err)
	}
	if tenants != 1 || users != len(demoUsers) || depts != 1 {
		t.Errorf("%d demo tenants, %d users, %d departments; want 1, %d, 1", tenants, users, depts, len(demoUsers))
	}
}
