package contacts

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/tenant"
)

// Kinds of contact (contacts.kind).
const (
	KindStandard = "standard"
	KindCallback = "callback"
)

// Callback statuses (callbacks.status).
const (
	CallbackWaiting     = "waiting"     // queued, or waiting for its next attempt
	CallbackDialing     = "dialing"     // an attempt's call is ringing
	CallbackConnected   = "connected"   // the customer answered
	CallbackUnreachable = "unreachable" // every attempt went unanswered
)

// Defaults and limits of callbacks.
const (
	DefaultCallbackAttempts   = 3
	DefaultCallbackRetryDelay = 120 // seconds
	MaxCallbackAttempts       = 10
	MaxCallbackRetryDelay     = 86400
	// MaxCallbackAhead is how far ahead not_before may lie.
	MaxCallbackAhead = 30 * 24 * time.Hour
)

// e164 is a phone number as the provider dials it: +, country code, at
// most 15 digits.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// ValidE164 reports whether s is an E.164 number (+4930123456).
func ValidE164(s string) bool { return e164.MatchString(s) }

// Callback is the callback side of a contact of kind callback.
type Callback struct {
	To                string     `json:"to"`
	Name              string     `json:"name"`
	NotBefore         *time.Time `json:"not_before"`
	FromContactID     *uuid.UUID `json:"from_contact_id"`
	Status            string     `json:"status"`
	Attempts          int        `json:"attempts"`
	MaxAttempts       int        `json:"max_attempts"`
	RetryDelaySeconds int        `json:"retry_delay_seconds"`
	NextAttemptAt     *time.Time `json:"next_attempt_at"`
	CallSID           string     `json:"call_sid,omitempty"`
}

// CallbackContact is a callback as the API shows it: the contact and its
// callback.
type CallbackContact struct {
	Contact
	Callback Callback `json:"callback"`
}

// CallbackInput asks for a callback.
type CallbackInput struct {
	QueueID    uuid.UUID
	To         string // E.164
	Name       string
	NotBefore  *time.Time
	CustomerID *uuid.UUID
}

const callbackColumns = `to_number, name, not_before, from_contact_id, status, attempts, max_attempts, retry_delay_seconds,
	next_attempt_at, coalesce(call_sid, '')`

func scanCallback(row scanner) (Callback, error) {
	var b Callback
	err := row.Scan(&b.To, &b.Name, &b.NotBefore, &b.FromContactID, &b.Status, &b.Attempts, &b.MaxAttempts, &b.RetryDelaySeconds,
		&b.NextAttemptAt, &b.CallSID)
	return b, err
}

var errNoCallback = cic.Codef(cic.ENOTFOUND, "not_found", "Callback not found.")

// CallbackSettings are a queue's (or the tenant's) retry settings.
type CallbackSettings struct {
	QueueID           *uuid.UUID `json:"queue_id"`
	MaxAttempts       int        `json:"max_attempts"`
	RetryDelaySeconds int        `json:"retry_delay_seconds"`
}

func settingsTx(ctx context.Context, tx pgx.Tx, tenantID, queueID uuid.UUID) (CallbackSettings, error) {
	out := CallbackSettings{QueueID: &queueID, MaxAttempts: DefaultCallbackAttempts, RetryDelaySeconds: DefaultCallbackRetryDelay}
	err := tx.QueryRow(ctx, `SELECT max_attempts, retry_delay_seconds FROM callback_settings
		WHERE tenant_id = $1 AND (queue_id = $2 OR queue_id IS NULL) ORDER BY queue_id NULLS LAST LIMIT 1`, tenantID, queueID).
		Scan(&out.MaxAttempts, &out.RetryDelaySeconds)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, nil
	}
	return out, err
}

