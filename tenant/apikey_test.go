package tenant_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

func TestAPIKey_CreateAuthenticateRevoke(t *testing.T) {
	s, db := newService(t)
	c := ctx(t)
	res := signup(t, s, "acme")
	owner := ownerActor(res)

	k, key, err := s.CreateAPIKey(c, owner, " PBX bridge ")
	mustOK(t, err)
	if k.Name != "PBX bridge" || !tenant.IsAPIKey(key) || strings.Contains(key, " ") {
		t.Fatalf("created %+v %q", k, key)
	}
	var stored []byte
	mustOK(t, db.Owner.QueryRow(c, `SELECT secret_hash FROM api_keys WHERE id = $1`, k.ID).Scan(&stored))
	if len(stored) != 32 || strings.Contains(key, string(stored)) {
		t.Fatalf("stored hash %x", stored)
	}

	tid, kid, err := s.AuthenticateAPIKey(c, key)
	mustOK(t, err)
	if tid != res.Tenant.ID || kid != k.ID {
		t.Fatalf("authenticated as %s/%s", tid, kid)
	}
	// A wrong secret, another tenant's id and garbage are all refused alike.
	parts := strings.Split(key, ".")
	forged := []string{
		parts[0] + "." + parts[1] + "." + parts[2] + "." + strings.Repeat("A", len(parts[3])),
		parts[0] + "." + uuid.NewString() + "." + parts[2] + "." + parts[3],
		"ck1.garbage", "",
	}
	for _, f := range forged {
		_, _, err := s.AuthenticateAPIKey(c, f)
		wantError(t, err, cic.EUNAUTHORIZED, "invalid_api_key")
	}

	keys, err := s.ListAPIKeys(c, owner)
	mustOK(t, err)
	if len(keys) != 1 || keys[0].LastUsedAt == nil {
		t.Fatalf("list %+v, want one key with last_used_at", keys)
	}
	rk, err := s.RevokeAPIKey(c, owner, k.ID)
	mustOK(t, err)
	if rk.RevokedAt == nil {
		t.Fatal("revoked key has no revoked_at")
	}
	_, _, err = s.AuthenticateAPIKey(c, key)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_api_key")
	_, err = s.RevokeAPIKey(c, owner, k.ID) // twice is harmless
	mustOK(t, err)

	entries, err := s.ListAudit(c, owner, 0, 10)
	mustOK(t, err)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	if !strings.Contains(strings.Join(actions, " "), "api_key.create") || !strings.Contains(strings.Join(actions, " "), "api_key.revoke") {
		t.Fatalf("audit actions %v", actions)
	}
}

func TestAPIKey_OnlyManagersAndOnlyTheirTenant(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	a := signup(t, s, "acme")
	b := signup(t, s, "bravo")
	k, _, err := s.CreateAPIKey(c, ownerActor(a), "PBX")
	mustOK(t, err)

	agent := ownerActor(a)
	agent.Role = cic.RoleAgent
	_, _, err = s.CreateAPIKey(c, agent, "sneaky")
	wantError(t, err, cic.EFORBIDDEN, "forbidden")

	_, err = s.RevokeAPIKey(c, ownerActor(b), k.ID)
	wantError(t, err, cic.ENOTFOUND, "not_found")
	keys, err := s.ListAPIKeys(c, ownerActor(b))
	mustOK(t, err)
	if len(keys) != 0 {
		t.Fatalf("tenant B lists %d keys of A", len(keys))
	}
	_, _, err = s.CreateAPIKey(c, ownerActor(a), "   ")
	wantError(t, err, cic.EINVALID, "missing_name")
}
