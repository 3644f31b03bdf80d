package tenant

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
)

// Tokens is what a successful sign-up, login or refresh returns.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// ClientMeta says where a request came from, for the audit log and the
// session list.
type ClientMeta struct {
	IP        string
	UserAgent string
	RequestID string
}

var errBadCredentials = cic.Codef(cic.EUNAUTHORIZED, "invalid_credentials", "The company, e-mail or password is not right.")
var errBadRefresh = cic.Codef(cic.EUNAUTHORIZED, "invalid_refresh_token", "The session has ended; log in again.")

// Refresh tokens read "rt1.<tenant>.<id>.<secret>": the tenant lets us
// enter its Tx, the id finds the row, only sha256(secret) is stored.
const refreshPrefix = "rt1"

func newSecret() (string, []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	s := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(s))
	return s, sum[:]
}

// parseOpaque splits "<prefix>.<tenant>.<id>.<secret>".
func parseOpaque(token, prefix string) (tenantID, id uuid.UUID, secret string, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 4 || parts[0] != prefix || len(parts[3]) < 40 || len(parts[3]) > 64 {
		return uuid.Nil, uuid.Nil, "", false
	}
	t, err1 := uuid.Parse(parts[1])
	i, err2 := uuid.Parse(parts[2])
	if err1 != nil || err2 != nil || t == uuid.Nil {
		return uuid.Nil, uuid.Nil, "", false
	}
	return t, i, parts[3], true
}

func secretMatches(secret string, hash []byte) bool {
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], hash) == 1
}