// CallbackSettingsFor returns the settings a callback in the queue gets
// (queueID nil: the tenant's own).
func (s *Service) CallbackSettingsFor(ctx context.Context, tenantID uuid.UUID, queueID *uuid.UUID) (CallbackSettings, error) {
	var out CallbackSettings
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if queueID != nil {
			if _, err = s.Setup.QueueByID(ctx, tenantID, *queueID); err != nil {
				return err
			}
			out, err = settingsTx(ctx, tx, tenantID, *queueID)
			return err
		}
		out = CallbackSettings{MaxAttempts: DefaultCallbackAttempts, RetryDelaySeconds: DefaultCallbackRetryDelay}
		err = tx.QueryRow(ctx, `SELECT max_attempts, retry_delay_seconds FROM callback_settings WHERE tenant_id = $1 AND queue_id IS NULL`,
			tenantID).Scan(&out.MaxAttempts, &out.RetryDelaySeconds)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	return out, err
}

// PutCallbackSettings sets a queue's (or, queue_id nil, the tenant's)
// retry settings; owners and admins only.
func (s *Service) PutCallbackSettings(ctx context.Context, p tenant.Principal, in CallbackSettings) (CallbackSettings, error) {
	if !p.Role.In(cic.RoleOwner, cic.RoleAdmin) {
		return CallbackSettings{}, cic.Codef(cic.EFORBIDDEN, "forbidden", "Only owners and admins change callback settings.")
	}
	if in.MaxAttempts < 1 || in.MaxAttempts > MaxCallbackAttempts {
		return CallbackSettings{}, cic.Codef(cic.EINVALID, "invalid_max_attempts", "max_attempts is between 1 and %d.", MaxCallbackAttempts)
	}
	if in.RetryDelaySeconds < 1 || in.RetryDelaySeconds > MaxCallbackRetryDelay {
		return CallbackSettings{}, cic.Codef(cic.EINVALID, "invalid_retry_delay", "retry_delay_seconds is between 1 and %d.", MaxCallbackRetryDelay)
	}
	if in.QueueID != nil {
		if _, err := s.Setup.QueueByID(ctx, p.TenantID, *in.QueueID); err != nil {
			return CallbackSettings{}, err
		}
	}
	err := s.DB.Tx(ctx, p.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO callback_settings (tenant_id, queue_id, max_attempts, retry_delay_seconds) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant_id, coalesce(queue_id, '00000000-0000-0000-0000-000000000000'::uuid))
			DO UPDATE SET max_attempts = excluded.max_attempts, retry_delay_seconds = excluded.retry_delay_seconds, updated_at = now()`,
			p.TenantID, in.QueueID, in.MaxAttempts, in.RetryDelaySeconds)
		if err != nil {
			return fmt.Errorf("callback settings: %w", err)
		}
		return nil
	})
	return in, err
}

// checkCallbackInput validates what a callback request brings.
func checkCallbackInput(in *CallbackInput, now time.Time) error {
	if !ValidE164(in.To) {
		return cic.Codef(cic.EINVALID, "invalid_phone", "to must be a phone number in E.164 form (+4930123456).")
	}
	in.Name = strings.TrimSpace(in.Name)
	if utf8.RuneCountInString(in.Name) > 100 || !utf8.ValidString(in.Name) || strings.ContainsRune(in.Name, 0) {
		return cic.Codef(cic.EINVALID, "invalid_name", "name is at most 100 characters of text.")
	}
	if in.NotBefore != nil {
		if in.NotBefore.After(now.Add(MaxCallbackAhead)) {
			return cic.Codef(cic.EINVALID, "invalid_not_before", "not_before is at most 30 days ahead.")
		}
		if !in.NotBefore.After(now) {
			in.NotBefore = nil // due already
		}
	}
	return nil
}

// CreateCallback queues a callback in a queue that takes calls: a voice
// contact, outbound, of kind callback. With a not_before ahead it waits
// (state new) and is queued then. A tenant whose policy blocks and whose
// contacts ran out cannot make one.
func (s *Service) CreateCallback(ctx context.Context, tenantID uuid.UUID, in CallbackInput) (CallbackContact, error) {
	now := s.Now()
	if err := checkCallbackInput(&in, now); err != nil {
		return CallbackContact{}, err
	}
	if err := s.checkCallbackQueue(ctx, tenantID, in.QueueID); err != nil {
		return CallbackContact{}, err
	}
	id := uuid.New()
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		return insertCallback(ctx, tx, tenantID, id, in, nil, now, "api")
	})
	if err != nil {
		return CallbackContact{}, err
	}
	if in.NotBefore == nil {
		s.enqueueCallback(ctx, tenantID, id)
	}
	return s.GetCallback(ctx, tenantID, id)
}

func (s *Service) checkCallbackQueue(ctx context.Context, tenantID, queueID uuid.UUID) error {
	q, err := s.Setup.QueueByID(ctx, tenantID, queueID)
	if err != nil {
		return err
	}
	serves := false
	for _, ch := range q.Channels {
		serves = serves || ch == "voice"
	}
	if !serves {
		return cic.Codef(cic.EINVALID, "invalid_channel", "Queue %s does not take calls, so it cannot call back.", q.Name)
	}
	ok, err := metering.Authorize(ctx, s.DB, tenantID, "voice")
	if err != nil {
		return err
	}
	if !ok {
		return cic.Codef(cic.EUNAVAILABLE, "no_contacts_left",
			"The company has no contacts left and its policy blocks new ones; an admin can buy a bundle.")
	}
	return nil
}

// insertCallback writes a callback contact and its row. queuedAt, when
// set, is the place in line it keeps (the waiting contact's).
func insertCallback(ctx context.Context, tx pgx.Tx, tenantID, id uuid.UUID, in CallbackInput, from *Contact, now time.Time, via string) error {
	set, err := settingsTx(ctx, tx, tenantID, in.QueueID)
	if err != nil {
		return fmt.Errorf("callback settings: %w", err)
	}
	state, queuedAt, next := StateQueued, now, now
	if in.NotBefore != nil {
		state, queuedAt, next = StateNew, *in.NotBefore, *in.NotBefore
	}
	var fromID *uuid.UUID
	campaign := ""
	if from != nil {
		fromID = &from.ID
		campaign = from.Campaign
		if from.QueuedAt != nil {
			queuedAt = *from.QueuedAt
		}
	}
	subject := in.To
	if in.Name != "" {
		subject = in.Name + " " + in.To
	}
	_, err = tx.Exec(ctx, `INSERT INTO contacts (tenant_id, id, channel, direction, kind, state, queue_id, customer_ref, campaign,
		queued_at, customer_id, subject) VALUES ($1, $2, 'voice', 'outbound', 'callback', $3, $4, $5, $6, $7, $8, $9)`,
		tenantID, id, state, in.QueueID, in.To, campaign, queuedAt, in.CustomerID, subject)
	if err != nil {
		return fmt.Errorf("insert callback contact: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO callbacks (tenant_id, contact_id, to_number, name, not_before, from_contact_id,
		max_attempts, retry_delay_seconds, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		tenantID, id, in.To, in.Name, in.NotBefore, fromID, set.MaxAttempts, set.RetryDelaySeconds, next)
	if err != nil {
		return fmt.Errorf("insert callback: %w", err)
	}
	details := map[string]any{"channel": "voice", "kind": KindCallback, "via": via}
	if fromID != nil {
		details["from_contact_id"] = *fromID
	}
	if in.NotBefore != nil {
		details["not_before"] = *in.NotBefore
	}
	kind := "queued"
	if state == StateNew {
		kind = "callback_scheduled"
	}
	return addEvent(ctx, tx, tenantID, id, kind, nil, &in.QueueID, details)
}

// enqueueCallback hands a due callback to the engine at its place in line
// (its queued_at). A failure is logged: the callback stays due and
// SweepCallbacks hands it over again.
func (s *Service) enqueueCallback(ctx context.Context, tenantID, id uuid.UUID) {
	if err := s.enqueueCallbackErr(ctx, tenantID, id); err != nil {
		s.Logger.Warn("enqueue callback", "tenant", tenantID, "contact", id, "err", err)
	}
}

func (s *Service) enqueueCallbackErr(ctx context.Context, tenantID, id uuid.UUID) error {
	c, err := s.get(ctx, tenantID, id)
	if err != nil {
		return err
	}
	if c.State != StateQueued || c.QueueID == nil {
		return nil
	}
	enq := c.CreatedAt
	if c.QueuedAt != nil {
		enq = *c.QueuedAt
	}
	now := s.Now()
	ch, err := s.onQueue(ctx, tenantID, *c.QueueID, func() (routing.Changes, error) {
		return s.Engine.Enqueue(ctx, tenantID, routing.Contact{ID: id.String(), Queue: c.QueueID.String(), Channel: routing.Call,
			EnqueuedAt: enq}, now)
	})
	if e, isErr := cic.AsError(err); isErr && e.Code == "contact_exists" {
		err = nil
	}
	if err != nil {
		s.keep(ctx, tenantID, ch)
		return err
	}
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE callbacks SET next_attempt_at = NULL, updated_at = now()
			WHERE tenant_id = $1 AND contact_id = $2 AND status = 'waiting'`, tenantID, id)
		return err
	})
	if err != nil {
		return err
	}
	return s.record(ctx, tenantID, ch)
}

