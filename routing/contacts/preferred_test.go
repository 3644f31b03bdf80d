package contacts_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/setup"
)

// TestOpen_PrefersTheCustomersLastAgent: with preferred_agent_seconds on
// the queue, a returning customer's contact waits for the agent who last
// accepted one of theirs (busy now) although another agent is idle, and
// is offered to that agent as soon as it has room; with the setting off,
// or for another customer, the idle agent gets it at once.
func TestOpen_PrefersTheCustomersLastAgent(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 2)
	c := testenv.Context(t)
	a1, a2 := co.agents[0], co.agents[1]
	customer := uuid.New()
	if _, err := w.db.Owner.Exec(c, `INSERT INTO customers (tenant_id, id) VALUES ($1, $2)`, co.owner.TenantID, customer); err != nil {
		t.Fatal(err)
	}
	open := func(cust *uuid.UUID) contacts.Contact {
		t.Helper()
		ct, err := w.contacts.Open(c, co.owner.TenantID, contacts.OpenInput{QueueID: co.queue.ID, Channel: "chat", CustomerID: cust})
		if err != nil {
			t.Fatal(err)
		}
		return ct
	}
	// The customer's first contact ends up with a2 (a1 rejects it).
	first := open(&customer)
	if err := w.contacts.Reject(c, a1, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.contacts.Accept(c, a2, first.ID); err != nil {
		t.Fatal(err)
	}
	sixty := 60
	if _, err := w.setup.UpdateQueue(c, co.owner.Actor, co.queue.ID, setup.QueueInput{PreferredAgent: &sixty}); err != nil {
		t.Fatal(err)
	}
	// a1 is idle again (its miss block is on the first contact only).
	second := open(&customer)
	if second.State != contacts.StateQueued {
		t.Fatalf("second contact %s with %v, want queued for a2", second.State, second.AgentID)
	}
	if err := w.contacts.WrapUp(c, a2, first.ID, "solved"); err != nil {
		t.Fatal(err)
	}
	d, err := w.contacts.Get(c, co.owner, second.ID)
	if err != nil || d.State != contacts.StateOffered || d.AgentID == nil || *d.AgentID != a2.UserID {
		t.Fatalf("after a2 wrapped up: %+v %v, want offered to a2", d.Contact, err)
	}
	// Someone else's contact goes to the idle agent at once.
	if other := open(nil); other.State != contacts.StateOffered || *other.AgentID != a1.UserID {
		t.Fatalf("another customer's contact: %s %v, want offered to a1", other.State, other.AgentID)
	}
}
