package routing

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/cic-platform/cic/infra/testenv"
)

// TestEngine_ReloadsFunctions: the engine loads its Function library
// lazily, on the first call to a Redis that lacks it: a new server, one
// restarted without persistence (its state is gone: the tenant is set up
// again), and one whose functions were flushed; meanwhile a Redis that is
// down is ErrUnavailable.
func TestEngine_ReloadsFunctions(t *testing.T) {
	p := testenv.StartRedis(t)
	rdb := p.Client()
	e := New(rdb, testenv.Prefix())
	ctx := context.Background()
	tenant := uuid.New()
	now := time.UnixMilli(1_700_000_000_000)
	setUp := func(step string) {
		t.Helper()
		if _, err := e.ConfigureQueue(ctx, tenant, Queue{ID: "q", Channels: []Channel{Chat}}, now); err != nil {
			t.Fatalf("%s: configure queue: %v", step, err)
		}
		if _, err := e.ConfigureAgent(ctx, tenant, Agent{ID: "ann", Capacity: map[Channel]int{Chat: 1}}, now); err != nil {
			t.Fatalf("%s: configure agent: %v", step, err)
		}
		if _, err := e.SetStatus(ctx, tenant, "ann", Available, now); err != nil {
			t.Fatalf("%s: set status: %v", step, err)
		}
	}
	route := func(step, contact string) {
		t.Helper()
		ch, err := e.Enqueue(ctx, tenant, Contact{ID: contact, Queue: "q", Channel: Chat}, now)
		if err != nil {
			t.Fatalf("%s: enqueue: %v", step, err)
		}
		if len(ch.Events) != 1 || ch.Events[0].Kind != Offered || ch.Events[0].Agent != "ann" {
			t.Fatalf("%s: enqueue made %+v, want an offer to ann", step, ch.Events)
		}
		if _, _, err := e.Accept(ctx, tenant, contact, "ann", now); err != nil {
			t.Fatalf("%s: accept: %v", step, err)
		}
		if _, err := e.Finish(ctx, tenant, contact, "ann", now); err != nil {
			t.Fatalf("%s: finish: %v", step, err)
		}
		if s, err := e.Snapshot(ctx, tenant); err != nil || len(s.Agents) != 1 {
			t.Fatalf("%s: snapshot %+v, %v", step, s, err)
		}
	}

	setUp("new server")
	route("new server", "c1")
	if n := len(rdb.FunctionList(ctx, redis.FunctionListQuery{}).Val()); n != 1 {
		t.Errorf("%d libraries loaded, want 1", n)
	}

	if err := rdb.FunctionFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	route("functions flushed", "c2")

	p.Kill()
	if _, err := e.Tick(ctx, tenant, now); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("tick with Redis down: %v, want ErrUnavailable", err)
	}
	p.Start()
	if _, err := e.Snapshot(ctx, tenant); err != nil {
		t.Fatalf("snapshot (read-only function) first after the restart: %v", err)
	}
	setUp("restarted")
	route("restarted", "c3")
}
