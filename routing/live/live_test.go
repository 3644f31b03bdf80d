package live_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/routing/live"
)

func subscriber(t *testing.T, prefix string) *live.Subscriber {
	// Each replica has its own Redis client, as separate processes do.
	s := live.NewSubscriber(testenv.NewRedis(t), prefix)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func listen(t *testing.T, s *live.Subscriber, tenantID uuid.UUID) *live.Listener {
	t.Helper()
	l, err := s.Listen(testenv.Context(t), tenantID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func next(t *testing.T, l *live.Listener) live.Event {
	t.Helper()
	select {
	case ev := <-l.C:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
		return live.Event{}
	}
}

func quiet(t *testing.T, l *live.Listener, within time.Duration) {
	t.Helper()
	select {
	case ev := <-l.C:
		t.Fatalf("heard another tenant's event %+v", ev)
	case <-time.After(within):
	}
}

func TestLive_EventReachesEveryReplicaOfTheTenantOnly(t *testing.T) {
	prefix := testenv.Prefix()
	replica1, replica2 := subscriber(t, prefix), subscriber(t, prefix)
	pub := live.NewPublisher(testenv.NewRedis(t), prefix, nil)
	tenantA, tenantB := uuid.New(), uuid.New()
	a1, a2 := listen(t, replica1, tenantA), listen(t, replica2, tenantA)
	b2 := listen(t, replica2, tenantB)

	agent, contact := uuid.New(), uuid.New()
	pub.Notify(tenantA, "offer", contact, &agent)
	for _, l := range []*live.Listener{a1, a2} {
		ev := next(t, l)
		if ev.Kind != "offer" || ev.ContactID != contact || ev.AgentID == nil || *ev.AgentID != agent {
			t.Fatalf("event %+v", ev)
		}
	}
	quiet(t, b2, 300*time.Millisecond)

	// B's own event reaches B only.
	if err := pub.Publish(testenv.Context(t), tenantB, live.Event{Kind: "abandoned", ContactID: contact}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, b2); ev.Kind != "abandoned" || ev.AgentID != nil {
		t.Fatalf("B's event %+v", ev)
	}
	quiet(t, a1, 300*time.Millisecond)
	quiet(t, a2, 0)
}

func TestLive_ClosedListenerHearsNothingAndOthersStillDo(t *testing.T) {
	prefix := testenv.Prefix()
	s := subscriber(t, prefix)
	pub := live.NewPublisher(testenv.NewRedis(t), prefix, nil)
	tenant := uuid.New()
	gone, stays := listen(t, s, tenant), listen(t, s, tenant)
	gone.Close()
	pub.Notify(tenant, "closed", uuid.New(), nil)
	if ev := next(t, stays); ev.Kind != "closed" {
		t.Fatalf("event %+v", ev)
	}
	select {
	case ev := <-gone.C:
		t.Fatalf("closed listener heard %+v", ev)
	default:
	}
	// The last listener leaving unsubscribes; a new one subscribes again.
	stays.Close()
	again := listen(t, s, tenant)
	pub.Notify(tenant, "accepted", uuid.New(), nil)
	if ev := next(t, again); ev.Kind != "accepted" {
		t.Fatalf("after resubscribing: %+v", ev)
	}
}

func TestLive_OtherPrefixIsAnotherDeployment(t *testing.T) {
	s := subscriber(t, testenv.Prefix())
	tenant := uuid.New()
	l := listen(t, s, tenant)
	live.NewPublisher(testenv.NewRedis(t), testenv.Prefix(), nil).Notify(tenant, "offer", uuid.New(), nil)
	quiet(t, l, 300*time.Millisecond)
}

func TestLive_SlowListenerKeepsTheNewestEvents(t *testing.T) {
	prefix := testenv.Prefix()
	s := subscriber(t, prefix)
	pub := live.NewPublisher(testenv.NewRedis(t), prefix, nil)
	tenant := uuid.New()
	l := listen(t, s, tenant)
	last := uuid.New()
	for range 100 {
		pub.Notify(tenant, "offer", uuid.New(), nil)
	}
	pub.Notify(tenant, "closed", last, nil)
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-l.C:
			if ev.ContactID == last {
				return
			}
		case <-deadline:
			t.Fatal("the newest event was lost")
		}
	}
}

func TestLive_ListenAfterCloseFails(t *testing.T) {
	s := live.NewSubscriber(testenv.NewRedis(t), testenv.Prefix())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Listen(testenv.Context(t), uuid.New()); err == nil {
		t.Fatal("Listen after Close succeeded")
	}
}
