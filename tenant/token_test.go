package tenant_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func seed(b byte) []byte {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

func mustKeys(t *testing.T, seeds ...[]byte) *tenant.Keys {
	t.Helper()
	k, err := tenant.NewKeys(seeds...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// kidOf is the key id Keys derives from the public key of seed.
func kidOf(seed []byte) string {
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// validClaims are the claims Sign would write, for hand-made tokens.
func validClaims(tenantID, userID uuid.UUID, now time.Time) tenant.Claims {
	return tenant.Claims{
		Tenant: tenantID.String(),
		Role:   string(cic.RoleOwner),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    "cic",
			Subject:   userID.String(),
			Audience:  jwt.ClaimStrings{"cic-api"},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)),
			ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
			ID:        uuid.NewString(),
		},
	}
}

// signEd25519 signs claims with seed's private key and the right kid, as
// if Keys had, so only the claims differ from a genuine token.
func signEd25519(t *testing.T, seed []byte, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = kidOf(seed)
	s, err := tok.SignedString(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func wantBadToken(t *testing.T, k *tenant.Keys, token string, now time.Time) {
	t.Helper()
	c, err := k.Verify(token, now)
	wantError(t, err, cic.EUNAUTHORIZED, "invalid_token")
	if c != nil {
		t.Fatalf("returned claims %+v alongside the error", c)
	}
}

func TestSignVerify_RoundTripsTenantUserAndRole(t *testing.T) {
	k := mustKeys(t, seed(1))
	tid, uid := uuid.New(), uuid.New()
	tok, err := k.Sign(tid, uid, cic.RoleSupervisor, t0, 15*time.Minute)
	mustOK(t, err)

	c, err := k.Verify(tok, t0.Add(time.Minute))
	mustOK(t, err)
	if c.Tenant != tid.String() || c.Subject != uid.String() || c.Role != string(cic.RoleSupervisor) {
		t.Fatalf("claims tid=%s sub=%s role=%s, want %s %s supervisor", c.Tenant, c.Subject, c.Role, tid, uid)
	}
	if c.Issuer != "cic" || len(c.Audience) != 1 || c.Audience[0] != "cic-api" {
		t.Fatalf("issuer %q audience %v", c.Issuer, c.Audience)
	}
	if !c.ExpiresAt.Equal(t0.Add(15*time.Minute)) || !c.IssuedAt.Equal(t0) {
		t.Fatalf("iat %v exp %v, want %v and 15 minutes later", c.IssuedAt, c.ExpiresAt, t0)
	}
	if _, err := uuid.Parse(c.ID); err != nil {
		t.Fatalf("jti %q is not a uuid", c.ID)
	}
}

func TestSign_WritesEdDSAHeaderWithTheSigningKeyID(t *testing.T) {
	k := mustKeys(t, seed(1), seed(2))
	tok, err := k.Sign(uuid.New(), uuid.New(), cic.RoleAgent, t0, time.Minute)
	mustOK(t, err)
	var h map[string]any
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	mustOK(t, err)
	mustOK(t, json.Unmarshal(raw, &h))
	if h["alg"] != "EdDSA" || h["typ"] != "JWT" {
		t.Fatalf("header %v, want alg EdDSA typ JWT", h)
	}
	if h["kid"] != kidOf(seed(1)) {
		t.Fatalf("kid %v, want the first seed's %s", h["kid"], kidOf(seed(1)))
	}
}

func TestSign_TokensAreUnique(t *testing.T) {
	k := mustKeys(t, seed(1))
	tid, uid := uuid.New(), uuid.New()
	a, _ := k.Sign(tid, uid, cic.RoleAgent, t0, time.Minute)
	b, _ := k.Sign(tid, uid, cic.RoleAgent, t0, time.Minute)
	if a == b {
		t.Fatal("two tokens for the same user and instant are identical: jti missing")
	}
}

func TestVerify_RefusesTokenSignedWithAnotherKey(t *testing.T) {
	tok, err := mustKeys(t, seed(9)).Sign(uuid.New(), uuid.New(), cic.RoleOwner, t0, time.Minute)
	mustOK(t, err)
	wantBadToken(t, mustKeys(t, seed(1)), tok, t0)
}

func TestVerify_RefusesAnotherKeysSignatureUnderOurKeyID(t *testing.T) {
	// A forger who knows our kid but not our key.
	claims := validClaims(uuid.New(), uuid.New(), t0)
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = kidOf(seed(1))
	s, err := tok.SignedString(ed25519.NewKeyFromSeed(seed(9)))
	mustOK(t, err)
	wantBadToken(t, mustKeys(t, seed(1)), s, t0)
}

func TestVerify_RefusesAlgNone(t *testing.T) {
	k := mustKeys(t, seed(1))
	claims := validClaims(uuid.New(), uuid.New(), t0)
	for name, header := range map[string]map[string]string{
		"none":              {"alg": "none", "typ": "JWT"},
		"None":              {"alg": "None", "typ": "JWT"},
		"none with our kid": {"alg": "none", "typ": "JWT", "kid": kidOf(seed(1))},
	} {
		t.Run(name, func(t *testing.T) {
			wantBadToken(t, k, b64(header)+"."+b64(claims)+".", t0)
		})
	}
	// The library's own "none" signer, for good measure.
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	mustOK(t, err)
	wantBadToken(t, k, s, t0)
}

func TestVerify_RefusesHMACSignedWithThePublicKey(t *testing.T) {
	// Algorithm confusion: the public key is public, so a verifier that
	// let the token pick HS256 would accept this forgery.
	k := mustKeys(t, seed(1))
	pub := ed25519.NewKeyFromSeed(seed(1)).Public().(ed25519.PublicKey)
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS512} {
		t.Run(m.Alg(), func(t *testing.T) {
			tok := jwt.NewWithClaims(m, validClaims(uuid.New(), uuid.New(), t0))
			tok.Header["kid"] = kidOf(seed(1))
			s, err := tok.SignedString([]byte(pub))
			mustOK(t, err)
			wantBadToken(t, k, s, t0)
		})
	}
}

func TestVerify_RefusesExpiredAndNotYetValidTokens(t *testing.T) {
	k := mustKeys(t, seed(1))
	tok, err := k.Sign(uuid.New(), uuid.New(), cic.RoleOwner, t0, 15*time.Minute)
	mustOK(t, err)
	if _, err := k.Verify(tok, t0.Add(14*time.Minute)); err != nil {
		t.Fatalf("valid before expiry: %v", err)
	}
	wantBadToken(t, k, tok, t0.Add(16*time.Minute))
	wantBadToken(t, k, tok, t0.Add(24*time.Hour))
	wantBadToken(t, k, tok, t0.Add(-time.Minute)) // nbf is 5 s before issue
}

func TestVerify_RefusesTamperedClaims(t *testing.T) {
	seedA := seed(1)
	k := mustKeys(t, seedA)
	tok, err := k.Sign(uuid.New(), uuid.New(), cic.RoleAgent, t0, time.Minute)
	mustOK(t, err)
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	mustOK(t, err)
	var m map[string]any
	mustOK(t, json.Unmarshal(raw, &m))
	m["role"] = "owner"
	wantBadToken(t, k, parts[0]+"."+b64(m)+"."+parts[2], t0)
}

func TestVerify_RefusesWrongClaims(t *testing.T) {
	seedA := seed(1)
	k := mustKeys(t, seedA)
	tid, uid := uuid.New(), uuid.New()
	for _, tc := range []struct {
		name   string
		mutate func(c *tenant.Claims)
	}{
		{"wrong issuer", func(c *tenant.Claims) { c.Issuer = "someone-else" }},
		{"no issuer", func(c *tenant.Claims) { c.Issuer = "" }},
		{"wrong audience", func(c *tenant.Claims) { c.Audience = jwt.ClaimStrings{"other-api"} }},
		{"no audience", func(c *tenant.Claims) { c.Audience = nil }},
		{"no expiry", func(c *tenant.Claims) { c.ExpiresAt = nil }},
		{"tenant not a uuid", func(c *tenant.Claims) { c.Tenant = "acme" }},
		{"no tenant", func(c *tenant.Claims) { c.Tenant = "" }},
		{"subject not a uuid", func(c *tenant.Claims) { c.Subject = "olive@example.com" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validClaims(tid, uid, t0)
			tc.mutate(&c)
			wantBadToken(t, k, signEd25519(t, seedA, c), t0)
		})
	}
	// The hand-made token itself is accepted when nothing is wrong, so the
	// refusals above are down to the mutation.
	if _, err := k.Verify(signEd25519(t, seedA, validClaims(tid, uid, t0)), t0); err != nil {
		t.Fatalf("unmutated hand-made token refused: %v", err)
	}
}

func TestVerify_RefusesUnknownOrMissingKeyID(t *testing.T) {
	k := mustKeys(t, seed(1))
	for name, kid := range map[string]any{"unknown": "0011223344556677", "missing": nil, "not a string": 42} {
		t.Run(name, func(t *testing.T) {
			tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, validClaims(uuid.New(), uuid.New(), t0))
			if kid != nil {
				tok.Header["kid"] = kid
			}
			s, err := tok.SignedString(ed25519.NewKeyFromSeed(seed(1)))
			mustOK(t, err)
			wantBadToken(t, k, s, t0)
		})
	}
}

func TestVerify_RefusesGarbage(t *testing.T) {
	k := mustKeys(t, seed(1))
	good, err := k.Sign(uuid.New(), uuid.New(), cic.RoleOwner, t0, time.Minute)
	mustOK(t, err)
	parts := strings.Split(good, ".")
	sig := []byte(parts[2])
	sig[5] ^= 1
	for name, tok := range map[string]string{
		"empty":             "",
		"word":              "hello",
		"three dots":        "a.b.c",
		"bearer prefix":     "Bearer " + good,
		"flipped signature": parts[0] + "." + parts[1] + "." + string(sig),
		"no signature":      parts[0] + "." + parts[1] + ".",
		"two parts":         parts[0] + "." + parts[1],
		"refresh token":     "rt1." + uuid.NewString() + "." + uuid.NewString() + "." + strings.Repeat("x", 43),
	} {
		t.Run(name, func(t *testing.T) { wantBadToken(t, k, tok, t0) })
	}
}

func TestKeys_RotationVerifiesOldTokensWhileTheOldKeyIsInTheRing(t *testing.T) {
	oldSeed, newSeed := seed(1), seed(2)
	old := mustKeys(t, oldSeed)
	tid, uid := uuid.New(), uuid.New()
	oldTok, err := old.Sign(tid, uid, cic.RoleOwner, t0, 15*time.Minute)
	mustOK(t, err)

	ring := mustKeys(t, newSeed, oldSeed) // new key signs, old still verifies
	c, err := ring.Verify(oldTok, t0)
	mustOK(t, err)
	if c.Subject != uid.String() {
		t.Fatalf("subject %s, want %s", c.Subject, uid)
	}
	newTok, err := ring.Sign(tid, uid, cic.RoleOwner, t0, 15*time.Minute)
	mustOK(t, err)
	if _, err := mustKeys(t, newSeed).Verify(newTok, t0); err != nil {
		t.Fatalf("ring does not sign with its first seed: %v", err)
	}
	wantBadToken(t, old, newTok, t0) // not signed with the old key

	// Once the old seed leaves the ring its tokens stop working.
	wantBadToken(t, mustKeys(t, newSeed), oldTok, t0)
}

func TestNewKeys_RefusesNoSeedOrWrongSeedLength(t *testing.T) {
	if _, err := tenant.NewKeys(); err == nil {
		t.Error("NewKeys() accepted no seed")
	}
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := tenant.NewKeys(seed(1), make([]byte, n)); err == nil {
			t.Errorf("NewKeys accepted a %d-byte seed", n)
		}
	}
}

