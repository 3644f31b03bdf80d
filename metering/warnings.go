package metering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/tenant"
)

// Warning is a low-balance warning: the contacts left fell to Percent %
// or less of the contacts in the tenant's valid bundles. It is given once
// per threshold per cycle; Cycle is the total of contacts of every bundle
// that has started so far (expired ones included), so each new bundle
// starts a new cycle and an expiry does not.
type Warning struct {
	Percent   int       `json:"percent"`
	Remaining int64     `json:"remaining"`
	Cycle     int64     `json:"cycle"`
	CreatedAt time.Time `json:"created_at"`
}

// balanceAt is what the warnings are computed from.
type balanceAt struct {
	cycle     int64 // contacts of every bundle started by now
	contacts  int64 // contacts of the bundles valid now
	remaining int64 // contacts left in the bundles valid now
}

func loadBalanceAt(ctx context.Context, q tenant.Querier, tenantID uuid.UUID, now time.Time) (balanceAt, error) {
	var b balanceAt
	err := q.QueryRow(ctx, `SELECT
			coalesce(sum(contacts) FILTER (WHERE valid_from <= $2), 0),
			coalesce(sum(contacts) FILTER (WHERE valid_from <= $2 AND valid_until > $2), 0),
			coalesce(sum(remaining) FILTER (WHERE valid_from <= $2 AND valid_until > $2), 0)
		FROM bundles WHERE tenant_id = $1`, tenantID, now).Scan(&b.cycle, &b.contacts, &b.remaining)
	if err != nil {
		return b, fmt.Errorf("balance: %w", err)
	}
	return b, nil
}

// crossed returns the thresholds (percents, descending, each once) that
// remaining has reached: remaining <= p % of contacts, compared exactly
// (remaining*100 <= p*contacts), so the 0 % threshold means nothing left,
// not "under 1 %". With no valid bundle at all, every threshold is
// reached.
func crossed(percents []int, remaining, contacts int64) []int {
	var out []int
	for _, p := range percents {
		if p < 0 || p > 100 || slices.Contains(out, p) {
			continue
		}
		if remaining*100 <= int64(p)*contacts {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b int) int { return b - a })
	return out
}

// CheckLowBalance records a warning for each of the tenant's warning
// thresholds (settings.WarnPercents) that the balance has reached and
// that has no warning yet in the current cycle, and returns the new ones
// (highest percent first). It is idempotent: running it again, or on two
// replicas at once, records each warning once (the table's primary key).
// It reads the balance without the metering lock: it writes nothing the
// draw-down reads, and a warning a moment late is harmless.
func CheckLowBalance(ctx context.Context, db *tenant.DB, tenantID uuid.UUID, now time.Time) ([]Warning, error) {
	var out []Warning
	err := db.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		out = nil
		st, err := loadSettings(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		bal, err := loadBalanceAt(ctx, tx, tenantID, now)
		if err != nil {
			return err
		}
		for _, p := range crossed(st.WarnPercents, bal.remaining, bal.contacts) {
			w := Warning{Percent: p, Remaining: bal.remaining, Cycle: bal.cycle}
			err := tx.QueryRow(ctx, `INSERT INTO balance_warnings (tenant_id, cycle, percent, remaining)
				VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, cycle, percent) DO NOTHING RETURNING created_at`,
				tenantID, w.Cycle, w.Percent, w.Remaining).Scan(&w.CreatedAt)
			if err == pgx.ErrNoRows {
				continue // given before
			}
			if err != nil {
				return fmt.Errorf("record warning: %w", err)
			}
			out = append(out, w)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check low balance: %w", err)
	}
	return out, nil
}

// maxUnread bounds UnreadWarnings.
const maxUnread = 50

// UnreadWarnings lists the warnings nobody has marked read, newest first
// (and, among warnings given at once, the most severe first).
func UnreadWarnings(ctx context.Context, db *tenant.DB, tenantID uuid.UUID) ([]Warning, error) {
	out := []Warning{}
	err := db.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT percent, remaining, cycle, created_at FROM balance_warnings
			WHERE tenant_id = $1 AND read_at IS NULL ORDER BY created_at DESC, percent LIMIT $2`, tenantID, maxUnread)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Warning, error) {
			var w Warning
			err := r.Scan(&w.Percent, &w.Remaining, &w.Cycle, &w.CreatedAt)
			return w, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("unread warnings: %w", err)
	}
	return out, nil
}

// MarkWarningsRead marks every unread warning of the tenant read.
func MarkWarningsRead(ctx context.Context, db *tenant.DB, tenantID uuid.UUID) error {
	err := db.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE balance_warnings SET read_at = now() WHERE tenant_id = $1 AND read_at IS NULL`, tenantID)
		return err
	})
	if err != nil {
		return fmt.Errorf("mark warnings read: %w", err)
	}
	return nil
}

// errSend wraps a Mailer's failure in NotifyWarnings.
var errSend = errors.New("send")

// warningRecipients are the roles that get low-balance e-mail.
var warningRecipients = []string{"owner", "admin", "finance"}