// CallbackInstead turns a waiting contact (a caller in the hold loop, a
// visitor in the chat) into a callback to the number to: the callback
// keeps the waiting contact's place in line (its enqueue time), and the
// waiting contact is closed, neither handled nor abandoned, so it is not
// metered. A contact an agent already accepted is not turned (ECONFLICT
// already_accepted). Asking twice answers the first callback.
func (s *Service) CallbackInstead(ctx context.Context, tenantID, waitingID uuid.UUID, to, name string, customerID *uuid.UUID) (CallbackContact, error) {
	now := s.Now()
	if prev, err := s.callbackFrom(ctx, tenantID, waitingID); err == nil {
		return s.GetCallback(ctx, tenantID, prev)
	}
	w, err := s.get(ctx, tenantID, waitingID)
	if err != nil {
		return CallbackContact{}, err
	}
	if w.State != StateQueued && w.State != StateOffered && w.State != StateNew {
		return CallbackContact{}, cic.Codef(cic.ECONFLICT, "not_waiting", "This contact is not waiting any more (it is %s).", w.State)
	}
	if w.QueueID == nil {
		return CallbackContact{}, cic.Codef(cic.ECONFLICT, "not_waiting", "This contact waits in no queue.")
	}
	in := CallbackInput{QueueID: *w.QueueID, To: to, Name: name, CustomerID: customerID}
	if in.CustomerID == nil {
		in.CustomerID = w.CustomerID
	}
	if err := checkCallbackInput(&in, now); err != nil {
		return CallbackContact{}, err
	}
	if err := s.checkCallbackQueue(ctx, tenantID, in.QueueID); err != nil {
		return CallbackContact{}, err
	}
	// Out of routing first: once the engine lets go, no agent can accept
	// the waiting contact any more.
	_, ch, err := s.Engine.Abandon(ctx, tenantID, waitingID.String(), now)
	if e, ok := cic.AsError(err); ok && e.Code == "unknown_contact" {
		err = nil // Redis lost it: PostgreSQL's record is what counts
	}
	if err != nil {
		s.keep(ctx, tenantID, ch)
		if e, ok := cic.AsError(err); ok && e.Code == "already_accepted" {
			return CallbackContact{}, cic.Codef(cic.ECONFLICT, "already_accepted", "An agent is taking this contact already.")
		}
		return CallbackContact{}, err
	}
	if err := s.record(ctx, tenantID, ch); err != nil {
		return CallbackContact{}, err
	}
	id := uuid.NewSHA1(waitingID, []byte("callback"))
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE contacts SET state = 'closed', closed_at = now(), agent_id = NULL
			WHERE tenant_id = $1 AND id = $2 AND state IN ('new', 'queued', 'offered')`, tenantID, waitingID)
		if err != nil {
			return fmt.Errorf("close waiting contact: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return cic.Codef(cic.ECONFLICT, "not_waiting", "This contact is not waiting any more.")
		}
		if err := addEvent(ctx, tx, tenantID, waitingID, "callback_requested", nil, w.QueueID,
			map[string]any{"callback_contact_id": id, "to": in.To}); err != nil {
			return err
		}
		return insertCallback(ctx, tx, tenantID, id, in, &w, now, w.Channel)
	})
	if err != nil {
		return CallbackContact{}, err
	}
	s.notify(tenantID, "closed", waitingID, nil)
	s.enqueueCallback(ctx, tenantID, id)
	return s.GetCallback(ctx, tenantID, id)
}

func (s *Service) callbackFrom(ctx context.Context, tenantID, fromID uuid.UUID) (uuid.UUID, error) {
	var id uuid.UUID
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT contact_id FROM callbacks WHERE tenant_id = $1 AND from_contact_id = $2`, tenantID, fromID).Scan(&id)
	})
	return id, err
}

