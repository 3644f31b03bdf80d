package chat

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Kinds of live events.
const (
	EventMessage = "message" // a stored message (it has a seq)
	EventTyping  = "typing"  // someone is typing; never stored
	EventLeft    = "left"    // the visitor left the conversation
	EventState   = "state"   // the contact changed state (accepted, closed...)
	// EventResync is local: the fan-out may have missed events (Redis
	// reconnected), so whoever tracks seqs reads the store again.
	EventResync = "resync"
)

// Event is what the fan-out carries between replicas.
type Event struct {
	Type      string    `json:"type"`
	TenantID  uuid.UUID `json:"tenant_id"`
	ContactID uuid.UUID `json:"contact_id"`
	// AgentID is the contact's agent when the event happened: whose
	// desk hears it.
	AgentID *uuid.UUID `json:"agent_id,omitempty"`
	From    string     `json:"from,omitempty"`  // typing: visitor or agent
	State   string     `json:"state,omitempty"` // state: the contact's new state
	Message *Message   `json:"message,omitempty"`
}

// Hub fans events out across server replicas through Redis pub/sub: every
// event is published on its tenant's channel, and each server process
// holds one PSUBSCRIBE over all of them and hands each event to its own
// local subscribers (the WebSockets it serves). Channel names carry the
// tenant as a hash tag, {t:<tenant>}, like every other per-tenant key.
type Hub struct {
	rdb    *redis.Client
	prefix string
	log    *slog.Logger

	startMu sync.Mutex
	started bool
	ps      *redis.PubSub
	cancel  context.CancelFunc
	done    chan struct{}

	mu     sync.Mutex
	closed bool
	subs   map[uuid.UUID]map[*Subscription]struct{}
}

// NewHub returns a Hub; it subscribes to Redis on first use.
func NewHub(rdb *redis.Client, prefix string, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.Default()
	}
	return &Hub{rdb: rdb, prefix: prefix, log: log, subs: map[uuid.UUID]map[*Subscription]struct{}{}}
}

func (h *Hub) channel(tenantID uuid.UUID) string {
	return h.prefix + "chat:{t:" + tenantID.String() + "}"
}

func (h *Hub) pattern() string { return escapeGlob(h.prefix) + "chat:{t:*}" }

// tenantOf reads the tenant back from a channel name.
func (h *Hub) tenantOf(channel string) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(channel, h.prefix+"chat:{t:")
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(strings.TrimSuffix(rest, "}"))
	return id, err == nil
}

func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

var errHubClosed = errors.New("chat hub closed")

// start subscribes once per process and waits until Redis confirms, so a
// subscriber registered after it misses nothing published afterwards.
func (h *Hub) start(ctx context.Context) error {
	h.startMu.Lock()
	defer h.startMu.Unlock()
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return errHubClosed
	}
	if h.started {
		return nil
	}
	lctx, cancel := context.WithCancel(context.Background())
	ps := h.rdb.PSubscribe(lctx, h.pattern())
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if _, err := ps.Receive(wctx); err != nil {
		cancel()
		_ = ps.Close()
		return err
	}
	h.ps, h.cancel, h.done, h.started = ps, cancel, make(chan struct{}), true
	go h.loop(lctx, ps)
	return nil
}

func (h *Hub) loop(ctx context.Context, ps *redis.PubSub) {
	defer close(h.done)
	for {
		msg, err := ps.ReceiveTimeout(ctx, 30*time.Second)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
				return
			}
			// A quiet channel times out: a ping proves the connection (and
			// makes go-redis reconnect and resubscribe if it is gone).
			if perr := ps.Ping(ctx); perr != nil && ctx.Err() == nil {
				h.log.Warn("chat fan-out: redis", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			// Resubscribed after a reconnect: what was published meanwhile
			// is lost to pub/sub, so subscribers read the store again.
			h.broadcastResync()
		case *redis.Message:
			tenantID, ok := h.tenantOf(m.Channel)
			if !ok {
				continue
			}
			var ev Event
			if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil || ev.TenantID != tenantID {
				h.log.Warn("chat fan-out: bad event", "channel", m.Channel)
				continue
			}
			h.dispatch(ev)
		}
	}
}

// Publish sends ev to every replica's subscribers of its tenant.
func (h *Hub) Publish(ctx context.Context, ev Event) error {
	raw, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return h.rdb.Publish(ctx, h.channel(ev.TenantID), raw).Err()
}

// Subscription receives the events of one tenant that its filter takes.
// A subscriber that falls behind is dropped (Done closes) rather than
// slowing everyone: it reconnects and resumes from the store.
type Subscription struct {
	hub    *Hub
	tenant uuid.UUID
	filter func(Event) bool
	c      chan Event
	done   chan struct{}
	once   sync.Once
}

// Subscribe registers a local subscriber for a tenant's events; filter
// runs on the fan-out goroutine and must be quick.
func (h *Hub) Subscribe(ctx context.Context, tenantID uuid.UUID, filter func(Event) bool) (*Subscription, error) {
	if err := h.start(ctx); err != nil {
		return nil, err
	}
	s := &Subscription{hub: h, tenant: tenantID, filter: filter, c: make(chan Event, 256), done: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errHubClosed
	}
	m := h.subs[tenantID]
	if m == nil {
		m = map[*Subscription]struct{}{}
		h.subs[tenantID] = m
	}
	m[s] = struct{}{}
	return s, nil
}

// C delivers the events.
func (s *Subscription) C() <-chan Event { return s.c }

// Done is closed when the subscription ends.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Close ends the subscription.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.dropLocked(s)
}

func (h *Hub) dropLocked(s *Subscription) {
	if m := h.subs[s.tenant]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.subs, s.tenant)
		}
	}
	s.once.Do(func() { close(s.done) })
}

func (h *Hub) dispatch(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[ev.TenantID] {
		if s.filter != nil && !s.filter(ev) {
			continue
		}
		select {
		case s.c <- ev:
		default:
			h.dropLocked(s)
		}
	}
}

func (h *Hub) broadcastResync() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for tenantID, m := range h.subs {
		for s := range m {
			select {
			case s.c <- Event{Type: EventResync, TenantID: tenantID}:
			default:
				h.dropLocked(s)
			}
		}
	}
}

// Close unsubscribes from Redis and ends every local subscription.
func (h *Hub) Close() {
	h.startMu.Lock()
	defer h.startMu.Unlock()
	h.mu.Lock()
	h.closed = true
	for _, m := range h.subs {
		for s := range m {
			h.dropLocked(s)
		}
	}
	h.mu.Unlock()
	if h.started {
		h.cancel()
		_ = h.ps.Close()
		<-h.done
		h.started = false
	}
}