func TestGenerateKeys_GivesDistinctWorkingKeys(t *testing.T) {
	a, b := tenant.GenerateKeys(), tenant.GenerateKeys()
	tok, err := a.Sign(uuid.New(), uuid.New(), cic.RoleOwner, t0, time.Minute)
	mustOK(t, err)
	if _, err := a.Verify(tok, t0); err != nil {
		t.Fatal(err)
	}
	wantBadToken(t, b, tok, t0)
}

func TestParseKeys_ReadsCommaSeparatedBase64SeedsFirstSigns(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString
	k, err := tenant.ParseKeys(" " + enc(seed(2)) + " ,\n" + enc(seed(1)) + ",")
	mustOK(t, err)
	tok, err := k.Sign(uuid.New(), uuid.New(), cic.RoleOwner, t0, time.Minute)
	mustOK(t, err)
	if _, err := mustKeys(t, seed(2)).Verify(tok, t0); err != nil {
		t.Fatalf("first seed does not sign: %v", err)
	}
	oldTok, _ := mustKeys(t, seed(1)).Sign(uuid.New(), uuid.New(), cic.RoleOwner, t0, time.Minute)
	if _, err := k.Verify(oldTok, t0); err != nil {
		t.Fatalf("second seed does not verify: %v", err)
	}
}