// GetCallback returns a callback contact with its callback.
func (s *Service) GetCallback(ctx context.Context, tenantID, id uuid.UUID) (CallbackContact, error) {
	var out CallbackContact
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		b, err := scanCallback(tx.QueryRow(ctx, `SELECT `+callbackColumns+` FROM callbacks WHERE tenant_id = $1 AND contact_id = $2`, tenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoCallback
		}
		if err != nil {
			return err
		}
		out.Callback = b
		c, err := scanContact(tx.QueryRow(ctx, `SELECT `+contactColumnsSQL+` FROM contacts WHERE tenant_id = $1 AND id = $2`, tenantID, id))
		out.Contact = c
		return err
	})
	return out, err
}

// CallbackFor returns a callback to a principal who may see its contact
// (an agent: only their own).
func (s *Service) CallbackFor(ctx context.Context, p tenant.Principal, id uuid.UUID) (CallbackContact, error) {
	cb, err := s.GetCallback(ctx, p.TenantID, id)
	if err != nil {
		return CallbackContact{}, err
	}
	if p.Role == cic.RoleFinance || p.Role == cic.RoleAgent && (cb.AgentID == nil || *cb.AgentID != p.UserID) {
		return CallbackContact{}, errNoCallback
	}
	return cb, nil
}

