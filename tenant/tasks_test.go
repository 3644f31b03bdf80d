package tenant_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/tenant"
)

// TestHandlePurgeSessions runs the worker's purge job over two tenants: it
// must delete refresh tokens dead for more than a day in every tenant and
// keep live ones and ones that died only recently (the grace day).
func TestHandlePurgeSessions(t *testing.T) {
	s, db := newService(t)
	c := ctx(t)
	a := signup(t, s, "purge-a")
	b := signup(t, s, "purge-b")

	// Fixtures go in through the owner pool (superuser, bypasses RLS):
	// the product has no way to backdate a token, which is the point.
	insert := func(r tenant.SignupResult, expires time.Time, revoked *time.Time) uuid.UUID {
		t.Helper()
		id := uuid.New()
		_, err := db.Owner.Exec(c, `INSERT INTO refresh_tokens (tenant_id, id, family_id, user_id, token_hash, expires_at, revoked_at)
			VALUES ($1, $2, $2, $3, $4, $5, $6)`, r.Tenant.ID, id, r.User.ID, []byte("fixture-"+id.String()), expires, revoked)
		if err != nil {
			t.Fatalf("insert refresh token: %v", err)
		}
		return id
	}
	now := time.Now()
	longAgo := now.Add(-72 * time.Hour)
	expiredA := insert(a, now.Add(-48*time.Hour), nil)
	revokedA := insert(a, now.Add(24*time.Hour), &longAgo)
	expiredB := insert(b, now.Add(-48*time.Hour), nil)
	liveA := insert(a, now.Add(24*time.Hour), nil)
	recentlyExpiredB := insert(b, now.Add(-time.Hour), nil)

	exists := func(r tenant.SignupResult, id uuid.UUID) bool {
		t.Helper()
		var ok bool
		if err := db.Owner.QueryRow(c, `SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE tenant_id = $1 AND id = $2)`, r.Tenant.ID, id).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	countTokens := func(r tenant.SignupResult) int {
		t.Helper()
		var n int
		if err := db.Owner.QueryRow(c, `SELECT count(*) FROM refresh_tokens WHERE tenant_id = $1`, r.Tenant.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	beforeA, beforeB := countTokens(a), countTokens(b)

	if err := s.HandlePurgeSessions(c, tenant.NewPurgeSessionsTask()); err != nil {
		t.Fatalf("HandlePurgeSessions: %v", err)
	}

	for _, tc := range []struct {
		name string
		r    tenant.SignupResult
		id   uuid.UUID
		want bool
	}{
		{"expired two days ago (tenant A)", a, expiredA, false},
		{"revoked three days ago (tenant A)", a, revokedA, false},
		{"expired two days ago (tenant B)", b, expiredB, false},
		{"live (tenant A)", a, liveA, true},
		{"expired an hour ago (tenant B)", b, recentlyExpiredB, true},
	} {
		if got := exists(tc.r, tc.id); got != tc.want {
			t.Errorf("%s: exists = %v, want %v", tc.name, got, tc.want)
		}
	}
	// The sign-up sessions are live and must survive too.
	if got, want := countTokens(a), beforeA-2; got != want {
		t.Errorf("tenant A has %d refresh tokens after purge, want %d", got, want)
	}
	if got, want := countTokens(b), beforeB-1; got != want {
		t.Errorf("tenant B has %d refresh tokens after purge, want %d", got, want)
	}
	if _, _, err := s.Refresh(c, a.Tokens.RefreshToken, tenant.ClientMeta{}); err != nil {
		t.Errorf("the owner's live session no longer refreshes after the purge: %v", err)
	}

	// A second run finds nothing more to do and still succeeds.
	if err := s.HandlePurgeSessions(c, tenant.NewPurgeSessionsTask()); err != nil {
		t.Fatalf("second HandlePurgeSessions: %v", err)
	}
	if !exists(a, liveA) {
		t.Error("second run deleted a live token")
	}
}

func TestNewPurgeSessionsTask(t *testing.T) {
	task := tenant.NewPurgeSessionsTask()
	if task.Type() != tenant.TypePurgeSessions {
		t.Errorf("type = %q, want %q", task.Type(), tenant.TypePurgeSessions)
	}
	if len(task.Payload()) != 0 {
		t.Errorf("payload = %q, want empty: the job covers every tenant", task.Payload())
	}
}
