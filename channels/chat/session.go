package chat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/routing/contacts"
)

// Visitor tokens read "cv1.<tenant>.<contact>.<secret>": the tenant lets
// the check run in its RLS transaction, the contact finds the session,
// and only sha256(secret) is stored.
const visitorTokenPrefix = "cv1"

// StartInput is what the widget sends to start a chat.
type StartInput struct {
	// VisitorID is the widget's id for the browser (kept in its storage),
	// recorded as the contact's customer_ref "web:<id>".
	VisitorID string `json:"visitor_id"`
	// Email and Name, when the page knows its visitor (a logged-in shop
	// customer; the snippet's data-email, data-name), link the chat to
	// the customer with that address, as their e-mails are, but only
	// when EmailHash (data-email-hash) signs Email with the widget's
	// identity secret (identity.go). An address without it is kept on
	// the session as unverified: it links to no customer, and the agent
	// sees no one's history for it.
	Email     string `json:"email"`
	EmailHash string `json:"email_hash"`
	Name      string `json:"name"`
}

// Started is a new chat, for the visitor.
type Started struct {
	ContactID uuid.UUID `json:"contact_id"`
	Token     string    `json:"token"`
	Greeting  string    `json:"greeting"`
	State     string    `json:"state"`
	LastSeq   int       `json:"last_seq"`
}

// Visitor is an authenticated visitor: one conversation.
type Visitor struct {
	TenantID  uuid.UUID
	ContactID uuid.UUID
	WidgetID  uuid.UUID
	State     string // the contact's state when authenticated
	LastSeq   int
	Ended     bool
}

