package tenant

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
)

// Keys signs access tokens with one Ed25519 key and verifies tokens signed
// by any key of the ring, so a key can be rotated without logging everyone
// out: put the new seed first and keep the old one after it for 15 minutes.
type Keys struct {
	signing ed25519.PrivateKey
	kid     string
	verify  map[string]ed25519.PublicKey
	seeds   [][]byte // in ring order, for DeriveRing
}

// NewKeys builds a ring: the first seed signs, all of them verify.
func NewKeys(seeds ...[]byte) (*Keys, error) {
	if len(seeds) == 0 {
		return nil, errors.New("keys: at least one seed")
	}
	k := &Keys{verify: map[string]ed25519.PublicKey{}}
	for i, seed := range seeds {
		if len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("keys: seed %d has %d bytes, want %d", i, len(seed), ed25519.SeedSize)
		}
		priv := ed25519.NewKeyFromSeed(seed)
		pub := priv.Public().(ed25519.PublicKey)
		id := keyID(pub)
		if i == 0 {
			k.signing, k.kid = priv, id
		}
		k.verify[id] = pub
		k.seeds = append(k.seeds, append([]byte(nil), seed...))
	}
	return k, nil
}

// GenerateKeys returns a ring with one fresh key (tests, first start).
func GenerateKeys() *Keys {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		panic(err)
	}
	k, _ := NewKeys(seed)
	return k
}

// ParseKeys reads a comma-separated list of base64 seeds (JWT_KEYS).
func ParseKeys(spec string) (*Keys, error) {
	var seeds [][]byte
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(part)
		if err != nil {
			return nil, fmt.Errorf("keys: seed is not base64: %w", err)
		}
		seeds = append(seeds, b)
	}
	return NewKeys(seeds...)
}

// LoadOrCreateKeys reads the key ring from path, creating it with a fresh
// key when missing, so a single machine works with no configuration.
// Several replicas must share the file or set JWT_KEYS.
func LoadOrCreateKeys(path string) (*Keys, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		b = []byte(base64.StdEncoding.EncodeToString(seed) + "\n")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return ParseKeys(string(b))
}

// Derive returns a secret for purpose (e.g. signing download links)
// derived from the signing key: replicas that share the key (JWT_KEYS or
// the key file) share it, and rotating the key changes it.
func (k *Keys) Derive(purpose string) []byte {
	m := hmac.New(sha256.New, k.signing.Seed())
	m.Write([]byte("cic/derived-secret/" + purpose))
	return m.Sum(nil)
}

// DeriveRing returns Derive(purpose) of every key of the ring, the
// signing key's first: a ring of derived keys (secrets at rest) that
// rotates with the JWT keys, the old key still opening what it sealed.
func (k *Keys) DeriveRing(purpose string) [][]byte {
	out := make([][]byte, 0, len(k.seeds))
	for _, seed := range k.seeds {
		m := hmac.New(sha256.New, seed)
		m.Write([]byte("cic/derived-secret/" + purpose))
		out = append(out, m.Sum(nil))
	}
	return out
}

func keyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Claims are an access token's claims: sub is the user, tid the tenant.
type Claims struct {
	Tenant string `json:"tid"`
	Role   string `json:"role"`
	// Session is the refresh-token family the token was issued for and
	// Version the user's session version then; Authenticate refuses the
	// token once the session is revoked or the version moved on.
	Session string `json:"sid,omitempty"`
	Version int64  `json:"sv,omitempty"`
	jwt.RegisteredClaims
}

const (
	issuer   = "cic"
	audience = "cic-api"
)

// Sign issues an access token for the user that names no session, so
// Authenticate refuses it (tests of the signature itself use it).
func (k *Keys) Sign(tenantID, userID uuid.UUID, role cic.Role, now time.Time, ttl time.Duration) (string, error) {
	return k.SignSession(tenantID, userID, role, uuid.Nil, 0, now, ttl)
}

// SignSession issues an access token for the user's session at the
// user's session version.
func (k *Keys) SignSession(tenantID, userID uuid.UUID, role cic.Role, session uuid.UUID, version int64, now time.Time, ttl time.Duration) (string, error) {
	c := Claims{
		Tenant:  tenantID.String(),
		Role:    string(role),
		Version: version,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   userID.String(),
			Audience:  jwt.ClaimStrings{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        uuid.NewString(),
		},
	}
	if session != uuid.Nil {
		c.Session = session.String()
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = k.kid
	s, err := t.SignedString(k.signing)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return s, nil
}

var errBadToken = cic.Codef(cic.EUNAUTHORIZED, "invalid_token", "The access token is invalid or expired; log in again.")

// Verify checks signature (EdDSA only: "none" and HMAC are refused), key
// id, issuer, audience and expiry, and returns the claims.
func (k *Keys) Verify(token string, now time.Time) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		pub, ok := k.verify[kid]
		if !ok {
			return nil, errors.New("unknown key id")
		}
		return pub, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return nil, errBadToken
	}
	if _, err := uuid.Parse(c.Tenant); err != nil {
		return nil, errBadToken
	}
	if _, err := uuid.Parse(c.Subject); err != nil {
		return nil, errBadToken
	}
	return &c, nil
}
