package chargeback

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// env is a migrated database and the report service on it, without a job
// queue: tests run Generate themselves unless they start a worker.
type env struct {
	DB      *testenv.DB
	Tenants *tenant.Service
	Svc     *Service
	Mail    *mailbox
}

func newEnv(t testing.TB) *env {
	t.Helper()
	db := testenv.NewDB(t)
	svc := tenant.NewService(&tenant.DB{Pool: db.App}, tenant.GenerateKeys(), nil)
	svc.Password = tenant.FastPasswordParams
	svc.OnSignup = []tenant.SignupHook{metering.TrialHook(metering.DefaultTrial)}
	mb := &mailbox{}
	return &env{DB: db, Tenants: svc, Mail: mb, Svc: &Service{DB: svc.DB, Mailer: mb, PublicURL: "http://cic.test",
		Links: Links{Key: []byte("test-link-key")}, ProgressEvery: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// mailbox records the e-mail sent.
type mailbox struct {
	msgs chan metering.Message
}

func (m *mailbox) Send(_ context.Context, msg metering.Message) error {
	if m.msgs == nil {
		return nil
	}
	m.msgs <- msg
	return nil
}

// signup makes a company through the real sign-up, with its owner.
func (e *env) signup(t testing.TB, slug string) tenant.Actor {
	t.Helper()
	res, err := e.Tenants.Signup(context.Background(), tenant.SignupInput{
		Company: "Company " + slug, Slug: slug, Name: "Olive Owner", Email: "owner@" + slug + ".example",
		Password: "correct horse battery", Currency: "EUR",
	}, tenant.ClientMeta{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	return tenant.Actor{TenantID: res.Tenant.ID, UserID: res.User.ID, Role: cic.RoleOwner}
}

// user adds a user with role to a's company.
func (e *env) user(t testing.TB, owner tenant.Actor, email string, role cic.Role) tenant.Actor {
	t.Helper()
	u, err := e.Tenants.CreateUser(context.Background(), owner, tenant.NewUser{Email: email, Name: "User " + string(role), Role: role,
		Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	return tenant.Actor{TenantID: owner.TenantID, UserID: u.ID, Role: role}
}

// rawTenant inserts a tenant row directly (fast, for property tests).
func (e *env) rawTenant(t testing.TB, name string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	slug := "t-" + strings.ReplaceAll(id.String(), "-", "")[:12]
	if _, err := e.DB.Owner.Exec(ctx(t), `INSERT INTO tenants (tenant_id, slug, name, currency) VALUES ($1, $2, $3, 'EUR')`, id, slug, name); err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) bundle(t testing.TB, tenantID uuid.UUID, contacts, price int64, validFrom time.Time) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := e.DB.Owner.Exec(ctx(t), `INSERT INTO bundles (tenant_id, id, source, contacts, remaining, price_minor, currency, valid_from, valid_until)
		VALUES ($1, $2, 'purchase', $3, 0, $4, 'EUR', $5, $5::timestamptz + interval '2 years')`, tenantID, id, contacts, price, validFrom); err != nil {
		t.Fatal(err)
	}
	return id
}

// rec is one meter record to insert as is.
type rec struct {
	ID                                                      string
	Bundle                                                  *uuid.UUID
	Num, Den                                                int64
	Channel, Direction                                      string
	Handled, Metered                                        time.Time
	Queue, Department, CostCentre, QueueCC, Campaign, Agent string
}

func (e *env) insert(t testing.TB, tenantID uuid.UUID, rs []rec) {
	t.Helper()
	rows := make([][]any, len(rs))
	for i, r := range rs {
		if r.Channel == "" {
			r.Channel = "chat"
		}
		if r.Direction == "" {
			r.Direction = "inbound"
		}
		if r.Handled.IsZero() {
			r.Handled = r.Metered
		}
		rows[i] = []any{tenantID, r.ID, r.Bundle, r.Num, r.Den, "EUR", r.Channel, r.Direction, r.Handled, r.Queue, r.Department,
			r.CostCentre, r.QueueCC, r.Campaign, r.Agent, "api", r.Metered}
	}
	_, err := e.DB.Owner.CopyFrom(ctx(t), pgx.Identifier{"meter_records"}, []string{"tenant_id", "contact_id", "bundle_id", "cost_num",
		"cost_den", "currency", "channel", "direction", "handled_at", "queue", "department", "cost_centre", "queue_cost_centre",
		"campaign", "agent", "source", "metered_at"}, pgx.CopyFromRows(rows))
	if err != nil {
		t.Fatal(err)
	}
}

// newReport records a report row as a request would, without a queue.
func (e *env) newReport(t testing.TB, tenantID uuid.UUID, from, to time.Time, dim Dimension) uuid.UUID {
	t.Helper()
	id := uuid.New()
	err := e.Svc.DB.Tx(ctx(t), tenantID, func(tx pgx.Tx) error {
		_, err := insertReport(ctx(t), tx, tenantID, id, TriggerRequest, from, to, dim, "EUR", nil, time.Now().Add(time.Hour))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// file reads a report file back, decompressed.
func (e *env) file(t testing.TB, tenantID, reportID uuid.UUID, format string) []byte {
	t.Helper()
	f, err := e.Svc.store().Open(ctx(t), e.Svc.DB, tenantID, reportID, format)
	if err != nil {
		t.Fatalf("open %s: %v", format, err)
	}
	r, err := f.Raw()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", format, err)
	}
	if int64(len(b)) != f.RawSize {
		t.Fatalf("%s: read %d bytes, stored raw size %d", format, len(b), f.RawSize)
	}
	return b
}

// csvRecords parses a report CSV into header-keyed rows.
func csvRecords(t testing.TB, b []byte) []map[string]string {
	t.Helper()
	all, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v", err)
	}
	if len(all) == 0 {
		t.Fatal("csv: no header")
	}
	out := make([]map[string]string, 0, len(all)-1)
	for _, row := range all[1:] {
		m := map[string]string{}
		for i, h := range all[0] {
			m[h] = row[i]
		}
		out = append(out, m)
	}
	return out
}

// cents parses "12.34" as 1234.
func cents(t testing.TB, s string) int64 {
	t.Helper()
	var whole, frac int64
	if _, err := fmt.Sscanf(s, "%d.%02d", &whole, &frac); err != nil || len(s) < 4 || s[len(s)-3] != '.' {
		t.Fatalf("not a 2-decimal amount: %q (%v)", s, err)
	}
	return whole*100 + frac
}