var validVisitorID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Start opens a chat through a widget: the key and the page's origin are
// checked, the contact is opened on the widget's queue (and routed), and
// the visitor gets the token of the new session. A tenant that blocks with
// no contacts left answers EUNAVAILABLE service_unavailable, a closed
// queue ECONFLICT queue_closed, each with the message to show.
func (s *Service) Start(ctx context.Context, key, origin, ip string, in StartInput) (Started, error) {
	tenantID, w, err := s.WidgetFor(ctx, key, origin)
	if err != nil {
		return Started{}, err
	}
	if in.VisitorID != "" && !validVisitorID.MatchString(in.VisitorID) {
		return Started{}, cic.Codef(cic.EINVALID, "invalid_visitor_id", "visitor_id is 1 to 64 letters, digits, - or _.")
	}
	if err := s.allowStart(ctx, tenantID, ip); err != nil {
		return Started{}, err
	}
	if w.QueueID == nil {
		return Started{}, cic.Codef(cic.EUNAVAILABLE, "service_unavailable", "Chat is not available at the moment; please try again later.")
	}
	ref := "web"
	if in.VisitorID != "" {
		ref = "web:" + in.VisitorID
	}
	email := strings.TrimSpace(in.Email)
	if len(email) > 320 || !utf8.ValidString(email) || strings.ContainsRune(email, 0) {
		return Started{}, cic.Codef(cic.EINVALID, "invalid_email", "email is an e-mail address of at most 320 characters.")
	}
	if len(in.EmailHash) > 128 {
		return Started{}, cic.Codef(cic.EINVALID, "invalid_email_hash", "email_hash is the hex HMAC-SHA256 of the e-mail address.")
	}
	verified := false
	if email != "" {
		if err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
			var err error
			verified, err = s.verifiedEmail(ctx, tx, tenantID, w.ID, in.Email, in.EmailHash)
			return err
		}); err != nil {
			return Started{}, err
		}
	}
	link := in
	if !verified {
		link.Email = "" // unverified: the visitor's own customer at most
	}
	custID, err := s.customerOf(ctx, tenantID, link)
	if err != nil {
		return Started{}, err
	}
	if verified {
		ref = strings.ToLower(email)
	}
	c, err := s.Contacts.Open(ctx, tenantID, contacts.OpenInput{QueueID: *w.QueueID, Channel: "chat", CustomerRef: ref,
		CustomerID: custID})
	if err != nil {
		if cic.ErrorKind(err) == cic.ENOTFOUND {
			return Started{}, cic.Codef(cic.EUNAVAILABLE, "service_unavailable", "Chat is not available at the moment; please try again later.")
		}
		return Started{}, err
	}
	secret, hash := newSecret()
	norm, _ := NormalizeOrigin(origin)
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var claimed *string
		if email != "" {
			claimed = &email
		}
		_, err := tx.Exec(ctx, `INSERT INTO chat_sessions (tenant_id, contact_id, widget_id, token_hash, origin, email, email_verified)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, tenantID, c.ID, w.ID, hash, norm, claimed, verified)
		return err
	})
	if err != nil {
		return Started{}, fmt.Errorf("chat session: %w", err)
	}
	if email != "" {
		// On the contact's timeline, said as what it is.
		if err := s.Contacts.AddEvent(ctx, tenantID, c.ID, "visitor_email", nil, map[string]any{"email": email, "verified": verified}); err != nil {
			s.Logger.Warn("chat: note visitor e-mail", "tenant", tenantID, "contact", c.ID, "err", err)
		}
	}
	return Started{ContactID: c.ID, Token: fmt.Sprintf("%s.%s.%s.%s", visitorTokenPrefix, tenantID, c.ID, secret),
		Greeting: w.Greeting, State: c.State}, nil
}

func (s *Service) allowStart(ctx context.Context, tenantID uuid.UUID, ip string) error {
	if s.limiter == nil || s.StartLimit.Rate <= 0 {
		return nil
	}
	res, err := s.limiter.Allow(ctx, s.prefix+"rl:chat:{t:"+tenantID.String()+"}:"+ip, s.StartLimit)
	if err != nil {
		return cic.Codef(cic.EUNAVAILABLE, "service_unavailable", "Chat is briefly unavailable; please try again in a moment.")
	}
	if res.Allowed == 0 {
		return cic.Codef(cic.ERATELIMIT, "rate_limited", "Too many chats started; try again in %d seconds.", max(int(math.Ceil(res.RetryAfter.Seconds())), 1))
	}
	return nil
}

func newSecret() (string, []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	s := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(s))
	return s, sum[:]
}

var errBadToken = cic.Codef(cic.EUNAUTHORIZED, "invalid_chat_token", "This chat session is unknown or has expired; start a new chat.")

func parseVisitorToken(tok string) (tenantID, contactID uuid.UUID, secret string, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 4 || parts[0] != visitorTokenPrefix || len(parts[3]) != 43 {
		return uuid.Nil, uuid.Nil, "", false
	}
	t, err1 := uuid.Parse(parts[1])
	c, err2 := uuid.Parse(parts[2])
	if err1 != nil || err2 != nil || t == uuid.Nil {
		return uuid.Nil, uuid.Nil, "", false
	}
	return t, c, parts[3], true
}

// Authenticate checks a visitor's token and the page's origin (still on
// its widget's list, and the widget not revoked), and marks the visitor
// seen.
func (s *Service) Authenticate(ctx context.Context, token, origin string) (Visitor, error) {
	tenantID, contactID, secret, ok := parseVisitorToken(token)
	if !ok {
		return Visitor{}, errBadToken
	}
	v := Visitor{TenantID: tenantID, ContactID: contactID}
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var hash []byte
		var w Widget
		var revoked *time.Time
		var ended *time.Time
		err := tx.QueryRow(ctx, `SELECT s.token_hash, s.widget_id, s.last_seq, s.ended_at, c.state, w.allowed_origins, w.revoked_at
			FROM chat_sessions s
			JOIN contacts c ON c.tenant_id = s.tenant_id AND c.id = s.contact_id
			JOIN chat_widgets w ON w.tenant_id = s.tenant_id AND w.id = s.widget_id
			WHERE s.tenant_id = $1 AND s.contact_id = $2`, tenantID, contactID).
			Scan(&hash, &v.WidgetID, &v.LastSeq, &ended, &v.State, &w.AllowedOrigins, &revoked)
		if errors.Is(err, pgx.ErrNoRows) {
			return errBadToken
		}
		if err != nil {
			return fmt.Errorf("load chat session: %w", err)
		}
		sum := sha256.Sum256([]byte(secret))
		if subtle.ConstantTimeCompare(sum[:], hash) != 1 {
			return errBadToken
		}
		if revoked != nil {
			return errBadKey
		}
		if !w.allows(origin) {
			return errBadOrigin
		}
		v.Ended = ended != nil || !openState(v.State)
		_, err = tx.Exec(ctx, `UPDATE chat_sessions SET last_seen_at = now() WHERE tenant_id = $1 AND contact_id = $2`, tenantID, contactID)
		return err
	})
	return v, err
}

// openState: the contact is still in progress.
func openState(st string) bool {
	switch st {
	case contacts.StateNew, contacts.StateQueued, contacts.StateOffered, contacts.StateAccepted, contacts.StateWrapUp:
		return true
	}
	return false
}

// Touch marks the visitor as still there.
func (s *Service) Touch(ctx context.Context, v Visitor) error {
	return s.DB.Tx(ctx, v.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE chat_sessions SET last_seen_at = now() WHERE tenant_id = $1 AND contact_id = $2`, v.TenantID, v.ContactID)
		return err
	})
}

