package email

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// hold keeps a mail whose queue is closed (email_held) and answers the
// sender with the queue's closed message, once; Release delivers it when
// the queue opens.
func (s *Service) hold(ctx context.Context, r Recipient, m *Mail, raw []byte, envelopeFrom, closedMsg string, reply bool) (Result, error) {
	var fresh bool
	err := s.DB.Tx(ctx, r.TenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO email_held (tenant_id, message_id, rcpt, mail_from, raw) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT DO NOTHING`, r.TenantID, m.MessageID, r.Address.Address, truncate(envelopeFrom, 320), raw)
		fresh = err == nil && tag.RowsAffected() == 1
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("hold mail: %w", err)
	}
	if fresh && reply {
		s.autoReply(r.TenantID, uuid.Nil, r.Address.Address, m, envelopeFrom, closedMsg)
	}
	return Result{Outcome: Held}, nil
}

// Release delivers the tenant's held mail whose queue is open now; it
// returns how many became contacts. Mail whose queue is still closed
// stays held.
func (s *Service) Release(ctx context.Context, tenantID uuid.UUID) (int, error) {
	type held struct {
		id, rcpt, from string
		raw            []byte
	}
	var list []held
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT message_id, rcpt, mail_from, raw FROM email_held WHERE tenant_id = $1
			ORDER BY received_at LIMIT 100`, tenantID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var h held
			if err := rows.Scan(&h.id, &h.rcpt, &h.from, &h.raw); err != nil {
				return err
			}
			list = append(list, h)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("held mail: %w", err)
	}
	n := 0
	for _, h := range list {
		res, err := s.releaseOne(ctx, tenantID, h.rcpt, h.from, h.raw)
		if err != nil {
			s.log().WarnContext(ctx, "email: held mail not delivered yet", "tenant", tenantID, "message_id", h.id, "err", err)
			_ = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE email_held SET attempts = attempts + 1, last_error = left($4, 1000)
					WHERE tenant_id = $1 AND message_id = $2 AND rcpt = $3`, tenantID, h.id, h.rcpt, err.Error())
				return err
			})
			continue
		}
		if res.Outcome == Held {
			continue
		}
		if err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM email_held WHERE tenant_id = $1 AND message_id = $2 AND rcpt = $3`, tenantID, h.id, h.rcpt)
			return err
		}); err != nil {
			return n, fmt.Errorf("release held mail: %w", err)
		}
		n++
	}
	return n, nil
}

func (s *Service) releaseOne(ctx context.Context, tenantID uuid.UUID, rcpt, from string, raw []byte) (Result, error) {
	m, err := Parse(raw)
	if err != nil {
		return Result{}, err
	}
	a, err := s.Directory.AddressOf(ctx, tenantID, Channel, rcpt)
	if err != nil {
		return Result{}, fmt.Errorf("mailbox %s: %w", rcpt, err)
	}
	r, err := s.routed(tenantID, a)
	if err != nil {
		return Result{}, fmt.Errorf("mailbox %s: %w", rcpt, err)
	}
	// The sender was answered when the mail was held: no second reply.
	return s.deliver(ctx, r, m, raw, from, false)
}

// ReleaseSweep is Release as the routing ticker's per-tenant sweep
// (contacts.Ticker.Sweeps): every replica may run it, as a mail is
// delivered once (its contact id and Message-ID make a second delivery a
// no-op).
func (s *Service) ReleaseSweep(ctx context.Context, tenantID uuid.UUID) error {
	n, err := s.Release(ctx, tenantID)
	if n > 0 {
		s.log().InfoContext(ctx, "email: held mail delivered", "tenant", tenantID, "count", n)
	}
	return err
}
