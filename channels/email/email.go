// Package email is the e-mail channel: an SMTP listener that turns mail
// to a tenant's mailboxes into contacts, and the Channel that answers
// them (and starts outbound e-mail) through an SMTP relay, with the
// threading headers that bring the customer's answer back to the same
// contact.
//
// Invariants: the listener answers 250 only after the mail is committed
// (to a contact, as a survey answer, or held while its queue is closed);
// a redelivered mail (same Message-ID, or the same bytes when it has
// none) is stored once; a tenant's mailbox, and a thread of its mail,
// never lead into another tenant.
package email

import (
	"context"
	"log/slog"
	"sync"

	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant"
)

// Channel is the channel's name in contacts and messages.
const Channel = "email"

// Relay sends a rendered message (metering.SMTPMailer does, through
// SMTP_RELAY).
type Relay interface {
	SendRaw(ctx context.Context, from string, to []string, data []byte) error
}

// Service is the e-mail channel of every tenant.
type Service struct {
	DB            *tenant.DB
	Contacts      *contacts.Service
	Conversations *conversation.Store
	Directory     *directory.Directory
	// Domain is INBOUND_DOMAIN: <anything>@<tenant slug>.<Domain> are
	// tenants' mailboxes, and our Message-IDs end in it.
	Domain string
	// MaxBytes is the largest message the listener takes.
	MaxBytes int64
	// MaxConnections and MaxConnectionsPerIP bound the listener's open
	// connections, in all and from one address (SMTP_MAX_CONNECTIONS,
	// SMTP_MAX_CONNECTIONS_PER_IP); 0 means the default, below 0 none.
	MaxConnections, MaxConnectionsPerIP int
	// Relay sends outbound mail; nil means outbound mail is off (replies
	// are recorded as failed).
	Relay  Relay
	Logger *slog.Logger

	// background holds automatic replies sent after a mail was answered.
	background sync.WaitGroup
}

// Wait blocks until the automatic replies under way are sent.
func (s *Service) Wait() { s.background.Wait() }

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}
