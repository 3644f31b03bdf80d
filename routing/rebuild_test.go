package routing

import (
	"testing"
	"time"
)

// TestRestore_AssignedContactCountsAndFinishes: a contact put back as
// assigned (after Redis lost it) fills the agent's room, so the agent is
// offered nothing more; the indexes agree with the state; a later accept
// after a transfer is not a first one (its marker is set); Finish frees the room and the
// waiting contact is offered. A second Restore of the same contact, or
// one for an unknown agent or queue, is refused and changes nothing.
func TestRestore_AssignedContactCountsAndFinishes(t *testing.T) {
	f := newFixture(t)
	base := f.now
	f.queue(Queue{ID: "q", Channels: []Channel{Chat}})
	f.agent("ann", nil, map[Channel]int{Chat: 1})
	f.must(f.e.Restore(f.ctx, f.tenant, Contact{ID: "held", Queue: "q", Channel: Chat, Priority: 2,
		EnqueuedAt: base.Add(-time.Minute)}, "ann", f.now))
	_, err := f.e.Restore(f.ctx, f.tenant, Contact{ID: "held", Queue: "q", Channel: Chat}, "ann", f.now)
	wantCode(t, err, "contact_exists")
	_, err = f.e.Restore(f.ctx, f.tenant, Contact{ID: "x", Queue: "q", Channel: Chat}, "bob", f.now)
	wantCode(t, err, "unknown_agent")
	_, err = f.e.Restore(f.ctx, f.tenant, Contact{ID: "y", Queue: "nope", Channel: Chat}, "ann", f.now)
	wantCode(t, err, "unknown_queue")
	if ch := f.at(time.Second).enqueue(Contact{ID: "next", Queue: "q", Channel: Chat}); len(ch.Offers()) != 0 {
		t.Fatalf("agent with a restored contact offered %+v", ch.Offers())
	}
	s, err := f.e.Snapshot(f.ctx, f.tenant)
	if err != nil {
		t.Fatal(err)
	}
	if err := check(s); err != nil {
		t.Fatal(err)
	}
	if err := auditIndexes(f.ctx, f.e, f.tenant, s); err != nil {
		t.Fatal(err)
	}
	if len(s.Contacts) != 2 {
		t.Fatalf("contacts %+v", s.Contacts)
	}
	if c := f.contact("held"); c.Status != Assigned || c.Agent != "ann" || c.Priority != 2 || !c.EnqueuedAt.Equal(base.Add(-time.Minute)) {
		t.Fatalf("restored contact %+v", c)
	}
	live, err := f.e.Live(f.ctx, f.tenant)
	if err != nil || live.Built || !live.Contacts["held"] || !live.Contacts["next"] || !live.Agents["ann"] || !live.Queues["q"] || len(live.Contacts) != 2 {
		t.Fatalf("live %+v %v", live, err)
	}
	if st, ok, err := f.e.AgentStatus(f.ctx, f.tenant, "ann"); err != nil || !ok || st != Available {
		t.Fatalf("agent status %s %v %v", st, ok, err)
	}
	if _, ok, err := f.e.AgentStatus(f.ctx, f.tenant, "bob"); err != nil || ok {
		t.Fatalf("unknown agent's status: %v %v", ok, err)
	}
	if m, err := f.e.AgentStatuses(f.ctx, f.tenant, []string{"ann", "bob"}); err != nil || len(m) != 1 || m["ann"] != Available {
		t.Fatalf("agent statuses: %v %v", m, err)
	}
	// Accepted already: a later accept (after a transfer) is no first one.
	p, _ := f.e.keys(f.tenant)
	if n, err := f.e.rdb.Exists(f.ctx, p+"acc:held").Result(); err != nil || n != 1 {
		t.Fatalf("first-accept marker of the restored contact: %d %v", n, err)
	}
	// Finish frees ann's room: the waiting contact is hers.
	f.at(2 * time.Second)
	if ch := f.must(f.e.Finish(f.ctx, f.tenant, "held", "ann", f.now)); len(ch.Offers()) != 1 || ch.Offers()[0].Contact != "next" {
		t.Fatalf("finish of the restored contact: %+v", ch.Events)
	}

	// The marker: missing, claimed once, dropped.
	if ok, err := f.e.ClaimRebuild(f.ctx, f.tenant, f.now); err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := f.e.ClaimRebuild(f.ctx, f.tenant, f.now); err != nil || ok {
		t.Fatalf("second claim: %v %v", ok, err)
	}
	if b, err := f.e.Built(f.ctx, f.tenant); err != nil || !b {
		t.Fatalf("built: %v %v", b, err)
	}
	if err := f.e.DropMarker(f.ctx, f.tenant); err != nil {
		t.Fatal(err)
	}
	if b, _ := f.e.Built(f.ctx, f.tenant); b {
		t.Fatal("marker still there")
	}
}
