// Package live carries a tenant's routing changes (a contact offered,
// accepted, requeued, closed...) to every server replica, so that the
// agent desktops and wallboards open on any replica update at once.
//
// A change is published on the tenant's Redis pub/sub channel; each
// process runs one Subscriber that subscribes to the channels of the
// tenants it has local listeners for and hands every message to them.
// Events are hints to read the state again, not the state itself: pub/sub
// delivers at most once (a replica reconnecting to Redis misses what was
// published meanwhile), so listeners also refresh on a timer. One
// invariant: a listener only ever hears its own tenant's events.
package live

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Event is one change of a tenant's routing.
type Event struct {
	// Kind is what happened: offer, requeue, transfer, accepted, wrap_up,
	// closed, abandoned (see contacts.Service.Notify).
	Kind      string     `json:"kind"`
	ContactID uuid.UUID  `json:"contact_id"`
	AgentID   *uuid.UUID `json:"agent_id,omitempty"`
}

// Channel is the tenant's pub/sub channel. The {t:<tenant>} hash tag is
// the one every per-tenant Redis key carries, so the channel maps to the
// tenant's slot on Redis Cluster. Classic PUBLISH (broadcast to every
// node of a cluster) is used rather than sharded SPUBLISH: one
// subscriber connection then serves all the tenants of a process,
// whichever shard owns them.
func Channel(prefix string, tenantID uuid.UUID) string {
	return prefix + "live:{t:" + tenantID.String() + "}"
}

// Publisher publishes a tenant's events.
type Publisher struct {
	rdb    redis.UniversalClient
	prefix string
	log    *slog.Logger
	// Timeout bounds one publish made through Notify (which has no
	// context of its own).
	Timeout time.Duration
}

// NewPublisher publishes on rdb under the key prefix the server uses.
func NewPublisher(rdb redis.UniversalClient, prefix string, log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.Default()
	}
	return &Publisher{rdb: rdb, prefix: prefix, log: log, Timeout: time.Second}
}

// Publish sends ev to every replica's listeners of the tenant.
func (p *Publisher) Publish(ctx context.Context, tenantID uuid.UUID, ev Event) error {
	raw, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if err := p.rdb.Publish(ctx, Channel(p.prefix, tenantID), raw).Err(); err != nil {
		return fmt.Errorf("publish live event: %w", err)
	}
	return nil
}

// Notify has the shape of contacts.Service.Notify. A failed publish is
// logged, never returned: the change it announces is already recorded,
// and live pages refresh on a timer anyway.
func (p *Publisher) Notify(tenantID uuid.UUID, kind string, contactID uuid.UUID, agentID *uuid.UUID) {
	ctx, cancel := context.WithTimeout(context.Background(), p.Timeout)
	defer cancel()
	if err := p.Publish(ctx, tenantID, Event{Kind: kind, ContactID: contactID, AgentID: agentID}); err != nil {
		p.log.Warn("live event", "tenant", tenantID, "kind", kind, "err", err)
	}
}
