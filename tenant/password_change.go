package tenant

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
)

// PasswordChange is a logged-in user changing their own password.
type PasswordChange struct {
	Current string `json:"current_password"`
	New     string `json:"new_password"`
}

var errWrongCurrentPassword = cic.Codef(cic.EINVALID, "wrong_password", "The current password is not right.")

// ChangePassword checks the current password, applies the password
// policy to the new one, ends every session and access token of the user
// and opens a new session for the caller, whose tokens it returns.
func (s *Service) ChangePassword(ctx context.Context, a Actor, in PasswordChange, m ClientMeta) (Tokens, error) {
	if a.UserID == uuid.Nil {
		return Tokens{}, cic.Codef(cic.EFORBIDDEN, "forbidden", "Only a user may change their password.")
	}
	if in.Current == "" || len(in.Current) > 128 {
		return Tokens{}, errWrongCurrentPassword
	}
	var u User
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) (err error) {
		u, err = getUser(ctx, tx, a.TenantID, a.UserID, false)
		return err
	})
	if err != nil {
		return Tokens{}, err
	}
	if err := ValidatePassword(in.New, u.Email); err != nil {
		return Tokens{}, err
	}
	if s.Limiter != nil {
		if err := s.Limiter.allow(ctx, "password:user:"+a.UserID.String(), s.Limiter.Limits.LoginPerAccount); err != nil {
			return Tokens{}, err
		}
	}
	hash := s.dummyHash()
	if u.passwordHash != nil {
		hash = *u.passwordHash
	}
	if !checkPassword(in.Current, hash) || u.passwordHash == nil {
		return Tokens{}, errWrongCurrentPassword
	}
	newHash, err := hashPassword(s.Password, in.New)
	if err != nil {
		return Tokens{}, err
	}
	var tok Tokens
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		// The row is read again under lock: a concurrent change or
		// deactivation wins, and this one starts over.
		cur, err := getUser(ctx, tx, a.TenantID, a.UserID, true)
		if err != nil {
			return err
		}
		if cur.Status != StatusActive || cur.passwordHash == nil || *cur.passwordHash != *u.passwordHash {
			return cic.Codef(cic.ECONFLICT, "password_changed", "Your account changed meanwhile; log in again.")
		}
		cur, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET password_hash = $3, session_version = session_version + 1, updated_at = now()
			WHERE tenant_id = $1 AND id = $2 RETURNING `+userColumns, a.TenantID, a.UserID, newHash))
		if err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		if err := revokeUserTokens(ctx, tx, a.TenantID, a.UserID); err != nil {
			return err
		}
		if tok, err = s.issueTokens(ctx, tx, cur, uuid.Nil, m); err != nil {
			return err
		}
		return Audit(ctx, tx, a, "user.password_change", "user", a.UserID.String(), nil)
	})
	if err != nil {
		return Tokens{}, err
	}
	return tok, nil
}
