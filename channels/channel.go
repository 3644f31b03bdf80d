// Package channels is what the rest of the product needs from a channel,
// whichever it is: answering on it. Each channel (chat, email, voice, sms,
// social, fax) lives in its own package below this one, with its
// provider's parsing and signature checks; inbound traffic becomes a
// contact through routing/contacts like any other, and the desk, the
// survey after a contact closes and outbound contacts reach the customer
// through the Channel a channel package registers here.
package channels

import (
	"context"
	"fmt"
	"sort"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
)

// Kinds of outbound message.
const (
	KindReply  = "reply"  // an agent answers on the contact
	KindSurvey = "survey" // the satisfaction question after close
	KindNotice = "notice" // a system notice (service unavailable...)
)

// Message is what our side sends on a contact's channel.
type Message struct {
	TenantID  uuid.UUID
	ContactID uuid.UUID
	// AgentID is the agent who wrote it; nil for system messages.
	AgentID *uuid.UUID
	Kind    string
	Subject string // e-mail only; others ignore it
	Body    string
	// Attachments of an agent's reply (e-mail); others may refuse them.
	Attachments []Attachment
}

// IsAnswer says msg is someone's answer to the customer (an agent's
// reply, or any message with an author), not a system message (the
// survey, a notice). An answer goes out only on an accepted, metered
// contact: every Channel's Send checks it with
// contacts.Service.BeforeAnswer before the message reaches the customer.
// A kind this package does not know counts as an answer.
func (m Message) IsAnswer() bool {
	return m.AgentID != nil || (m.Kind != KindSurvey && m.Kind != KindNotice)
}

// Attachment is a file sent with a message.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
}

// Outbound is a contact an agent starts towards a customer.
type Outbound struct {
	TenantID uuid.UUID
	AgentID  uuid.UUID
	QueueID  uuid.UUID
	// To is the customer's address on the channel: an e-mail address, a
	// phone number (E.164), a social handle.
	To       string
	Subject  string
	Body     string
	Campaign string
}

// Channel is one channel as routing and the desk consume it.
type Channel interface {
	// Name is the channel's name in contacts.channel.
	Name() string
	// Send delivers msg to the customer of an existing contact and
	// records it in the conversation. An answer (msg.IsAnswer) on a
	// contact not yet accepted is refused with contacts.ErrNotAccepted
	// before anything reaches the customer (contacts.Service.BeforeAnswer).
	Send(ctx context.Context, msg Message) error
	// Start opens an outbound contact handled by the agent who starts it
	// (accepted and metered at once) and sends its first message or
	// places the call. It returns the contact's id.
	Start(ctx context.Context, out Outbound) (uuid.UUID, error)
}

// Registry holds the channels a server runs, by name.
type Registry struct {
	byName map[string]Channel
}

// Register adds ch; a second channel of the same name replaces the first.
func (r *Registry) Register(ch Channel) {
	if r.byName == nil {
		r.byName = map[string]Channel{}
	}
	r.byName[ch.Name()] = ch
}

// Get returns the channel named name, or an EINVALID error.
func (r *Registry) Get(name string) (Channel, error) {
	if r != nil {
		if ch, ok := r.byName[name]; ok {
			return ch, nil
		}
	}
	return nil, cic.Codef(cic.EINVALID, "channel_unavailable", "The %s channel is not set up on this server.", name)
}

// Names lists the registered channels, sorted.
func (r *Registry) Names() []string {
	if r == nil {
		return nil
	}
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Send sends msg on the channel of its contact, which the caller names.
func (r *Registry) Send(ctx context.Context, channel string, msg Message) error {
	ch, err := r.Get(channel)
	if err != nil {
		return err
	}
	if err := ch.Send(ctx, msg); err != nil {
		return fmt.Errorf("send on %s: %w", channel, err)
	}
	return nil
}
