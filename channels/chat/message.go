package chat

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant"
)

var validClientID = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// checkMessage validates a message from either side.
func checkMessage(clientID, body string) error {
	if !validClientID.MatchString(clientID) {
		return cic.Codef(cic.EINVALID, "invalid_client_id", "client_id is 1 to 64 letters, digits, '.', ':', '-' or '_': the sender's own id for the message.")
	}
	if !utf8.ValidString(body) || strings.ContainsRune(body, 0) {
		return cic.Codef(cic.EINVALID, "invalid_message", "The message is not valid text.")
	}
	if strings.TrimSpace(body) == "" {
		return cic.Codef(cic.EINVALID, "empty_message", "The message is empty.")
	}
	if utf8.RuneCountInString(body) > MaxBody {
		return cic.Codef(cic.EINVALID, "message_too_long", "A message is at most %d characters.", MaxBody)
	}
	return nil
}

const messageColumns = `seq, id, contact_id, sender, agent_id, coalesce(client_msg_id, ''), body, created_at`

func scanMessage(row pgx.Row) (Message, error) {
	var m Message
	err := row.Scan(&m.Seq, &m.ID, &m.ContactID, &m.Sender, &m.AgentID, &m.ClientID, &m.Body, &m.CreatedAt)
	return m, err
}

// appendInput is one message to store.
type appendInput struct {
	sender   string
	agentID  *uuid.UUID
	clientID string
	body     string
	// states the contact must be in for this sender
	states []string
	// anyState lets a system message through after the end (the survey)
	anyState bool
}

