package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Subscriber is a process's one subscription to Redis: it subscribes to
// a tenant's channel while the tenant has local listeners and dispatches
// each message to them.
type Subscriber struct {
	rdb    redis.UniversalClient
	prefix string

	mu        sync.Mutex
	ps        *redis.PubSub
	done      chan struct{}
	closed    bool
	listeners map[string]map[*Listener]struct{} // by channel
	confirmed map[string]bool                   // Redis acknowledged the subscription
	waiting   map[string][]chan struct{}        // Listen calls waiting for that
}

// NewSubscriber subscribes on rdb under the key prefix the publishers use.
// It connects on the first Listen.
func NewSubscriber(rdb redis.UniversalClient, prefix string) *Subscriber {
	return &Subscriber{rdb: rdb, prefix: prefix, listeners: map[string]map[*Listener]struct{}{},
		confirmed: map[string]bool{}, waiting: map[string][]chan struct{}{}}
}

// ErrClosed is returned by Listen after Close.
var ErrClosed = errors.New("live: subscriber closed")

// Listener receives one tenant's events on C until Close. C is buffered;
// a listener that falls behind loses its oldest unread events, never the
// newest (events are hints to re-read the state).
type Listener struct {
	C       <-chan Event
	c       chan Event
	channel string
	s       *Subscriber
	once    sync.Once
}

// listenerBuffer is how many unread events a listener keeps.
const listenerBuffer = 32

// Listen returns a listener of the tenant's events. It returns once Redis
// has confirmed the subscription (or ctx ends), so that an event
// published after Listen returns is never missed.
func (s *Subscriber) Listen(ctx context.Context, tenantID uuid.UUID) (*Listener, error) {
	ch := Channel(s.prefix, tenantID)
	l := &Listener{c: make(chan Event, listenerBuffer), channel: ch, s: s}
	l.C = l.c
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if s.ps == nil {
		s.ps = s.rdb.Subscribe(ctx)
		s.done = make(chan struct{})
		go s.run(s.ps, s.done)
	}
	set := s.listeners[ch]
	first := set == nil
	if first {
		set = map[*Listener]struct{}{}
		s.listeners[ch] = set
	}
	set[l] = struct{}{}
	var wait chan struct{}
	if !s.confirmed[ch] {
		wait = make(chan struct{})
		s.waiting[ch] = append(s.waiting[ch], wait)
	}
	var err error
	if first {
		err = s.ps.Subscribe(ctx, ch)
	}
	s.mu.Unlock()
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("live subscribe: %w", err)
	}
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			l.Close()
			return nil, fmt.Errorf("live subscribe: %w", ctx.Err())
		}
	}
	return l, nil
}

// Close stops the listener; the last listener of a tenant unsubscribes.
func (l *Listener) Close() {
	l.once.Do(func() {
		s := l.s
		s.mu.Lock()
		defer s.mu.Unlock()
		set := s.listeners[l.channel]
		delete(set, l)
		if len(set) == 0 && set != nil {
			delete(s.listeners, l.channel)
			delete(s.confirmed, l.channel)
			if s.ps != nil && !s.closed {
				// Best effort: a stale subscription only costs messages
				// nobody listens to.
				_ = s.ps.Unsubscribe(context.Background(), l.channel)
			}
		}
	})
}

// Close ends the subscription; every listener's C stays open but hears
// nothing more.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ps, done := s.ps, s.done
	for ch, ws := range s.waiting {
		for _, w := range ws {
			close(w)
		}
		delete(s.waiting, ch)
	}
	s.mu.Unlock()
	if ps == nil {
		return nil
	}
	err := ps.Close()
	<-done
	return err
}

// run dispatches until the PubSub closes.
func (s *Subscriber) run(ps *redis.PubSub, done chan struct{}) {
	defer close(done)
	for m := range ps.ChannelWithSubscriptions() {
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			s.mu.Lock()
			if _, ok := s.listeners[m.Channel]; ok {
				s.confirmed[m.Channel] = true
			}
			for _, w := range s.waiting[m.Channel] {
				close(w)
			}
			delete(s.waiting, m.Channel)
			s.mu.Unlock()
		case *redis.Message:
			if !strings.HasPrefix(m.Channel, s.prefix) {
				continue
			}
			var ev Event
			if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
				continue
			}
			s.mu.Lock()
			for l := range s.listeners[m.Channel] {
				deliver(l.c, ev)
			}
			s.mu.Unlock()
		}
	}
}

// deliver never blocks: when the buffer is full the oldest event makes
// room for the newest.
func deliver(c chan Event, ev Event) {
	for {
		select {
		case c <- ev:
			return
		default:
		}
		select {
		case <-c:
		default:
		}
	}
}
