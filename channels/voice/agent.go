package voice

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant"
)

// Agent actions on a live call.
const (
	ActHold   = "hold"
	ActResume = "resume"
	ActHangup = "hangup"
)

var errNotFound = cic.Codef(cic.ENOTFOUND, "not_found", "Contact not found.")

// heldCall loads a voice contact the caller may act on (the agent holding
// it, or a supervisor, admin or owner) and its live call.
func (s *Service) heldCall(ctx context.Context, p tenant.Principal, contactID uuid.UUID) (contacts.Contact, Call, error) {
	c, err := s.Contacts.GetByID(ctx, p.TenantID, contactID)
	if err != nil {
		return contacts.Contact{}, Call{}, err
	}
	mine := c.AgentID != nil && *c.AgentID == p.UserID
	if !mine && !p.Role.In(cic.RoleSupervisor, cic.RoleAdmin, cic.RoleOwner) {
		if p.Role == cic.RoleAgent || p.Role == cic.RoleFinance {
			return contacts.Contact{}, Call{}, errNotFound // an agent learns nothing of others' contacts
		}
		return contacts.Contact{}, Call{}, cic.Codef(cic.EFORBIDDEN, "not_your_contact", "This call is not yours.")
	}
	if c.Channel != Name {
		return contacts.Contact{}, Call{}, cic.Codef(cic.EINVALID, "not_a_call", "This contact is not a call.")
	}
	call, err := s.CallOf(ctx, p.TenantID, contactID)
	if err != nil {
		return contacts.Contact{}, Call{}, err
	}
	if !call.Live() {
		return contacts.Contact{}, Call{}, cic.Codef(cic.ECONFLICT, "call_ended", "The call has ended.")
	}
	return c, call, nil
}

// CallAction holds, resumes or hangs up (for the agent) a live call, and
// notes it on the contact's timeline. Hanging up takes the caller to the
// satisfaction survey when there is one to ask, else ends the call.
func (s *Service) CallAction(ctx context.Context, p tenant.Principal, contactID uuid.UUID, action string) (Call, error) {
	c, call, err := s.heldCall(ctx, p, contactID)
	if err != nil {
		return Call{}, err
	}
	cl, _, err := s.client(ctx, p.TenantID)
	if err != nil {
		return Call{}, err
	}
	contact := q("contact", c.ID.String())
	var event string
	details := map[string]any{"call_sid": call.SID}
	switch action {
	case ActHold, ActResume:
		if c.State != contacts.StateAccepted {
			return Call{}, cic.Codef(cic.ECONFLICT, "invalid_state", "Only an answered call can be held or resumed (it is %s).", c.State)
		}
		if action == ActHold && call.Held {
			return Call{}, cic.Codef(cic.ECONFLICT, "already_held", "The caller is already on hold.")
		}
		if action == ActResume && !call.Held {
			return Call{}, cic.Codef(cic.ECONFLICT, "not_held", "The caller is not on hold.")
		}
		// The flag first: the provider fetches the new TwiML at once, and
		// /hold and /wait read it.
		if err := s.updateCall(ctx, p.TenantID, call.SID, `held = $3`, action == ActHold); err != nil {
			return Call{}, err
		}
		step, ev := StepHold, "hold"
		if action == ActResume {
			step, ev = StepWait, "resumed"
		}
		if _, err := cl.RedirectCall(ctx, call.SID, s.url(p.TenantID, step, contact)); err != nil {
			if uerr := s.updateCall(ctx, p.TenantID, call.SID, `held = $3`, call.Held); uerr != nil {
				s.Logger.Error("undo hold flag", "tenant", p.TenantID, "call", call.SID, "err", uerr)
			}
			return Call{}, fmt.Errorf("%s call: %w", action, err)
		}
		call.Held = action == ActHold
		event = ev
	case ActHangup:
		started, err := s.Surveys.StartSurvey(ctx, p.TenantID, c.ID, Name)
		if err != nil {
			return Call{}, err
		}
		if started || call.Survey == "asked" {
			if err := s.updateCall(ctx, p.TenantID, call.SID, `survey = 'asked', held = false`); err != nil {
				return Call{}, err
			}
			_, err = cl.RedirectCall(ctx, call.SID, s.url(p.TenantID, StepSurvey, contact))
			details["survey"] = true
		} else {
			_, err = cl.EndCall(ctx, call.SID)
		}
		if err != nil {
			return Call{}, fmt.Errorf("hang up call: %w", err)
		}
		details["by"] = "agent"
		event = "hangup"
	default:
		return Call{}, cic.Codef(cic.EINVALID, "invalid_action", "A call is held, resumed or hung up.")
	}
	if err := s.Contacts.AddEvent(ctx, p.TenantID, c.ID, event, &p.UserID, details); err != nil {
		return Call{}, err
	}
	return call, nil
}

// ContactChanged follows routing's changes that touch a live call
// (contacts.Service.Notify): a transferred call goes back to the hold
// loop until its next agent answers. It returns at once; the provider is
// called in the background.
func (s *Service) ContactChanged(tenantID uuid.UUID, kind string, contactID uuid.UUID, _ *uuid.UUID) {
	if kind == "accepted" {
		s.callbackAccepted(tenantID, contactID) // places the call when it is a callback
		return
	}
	if kind != string(routing.Transferred) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.backToQueue(ctx, tenantID, contactID); err != nil {
			s.Logger.Warn("transferred call back to the hold loop", "tenant", tenantID, "contact", contactID, "err", err)
		}
	}()
}

func (s *Service) backToQueue(ctx context.Context, tenantID, contactID uuid.UUID) error {
	call, err := s.CallOf(ctx, tenantID, contactID)
	if err != nil {
		if cic.ErrorKind(err) == cic.ECONFLICT {
			return nil // not a call
		}
		return err
	}
	if !call.Live() {
		return nil
	}
	if err := s.updateCall(ctx, tenantID, call.SID, `held = false`); err != nil {
		return err
	}
	cl, _, err := s.client(ctx, tenantID)
	if err != nil {
		return err
	}
	_, err = cl.RedirectCall(ctx, call.SID, s.url(tenantID, StepWait, q("contact", contactID.String())))
	return err
}

// CallFor returns the call behind a voice contact for the desk: to the
// agent holding it, or a supervisor, admin or owner.
func (s *Service) CallFor(ctx context.Context, p tenant.Principal, contactID uuid.UUID) (Call, error) {
	c, err := s.Contacts.GetByID(ctx, p.TenantID, contactID)
	if err != nil {
		return Call{}, err
	}
	mine := c.AgentID != nil && *c.AgentID == p.UserID
	if (!mine && !p.Role.In(cic.RoleSupervisor, cic.RoleAdmin, cic.RoleOwner)) || c.Channel != Name {
		return Call{}, errNotFound
	}
	call, err := s.CallOf(ctx, p.TenantID, contactID)
	if cic.ErrorKind(err) == cic.ECONFLICT {
		return Call{}, cic.Codef(cic.ENOTFOUND, "no_call", "This contact has no call.")
	}
	return call, err
}
