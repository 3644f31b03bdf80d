package routing

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ContactStatus is where a contact is in routing.
type ContactStatus string

const (
	Waiting  ContactStatus = "waiting"
	Reserved ContactStatus = "offered"
	Assigned ContactStatus = "assigned"
)

// AgentState is one agent's routing state.
type AgentState struct {
	ID        string
	Status    Status
	IdleSince time.Time
	Misses    int
	Capacity  map[Channel]int
	// Load counts offered and assigned contacts.
	Load map[Channel]int
	// Holding are the contacts offered or assigned to the agent, by id, as
	// the agent's own record has them.
	Holding []string
	// AwayReason is MissedOffers while the agent is away because it missed
	// Misses offers in a row; "" otherwise.
	AwayReason Reason
}

// ContactState is one live contact's routing state.
type ContactState struct {
	ID         string
	Queue      string
	Channel    Channel
	Status     ContactStatus
	Agent      string    // offered to or assigned to
	ExpiresAt  time.Time // of the reservation
	Priority   int
	EnqueuedAt time.Time
	// Relaxed: waited past the queue's RelaxAfter.
	Relaxed bool
	// Step is how many of the queue's skill steps its wait reached.
	Step int
	// Preferred is the agent the contact waits for until PreferredUntil.
	Preferred      string
	PreferredUntil time.Time
	// Excluded is the agent the contact is not offered to until
	// ExcludedUntil (the re-offer block).
	Excluded      string
	ExcludedUntil time.Time
}

// Snapshot is a tenant's whole routing state at one moment, agents and
// contacts sorted by id: for the wallboard and for checks.
type Snapshot struct {
	Agents   []AgentState
	Contacts []ContactState
}

// Snapshot reads the tenant's routing state atomically. It does not
// advance time: a reservation past its expiry shows until the next write.
func (e *Engine) Snapshot(ctx context.Context, tenant uuid.UUID) (Snapshot, error) {
	p, keys := e.keys(tenant)
	res, err := e.call(ctx, "snapshot", true, keys, []any{p, 0}).Slice()
	if err != nil {
		return Snapshot{}, fmt.Errorf("routing snapshot: %w: %w", ErrUnavailable, err)
	}
	var s Snapshot
	for _, item := range res {
		f, ok := item.([]any)
		if !ok || len(f) < 8 {
			return Snapshot{}, fmt.Errorf("routing snapshot: bad item %v", item)
		}
		switch str(f[0]) {
		case "a":
			a := AgentState{ID: str(f[1]), Status: Status(str(f[2])),
				IdleSince: time.UnixMilli(num(f[3])), Misses: int(num(f[4])),
				Capacity: decodeCounts(str(f[5])), Load: decodeCounts(str(f[6])), Holding: decodeIDs(str(f[7]))}
			if len(f) > 8 {
				a.AwayReason = Reason(str(f[8]))
			}
			s.Agents = append(s.Agents, a)
		case "c":
			if len(f) < 11 {
				return Snapshot{}, fmt.Errorf("routing snapshot: bad contact %v", f)
			}
			c := ContactState{ID: str(f[1]), Queue: str(f[2]), Channel: Channel(str(f[3])), Agent: str(f[5]),
				Priority: int(num(f[8])), EnqueuedAt: time.UnixMilli(num(f[9])), Relaxed: num(f[10]) == 1, Excluded: str(f[7])}
			if c.Excluded != "" && len(f) > 11 {
				c.ExcludedUntil = time.UnixMilli(num(f[11]))
			}
			if len(f) > 14 {
				c.Step, c.Preferred = int(num(f[12])), str(f[13])
				if c.Preferred != "" {
					c.PreferredUntil = time.UnixMilli(num(f[14]))
				}
			}
			switch str(f[4]) {
			case "w":
				c.Status = Waiting
			case "o":
				c.Status = Reserved
				c.ExpiresAt = time.UnixMilli(num(f[6]))
			case "a":
				c.Status = Assigned
			}
			s.Contacts = append(s.Contacts, c)
		}
	}
	slices.SortFunc(s.Agents, func(a, b AgentState) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(s.Contacts, func(a, b ContactState) int { return cmp.Compare(a.ID, b.ID) })
	return s, nil
}

func decodeIDs(s string) []string {
	if s == "" {
		return nil
	}
	ids := strings.Split(s, ",")
	slices.Sort(ids)
	return ids
}

func decodeCounts(s string) map[Channel]int {
	m := map[Channel]int{}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(v)
		m[Channel(k)] = n
	}
	return m
}
