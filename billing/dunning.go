package billing

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// Dunning: a subscription whose renewal failed (invoice.payment_failed,
// or Stripe's own past_due/unpaid) keeps its seats for DunningGrace from
// the first failure, then loses them until Stripe says it is paid again
// (invoice.paid or status active). Its owners, admins and finance users
// see a banner on every page and get one e-mail per episode; entering,
// leaving and the end of the seats are audited.

// DunningNotice is what the banner says: the tenant's subscription whose
// payment failed.
type DunningNotice struct {
	SubscriptionID string    `json:"subscription_id"`
	Status         string    `json:"status"`
	Since          time.Time `json:"since"`
	// SeatsUntil is when the seats end; nil: they have ended.
	SeatsUntil *time.Time `json:"seats_until,omitempty"`
	// PayURL is Stripe's hosted page of the failed invoice, if known.
	PayURL string `json:"pay_url,omitempty"`
}

// dunningRecipients are the roles told of a failed payment.
var dunningRecipients = []string{"owner", "admin", "finance"}

// Dunning returns the tenant's subscription in dunning, or nil, for those
// who see billing (nil for everyone else).
func (s *Service) Dunning(ctx context.Context, a tenant.Actor) (*DunningNotice, error) {
	if !CanView(a.Role) {
		return nil, nil
	}
	var n *DunningNotice
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) (err error) {
		n, err = dunningOf(ctx, tx, a.TenantID, s.now())
		return err
	})
	return n, err
}

