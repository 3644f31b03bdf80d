package voice

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing/contacts"
)

// Callbacks (routing/contacts/callback.go) on the phone: a caller waiting
// in the hold loop presses CallbackKey to be called back instead; when an
// agent accepts a callback, its call is placed from the company's number
// and, once the customer answers, put through to the agent's softphone
// (the /outbound step). An attempt nobody answers (the provider's
// no-answer, busy, failed, canceled) goes back to contacts, which retries
// or gives up.

// StepCallback is the hold loop's key press.
const StepCallback = "callback"

// CallbackKey is the key a waiting caller presses to be called back.
const CallbackKey = "1"

const (
	sayCallbackOffer   = "To be called back instead of waiting, keeping your place in line, press 1."
	sayCallbackBooked  = "Thank you. We will call you back on the number you are calling from, as soon as it is your turn. Goodbye."
	sayCallbackNoPhone = "Sorry, we cannot call you back on this number. Please stay on the line."
	sayCallbackNot     = "Sorry, we cannot offer a callback right now. Please stay on the line."
)

// offerCallback adds the callback offer to a queued caller's hold loop.
func (s *Service) offerCallback(t *TwiML, tenantID, contactID uuid.UUID) {
	t.Gather(sayCallbackOffer, s.holdSeconds(), s.url(tenantID, StepCallback, q("contact", contactID.String())))
}

// callbackKey: the waiting caller pressed a key in the hold loop. The key
// CallbackKey turns the call's contact into a callback at the same place
// in line, and the call ends; any other key, or a contact no longer
// waiting, goes back to the hold loop.
func (s *Service) callbackKey(ctx context.Context, tenantID uuid.UUID, sid string, query, f url.Values) (*TwiML, error) {
	call, c, err := s.callContact(ctx, tenantID, sid, query)
	if err != nil {
		return nil, err
	}
	back := func(say string) *TwiML {
		t := new(TwiML)
		if say != "" {
			t.Say(say)
		}
		return t.Redirect(s.url(tenantID, StepWait, q("contact", c.ID.String())))
	}
	if strings.TrimSpace(f.Get("Digits")) != CallbackKey || c.Kind == contacts.KindCallback {
		return back(""), nil
	}
	if !contacts.ValidE164(call.From) {
		return back(sayCallbackNoPhone), nil
	}
	if _, err := s.Contacts.CallbackInstead(ctx, tenantID, c.ID, call.From, "", nil); err != nil {
		switch cic.ErrorKind(err) {
		case cic.ECONFLICT: // accepted meanwhile, or no longer waiting: the hold loop knows what next
			return back(""), nil
		case cic.EINVALID, cic.EUNAVAILABLE, cic.ENOTFOUND:
			s.Logger.Info("callback refused", "tenant", tenantID, "contact", c.ID, "err", err)
			return back(sayCallbackNot), nil
		}
		return nil, err
	}
	return new(TwiML).Say(sayCallbackBooked).Hangup(), nil
}

// callbackAccepted places the call of an accepted callback (in the
// background: contacts.Service.Notify must not wait for the provider).
func (s *Service) callbackAccepted(tenantID, contactID uuid.UUID) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.PlaceCallback(ctx, tenantID, contactID); err != nil {
			s.Logger.Warn("place callback", "tenant", tenantID, "contact", contactID, "err", err)
		}
	}()
}

// PlaceCallback places the next attempt's call of an accepted callback;
// it does nothing for any other contact, or when an attempt is under way.
// A call the provider refuses counts as an unanswered attempt.
func (s *Service) PlaceCallback(ctx context.Context, tenantID, contactID uuid.UUID) error {
	cb, ok, err := s.Contacts.BeginCallbackAttempt(ctx, tenantID, contactID)
	if err != nil || !ok {
		return err
	}
	fail := func(reason string, cause error) error {
		if _, err := s.Contacts.CallbackAttemptFailed(ctx, tenantID, contactID, "", reason); err != nil {
			return err
		}
		return cause
	}
	cl, prov, err := s.client(ctx, tenantID)
	if err != nil {
		return fail("no_provider", err)
	}
	from := prov.From
	if a, err := s.Directory.FirstAddress(ctx, tenantID, Name); err == nil {
		from = a.Address
	} else if cic.ErrorKind(err) != cic.ECONFLICT {
		return fail("no_address", err)
	}
	if from == "" {
		return fail("no_address", cic.Codef(cic.ECONFLICT, "no_address", "Set up a phone number for calls (or the provider's From) first."))
	}
	res, err := cl.CreateCall(ctx, from, cb.Callback.To, s.url(tenantID, StepOutbound, q("contact", contactID.String())), s.url(tenantID, StepStatus, nil))
	if err == nil && !validSID(res.SID) {
		err = cic.Codef(cic.EUNAVAILABLE, "provider_refused", "The provider's call id is not usable.")
	}
	if err != nil {
		return fail("provider_error", fmt.Errorf("place callback: %w", err))
	}
	status := res.Status
	if status == "" || len(status) > 40 {
		status = "queued"
	}
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		// A contact has one call at a time: the earlier attempts' calls
		// (ended) let go of it.
		if _, err := tx.Exec(ctx, `UPDATE voice_calls SET contact_id = NULL WHERE tenant_id = $1 AND contact_id = $2 AND call_sid <> $3`,
			tenantID, contactID, res.SID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO voice_calls (tenant_id, call_sid, contact_id, queue_id, from_addr, to_addr, direction, status)
			VALUES ($1, $2, $3, $4, $5, $6, 'outbound', $7) ON CONFLICT DO NOTHING`, tenantID, res.SID, contactID, cb.QueueID, from, cb.Callback.To, status)
		return err
	})
	if err != nil {
		return fmt.Errorf("record callback call: %w", err)
	}
	return s.Contacts.CallbackDialed(ctx, tenantID, contactID, res.SID, cb.Callback.Attempts)
}

// callbackStatus follows the provider's status of a callback's call: an
// answer marks it connected; an end without answer is a failed attempt.
// handled is true when the usual end of a call does not apply: a
// callback is never abandoned by its call (a late status of an earlier
// attempt, while the callback waits for its retry, changes nothing).
func (s *Service) callbackStatus(ctx context.Context, tenantID uuid.UUID, call Call, st string) (handled bool, err error) {
	if call.ContactID == nil || call.Direction != "outbound" {
		return false, nil
	}
	c, err := s.Contacts.GetByID(ctx, tenantID, *call.ContactID)
	if err != nil || c.Kind != contacts.KindCallback {
		return false, err
	}
	switch st {
	case "in-progress", "answered":
		return false, s.Contacts.CallbackConnected(ctx, tenantID, c.ID, call.SID)
	case "completed":
		if err := s.Contacts.CallbackConnected(ctx, tenantID, c.ID, call.SID); err != nil {
			return false, err
		}
		// Only a callback in conversation hears of the hang-up.
		return c.State != contacts.StateAccepted && c.State != contacts.StateWrapUp && c.State != contacts.StateClosed, nil
	case "no-answer", "busy", "failed", "canceled":
		_, err := s.Contacts.CallbackAttemptFailed(ctx, tenantID, c.ID, call.SID, st)
		return true, err
	}
	return false, nil
}
