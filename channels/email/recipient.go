package email

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/directory"
)

// Recipient is a mailbox mail was accepted for.
type Recipient struct {
	TenantID uuid.UUID
	Address  directory.Address
}

// errUnknownRecipient: no tenant receives on the address.
var errUnknownRecipient = errors.New("unknown recipient")

// Resolve finds the tenant and mailbox of a RCPT TO address. A mailbox
// under the inbound domain belongs to the tenant its sub-domain names,
// whatever any other tenant registered: the slug decides, so no tenant
// can take another's mail. Any other address (a forwarded mailbox,
// support@acme.com) is looked up platform-wide.
func (s *Service) Resolve(ctx context.Context, rcpt string) (Recipient, error) {
	addr := strings.ToLower(strings.TrimSpace(rcpt))
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return Recipient{}, errUnknownRecipient
	}
	domain := addr[at+1:]
	if slug, ok := strings.CutSuffix(domain, "."+s.Domain); ok && s.Domain != "" {
		if slug == "" || strings.Contains(slug, ".") {
			return Recipient{}, errUnknownRecipient
		}
		tenantID, err := s.tenantBySlug(ctx, slug)
		if err != nil {
			return Recipient{}, err
		}
		a, err := s.Directory.AddressOf(ctx, tenantID, Channel, addr)
		if err != nil {
			return Recipient{}, notFound(err)
		}
		return s.routed(tenantID, a)
	}
	if domain == s.Domain {
		return Recipient{}, errUnknownRecipient
	}
	tenantID, a, err := s.Directory.Lookup(ctx, Channel, addr)
	if err != nil {
		return Recipient{}, notFound(err)
	}
	return s.routed(tenantID, a)
}

func (s *Service) routed(tenantID uuid.UUID, a directory.Address) (Recipient, error) {
	if a.QueueID == nil {
		// Its queue was deleted: nobody would read the mail.
		return Recipient{}, errUnknownRecipient
	}
	return Recipient{TenantID: tenantID, Address: a}, nil
}

// notFound turns the directory's not-found (and a malformed address)
// into errUnknownRecipient; other errors are the database's.
func notFound(err error) error {
	if k := cic.ErrorKind(err); k == cic.ENOTFOUND || k == cic.EINVALID {
		return errUnknownRecipient
	}
	return err
}

// tenantBySlug reads the one tenant row the slug names (RLS policy
// tenant_by_slug); only an active tenant receives mail.
func (s *Service) tenantBySlug(ctx context.Context, slug string) (uuid.UUID, error) {
	var id uuid.UUID
	err := s.DB.SlugTx(ctx, slug, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT tenant_id FROM tenants WHERE slug = $1 AND status = 'active'`, slug).Scan(&id)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, errUnknownRecipient
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("tenant of %s: %w", slug, err)
	}
	return id, nil
}