// issueTokens signs an access token and stores a new refresh token of
// family (a new family at login) inside tx.
func (s *Service) issueTokens(ctx context.Context, tx pgx.Tx, u User, family uuid.UUID, m ClientMeta) (Tokens, error) {
	now := s.now()
	secret, hash := newSecret()
	id := uuid.New()
	if family == uuid.Nil {
		family = id
	}
	access, err := s.Keys.SignSession(u.TenantID, u.ID, u.Role, family, u.sessionVersion, now, s.AccessTTL)
	if err != nil {
		return Tokens{}, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO refresh_tokens (tenant_id, id, family_id, user_id, token_hash, expires_at, ip, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.TenantID, id, family, u.ID, hash, now.Add(s.RefreshTTL), m.IP, truncate(m.UserAgent, 300))
	if err != nil {
		return Tokens{}, fmt.Errorf("store refresh token: %w", err)
	}
	return Tokens{
		AccessToken:  access,
		RefreshToken: strings.Join([]string{refreshPrefix, u.TenantID.String(), id.String(), secret}, "."),
		TokenType:    "Bearer",
		ExpiresIn:    int(s.AccessTTL.Seconds()),
	}, nil
}

// LoginInput identifies the company by its slug.
type LoginInput struct {
	Tenant   string `json:"tenant"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Login checks credentials and opens a session. Unknown company, unknown
// user, inactive user and wrong password all give the same answer, after
// the same password-hash work.
func (s *Service) Login(ctx context.Context, in LoginInput, m ClientMeta) (Tokens, Principal, error) {
	slug := strings.ToLower(strings.TrimSpace(in.Tenant))
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if slug == "" || email == "" || in.Password == "" {
		return Tokens{}, Principal{}, cic.Codef(cic.EINVALID, "missing_credentials", "Company, e-mail and password are required.")
	}
	if len(slug) > 64 || len(email) > 254 || len(in.Password) > 128 {
		return Tokens{}, Principal{}, errBadCredentials
	}
	if s.Limiter != nil {
		if err := s.Limiter.allow(ctx, "login:ip:"+m.IP, s.Limiter.Limits.LoginPerIP); err != nil {
			return Tokens{}, Principal{}, err
		}
		if err := s.Limiter.allow(ctx, "login:acct:"+slug+":"+email, s.Limiter.Limits.LoginPerAccount); err != nil {
			return Tokens{}, Principal{}, err
		}
	}
	var t Tenant
	var u User
	found := false
	// Text PostgreSQL cannot store (NUL, broken UTF-8) names no account:
	// it goes the unknown-company way, through the same dummy hash.
	lookup := slugPattern.MatchString(slug) && utf8.ValidString(email) && !strings.ContainsRune(email, 0)
	if lookup {
		err := s.DB.slugTx(ctx, slug, func(tx pgx.Tx) error {
			var err error
			t, err = scanTenant(tx.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE slug = $1`, slug))
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
		if err != nil {
			return Tokens{}, Principal{}, fmt.Errorf("login: %w", err)
		}
	}
	var err error
	if t.ID != uuid.Nil && t.Status == "active" {
		err = s.DB.Tx(ctx, t.ID, func(tx pgx.Tx) error {
			var err error
			u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND email = $2`, t.ID, email))
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			found = err == nil
			return err
		})
		if err != nil {
			return Tokens{}, Principal{}, fmt.Errorf("login: %w", err)
		}
	}
	hash := s.dummyHash()
	if found && u.passwordHash != nil {
		hash = *u.passwordHash
	}
	if !checkPassword(in.Password, hash) || !found || u.passwordHash == nil || u.Status != StatusActive {
		return Tokens{}, Principal{}, errBadCredentials
	}
	var tok Tokens
	err = s.DB.Tx(ctx, t.ID, func(tx pgx.Tx) (err error) {
		if _, err = tx.Exec(ctx, `UPDATE users SET last_login_at = now() WHERE tenant_id = $1 AND id = $2`, t.ID, u.ID); err != nil {
			return err
		}
		tok, err = s.issueTokens(ctx, tx, u, uuid.Nil, m)
		if err != nil {
			return err
		}
		return Audit(ctx, tx, Actor{TenantID: t.ID, UserID: u.ID, Role: u.Role, IP: m.IP, RequestID: m.RequestID}, "session.login", "user", u.ID.String(), nil)
	})
	if err != nil {
		return Tokens{}, Principal{}, fmt.Errorf("login: %w", err)
	}
	return tok, principal(t, u), nil
}

func principal(t Tenant, u User) Principal {
	return Principal{
		Actor:        Actor{TenantID: t.ID, UserID: u.ID, Role: u.Role},
		Email:        u.Email,
		Name:         u.Name,
		DepartmentID: u.DepartmentID,
		TenantSlug:   t.Slug,
		TenantName:   t.Name,
	}
}

// Refresh rotates a refresh token: the old one is spent, a new one of the
// same family is returned. Presenting a spent token revokes the family,
// since only a thief or a replay would do that.
func (s *Service) Refresh(ctx context.Context, token string, m ClientMeta) (Tokens, Principal, error) {
	tenantID, id, secret, ok := parseOpaque(token, refreshPrefix)
	if !ok {
		return Tokens{}, Principal{}, errBadRefresh
	}
	var tok Tokens
	var p Principal
	reused := false
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var family, userID uuid.UUID
		var hash []byte
		var spent, expired bool
		err := tx.QueryRow(ctx, `SELECT family_id, user_id, token_hash, used_at IS NOT NULL OR revoked_at IS NOT NULL, expires_at <= now()
			FROM refresh_tokens WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, id).Scan(&family, &userID, &hash, &spent, &expired)
		if errors.Is(err, pgx.ErrNoRows) {
			return errBadRefresh
		}
		if err != nil {
			return err
		}
		if !secretMatches(secret, hash) || expired {
			return errBadRefresh
		}
		if spent {
			reused = true
			_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL`, tenantID, family)
			return err
		}
		u, err := getUser(ctx, tx, tenantID, userID, false)
		if err != nil || u.Status != StatusActive {
			return errBadRefresh
		}
		t, err := Get(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = now() WHERE tenant_id = $1 AND id = $2`, tenantID, id); err != nil {
			return err
		}
		tok, err = s.issueTokens(ctx, tx, u, family, m)
		p = principal(t, u)
		p.SessionID = family
		return err
	})
	if err != nil {
		if _, ok := cic.AsError(err); ok {
			return Tokens{}, Principal{}, err
		}
		return Tokens{}, Principal{}, fmt.Errorf("refresh: %w", err)
	}
	if reused {
		return Tokens{}, Principal{}, errBadRefresh
	}
	return tok, p, nil
}

