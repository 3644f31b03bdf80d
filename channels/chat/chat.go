// Package chat is the web chat channel: the widgets tenants put on their
// pages (a public key, the queue its chats go to, the origins allowed to
// use it), visitors starting a chat (a routed contact with a session the
// visitor holds a token for), the messages of each conversation, and
// their live fan-out to every server replica.
//
// Invariants: a conversation's messages are numbered 1, 2, 3... per
// contact, gapless and committed in that order, so "everything after seq
// n" is an exact resume point for either side; a message carries its
// sender's client id, so a resend after a lost ack stores nothing twice.
package chat

import (
	"log/slog"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
)

// MaxBody is the longest message, in characters.
const MaxBody = 4000

// Service is the chat channel of every tenant.
type Service struct {
	DB       *tenant.DB
	Contacts *contacts.Service
	Setup    *setup.Service
	Hub      *Hub
	Logger   *slog.Logger
	// LeaveGrace is how long a visitor may stay disconnected before a
	// chat no agent accepted yet counts as abandoned.
	LeaveGrace time.Duration
	// StartLimit caps new chats per visitor IP and tenant; zero: none.
	StartLimit redis_rate.Limit
	// MessageLimit caps each visitor's messages (per conversation);
	// zero: none.
	MessageLimit redis_rate.Limit
	// IdentityKey derives the widgets' identity secrets
	// (tenant.Keys.Derive(IdentityPurpose)); without it no e-mail address
	// a page gives is ever trusted.
	IdentityKey []byte
	limiter     *redis_rate.Limiter
	prefix      string
}

// DefaultStartLimit is generous for offices behind one NAT and stops a
// script from flooding a tenant's queue.
var DefaultStartLimit = redis_rate.Limit{Rate: 30, Burst: 30, Period: time.Minute}

// DefaultMessageLimit lets a person type as fast as they do (and the
// widget resend what a dropped connection left unacknowledged) and stops
// a script from flooding the agent's conversation.
var DefaultMessageLimit = redis_rate.Limit{Rate: 30, Burst: 15, Period: time.Minute}

// New wires a Service; its Hub starts on first use. prefix namespaces the
// Redis keys and channels, as the rest of the server's.
func New(db *tenant.DB, cs *contacts.Service, st *setup.Service, rdb *redis.Client, prefix string, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{DB: db, Contacts: cs, Setup: st, Hub: NewHub(rdb, prefix, log), Logger: log,
		LeaveGrace: 60 * time.Second, StartLimit: DefaultStartLimit, MessageLimit: DefaultMessageLimit, limiter: redis_rate.NewLimiter(rdb), prefix: prefix}
}

// Close stops the live fan-out; open subscriptions end.
func (s *Service) Close() { s.Hub.Close() }

// Senders of a message.
const (
	SenderVisitor = "visitor"
	SenderAgent   = "agent"
	SenderSystem  = "system"
)

// Message is one line of a conversation.
type Message struct {
	Seq       int        `json:"seq"`
	ID        uuid.UUID  `json:"id"`
	ContactID uuid.UUID  `json:"contact_id"`
	Sender    string     `json:"sender"`
	AgentID   *uuid.UUID `json:"agent_id,omitempty"`
	ClientID  string     `json:"client_id,omitempty"`
	Body      string     `json:"body"`
	CreatedAt time.Time  `json:"created_at"`
}

// ForVisitor is the message as the visitor sees it: not which user of
// the tenant wrote it.
func (m Message) ForVisitor() Message {
	m.AgentID = nil
	return m
}

var (
	errNoConversation = cic.Codef(cic.ENOTFOUND, "not_found", "No such conversation.")
	errEnded          = cic.Codef(cic.ECONFLICT, "chat_ended", "This conversation has ended.")
)
