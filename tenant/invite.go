package tenant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
)

// Invitation tokens read "iv1.<tenant>.<id>.<secret>", like refresh tokens.
const invitePrefix = "iv1"

var errBadInvite = cic.Codef(cic.ENOTFOUND, "invalid_invitation", "This invitation link is invalid, expired or already used; ask your admin for a new one.")

// InviteUser creates a user who sets their own password by following the
// returned link token. Inviting again an invited user replaces the link.
func (s *Service) InviteUser(ctx context.Context, a Actor, in NewUser) (User, string, error) {
	if err := mayGrant(a, in.Role); err != nil {
		return User{}, "", err
	}
	if err := in.validate(false); err != nil {
		return User{}, "", err
	}
	var u User
	var token string
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		existing, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND email = $2 FOR UPDATE`, a.TenantID, in.Email))
		switch {
		case err == nil && existing.Status == StatusInvited:
			u = existing
			if _, err := tx.Exec(ctx, `UPDATE invitations SET expires_at = now() WHERE tenant_id = $1 AND user_id = $2 AND accepted_at IS NULL`, a.TenantID, u.ID); err != nil {
				return err
			}
		case err == nil:
			return cic.Codef(cic.ECONFLICT, "email_taken", "A user with e-mail %s already exists.", in.Email)
		case errors.Is(err, pgx.ErrNoRows):
			if u, err = insertUser(ctx, tx, a.TenantID, in, nil, StatusInvited); err != nil {
				return err
			}
		default:
			return err
		}
		secret, hash := newSecret()
		id := uuid.New()
		var creator *uuid.UUID
		if a.UserID != uuid.Nil {
			creator = &a.UserID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO invitations (tenant_id, id, user_id, token_hash, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			a.TenantID, id, u.ID, hash, creator, s.now().Add(s.InviteTTL)); err != nil {
			return fmt.Errorf("insert invitation: %w", err)
		}
		token = strings.Join([]string{invitePrefix, a.TenantID.String(), id.String(), secret}, ".")
		return Audit(ctx, tx, a, "user.invite", "user", u.ID.String(), map[string]any{"email": u.Email, "role": u.Role})
	})
	if err != nil {
		return User{}, "", err
	}
	return u, token, nil
}

// Invitation is what the accept page shows before the password is set.
type Invitation struct {
	TenantName string
	TenantSlug string
	Email      string
	Name       string
	ExpiresAt  time.Time
}

func (s *Service) loadInvite(ctx context.Context, tx pgx.Tx, token string, lock bool) (Invitation, uuid.UUID, uuid.UUID, error) {
	tenantID, id, secret, ok := parseOpaque(token, invitePrefix)
	if !ok {
		return Invitation{}, uuid.Nil, uuid.Nil, errBadInvite
	}
	var inv Invitation
	var hash []byte
	var userID uuid.UUID
	q := `SELECT t.name, t.slug, u.email, u.name, i.expires_at, i.token_hash, i.user_id
		FROM invitations i JOIN users u ON u.tenant_id = i.tenant_id AND u.id = i.user_id
		JOIN tenants t ON t.tenant_id = i.tenant_id
		WHERE i.tenant_id = $1 AND i.id = $2 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now() AND u.status = 'invited'`
	if lock {
		q += ` FOR UPDATE OF i, u`
	}
	err := tx.QueryRow(ctx, q, tenantID, id).Scan(&inv.TenantName, &inv.TenantSlug, &inv.Email, &inv.Name, &inv.ExpiresAt, &hash, &userID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !secretMatches(secret, hash)) {
		return Invitation{}, uuid.Nil, uuid.Nil, errBadInvite
	}
	if err != nil {
		return Invitation{}, uuid.Nil, uuid.Nil, fmt.Errorf("load invitation: %w", err)
	}
	return inv, id, userID, nil
}

// GetInvitation returns a still-valid invitation by its token.
func (s *Service) GetInvitation(ctx context.Context, token string) (Invitation, error) {
	tenantID, _, _, ok := parseOpaque(token, invitePrefix)
	if !ok {
		return Invitation{}, errBadInvite
	}
	var inv Invitation
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) (err error) {
		inv, _, _, err = s.loadInvite(ctx, tx, token, false)
		return err
	})
	return inv, err
}

// AcceptInvitation sets the invited user's password, activates them and
// opens their first session. The link works once.
func (s *Service) AcceptInvitation(ctx context.Context, token, password string, m ClientMeta) (Tokens, Principal, error) {
	tenantID, _, _, ok := parseOpaque(token, invitePrefix)
	if !ok {
		return Tokens{}, Principal{}, errBadInvite
	}
	var tok Tokens
	var p Principal
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		inv, id, userID, err := s.loadInvite(ctx, tx, token, true)
		if err != nil {
			return err
		}
		if err := ValidatePassword(password, inv.Email); err != nil {
			return err
		}
		hash, err := hashPassword(s.Password, password)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET accepted_at = now() WHERE tenant_id = $1 AND id = $2`, tenantID, id); err != nil {
			return err
		}
		u, err := scanUser(tx.QueryRow(ctx, `UPDATE users SET password_hash = $3, status = 'active', updated_at = now(), last_login_at = now()
			WHERE tenant_id = $1 AND id = $2 RETURNING `+userColumns, tenantID, userID, hash))
		if err != nil {
			return fmt.Errorf("activate user: %w", err)
		}
		t, err := Get(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		if tok, err = s.issueTokens(ctx, tx, u, uuid.Nil, m); err != nil {
			return err
		}
		p = principal(t, u)
		return Audit(ctx, tx, Actor{TenantID: tenantID, UserID: u.ID, Role: u.Role, IP: m.IP, RequestID: m.RequestID}, "user.accept_invitation", "user", u.ID.String(), nil)
	})
	return tok, p, err
}

// revokeInvitations makes every open invitation link of the user
// unusable, saying how many there were.
func revokeInvitations(ctx context.Context, q Querier, tenantID, userID uuid.UUID) (int64, error) {
	tag, err := q.Exec(ctx, `UPDATE invitations SET revoked_at = now()
		WHERE tenant_id = $1 AND user_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()`, tenantID, userID)
	if err != nil {
		return 0, fmt.Errorf("revoke invitations: %w", err)
	}
	return tag.RowsAffected(), nil
}

// RevokeInvitation ends the open invitation of an invited user, so its
// link no longer works; the user stays invited and can be invited again.
// A user who is not invited, or another tenant's, is not found.
func (s *Service) RevokeInvitation(ctx context.Context, a Actor, userID uuid.UUID) error {
	if err := requireManager(a); err != nil {
		return err
	}
	return s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		u, err := getUser(ctx, tx, a.TenantID, userID, true)
		if err != nil {
			return err
		}
		if u.Role == cic.RoleOwner {
			if err := mayGrant(a, cic.RoleOwner); err != nil {
				return err
			}
		}
		if u.Status != StatusInvited {
			return cic.Codef(cic.ECONFLICT, "not_invited", "This user has no open invitation.")
		}
		n, err := revokeInvitations(ctx, tx, a.TenantID, userID)
		if err != nil {
			return err
		}
		if n == 0 {
			return cic.Codef(cic.ECONFLICT, "not_invited", "This user has no open invitation.")
		}
		return Audit(ctx, tx, a, "user.invitation_revoke", "user", userID.String(), map[string]any{"email": u.Email})
	})
}
