package routing

import "time"

// EventKind says what an Event changed.
type EventKind string

const (
	// Offered: Contact is reserved for Agent until ExpiresAt.
	Offered EventKind = "offer"
	// Requeued: Contact went back to waiting in Queue, freeing Agent, for
	// Reason.
	Requeued EventKind = "requeue"
	// SetAway: Agent was set away after its queue's MaxMisses (Reason
	// MissedOffers, Misses in a row).
	SetAway EventKind = "away"
	// Transferred: Contact moved to Queue (or, when an Offered event for a
	// named agent follows, stays in Queue); Agent held it before, if any.
	Transferred EventKind = "transfer"
)

// Reason says why a contact was requeued.
type Reason string

const (
	Rejected    Reason = "rejected"
	TimedOut    Reason = "timeout"
	Unavailable Reason = "unavailable" // the agent left available, or was set away
	// MissedOffers: why SetAway set the agent away.
	MissedOffers Reason = "missed_offers"
)

// Event is one change made by an operation.
type Event struct {
	Kind      EventKind
	Contact   string
	Agent     string
	Queue     string
	Channel   Channel   // Offered only
	ExpiresAt time.Time // Offered only
	Reason    Reason    // Requeued and SetAway
	Misses    int       // SetAway only: the misses in a row
}

// Changes is everything an operation changed, in the order it happened:
// what the lazy tick inside every script did first (relaxed contacts
// offered, timed-out reservations requeued) and then the operation's own
// effects. Callers persist them (contact timeline, agent status).
type Changes struct {
	Events []Event
}

// Offers are the reservations made.
func (c Changes) Offers() []Event { return c.filter(Offered) }

// Requeued are the contacts put back in a queue.
func (c Changes) Requeued() []Event { return c.filter(Requeued) }

// Away are the agents set away for missing offers.
func (c Changes) Away() []string {
	var ids []string
	for _, e := range c.Events {
		if e.Kind == SetAway {
			ids = append(ids, e.Agent)
		}
	}
	return ids
}

func (c Changes) filter(k EventKind) []Event {
	var out []Event
	for _, e := range c.Events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// Was is what an abandoned contact was doing.
type Was string

const (
	WasWaiting Was = "waiting"
	WasOffered Was = "offered"
)