// Logout ends the session the refresh token belongs to. Unknown or spent
// tokens are fine: logging out twice is not an error.
func (s *Service) Logout(ctx context.Context, token string) error {
	_, _, err := s.EndSession(ctx, token)
	return err
}

// EndSession is Logout that also says whose session ended (uuid.Nil
// twice when the token was unknown), so the caller can free what the
// session held, such as a seat.
func (s *Service) EndSession(ctx context.Context, token string) (tenantID, userID uuid.UUID, err error) {
	tenantID, id, secret, ok := parseOpaque(token, refreshPrefix)
	if !ok {
		return uuid.Nil, uuid.Nil, nil
	}
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var family, user uuid.UUID
		var hash []byte
		err := tx.QueryRow(ctx, `SELECT family_id, token_hash, user_id FROM refresh_tokens WHERE tenant_id = $1 AND id = $2`, tenantID, id).Scan(&family, &hash, &user)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !secretMatches(secret, hash)) {
			return nil
		}
		if err != nil {
			return err
		}
		userID = user
		_, err = tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL`, tenantID, family)
		return err
	})
	if err != nil {
		return uuid.Nil, uuid.Nil, fmt.Errorf("logout: %w", err)
	}
	if userID == uuid.Nil {
		return uuid.Nil, uuid.Nil, nil
	}
	return tenantID, userID, nil
}

func revokeUserTokens(ctx context.Context, q Querier, tenantID, userID uuid.UUID) error {
	_, err := q.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`, tenantID, userID)
	if err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	return nil
}

// bumpSessionVersion ends every access token of the user at once; their
// refresh tokens decide whether a new one can be had.
func bumpSessionVersion(ctx context.Context, q Querier, tenantID, userID uuid.UUID) error {
	if _, err := q.Exec(ctx, `UPDATE users SET session_version = session_version + 1 WHERE tenant_id = $1 AND id = $2`, tenantID, userID); err != nil {
		return fmt.Errorf("end access tokens: %w", err)
	}
	return nil
}

// Authenticate verifies an access token and loads its user, so that a
// logout, deactivation, role or password change takes effect at once
// rather than when the token expires: the token's session (refresh-token
// family) must still be live and its session version the user's. Both
// are read in the transaction that loads the user anyway, from
// PostgreSQL, so every replica sees a revocation on the next request.
// A token whose user is not in its tenant is refused.
func (s *Service) Authenticate(ctx context.Context, accessToken string) (Principal, error) {
	c, err := s.Keys.Verify(accessToken, s.now())
	if err != nil {
		return Principal{}, err
	}
	tenantID, terr := uuid.Parse(c.Tenant)
	userID, uerr := uuid.Parse(c.Subject)
	sessionID, serr := uuid.Parse(c.Session)
	if terr != nil || uerr != nil || serr != nil || tenantID == uuid.Nil || sessionID == uuid.Nil {
		return Principal{}, errBadToken
	}
	var p Principal
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		t, err := Get(ctx, tx, tenantID)
		if err != nil {
			return errBadToken
		}
		u, err := getUser(ctx, tx, tenantID, userID, false)
		if err != nil || u.Status != StatusActive || t.Status != "active" || u.sessionVersion != c.Version {
			return errBadToken
		}
		var live bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM refresh_tokens
			WHERE tenant_id = $1 AND family_id = $2 AND user_id = $3 AND revoked_at IS NULL)`, tenantID, sessionID, userID).Scan(&live); err != nil {
			return err
		}
		if !live {
			return errBadToken
		}
		p = principal(t, u)
		p.SessionID = sessionID
		return nil
	})
	if err != nil {
		if _, ok := cic.AsError(err); ok {
			return Principal{}, err
		}
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	return p, nil
}

// PurgeExpiredSessions deletes refresh tokens that expired or were
// revoked more than a day ago; the worker runs it for every tenant.
func (s *Service) PurgeExpiredSessions(ctx context.Context, tenantID uuid.UUID) (int64, error) {
	var n int64
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE tenant_id = $1
			AND (expires_at < now() - interval '1 day' OR revoked_at < now() - interval '1 day')`, tenantID)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	return n, nil
}
