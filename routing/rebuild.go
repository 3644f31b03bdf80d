package routing

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Redis is a cache of the routing state; the callers' durable record
// (package routing/contacts) is what it is rebuilt from when Redis comes
// back empty (FLUSHALL, a restart without persistence, a failover to a
// replica that missed writes). What the engine offers for that: Live, to
// compare the record with what Redis holds; a marker the rebuild sets,
// whose absence says Redis lost the tenant's state; and Restore, to put
// back a contact an agent had accepted.

//go:embed lua/restore.lua
var restoreSrc string

// Live is what Redis holds of a tenant, by id: queues, agents and live
// contacts (waiting, offered or assigned).
type Live struct {
	// Built says the tenant's rebuild marker is there: the state was
	// rebuilt (or found whole) since Redis last lost it.
	Built    bool
	Queues   map[string]bool
	Agents   map[string]bool
	Contacts map[string]bool
}

// Live reads the tenant's ids, as one pipeline (each read is atomic, the
// whole is not: a caller comparing it with the record allows for the
// operations that ran meanwhile).
func (e *Engine) Live(ctx context.Context, tenant uuid.UUID) (Live, error) {
	p, _ := e.keys(tenant)
	pipe := e.rdb.Pipeline()
	built := pipe.Exists(ctx, p+"built")
	qs := pipe.SMembers(ctx, p+"queues")
	as := pipe.SMembers(ctx, p+"agents")
	cs := pipe.SMembers(ctx, p+"contacts")
	if _, err := pipe.Exec(ctx); err != nil {
		return Live{}, fmt.Errorf("routing live ids: %w: %w", ErrUnavailable, err)
	}
	set := func(ids []string) map[string]bool {
		m := make(map[string]bool, len(ids))
		for _, id := range ids {
			m[id] = true
		}
		return m
	}
	return Live{Built: built.Val() == 1, Queues: set(qs.Val()), Agents: set(as.Val()), Contacts: set(cs.Val())}, nil
}

// Built says whether the tenant's rebuild marker is there (one EXISTS,
// cheap enough for every tick).
func (e *Engine) Built(ctx context.Context, tenant uuid.UUID) (bool, error) {
	p, _ := e.keys(tenant)
	n, err := e.rdb.Exists(ctx, p+"built").Result()
	if err != nil {
		return false, fmt.Errorf("routing marker: %w: %w", ErrUnavailable, err)
	}
	return n == 1, nil
}

// ClaimRebuild sets the tenant's marker if it is missing and says whether
// this caller set it: the one replica that did rebuilds, the others see
// the marker. A rebuild that fails calls DropMarker, so the next round
// tries again; if Redis loses its data again meanwhile, the marker goes
// with it and the next round rebuilds anyway.
func (e *Engine) ClaimRebuild(ctx context.Context, tenant uuid.UUID, now time.Time) (bool, error) {
	p, _ := e.keys(tenant)
	ok, err := e.rdb.SetNX(ctx, p+"built", strconv.FormatInt(now.UnixMilli(), 10), 0).Result()
	if err != nil {
		return false, fmt.Errorf("routing marker: %w: %w", ErrUnavailable, err)
	}
	return ok, nil
}

// DropMarker removes the tenant's marker (a rebuild that did not finish).
func (e *Engine) DropMarker(ctx context.Context, tenant uuid.UUID) error {
	p, _ := e.keys(tenant)
	if err := e.rdb.Del(ctx, p+"built").Err(); err != nil {
		return fmt.Errorf("routing marker: %w: %w", ErrUnavailable, err)
	}
	return nil
}

// AgentStatus is the agent's status in the engine; ok is false when the
// engine does not know the agent.
func (e *Engine) AgentStatus(ctx context.Context, tenant uuid.UUID, agentID string) (s Status, ok bool, err error) {
	p, _ := e.keys(tenant)
	v, err := e.rdb.HGet(ctx, p+"a:"+agentID, "st").Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("routing agent status: %w: %w", ErrUnavailable, err)
	}
	return Status(v), true, nil
}

// Restore puts back a contact that agentID had accepted (the record says
// so) but the engine lost: assigned to the agent, with its enqueue time
// and priority, counting towards the agent's load, so that the agent is
// offered no more than its capacity and Finish frees the room as before.
// The agent must be configured (ConfigureAgent) and the queue known.
func (e *Engine) Restore(ctx context.Context, tenant uuid.UUID, c Contact, agentID string, now time.Time) (Changes, error) {
	if err := checkID("contact", c.ID); err != nil {
		return Changes{}, err
	}
	if err := checkID("queue", c.Queue); err != nil {
		return Changes{}, err
	}
	if err := checkID("agent", agentID); err != nil {
		return Changes{}, err
	}
	if err := checkChannel(c.Channel); err != nil {
		return Changes{}, err
	}
	if err := checkPriority(c.Priority); err != nil {
		return Changes{}, err
	}
	enq := c.EnqueuedAt
	if enq.IsZero() {
		enq = now
	}
	ms, err := millis(enq)
	if err != nil {
		return Changes{}, err
	}
	_, ch, err := e.run(ctx, "restore", "restore", tenant, now, c.ID, c.Queue, string(c.Channel), c.Priority, ms, agentID)
	return ch, err
}

// AgentStatuses are the engine's statuses of the given agents (one
// pipeline); an agent the engine does not know is left out.
func (e *Engine) AgentStatuses(ctx context.Context, tenant uuid.UUID, agentIDs []string) (map[string]Status, error) {
	out := make(map[string]Status, len(agentIDs))
	if len(agentIDs) == 0 {
		return out, nil
	}
	p, _ := e.keys(tenant)
	pipe := e.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(agentIDs))
	for i, id := range agentIDs {
		cmds[i] = pipe.HGet(ctx, p+"a:"+id, "st")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("routing agent statuses: %w: %w", ErrUnavailable, err)
	}
	for i, c := range cmds {
		if v, err := c.Result(); err == nil {
			out[agentIDs[i]] = Status(v)
		}
	}
	return out, nil
}
