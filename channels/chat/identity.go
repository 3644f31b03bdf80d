package chat

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Chat identity: a page that knows its visitor (a logged-in shop
// customer) may say who they are with data-email, but a visitor can put
// any address there. The address links the chat to that customer (and
// shows the agent their history) only when the page also sends
// data-email-hash = hex(HMAC-SHA256(identity secret, e-mail)), which the
// company's server computes with the widget's identity secret. The
// secret is shown once (on creation and on rotation) and never stored:
// it is HMAC(IdentityKey, widget id || salt), the salt random per widget,
// so rotating is a new salt and every hash made with the old secret stops
// counting. An address without a valid hash is kept on the chat session
// as unverified and links to no one.

// IdentityPurpose names the server key's derivation for chat identity
// (tenant.Keys.Derive(IdentityPurpose) is Service.IdentityKey).
const IdentityPurpose = "chat-identity"

// EmailHash is what a company's server puts in data-email-hash for an
// address: hex HMAC-SHA256 keyed with the identity secret (as text) over
// the address exactly as in data-email.
func EmailHash(secret, email string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(email))
	return hex.EncodeToString(m.Sum(nil))
}

// identitySecret derives a widget's identity secret from its salt; ""
// when the service has no key (then no address is ever verified).
func (s *Service) identitySecret(widgetID uuid.UUID, salt []byte) string {
	if len(s.IdentityKey) == 0 || len(salt) == 0 {
		return ""
	}
	m := hmac.New(sha256.New, s.IdentityKey)
	m.Write(widgetID[:])
	m.Write(salt)
	return "cis1_" + hex.EncodeToString(m.Sum(nil))
}

func newSalt() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// verifiedEmail says whether hash signs email with the widget's current
// identity secret (constant time).
func (s *Service) verifiedEmail(ctx context.Context, tx pgx.Tx, tenantID, widgetID uuid.UUID, email, hash string) (bool, error) {
	if email == "" || hash == "" {
		return false, nil
	}
	got, err := hex.DecodeString(strings.TrimSpace(hash))
	if err != nil || len(got) != sha256.Size {
		return false, nil
	}
	var salt []byte
	if err := tx.QueryRow(ctx, `SELECT identity_salt FROM chat_widgets WHERE tenant_id = $1 AND id = $2`, tenantID, widgetID).Scan(&salt); err != nil {
		return false, fmt.Errorf("widget identity: %w", err)
	}
	secret := s.identitySecret(widgetID, salt)
	if secret == "" {
		return false, nil
	}
	want, _ := hex.DecodeString(EmailHash(secret, email))
	return hmac.Equal(got, want), nil
}

var errNoIdentityKey = cic.Codef(cic.EUNAVAILABLE, "identity_unavailable", "Chat identity secrets are not available on this server.")

// RotateIdentitySecret gives a widget a new identity secret, returned
// once in the widget's IdentitySecret: hashes made with the old one no
// longer link chats to customers. Owners and admins; audited.
func (s *Service) RotateIdentitySecret(ctx context.Context, a tenant.Actor, id uuid.UUID) (Widget, error) {
	if !a.Role.Manages() {
		return Widget{}, errManagersOnly
	}
	if len(s.IdentityKey) == 0 {
		return Widget{}, errNoIdentityKey
	}
	salt := newSalt()
	var w Widget
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		w, err = scanWidget(tx.QueryRow(ctx, `UPDATE chat_widgets SET identity_salt = $3, identity_rotated_at = now()
			WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL RETURNING `+widgetColumns, a.TenantID, id, salt))
		if errors.Is(err, pgx.ErrNoRows) {
			return errWidgetNotFound
		}
		if err != nil {
			return fmt.Errorf("rotate identity secret: %w", err)
		}
		return tenant.Audit(ctx, tx, a, "chat_widget.identity_rotate", "chat_widget", id.String(), nil)
	})
	if err != nil {
		return Widget{}, err
	}
	w.IdentitySecret = s.identitySecret(w.ID, salt)
	return w, nil
}
