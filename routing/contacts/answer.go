package contacts

import (
	"context"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
)

// ErrNotAccepted refuses an answer to a customer on a contact no one has
// accepted yet.
var ErrNotAccepted = cic.Codef(cic.ECONFLICT, "not_accepted",
	"Accept the contact before answering the customer: only an accepted contact is answered.")

// BeforeAnswer is the rule every path follows before an answer from our
// side (an agent's or a supervisor's words) reaches a customer, on every
// channel: the contact was accepted, so it is metered. Nothing is served
// unmetered: a supervisor who joins a queued chat, or anyone who answers
// a contact still waiting, is refused with ErrNotAccepted (409
// not_accepted); they accept it first (which meters it and, for an agent,
// needs a seat: only an available agent is offered a contact).
//
// An accepted contact whose metering a crash left pending is metered
// here, before the answer goes out, so that no customer-visible answer
// ever exists on a contact without its meter record; when that fails the
// answer is refused (EUNAVAILABLE) and can be sent again.
//
// System messages that are no one's answer (the survey after close, a
// "service unavailable" notice) do not come through here.
func (s *Service) BeforeAnswer(ctx context.Context, tenantID, contactID uuid.UUID) error {
	c, err := s.get(ctx, tenantID, contactID)
	if err != nil {
		return err
	}
	return s.answerable(ctx, tenantID, c)
}

func (s *Service) answerable(ctx context.Context, tenantID uuid.UUID, c Contact) error {
	if c.AcceptedAt == nil {
		return ErrNotAccepted
	}
	if c.MeteredAt != nil {
		return nil
	}
	if err := s.meter(ctx, tenantID, c.ID); err != nil {
		s.Logger.Error("meter before answering", "tenant", tenantID, "contact", c.ID, "err", err)
		return cic.Codef(cic.EUNAVAILABLE, "not_metered", "The contact could not be recorded yet; send the answer again in a moment.")
	}
	return nil
}