func TestParseKeys_RefusesBadSpecs(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString
	for name, spec := range map[string]string{
		"empty":        "",
		"only commas":  " , ,",
		"not base64":   "not*base64!",
		"short seed":   enc(make([]byte, 16)),
		"one bad seed": enc(seed(1)) + ",%%%",
	} {
		if _, err := tenant.ParseKeys(spec); err == nil {
			t.Errorf("%s: ParseKeys(%q) accepted", name, spec)
		}
	}
}

func TestLoadOrCreateKeys_CreatesAPrivateFileAndReloadsTheSameKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "jwt.key")
	first, err := tenant.LoadOrCreateKeys(path)
	mustOK(t, err)
	fi, err := os.Stat(path)
	mustOK(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	mustOK(t, err)
	if di.Mode().Perm()&0o077 != 0 {
		t.Fatalf("key directory mode %v is open to others", di.Mode().Perm())
	}
	content, err := os.ReadFile(path)
	mustOK(t, err)

	second, err := tenant.LoadOrCreateKeys(path)
	mustOK(t, err)
	again, err := os.ReadFile(path)
	mustOK(t, err)
	if string(again) != string(content) {
		t.Fatal("loading an existing key file rewrote it")
	}
	tok, err := first.Sign(uuid.New(), uuid.New(), cic.RoleOwner, t0, time.Minute)
	mustOK(t, err)
	if _, err := second.Verify(tok, t0); err != nil {
		t.Fatalf("reloaded keys do not verify the created key's token: %v", err)
	}
	parsed, err := tenant.ParseKeys(string(content))
	mustOK(t, err)
	if _, err := parsed.Verify(tok, t0); err != nil {
		t.Fatalf("file content is not a ParseKeys spec of the same key: %v", err)
	}
}