// BeginCallbackAttempt reserves the next attempt of an accepted callback
// (status dialing, attempts + 1) for the channel to place its call; ok is
// false when there is nothing to dial (not a callback, not accepted, an
// attempt already under way).
func (s *Service) BeginCallbackAttempt(ctx context.Context, tenantID, id uuid.UUID) (cb CallbackContact, ok bool, err error) {
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		b, err := scanCallback(tx.QueryRow(ctx, `SELECT `+callbackColumns+` FROM callbacks WHERE tenant_id = $1 AND contact_id = $2 FOR UPDATE`, tenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		c, err := scanContact(tx.QueryRow(ctx, `SELECT `+contactColumnsSQL+` FROM contacts WHERE tenant_id = $1 AND id = $2`, tenantID, id))
		if err != nil {
			return err
		}
		if b.Status != CallbackWaiting || c.State != StateAccepted || c.AgentID == nil || b.Attempts >= b.MaxAttempts {
			return nil
		}
		b.Attempts++
		b.Status = CallbackDialing
		if _, err := tx.Exec(ctx, `UPDATE callbacks SET status = 'dialing', attempts = $3, call_sid = NULL, next_attempt_at = NULL,
			updated_at = now() WHERE tenant_id = $1 AND contact_id = $2`, tenantID, id, b.Attempts); err != nil {
			return err
		}
		cb, ok = CallbackContact{Contact: c, Callback: b}, true
		return nil
	})
	if err != nil {
		return CallbackContact{}, false, fmt.Errorf("begin callback attempt: %w", err)
	}
	return cb, ok, nil
}