// Leave ends the visitor's side of the conversation. Before an agent
// accepted it the contact is abandoned (and never metered); after, the
// contact's timeline notes that the customer left. Leaving twice is
// harmless.
func (s *Service) Leave(ctx context.Context, v Visitor) error {
	return s.leave(ctx, v.TenantID, v.ContactID, "visitor", "")
}

// leave ends the session (once) and tells the contacts service and the
// agent. cond, when set, is an extra SQL condition on the session.
func (s *Service) leave(ctx context.Context, tenantID, contactID uuid.UUID, by, cond string) error {
	var agent *uuid.UUID
	var ended bool
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE chat_sessions s SET ended_at = now(), ended_by = $3
			FROM contacts c WHERE c.tenant_id = s.tenant_id AND c.id = s.contact_id
			AND s.tenant_id = $1 AND s.contact_id = $2 AND s.ended_at IS NULL`+cond+`
			RETURNING c.agent_id`, tenantID, contactID, by).Scan(&agent)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		ended = err == nil
		return err
	})
	if err != nil {
		return fmt.Errorf("end chat session: %w", err)
	}
	if !ended {
		return nil
	}
	if err := s.Contacts.Abandon(ctx, tenantID, contactID); err != nil {
		return err
	}
	if err := s.Hub.Publish(ctx, Event{Type: EventLeft, TenantID: tenantID, ContactID: contactID, AgentID: agent}); err != nil {
		s.Logger.Warn("chat: publish left", "err", err)
	}
	return nil
}

// AbandonIfGone ends a chat whose visitor has not been seen for the
// grace period while no agent had accepted it: they closed the page. A
// visitor who came back (on any replica) was seen meanwhile and keeps
// their chat.
func (s *Service) AbandonIfGone(ctx context.Context, tenantID, contactID uuid.UUID, grace time.Duration) error {
	return s.leave(ctx, tenantID, contactID, "timeout",
		fmt.Sprintf(` AND s.last_seen_at < now() - interval '%d milliseconds' AND c.state IN ('new', 'queued', 'offered')`, grace.Milliseconds()))
}

// ContactChanged tells both sides of a conversation that its contact
// changed (hang it on contacts.Service.Notify): the widget says an agent
// joined or the conversation ended, the desk follows a transfer. Best
// effort: a lost event only delays what the next message shows anyway.
func (s *Service) ContactChanged(tenantID uuid.UUID, kind string, contactID uuid.UUID, agentID *uuid.UUID) {
	switch kind {
	case contacts.StateAccepted, contacts.StateWrapUp, contacts.StateClosed, "transfer":
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Hub.Publish(ctx, Event{Type: EventState, TenantID: tenantID, ContactID: contactID, AgentID: agentID, State: kind}); err != nil {
		s.Logger.Warn("chat: publish state", "err", err)
	}
}

// customerOf finds (or makes) the customer a chat is from: by the e-mail
// address the page gave, the visitor's browser then linked to them too,
// else by the browser's visitor id; nil for an anonymous visitor.
func (s *Service) customerOf(ctx context.Context, tenantID uuid.UUID, in StartInput) (*uuid.UUID, error) {
	if in.Email == "" && in.VisitorID == "" {
		return nil, nil
	}
	if len(in.Name) > 200 {
		return nil, cic.Codef(cic.EINVALID, "invalid_name", "name is at most 200 characters.")
	}
	var id uuid.UUID
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if in.Email == "" {
			id, err = customer.ResolveTx(ctx, tx, tenantID, customer.KindVisitor, in.VisitorID, in.Name)
			return err
		}
		if id, err = customer.ResolveTx(ctx, tx, tenantID, customer.KindEmail, in.Email, in.Name); err != nil {
			return err
		}
		if in.VisitorID == "" {
			return nil
		}
		// A browser already known as someone else keeps its customer.
		_, err = tx.Exec(ctx, `INSERT INTO customer_identities (tenant_id, kind, value, customer_id) VALUES ($1, 'visitor', $2, $3)
			ON CONFLICT DO NOTHING`, tenantID, in.VisitorID, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &id, nil
}
