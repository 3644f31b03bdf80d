package contacts_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/routing/contacts"
)

func TestPosition_LineOrdersAsTheEngine(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	id := func(n byte) uuid.UUID { return uuid.UUID{15: n} }
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	cases := []struct {
		name  string
		line  []contacts.Waiting
		qprio int
		want  []byte // ids in line order
	}{
		{"by enqueue", []contacts.Waiting{{ID: id(3), EnqueuedAt: at(30)}, {ID: id(1), EnqueuedAt: at(10)}, {ID: id(2), EnqueuedAt: at(20)}}, 0,
			[]byte{1, 2, 3}},
		// One priority point is worth a minute of waiting: priority 1
		// enqueued 59 s later is still ahead; 61 s later it is behind.
		{"priority ages", []contacts.Waiting{{ID: id(1), EnqueuedAt: at(0)}, {ID: id(2), EnqueuedAt: at(59), Priority: 1},
			{ID: id(3), EnqueuedAt: at(61), Priority: 1}}, 0, []byte{2, 1, 3}},
		// Same effective priority: the earlier enqueue goes first.
		{"tie by enqueue", []contacts.Waiting{{ID: id(1), EnqueuedAt: at(60), Priority: 1}, {ID: id(2), EnqueuedAt: at(0)}}, 0,
			[]byte{2, 1}},
		// Same effective priority and enqueue: the lower id.
		{"tie by id", []contacts.Waiting{{ID: id(9), EnqueuedAt: at(5)}, {ID: id(4), EnqueuedAt: at(5)}}, 0, []byte{4, 9}},
		// The queue's priority shifts every contact alike: same order.
		{"queue priority", []contacts.Waiting{{ID: id(2), EnqueuedAt: at(20)}, {ID: id(1), EnqueuedAt: at(10)}}, 50, []byte{1, 2}},
		{"negative priority", []contacts.Waiting{{ID: id(1), EnqueuedAt: at(0), Priority: -2}, {ID: id(2), EnqueuedAt: at(100)}}, 0,
			[]byte{2, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := contacts.Line(tc.line, tc.qprio)
			for i, w := range got {
				if w.ID != id(tc.want[i]) {
					t.Fatalf("line %v, want ids %v", got, tc.want)
				}
				if p := contacts.PositionIn(tc.line, w.ID, tc.qprio); p != i+1 {
					t.Errorf("position of %d = %d, want %d", tc.want[i], p, i+1)
				}
			}
			if p := contacts.PositionIn(tc.line, id(200), tc.qprio); p != 0 {
				t.Errorf("a contact not in line has position %d", p)
			}
		})
	}
}

func TestPosition_EstimateWait(t *testing.T) {
	m := time.Minute
	cases := []struct {
		position, slots int
		handle          time.Duration
		want            time.Duration
	}{
		{1, 1, 2 * m, 2 * m},
		{3, 1, 2 * m, 6 * m},
		{3, 2, 2 * m, 4 * m}, // ceil(3/2) = 2 rounds
		{4, 2, 2 * m, 4 * m},
		{5, 2, 2 * m, 6 * m},
		{3, 0, 2 * m, 6 * m},  // nobody signed in: as one slot
		{3, 10, 2 * m, 2 * m}, // more slots than waiting: one round
		{2, 1, 0, 2 * contacts.DefaultHandle},
		{0, 3, 2 * m, 0}, // not in line
	}
	for _, tc := range cases {
		if got := contacts.EstimateWait(tc.position, tc.slots, tc.handle); got != tc.want {
			t.Errorf("EstimateWait(%d, %d, %s) = %s, want %s", tc.position, tc.slots, tc.handle, got, tc.want)
		}
	}
	if s := (contacts.Place{Wait: 90*time.Second + time.Millisecond}).WaitSeconds(); s != 91 {
		t.Errorf("WaitSeconds rounds up: %d", s)
	}
}

// TestPosition_PlaceOfQueuedContacts: three chats wait for the one agent
// (busy with a first chat); their positions follow the line, a contact
// with priority jumps ahead, and the wait is rounds of the queue's
// default handle time on one slot.
func TestPosition_PlaceOfQueuedContacts(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	tid := co.owner.TenantID
	first, err := w.contacts.Open(c, tid, contacts.OpenInput{QueueID: co.queue.ID, Channel: "chat"})
	if err != nil || first.State != contacts.StateOffered {
		t.Fatalf("first: %+v %v", first, err)
	}
	if pl, err := w.contacts.PlaceOf(c, tid, first.ID); err != nil || pl.Position != 0 {
		t.Fatalf("an offered contact has a place: %+v %v", pl, err)
	}
	var ids []uuid.UUID
	for i, prio := range []int{0, 0, 5} {
		ct, err := w.contacts.Open(c, tid, contacts.OpenInput{QueueID: co.queue.ID, Channel: "chat", Priority: prio})
		if err != nil || ct.State != contacts.StateQueued {
			t.Fatalf("contact %d: %+v %v", i, ct, err)
		}
		ids = append(ids, ct.ID)
		time.Sleep(5 * time.Millisecond)
	}
	// The priority-5 contact (last in) is first; then by arrival.
	for i, want := range []int{2, 3, 1} {
		pl, err := w.contacts.PlaceOf(c, tid, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if pl.Position != want || !pl.Open || pl.MaxWaitPassed {
			t.Errorf("contact %d: %+v, want position %d", i, pl, want)
		}
		// One agent with one chat slot; no handled contact yet.
		if wantWait := time.Duration(want) * contacts.DefaultHandle; pl.Wait != wantWait {
			t.Errorf("contact %d: wait %s, want %s", i, pl.Wait, wantWait)
		}
	}
	if _, err := w.contacts.PlaceOf(c, tid, uuid.New()); testenv.Code(err) != "not_found" {
		t.Errorf("unknown contact: %v", err)
	}
}