func TestLoadOrCreateKeys_UsesAnExistingRing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwt.key")
	enc := base64.StdEncoding.EncodeToString
	mustOK(t, os.WriteFile(path, []byte(enc(seed(2))+","+enc(seed(1))+"\n"), 0o600))
	k, err := tenant.LoadOrCreateKeys(path)
	mustOK(t, err)
	oldTok, _ := mustKeys(t, seed(1)).Sign(uuid.New(), uuid.New(), cic.RoleOwner, t0, time.Minute)
	if _, err := k.Verify(oldTok, t0); err != nil {
		t.Fatalf("existing ring's second key does not verify: %v", err)
	}
}

func TestLoadOrCreateKeys_RefusesACorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwt.key")
	mustOK(t, os.WriteFile(path, []byte("garbage!\n"), 0o600))
	if _, err := tenant.LoadOrCreateKeys(path); err == nil {
		t.Fatal("corrupt key file accepted")
	}
	b, _ := os.ReadFile(path)
	if string(b) != "garbage!\n" {
		t.Fatal("corrupt key file was overwritten")
	}
}

// The ring of derived keys follows the JWT ring: the signing key's is
// first (and is Derive's), an old key's stays after it.
func TestKeys_DeriveRingRotatesWithTheRing(t *testing.T) {
	oldSeed, newSeed := make([]byte, 32), make([]byte, 32)
	newSeed[0] = 1
	old, _ := tenant.NewKeys(oldSeed)
	rotated, _ := tenant.NewKeys(newSeed, oldSeed)
	ring := rotated.DeriveRing("secrets-at-rest")
	if len(ring) != 2 || !bytes.Equal(ring[0], rotated.Derive("secrets-at-rest")) || !bytes.Equal(ring[1], old.Derive("secrets-at-rest")) {
		t.Fatalf("derived ring %x", ring)
	}
	if bytes.Equal(ring[0], rotated.DeriveRing("other-purpose")[0]) {
		t.Fatal("two purposes derive the same key")
	}
}