func dunningOf(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, now time.Time) (*DunningNotice, error) {
	sub, err := scanSubscription(tx.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE tenant_id = $1 AND past_due_since IS NOT NULL AND status IN ('past_due', 'unpaid') ORDER BY updated_at DESC LIMIT 1`, tenantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dunning: %w", err)
	}
	n := &DunningNotice{SubscriptionID: sub.ID, Status: sub.Status, Since: *sub.PastDueSince}
	if until := sub.seatsUntil(now); !until.IsZero() {
		n.SeatsUntil = &until
	}
	var link string
	err = tx.QueryRow(ctx, `SELECT hosted_url FROM invoices WHERE tenant_id = $1 AND subscription_id = $2 AND status = 'payment_failed'
		ORDER BY created_at DESC LIMIT 1`, tenantID, sub.ID).Scan(&link)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("dunning invoice: %w", err)
	}
	n.PayURL = StripeLink(link)
	return n, nil
}

// NotifyDunning e-mails the tenant's owners, admins and finance users
// once per dunning episode, and audits once when the grace has run out
// and the seats have ended. A failed send leaves the episode unmailed, so
// the next run sends again; concurrent runs (replicas) do not both send
// (a per-tenant advisory lock, the SMTP conversation inside the
// transaction, as metering.NotifyWarnings). It returns how many e-mails
// it sent.
func (s *Service) NotifyDunning(ctx context.Context, tenantID uuid.UUID, m metering.Mailer, link string) (int, error) {
	sent := 0
	now := s.now()
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		sent = 0
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7319))`, "billing-dunning:"+tenantID.String()).Scan(&got); err != nil {
			return fmt.Errorf("dunning lock: %w", err)
		}
		if !got {
			return nil
		}
		n, err := dunningOf(ctx, tx, tenantID, now)
		if err != nil || n == nil {
			return err
		}
		var mailed, ended *time.Time
		if err := tx.QueryRow(ctx, `SELECT dunning_mailed_at, dunning_seats_ended_at FROM subscriptions WHERE tenant_id = $1 AND id = $2`,
			tenantID, n.SubscriptionID).Scan(&mailed, &ended); err != nil {
			return fmt.Errorf("dunning state: %w", err)
		}
		actor := systemActor(tenantID, "billing:dunning")
		if n.SeatsUntil == nil && ended == nil {
			if _, err := tx.Exec(ctx, `UPDATE subscriptions SET dunning_seats_ended_at = $3 WHERE tenant_id = $1 AND id = $2`,
				tenantID, n.SubscriptionID, now); err != nil {
				return fmt.Errorf("dunning seats ended: %w", err)
			}
			if err := tenant.Audit(ctx, tx, actor, "billing.dunning_seats_ended", "subscription", n.SubscriptionID,
				map[string]any{"status": n.Status, "past_due_since": n.Since, "grace": DunningGrace.String()}); err != nil {
				return err
			}
		}
		if mailed != nil {
			return nil
		}
		var company string
		if err := tx.QueryRow(ctx, `SELECT name FROM tenants WHERE tenant_id = $1`, tenantID).Scan(&company); err != nil {
			return fmt.Errorf("tenant name: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT name, email FROM users
			WHERE tenant_id = $1 AND status = 'active' AND role = ANY($2) ORDER BY email`, tenantID, dunningRecipients)
		if err != nil {
			return fmt.Errorf("recipients: %w", err)
		}
		to, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (mail.Address, error) {
			var a mail.Address
			err := r.Scan(&a.Name, &a.Address)
			return a, err
		})
		if err != nil {
			return fmt.Errorf("recipients: %w", err)
		}
		if len(to) == 0 {
			s.logger().WarnContext(ctx, "payment failed: no active owner, admin or finance user to e-mail", "tenant_id", tenantID)
		} else {
			if err := m.Send(ctx, dunningMessage(company, *n, to, link)); err != nil {
				return fmt.Errorf("send dunning e-mail: %w", err)
			}
			sent++
		}
		if _, err := tx.Exec(ctx, `UPDATE subscriptions SET dunning_mailed_at = $3 WHERE tenant_id = $1 AND id = $2`,
			tenantID, n.SubscriptionID, now); err != nil {
			return fmt.Errorf("dunning mailed: %w", err)
		}
		return tenant.Audit(ctx, tx, actor, "billing.dunning_mailed", "subscription", n.SubscriptionID,
			map[string]any{"recipients": len(to), "status": n.Status})
	})
	return sent, err
}

// dunningMessage is the e-mail of a failed payment, in German and English.
func dunningMessage(company string, n DunningNotice, to []mail.Address, link string) metering.Message {
	var b strings.Builder
	until := ""
	if n.SeatsUntil != nil {
		until = n.SeatsUntil.UTC().Format("2006-01-02 15:04 UTC")
	}
	b.WriteString("Guten Tag,\n\n")
	fmt.Fprintf(&b, "die Zahlung für das Sitzplatz-Abonnement von %s ist fehlgeschlagen.\n", company)
	if until != "" {
		fmt.Fprintf(&b, "Die Sitzplätze bleiben bis %s erhalten; danach stehen sie erst wieder zur Verfügung, wenn die Rechnung bezahlt ist.\n", until)
	} else {
		b.WriteString("Die Sitzplätze sind gesperrt, bis die Rechnung bezahlt ist.\n")
	}
	if n.PayURL != "" {
		fmt.Fprintf(&b, "Rechnung bezahlen: %s\n", n.PayURL)
	}
	b.WriteString("Zahlungsmittel ändern: unter Abrechnung anmelden")
	if link != "" {
		b.WriteString(" (" + link + "/billing)")
	}
	b.WriteString(".\n\n---\n\nHello,\n\n")
	fmt.Fprintf(&b, "the payment for %s's seat subscription failed.\n", company)
	if until != "" {
		fmt.Fprintf(&b, "Its seats are kept until %s; after that they are available again only once the invoice is paid.\n", until)
	} else {
		b.WriteString("Its seats are suspended until the invoice is paid.\n")
	}
	if n.PayURL != "" {
		fmt.Fprintf(&b, "Pay the invoice: %s\n", n.PayURL)
	}
	b.WriteString("To change the payment method, sign in and open Billing")
	if link != "" {
		b.WriteString(" (" + link + "/billing)")
	}
	b.WriteString(".\n\n")
	fmt.Fprintf(&b, "Sie erhalten diese E-Mail als Inhaber, Administrator oder Buchhaltung von %s. / You get this e-mail as an owner, administrator or finance user of %s.\n", company, company)
	return metering.Message{To: to, Subject: fmt.Sprintf("%s: Zahlung fehlgeschlagen / payment failed", company), Body: b.String()}
}
