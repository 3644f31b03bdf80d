package chat

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/routing/contacts"
)

// CallbackInstead turns the visitor's waiting chat into a callback to
// the number to (E.164), at the chat's place in its queue (which must
// take calls): the chat contact is closed unhandled and not metered
// (contacts.Service.CallbackInstead), and the visitor's session ends.
func (s *Service) CallbackInstead(ctx context.Context, v Visitor, to, name string) (contacts.CallbackContact, error) {
	cb, err := s.Contacts.CallbackInstead(ctx, v.TenantID, v.ContactID, to, name, nil)
	if err != nil {
		return cb, err
	}
	err = s.DB.Tx(ctx, v.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE chat_sessions SET ended_at = now(), ended_by = 'visitor'
			WHERE tenant_id = $1 AND contact_id = $2 AND ended_at IS NULL`, v.TenantID, v.ContactID)
		return err
	})
	if err != nil {
		return cb, fmt.Errorf("end chat session for a callback: %w", err)
	}
	return cb, nil
}