// NotifyWarnings e-mails the tenant's warnings of the current cycle that
// were not e-mailed yet, in one message to its active owners, admins and
// finance users, then records emailed_at, so a retry after a failed send
// sends again and a retry after a successful one does not. link, when
// not empty, is put in the message (the product's URL). It returns how
// many warnings the message covered.
//
// Two notifiers of the same tenant (replicas, retries) do not both send:
// each takes a per-tenant advisory lock, and the one that does not get it
// leaves the work to the one that did. The SMTP conversation happens
// inside that transaction, so only warnings still unmailed after the
// other's commit are ever seen.
func NotifyWarnings(ctx context.Context, db *tenant.DB, m Mailer, tenantID uuid.UUID, now time.Time, link string) (int, error) {
	var n int
	err := db.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		n = 0
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7319))`, "metering-mail:"+tenantID.String()).Scan(&got); err != nil {
			return fmt.Errorf("mail lock: %w", err)
		}
		if !got {
			return nil
		}
		bal, err := loadBalanceAt(ctx, tx, tenantID, now)
		if err != nil {
			return err
		}
		// Warnings of an earlier cycle are moot: the tenant has bought
		// since. They stay unmailed (the dashboard still lists them).
		rows, err := tx.Query(ctx, `SELECT percent, remaining, cycle, created_at FROM balance_warnings
			WHERE tenant_id = $1 AND cycle = $2 AND emailed_at IS NULL ORDER BY percent DESC`, tenantID, bal.cycle)
		if err != nil {
			return fmt.Errorf("unmailed warnings: %w", err)
		}
		ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Warning, error) {
			var w Warning
			err := r.Scan(&w.Percent, &w.Remaining, &w.Cycle, &w.CreatedAt)
			return w, err
		})
		if err != nil {
			return fmt.Errorf("unmailed warnings: %w", err)
		}
		if len(ws) == 0 {
			return nil
		}
		st, err := loadSettings(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		var company string
		if err := tx.QueryRow(ctx, `SELECT name FROM tenants WHERE tenant_id = $1`, tenantID).Scan(&company); err != nil {
			return fmt.Errorf("tenant name: %w", err)
		}
		rows, err = tx.Query(ctx, `SELECT name, email FROM users
			WHERE tenant_id = $1 AND status = 'active' AND role = ANY($2) ORDER BY email`, tenantID, warningRecipients)
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
			slog.WarnContext(ctx, "low-balance warning: no active owner, admin or finance user to e-mail", "tenant_id", tenantID)
		} else if err := m.Send(ctx, warningMessage(company, st, ws, to, link)); err != nil {
			return fmt.Errorf("%w: %w", errSend, err)
		}
		percents := make([]int32, len(ws))
		for i, w := range ws {
			percents[i] = int32(w.Percent)
		}
		if _, err := tx.Exec(ctx, `UPDATE balance_warnings SET emailed_at = now()
			WHERE tenant_id = $1 AND cycle = $2 AND percent = ANY($3)`, tenantID, bal.cycle, percents); err != nil {
			// Sent but not recorded: the retry mails again. Nothing
			// better is possible without two-phase commit with SMTP.
			return fmt.Errorf("record emailed: %w", err)
		}
		n = len(ws)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("notify warnings: %w", err)
	}
	return n, nil
}

// warningMessage says, in one e-mail, what the warnings ws (highest
// percent first) mean; the last is the most severe.
func warningMessage(company string, st Settings, ws []Warning, to []mail.Address, link string) Message {
	worst := ws[len(ws)-1]
	left := worst.Remaining
	for _, w := range ws {
		left = min(left, w.Remaining)
	}
	var subject string
	if worst.Percent == 0 || left == 0 {
		subject = fmt.Sprintf("%s: your prepaid contacts are used up", company)
	} else {
		subject = fmt.Sprintf("%s: %s prepaid contacts left (%d %% or less)", company, groupDigits(left), worst.Percent)
	}
	var b strings.Builder
	b.WriteString("Hello,\n\n")
	if left == 0 {
		fmt.Fprintf(&b, "%s has no prepaid contacts left in its valid bundles.\n", company)
	} else {
		fmt.Fprintf(&b, "%s has %s prepaid contacts left, %d %% or less of the contacts in its valid bundles.\n",
			company, groupDigits(left), worst.Percent)
	}
	switch st.Policy {
	case PolicyBlock:
		b.WriteString("\nYour exhaustion policy is \"block\": when none are left, new inbound contacts are answered as not available. Contacts in progress finish.\n")
	case PolicyAutoTopup:
		b.WriteString("\nYour exhaustion policy is \"auto top-up\": a bundle is bought with the saved payment method when the balance falls under its threshold.\n")
	default:
		fmt.Fprintf(&b, "\nYour exhaustion policy is \"overage\": when none are left, contacts are still served and billed at the pay-as-you-go rate (%s minor units of %s a contact).\n",
			strconv.FormatInt(st.OveragePriceMinor, 10), st.Currency)
	}
	b.WriteString("\nTo buy a bundle or change the policy, sign in")
	if link != "" {
		b.WriteString(" at " + link)
	}
	b.WriteString(".\n\n")
	fmt.Fprintf(&b, "You get this e-mail as an owner, administrator or finance user of %s.\n", company)
	return Message{To: to, Subject: subject, Body: b.String()}
}

// groupDigits writes 1234567 as 1,234,567.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