// CallbackDialed records the provider's call of the current attempt.
func (s *Service) CallbackDialed(ctx context.Context, tenantID, id uuid.UUID, callSID string, attempt int) error {
	return s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var agent *uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT agent_id FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, id).Scan(&agent); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE callbacks SET call_sid = $3, updated_at = now() WHERE tenant_id = $1 AND contact_id = $2 AND status = 'dialing'`,
			tenantID, id, callSID); err != nil {
			return err
		}
		return addEvent(ctx, tx, tenantID, id, "callback_dialing", agent, nil, map[string]any{"attempt": attempt, "call_sid": callSID})
	})
}

// CallbackConnected records that the customer answered the attempt's
// call (callSID); a replay or another call changes nothing.
func (s *Service) CallbackConnected(ctx context.Context, tenantID, id uuid.UUID, callSID string) error {
	return s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var attempts int
		var agent *uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT agent_id FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, id).Scan(&agent); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		}
		err := tx.QueryRow(ctx, `UPDATE callbacks SET status = 'connected', updated_at = now()
			WHERE tenant_id = $1 AND contact_id = $2 AND status = 'dialing' AND call_sid = $3 RETURNING attempts`, tenantID, id, callSID).Scan(&attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return addEvent(ctx, tx, tenantID, id, "callback_connected", agent, nil, map[string]any{"attempt": attempts, "call_sid": callSID})
	})
}

// CallbackAttemptFailed ends the current attempt unanswered (reason: the
// provider's status, no-answer, busy, failed, or provider_error): the
// agent is freed, and the callback waits RetryDelaySeconds for its next
// attempt (SweepCallbacks queues it again at its place in line), or, after
// the last attempt, is closed as unreachable. callSID "" matches an
// attempt whose call was never placed. handled is false when the call is
// not the attempt under way (a replay, a late status of an older call).
func (s *Service) CallbackAttemptFailed(ctx context.Context, tenantID, id uuid.UUID, callSID, reason string) (handled bool, err error) {
	now := s.Now()
	var agent *uuid.UUID
	var last bool
	var c Contact
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		c, err = scanContact(tx.QueryRow(ctx, `SELECT `+contactColumnsSQL+` FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		b, err := scanCallback(tx.QueryRow(ctx, `SELECT `+callbackColumns+` FROM callbacks WHERE tenant_id = $1 AND contact_id = $2 FOR UPDATE`, tenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if b.Status != CallbackDialing || b.CallSID != callSID {
			return nil
		}
		handled, agent, last = true, c.AgentID, b.Attempts >= b.MaxAttempts
		details := map[string]any{"attempt": b.Attempts, "of": b.MaxAttempts, "status": reason}
		if callSID != "" {
			details["call_sid"] = callSID
		}
		if last {
			if _, err := tx.Exec(ctx, `UPDATE callbacks SET status = 'unreachable', updated_at = now() WHERE tenant_id = $1 AND contact_id = $2`,
				tenantID, id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE contacts SET state = 'closed', closed_at = now() WHERE tenant_id = $1 AND id = $2`, tenantID, id); err != nil {
				return err
			}
			if err := addEvent(ctx, tx, tenantID, id, "callback_attempt_failed", agent, nil, details); err != nil {
				return err
			}
			return addEvent(ctx, tx, tenantID, id, "callback_unreachable", agent, nil, map[string]any{"attempts": b.Attempts})
		}
		retry := now.Add(time.Duration(b.RetryDelaySeconds) * time.Second)
		details["retry_at"] = retry
		if _, err := tx.Exec(ctx, `UPDATE callbacks SET status = 'waiting', next_attempt_at = $3, updated_at = now()
			WHERE tenant_id = $1 AND contact_id = $2`, tenantID, id, retry); err != nil {
			return err
		}
		// Waiting for the retry: out of routing (state new) until then.
		if _, err := tx.Exec(ctx, `UPDATE contacts SET state = 'new', agent_id = NULL WHERE tenant_id = $1 AND id = $2`, tenantID, id); err != nil {
			return err
		}
		return addEvent(ctx, tx, tenantID, id, "callback_attempt_failed", agent, nil, details)
	})
	if err != nil || !handled {
		if err != nil {
			err = fmt.Errorf("callback attempt failed: %w", err)
		}
		return handled, err
	}
	if agent != nil && c.State == StateAccepted {
		ch, err := s.finish(ctx, tenantID, id, *agent)
		if err != nil {
			s.keep(ctx, tenantID, ch)
			s.Logger.Warn("free the agent of an unanswered callback", "tenant", tenantID, "contact", id, "err", err)
		} else if err := s.record(ctx, tenantID, ch); err != nil {
			return true, err
		}
	}
	if last {
		s.notify(tenantID, "closed", id, agent)
	} else {
		s.notify(tenantID, "callback_retry", id, agent)
	}
	return true, nil
}

// DialingLost is how long an attempt may ring without any word from the
// provider (its status callbacks lost, or come before the call was
// recorded) before SweepCallbacks counts it as unanswered; the provider
// gives up ringing after at most 10 minutes.
const DialingLost = 15 * time.Minute

// SweepCallbacks queues the tenant's callbacks that became due: a
// not_before reached, a retry's delay over. Each keeps its place in line
// (its queued_at). An attempt that rang for DialingLost without news
// counts as unanswered. The ticker runs it on its sweep.
func (s *Service) SweepCallbacks(ctx context.Context, tenantID uuid.UUID) (int, error) {
	now := s.Now()
	var lost []struct {
		id  uuid.UUID
		sid string
	}
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT contact_id, coalesce(call_sid, '') FROM callbacks
			WHERE tenant_id = $1 AND status = 'dialing' AND updated_at < $2 LIMIT 100`, tenantID, now.Add(-DialingLost))
		if err != nil {
			return err
		}
		var id uuid.UUID
		var sid string
		_, err = pgx.ForEachRow(rows, []any{&id, &sid}, func() error {
			lost = append(lost, struct {
				id  uuid.UUID
				sid string
			}{id, sid})
			return nil
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("lost callback attempts: %w", err)
	}
	for _, l := range lost {
		if _, err := s.CallbackAttemptFailed(ctx, tenantID, l.id, l.sid, "no_news"); err != nil {
			return 0, err
		}
	}
	var ids []uuid.UUID
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT b.contact_id FROM callbacks b JOIN contacts c ON c.tenant_id = b.tenant_id AND c.id = b.contact_id
			WHERE b.tenant_id = $1 AND b.status = 'waiting' AND b.next_attempt_at <= $2 AND c.state IN ('new', 'queued')
			ORDER BY b.next_attempt_at LIMIT 500`, tenantID, now)
		if err != nil {
			return err
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
			return err
		}
		for _, id := range ids {
			tag, err := tx.Exec(ctx, `UPDATE contacts SET state = 'queued' WHERE tenant_id = $1 AND id = $2 AND state = 'new'`, tenantID, id)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				if err := addEvent(ctx, tx, tenantID, id, "queued", nil, nil, map[string]any{"kind": KindCallback, "due": true}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("due callbacks: %w", err)
	}
	for i, id := range ids {
		if err := s.enqueueCallbackErr(ctx, tenantID, id); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}
