// Package contacts is the durable side of routing: every contact's row
// and timeline in PostgreSQL, driven by the live routing engine (package
// routing) and metered when first handled. The engine decides; this
// package records what it decided, in order, and meters exactly once.
package contacts

import (
	"time"

	"github.com/google/uuid"
)

// States of a contact (the spec's state machine).
const (
	StateNew          = "new"
	StateQueued       = "queued"
	StateOffered      = "offered"
	StateAccepted     = "accepted"
	StateWrapUp       = "wrap_up"
	StateClosed       = "closed"
	StateAbandoned    = "abandoned"
	StateExpired      = "expired"
	StateNoCredit     = "rejected_no_credit"
	openStatesSQL     = `('new', 'queued', 'offered', 'accepted', 'wrap_up')`
	contactColumnsSQL = `id, channel, direction, state, queue_id, agent_id, customer_ref, campaign, disposition,
		created_at, queued_at, first_offered_at, accepted_at, wrap_up_at, closed_at, metered_at, customer_id, subject, kind`
)

// Contact is one customer interaction.
type Contact struct {
	ID             uuid.UUID  `json:"id"`
	Channel        string     `json:"channel"`
	Direction      string     `json:"direction"`
	State          string     `json:"state"`
	QueueID        *uuid.UUID `json:"queue_id"`
	AgentID        *uuid.UUID `json:"agent_id"`
	CustomerRef    string     `json:"customer_ref"`
	Campaign       string     `json:"campaign"`
	Disposition    *string    `json:"disposition"`
	CreatedAt      time.Time  `json:"created_at"`
	QueuedAt       *time.Time `json:"queued_at"`
	FirstOfferedAt *time.Time `json:"first_offered_at"`
	AcceptedAt     *time.Time `json:"accepted_at"`
	WrapUpAt       *time.Time `json:"wrap_up_at"`
	ClosedAt       *time.Time `json:"closed_at"`
	MeteredAt      *time.Time `json:"metered_at"`
	CustomerID     *uuid.UUID `json:"customer_id"`
	Subject        string     `json:"subject"`
	// Kind is standard, or callback (a call back the customer asked for).
	Kind string `json:"kind"`
	// OfferExpiresAt is set while the contact is offered (from the engine).
	OfferExpiresAt *time.Time `json:"offer_expires_at,omitempty"`
}

// Event is one entry of a contact's timeline.
type Event struct {
	Seq     int            `json:"seq"`
	At      time.Time      `json:"at"`
	Kind    string         `json:"kind"`
	AgentID *uuid.UUID     `json:"agent_id"`
	QueueID *uuid.UUID     `json:"queue_id"`
	Details map[string]any `json:"details"`
}

type scanner interface{ Scan(...any) error }

func scanContact(row scanner) (Contact, error) {
	var c Contact
	err := row.Scan(&c.ID, &c.Channel, &c.Direction, &c.State, &c.QueueID, &c.AgentID, &c.CustomerRef, &c.Campaign,
		&c.Disposition, &c.CreatedAt, &c.QueuedAt, &c.FirstOfferedAt, &c.AcceptedAt, &c.WrapUpAt, &c.ClosedAt, &c.MeteredAt, &c.CustomerID, &c.Subject, &c.Kind)
	return c, err
}
