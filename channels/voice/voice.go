// Package voice is the call channel: calls through a Twilio-compatible
// provider (signed form webhooks answered with TwiML, a REST API for live
// calls), admin-defined IVR menus that lead callers to a queue, to
// self-service or to goodbye, and the agent's hold, resume and hang-up.
//
// Invariants: a call (the provider's CallSid) opens at most one contact,
// whose id derives from the CallSid, so a replayed webhook changes
// nothing; every provider event that changes a contact is recorded with a
// receipt first; every answer is well-formed TwiML, whatever the input.
package voice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/twilio"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant"
)

// Name is the channel's name in contacts.channel.
const Name = "voice"

// Service is the call channel of every tenant.
type Service struct {
	DB            *tenant.DB
	Contacts      *contacts.Service
	Directory     *directory.Directory
	Conversations *conversation.Store
	Surveys       *customer.Surveys
	// PublicURL is where the provider reaches us: the webhooks' URLs (and
	// so their signatures) start with it.
	PublicURL string
	// HoldMusic, when set, is played while a caller waits; otherwise the
	// line is quiet between announcements.
	HoldMusic string
	// HoldSeconds is how long a waiting caller stays in one hold loop
	// before the provider asks again; 0 means 5.
	HoldSeconds int
	// HTTP calls the provider's API at the tenant's api_base: an
	// outbound.Policy client; nil: the strict one.
	HTTP   *http.Client
	Logger *slog.Logger
}

// New wires a Service.
func New(db *tenant.DB, cs *contacts.Service, dir *directory.Directory, publicURL string, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{DB: db, Contacts: cs, Directory: dir, Conversations: &conversation.Store{DB: db},
		Surveys: &customer.Surveys{DB: db}, PublicURL: strings.TrimRight(publicURL, "/"), Logger: log}
}

func (s *Service) holdSeconds() int {
	if s.HoldSeconds <= 0 {
		return 5
	}
	return s.HoldSeconds
}

// WebhookPath is the path of a voice webhook of a tenant (its id, or a
// route's parameter; step "" is the incoming call itself).
func WebhookPath(tenant, step string) string {
	p := "/webhooks/twilio/" + tenant + "/voice"
	if step != "" {
		p += "/" + step
	}
	return p
}

// url is the absolute URL the provider calls for step, with query.
func (s *Service) url(tenantID uuid.UUID, step string, query url.Values) string {
	u := strings.TrimRight(s.PublicURL, "/") + WebhookPath(tenantID.String(), step)
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u
}

func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

var errBadSignature = cic.Codef(cic.EFORBIDDEN, "invalid_signature", "The webhook's signature is not the provider's.")

// Verify checks a webhook's X-Twilio-Signature with the tenant's provider
// secret over the URL the provider called; an unknown tenant, a tenant
// without the provider and a wrong or missing signature are all the same
// EFORBIDDEN, so a caller learns nothing about which.
func (s *Service) Verify(ctx context.Context, tenantID uuid.UUID, fullURL string, params url.Values, signature string) error {
	if signature == "" {
		return errBadSignature
	}
	p, err := s.Directory.Provider(ctx, tenantID, directory.Twilio)
	if err != nil {
		if cic.ErrorKind(err) == cic.ENOTFOUND {
			return errBadSignature
		}
		return fmt.Errorf("voice provider: %w", err)
	}
	if !twilio.Valid(p.Secret, fullURL, params, signature) {
		return errBadSignature
	}
	return nil
}

// client is the REST client of the tenant's provider account.
func (s *Service) client(ctx context.Context, tenantID uuid.UUID) (*twilio.Client, directory.Provider, error) {
	p, err := s.Directory.Provider(ctx, tenantID, directory.Twilio)
	if err != nil {
		if cic.ErrorKind(err) == cic.ENOTFOUND {
			return nil, p, cic.Codef(cic.ECONFLICT, "no_provider", "Set up the company's telephony provider (twilio) first.")
		}
		return nil, p, err
	}
	base := p.APIBase
	if base == "" {
		base = twilio.DefaultAPIBase
	}
	return &twilio.Client{APIBase: base, AccountSID: p.AccountID, AuthToken: p.Secret, HTTP: s.HTTP}, p, nil
}

// Call is the provider's call behind a voice contact.
type Call struct {
	SID       string     `json:"call_sid"`
	ContactID *uuid.UUID `json:"contact_id"`
	MenuID    *uuid.UUID `json:"-"`
	QueueID   *uuid.UUID `json:"-"`
	From      string     `json:"from"`
	To        string     `json:"to"`
	Direction string     `json:"direction"`
	Status    string     `json:"status"`
	Held      bool       `json:"held"`
	Survey    string     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	EndedAt   *time.Time `json:"ended_at"`
}

// Live reports whether the caller may still be on the line.
func (c Call) Live() bool { return c.EndedAt == nil }

const callColumns = `call_sid, contact_id, menu_id, queue_id, from_addr, to_addr, direction, status, held, survey, created_at, ended_at`

func scanCall(row pgx.Row) (Call, error) {
	var c Call
	err := row.Scan(&c.SID, &c.ContactID, &c.MenuID, &c.QueueID, &c.From, &c.To, &c.Direction, &c.Status, &c.Held, &c.Survey,
		&c.CreatedAt, &c.EndedAt)
	return c, err
}

var errNoCall = cic.Codef(cic.ENOTFOUND, "no_call", "No call is known by that id.")

// callBySID reads a call.
func (s *Service) callBySID(ctx context.Context, tenantID uuid.UUID, sid string) (Call, error) {
	var c Call
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		c, err = scanCall(tx.QueryRow(ctx, `SELECT `+callColumns+` FROM voice_calls WHERE tenant_id = $1 AND call_sid = $2`, tenantID, sid))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Call{}, errNoCall
	}
	return c, err
}

// CallOf returns the call behind a contact.
func (s *Service) CallOf(ctx context.Context, tenantID, contactID uuid.UUID) (Call, error) {
	var c Call
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		c, err = scanCall(tx.QueryRow(ctx, `SELECT `+callColumns+` FROM voice_calls WHERE tenant_id = $1 AND contact_id = $2`, tenantID, contactID))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Call{}, cic.Codef(cic.ECONFLICT, "no_call", "This contact has no call.")
	}
	return c, err
}

// updateCall runs set (an UPDATE's SET list, $3... are args) on a call.
func (s *Service) updateCall(ctx context.Context, tenantID uuid.UUID, sid, set string, args ...any) error {
	return s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE voice_calls SET `+set+`, updated_at = now() WHERE tenant_id = $1 AND call_sid = $2`,
			append([]any{tenantID, sid}, args...)...)
		if err != nil {
			return fmt.Errorf("update call: %w", err)
		}
		return nil
	})
}

// customerOf resolves the caller's customer by number; a withheld or odd
// caller id ("anonymous") has none.
func (s *Service) customerOf(ctx context.Context, tenantID uuid.UUID, number string) *uuid.UUID {
	if _, err := customer.NormalizePhone(number); err != nil {
		return nil
	}
	var id uuid.UUID
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		id, err = customer.ResolveTx(ctx, tx, tenantID, customer.KindPhone, number, "")
		return err
	})
	if err != nil {
		s.Logger.Warn("resolve caller", "tenant", tenantID, "err", err)
		return nil
	}
	return &id
}