// appendMessage stores a message under the session's row lock: seqs are
// gapless and commit in order. A client id already stored for this sender
// returns the stored message (dup true). The event is published after
// COMMIT, again for a duplicate, so a resend also repairs a publish lost
// to a crash.
func (s *Service) appendMessage(ctx context.Context, tenantID, contactID uuid.UUID, in appendInput) (m Message, dup bool, err error) {
	if err := checkMessage(in.clientID, in.body); err != nil {
		return Message{}, false, err
	}
	var agent *uuid.UUID
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var state string
		var ended bool
		err := tx.QueryRow(ctx, `SELECT c.state, c.agent_id, s.ended_at IS NOT NULL FROM chat_sessions s
			JOIN contacts c ON c.tenant_id = s.tenant_id AND c.id = s.contact_id
			WHERE s.tenant_id = $1 AND s.contact_id = $2 FOR UPDATE OF s`, tenantID, contactID).Scan(&state, &agent, &ended)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoConversation
		}
		if err != nil {
			return fmt.Errorf("lock chat session: %w", err)
		}
		m, err = scanMessage(tx.QueryRow(ctx, `SELECT `+messageColumns+` FROM chat_messages
			WHERE tenant_id = $1 AND contact_id = $2 AND sender = $3 AND client_msg_id = $4`, tenantID, contactID, in.sender, in.clientID))
		if err == nil {
			dup = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		allowed := false
		for _, st := range in.states {
			allowed = allowed || st == state
		}
		if !in.anyState && ((in.sender == SenderVisitor && ended) || !openState(state)) {
			return errEnded
		}
		if !allowed && !in.anyState {
			return cic.Codef(cic.ECONFLICT, "invalid_state", "Messages cannot be sent while the contact is %s.", state)
		}
		var seq int
		if err := tx.QueryRow(ctx, `UPDATE chat_sessions SET last_seq = last_seq + 1,
			last_seen_at = CASE WHEN $3 = 'visitor' THEN now() ELSE last_seen_at END
			WHERE tenant_id = $1 AND contact_id = $2 RETURNING last_seq`, tenantID, contactID, in.sender).Scan(&seq); err != nil {
			return err
		}
		m, err = scanMessage(tx.QueryRow(ctx, `INSERT INTO chat_messages (tenant_id, contact_id, seq, id, sender, agent_id, client_msg_id, body)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+messageColumns,
			tenantID, contactID, seq, uuid.New(), in.sender, in.agentID, in.clientID, in.body))
		if err != nil {
			return fmt.Errorf("insert chat message: %w", err)
		}
		return nil
	})
	if err != nil {
		return Message{}, false, err
	}
	if perr := s.Hub.Publish(ctx, Event{Type: EventMessage, TenantID: tenantID, ContactID: contactID, AgentID: agent, Message: &m}); perr != nil {
		// Stored: both sides find it when they resume.
		s.Logger.Warn("chat: publish message", "tenant", tenantID, "contact", contactID, "err", perr)
	}
	return m, dup, nil
}

// Messages returns up to limit messages of a conversation after seq.
func (s *Service) Messages(ctx context.Context, tenantID, contactID uuid.UUID, after, limit int) ([]Message, error) {
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	out := []Message{}
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+messageColumns+` FROM chat_messages WHERE tenant_id = $1 AND contact_id = $2 AND seq > $3
			ORDER BY seq LIMIT $4`, tenantID, contactID, after, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) { return scanMessage(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("chat messages: %w", err)
	}
	return out, nil
}

// VisitorSend stores a visitor's message; a resend of the same client id
// returns the stored one. Past MessageLimit the visitor is refused
// ERATELIMIT too_many_messages, with when to send again.
func (s *Service) VisitorSend(ctx context.Context, v Visitor, clientID, body string) (Message, bool, error) {
	if err := s.allowMessage(ctx, v); err != nil {
		return Message{}, false, err
	}
	return s.appendMessage(ctx, v.TenantID, v.ContactID, appendInput{sender: SenderVisitor, clientID: clientID, body: body,
		states: []string{contacts.StateNew, contacts.StateQueued, contacts.StateOffered, contacts.StateAccepted, contacts.StateWrapUp}})
}

// Typing tells the other side that sender (visitor or agent) is typing.
func (s *Service) Typing(ctx context.Context, tenantID, contactID uuid.UUID, sender string, agent *uuid.UUID) error {
	return s.Hub.Publish(ctx, Event{Type: EventTyping, TenantID: tenantID, ContactID: contactID, From: sender, AgentID: agent})
}

// Conversation checks that p may see the contact's conversation (agents
// only the contacts offered or assigned to them: contacts.Get decides)
// and returns the contact.
func (s *Service) Conversation(ctx context.Context, p tenant.Principal, contactID uuid.UUID) (contacts.Contact, error) {
	d, err := s.Contacts.Get(ctx, p, contactID)
	if err != nil {
		return contacts.Contact{}, err
	}
	if d.Channel != "chat" {
		return contacts.Contact{}, cic.Codef(cic.ENOTFOUND, "not_found", "This contact is not a chat.")
	}
	return d.Contact, nil
}

// AgentMessages lists a conversation for an agent or supervisor.
func (s *Service) AgentMessages(ctx context.Context, p tenant.Principal, contactID uuid.UUID, after, limit int) ([]Message, error) {
	if _, err := s.Conversation(ctx, p, contactID); err != nil {
		return nil, err
	}
	return s.Messages(ctx, p.TenantID, contactID, after, limit)
}

// AgentSend stores a message from the agent the contact is assigned to,
// or from a supervisor, admin or owner, once the contact was accepted
// (contacts.Service.BeforeAnswer: a chat no one accepted is answered by
// no one, 409 not_accepted). A supervisor may still write in a chat an
// agent accepted and then transferred back to a queue: it is metered.
func (s *Service) AgentSend(ctx context.Context, p tenant.Principal, contactID uuid.UUID, clientID, body string) (Message, bool, error) {
	if err := checkMessage(clientID, body); err != nil {
		return Message{}, false, err
	}
	c, err := s.Conversation(ctx, p, contactID)
	if err != nil {
		return Message{}, false, err
	}
	states := []string{contacts.StateAccepted, contacts.StateWrapUp}
	if c.AgentID == nil || *c.AgentID != p.UserID {
		if !p.Role.In(cic.RoleSupervisor, cic.RoleAdmin, cic.RoleOwner) {
			return Message{}, false, cic.Codef(cic.EFORBIDDEN, "not_your_contact", "This contact is not assigned to you.")
		}
		states = append(states, contacts.StateQueued, contacts.StateOffered)
	}
	if err := s.Contacts.BeforeAnswer(ctx, p.TenantID, contactID); err != nil {
		return Message{}, false, err
	}
	uid := p.UserID
	return s.appendMessage(ctx, p.TenantID, contactID, appendInput{sender: SenderAgent, agentID: &uid, clientID: clientID, body: body, states: states})
}

// AgentTyping tells the visitor that an agent is typing, if p may write.
func (s *Service) AgentTyping(ctx context.Context, p tenant.Principal, contactID uuid.UUID) error {
	c, err := s.Conversation(ctx, p, contactID)
	if err != nil {
		return err
	}
	return s.Typing(ctx, p.TenantID, contactID, SenderAgent, c.AgentID)
}

// VisitorTyping tells the contact's agent that the visitor is typing.
func (s *Service) VisitorTyping(ctx context.Context, v Visitor) error {
	var agent *uuid.UUID
	err := s.DB.Tx(ctx, v.TenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT agent_id FROM contacts WHERE tenant_id = $1 AND id = $2`, v.TenantID, v.ContactID).Scan(&agent)
	})
	if err != nil {
		return fmt.Errorf("typing: %w", err)
	}
	return s.Typing(ctx, v.TenantID, v.ContactID, SenderVisitor, agent)
}

func (s *Service) allowMessage(ctx context.Context, v Visitor) error {
	if s.limiter == nil || s.MessageLimit.Rate <= 0 {
		return nil
	}
	res, err := s.limiter.Allow(ctx, s.prefix+"rl:chatmsg:{t:"+v.TenantID.String()+"}:"+v.ContactID.String(), s.MessageLimit)
	if err != nil {
		return cic.Codef(cic.EUNAVAILABLE, "service_unavailable", "Chat is briefly unavailable; please try again in a moment.")
	}
	if res.Allowed == 0 {
		return cic.Codef(cic.ERATELIMIT, "too_many_messages", "You are sending messages too fast; please wait %d seconds and send it again.",
			max(int(math.Ceil(res.RetryAfter.Seconds())), 1))
	}
	return nil
}
