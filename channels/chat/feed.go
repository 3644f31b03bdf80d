package chat

import (
	"context"
	"errors"
	"sync"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/tenant"
)

// Feed is one connection's view of the live fan-out, made exact: for each
// conversation it follows it delivers every message once, in seq order,
// whatever order the replicas' events arrive in or whether some were
// lost. It remembers the last seq it delivered per contact; an event
// beyond the next one reads the gap from the store, one at or below it is
// dropped.
type Feed struct {
	svc    *Service
	tenant uuid.UUID
	sub    *Subscription
	joins  chan join
	joined sync.Map // contact id -> struct{}: followed whoever its agent is
	last   map[uuid.UUID]int
}

type join struct {
	contact uuid.UUID
	after   int
}

// ErrFeedEnded is returned by Next once the subscription is gone (the
// connection was too slow or the server is stopping): the client
// reconnects and resumes from its last seq.
var ErrFeedEnded = errors.New("chat feed ended")

func (s *Service) newFeed(ctx context.Context, tenantID uuid.UUID, filter func(f *Feed, ev Event) bool) (*Feed, error) {
	f := &Feed{svc: s, tenant: tenantID, joins: make(chan join, 16), last: map[uuid.UUID]int{}}
	sub, err := s.Hub.Subscribe(ctx, tenantID, func(ev Event) bool { return ev.Type == EventResync || filter(f, ev) })
	if err != nil {
		return nil, err
	}
	f.sub = sub
	return f, nil
}

// VisitorFeed follows the visitor's conversation from after (the last seq
// the widget holds): the first Next returns what it missed.
func (s *Service) VisitorFeed(ctx context.Context, v Visitor, after int) (*Feed, error) {
	f, err := s.newFeed(ctx, v.TenantID, func(_ *Feed, ev Event) bool { return ev.ContactID == v.ContactID })
	if err != nil {
		return nil, err
	}
	f.joins <- join{contact: v.ContactID, after: max(after, 0)}
	return f, nil
}

// AgentFeed follows the conversations of the contacts offered or assigned
// to p, and those p joins. A conversation first seen live is delivered
// from its first message.
func (s *Service) AgentFeed(ctx context.Context, p tenant.Principal) (*Feed, error) {
	me := p.UserID
	return s.newFeed(ctx, p.TenantID, func(f *Feed, ev Event) bool {
		if ev.AgentID != nil && *ev.AgentID == me {
			return true
		}
		_, ok := f.joined.Load(ev.ContactID)
		return ok
	})
}

// Join follows a contact's conversation from after, if p may see it.
func (f *Feed) Join(ctx context.Context, p tenant.Principal, contactID uuid.UUID, after int) error {
	if _, err := f.svc.Conversation(ctx, p, contactID); err != nil {
		return err
	}
	f.joined.Store(contactID, struct{}{})
	select {
	case f.joins <- join{contact: contactID, after: max(after, 0)}:
		return nil
	case <-f.sub.Done():
		return ErrFeedEnded
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close ends the feed.
func (f *Feed) Close() { f.sub.Close() }

// Next waits for what to deliver next: messages in order (gaps filled
// from the store) and the events that are not stored (typing, left,
// state) as they come.
func (f *Feed) Next(ctx context.Context) ([]Event, error) {
	for {
		// Joins first: a visitor's resume point must be set before any
		// live event is weighed against it.
		select {
		case j := <-f.joins:
			f.last[j.contact] = j.after
			out, err := f.fill(ctx, j.contact)
			if err != nil || len(out) > 0 {
				return out, err
			}
			continue
		default:
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-f.sub.Done():
			// Deliver what was queued before the end.
			select {
			case ev := <-f.sub.C():
				if out, err := f.handle(ctx, ev); err != nil || len(out) > 0 {
					return out, err
				}
				continue
			default:
			}
			return nil, ErrFeedEnded
		case j := <-f.joins:
			f.last[j.contact] = j.after
			out, err := f.fill(ctx, j.contact)
			if err != nil || len(out) > 0 {
				return out, err
			}
		case ev := <-f.sub.C():
			out, err := f.handle(ctx, ev)
			if err != nil || len(out) > 0 {
				return out, err
			}
		}
	}
}

func (f *Feed) handle(ctx context.Context, ev Event) ([]Event, error) {
	switch ev.Type {
	case EventResync:
		var out []Event
		for contact := range f.last {
			more, err := f.fill(ctx, contact)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		}
		return out, nil
	case EventMessage:
		if ev.Message == nil {
			return nil, nil
		}
		last := f.last[ev.ContactID]
		switch {
		case ev.Message.Seq <= last:
			return nil, nil // delivered already
		case ev.Message.Seq == last+1:
			f.last[ev.ContactID] = ev.Message.Seq
			return []Event{ev}, nil
		default:
			return f.fill(ctx, ev.ContactID)
		}
	default:
		return []Event{ev}, nil
	}
}

// fill reads a contact's messages after the last delivered one.
func (f *Feed) fill(ctx context.Context, contact uuid.UUID) ([]Event, error) {
	var out []Event
	for {
		ms, err := f.svc.Messages(ctx, f.tenant, contact, f.last[contact], 500)
		if err != nil {
			return nil, err
		}
		for i := range ms {
			m := ms[i]
			out = append(out, Event{Type: EventMessage, TenantID: f.tenant, ContactID: contact, Message: &m})
			f.last[contact] = m.Seq
		}
		if len(ms) < 500 {
			return out, nil
		}
	}
}
