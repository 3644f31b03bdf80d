package metering_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
)

// env is a migrated database with a running Meter.
type env struct {
	DB      *testenv.DB
	Tenants *tenant.Service
	Meter   *metering.Meter
}

func newEnv(t testing.TB) *env {
	t.Helper()
	db := testenv.NewDB(t)
	svc := tenant.NewService(&tenant.DB{Pool: db.App}, tenant.GenerateKeys(), nil)
	svc.Password = tenant.FastPasswordParams
	svc.OnSignup = []tenant.SignupHook{metering.TrialHook(metering.DefaultTrial), seats.TrialHook(seats.DefaultTrial)}
	m := metering.NewMeter(svc.DB)
	m.Start()
	t.Cleanup(m.Close)
	return &env{DB: db, Tenants: svc, Meter: m}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// newTenant signs a tenant up (with its 250-contact trial bundle).
func (e *env) newTenant(t testing.TB, slug string) uuid.UUID {
	t.Helper()
	res, err := e.Tenants.Signup(context.Background(), tenant.SignupInput{
		Company: "Co " + slug, Slug: slug, Name: "Olive", Email: "owner@" + slug + ".example",
		Password: "correct horse battery", Currency: "EUR",
	}, tenant.ClientMeta{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Tenant.ID
}

// contacts makes n handled chat contacts with ids prefix-0 ... prefix-(n-1).
func contacts(prefix string, n int) []metering.HandledContact {
	out := make([]metering.HandledContact, n)
	for i := range out {
		out[i] = metering.HandledContact{ID: prefix + "-" + itoa(i), Channel: "chat", Direction: "inbound",
			HandledAt: time.Now().Add(-time.Minute), Queue: "support"}
	}
	return out
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{digits[i%10]}, b...)
	}
	return string(b)
}

// checkInvariants proves, as the owner (no RLS), that every bundle's
// drawn records equal contacts - remaining, and remaining is never < 0.
func (e *env) checkInvariants(t testing.TB) {
	t.Helper()
	rows, err := e.DB.Owner.Query(context.Background(), `SELECT b.id, b.contacts, b.remaining,
		(SELECT count(*) FROM meter_records r WHERE r.tenant_id = b.tenant_id AND r.bundle_id = b.id)
		FROM bundles b`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id                   uuid.UUID
		contacts, rem, drawn int64
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.contacts, &x.rem, &x.drawn)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range all {
		if b.rem < 0 || b.drawn != b.contacts-b.rem {
			t.Errorf("bundle %s: contacts %d remaining %d but %d records drawn", b.id, b.contacts, b.rem, b.drawn)
		}
	}
}

// addBundle gives a tenant a bundle directly (as billing will).
func (e *env) addBundle(t testing.TB, tenantID uuid.UUID, contacts, price int64, from, until time.Time) uuid.UUID {
	t.Helper()
	id := uuid.New()
	_, err := e.DB.Owner.Exec(context.Background(), `INSERT INTO bundles (tenant_id, id, source, contacts, remaining, price_minor, currency, valid_from, valid_until)
		VALUES ($1, $2, 'purchase', $3, $3, $4, 'EUR', $5, $6)`, tenantID, id, contacts, price, from, until)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
