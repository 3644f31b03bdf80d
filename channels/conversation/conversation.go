// Package conversation stores the messages of e-mail, SMS, social, fax
// and call conversations (chat has its own, live, in channels/chat), with
// their attachments, and the receipts that make provider deliveries
// idempotent. The channel packages write to it; the desk reads it.
//
// Invariants: a contact's messages are numbered 1, 2, 3... gapless (the
// contact's row is locked while one is added); a message with the
// provider's id (a Message-ID, an SMS sid) is stored once however often
// it is delivered.
package conversation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/tenant"
)

// Senders of a message.
const (
	SenderCustomer = "customer"
	SenderAgent    = "agent"
	SenderSystem   = "system"
	SenderIVR      = "ivr"
)

// Delivery statuses.
const (
	StatusReceived = "received"
	StatusQueued   = "queued"
	StatusSent     = "sent"
	StatusFailed   = "failed"
)

// MaxAttachment is the largest attachment kept, in bytes.
const MaxAttachment = 10 << 20

// Message is one message of a conversation.
type Message struct {
	Seq         int            `json:"seq"`
	ID          uuid.UUID      `json:"id"`
	ContactID   uuid.UUID      `json:"contact_id"`
	Channel     string         `json:"channel"`
	Direction   string         `json:"direction"`
	Sender      string         `json:"sender"`
	AgentID     *uuid.UUID     `json:"agent_id,omitempty"`
	From        string         `json:"from"`
	To          string         `json:"to"`
	Subject     string         `json:"subject,omitempty"`
	Body        string         `json:"body"`
	ExternalID  *string        `json:"external_id,omitempty"`
	Meta        map[string]any `json:"meta,omitempty"`
	Status      string         `json:"status"`
	Error       string         `json:"error,omitempty"`
	CreatedAt   time.Time      `json:"created_at"`
	Attachments []Attachment   `json:"attachments"`
}

// Attachment describes a stored file (its bytes are read separately).
type Attachment struct {
	ID          uuid.UUID `json:"id"`
	MessageID   uuid.UUID `json:"message_id"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int       `json:"size"`
}

// New is a message to store.
type New struct {
	ContactID uuid.UUID
	Channel   string
	Direction string // inbound or outbound
	Sender    string
	AgentID   *uuid.UUID
	From, To  string
	Subject   string
	Body      string
	// ExternalID is the provider's id; "" for none.
	ExternalID  string
	Meta        map[string]any
	Status      string // received for inbound; queued, sent or failed for outbound
	Attachments []channels.Attachment
	// AttachmentLimit, when above MaxAttachment, lets this message keep
	// larger files (a fax's document); 0 means MaxAttachment.
	AttachmentLimit int
}

// Store keeps the conversations of every tenant.
type Store struct {
	DB *tenant.DB
}

// Append stores m; see AppendTx.
func (s *Store) Append(ctx context.Context, tenantID uuid.UUID, m New) (msg Message, created bool, err error) {
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		msg, created, err = AppendTx(ctx, tx, tenantID, m)
		return err
	})
	return msg, created, err
}

// AppendTx stores m in the caller's transaction and returns it. A message
// whose ExternalID is already stored (same channel and direction) is not
// stored again: the stored one is returned with created false.
func AppendTx(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, m New) (Message, bool, error) {
	if m.Status == "" {
		m.Status = StatusReceived
	}
	if len(m.Subject) > 500 {
		m.Subject = m.Subject[:500]
	}
	if len(m.Body) > 200000 {
		return Message{}, false, cic.Codef(cic.EINVALID, "message_too_long", "A message is at most 200,000 characters.")
	}
	limit := max(MaxAttachment, m.AttachmentLimit)
	for _, a := range m.Attachments {
		if len(a.Data) > limit {
			return Message{}, false, cic.Codef(cic.EINVALID, "attachment_too_large", "An attachment is at most %d MB.", limit>>20)
		}
	}
	var ext *string
	if m.ExternalID != "" {
		ext = &m.ExternalID
		if existing, err := byExternal(ctx, tx, tenantID, m.Channel, m.Direction, m.ExternalID); err == nil {
			return existing, false, nil
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return Message{}, false, err
		}
	}
	if m.Meta == nil {
		m.Meta = map[string]any{}
	}
	meta, err := json.Marshal(m.Meta)
	if err != nil {
		return Message{}, false, fmt.Errorf("message meta: %w", err)
	}
	// The contact's row lock orders its messages: seqs are gapless and
	// commit in order.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, m.ContactID); err != nil {
		return Message{}, false, fmt.Errorf("lock contact: %w", err)
	}
	id := uuid.New()
	_, err = tx.Exec(ctx, `INSERT INTO contact_messages (tenant_id, contact_id, seq, id, channel, direction, sender, agent_id,
			from_addr, to_addr, subject, body, external_id, meta, status)
		VALUES ($1, $2, (SELECT coalesce(max(seq), 0) + 1 FROM contact_messages WHERE tenant_id = $1 AND contact_id = $2),
			$3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		tenantID, m.ContactID, id, m.Channel, m.Direction, m.Sender, m.AgentID, m.From, m.To, m.Subject, m.Body, ext, meta, m.Status)
	if err != nil {
		return Message{}, false, fmt.Errorf("store message: %w", err)
	}
	for _, a := range m.Attachments {
		name := a.Filename
		if name == "" {
			name = "attachment"
		}
		if len(name) > 255 {
			name = name[:255]
		}
		ct := a.ContentType
		if ct == "" || len(ct) > 255 {
			ct = "application/octet-stream"
		}
		_, err := tx.Exec(ctx, `INSERT INTO contact_attachments (tenant_id, id, contact_id, message_id, filename, content_type, size, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, tenantID, uuid.New(), m.ContactID, id, name, ct, len(a.Data), a.Data)
		if err != nil {
			return Message{}, false, fmt.Errorf("store attachment: %w", err)
		}
	}
	msg, err := one(ctx, tx, tenantID, `id = $2`, id)
	return msg, true, err
}

const messageColumns = `seq, id, contact_id, channel, direction, sender, agent_id, from_addr, to_addr, subject, body,
	external_id, meta, status, error, created_at`

func scan(row pgx.Row) (Message, error) {
	var m Message
	err := row.Scan(&m.Seq, &m.ID, &m.ContactID, &m.Channel, &m.Direction, &m.Sender, &m.AgentID, &m.From, &m.To,
		&m.Subject, &m.Body, &m.ExternalID, &m.Meta, &m.Status, &m.Error, &m.CreatedAt)
	return m, err
}

func one(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, where string, arg any) (Message, error) {
	m, err := scan(tx.QueryRow(ctx, `SELECT `+messageColumns+` FROM contact_messages WHERE tenant_id = $1 AND `+where, tenantID, arg))
	if err != nil {
		return Message{}, err
	}
	m.Attachments, err = attachmentsOf(ctx, tx, tenantID, `message_id = $2`, m.ID)
	return m, err
}

func byExternal(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, channel, direction, ext string) (Message, error) {
	m, err := scan(tx.QueryRow(ctx, `SELECT `+messageColumns+` FROM contact_messages
		WHERE tenant_id = $1 AND channel = $2 AND direction = $3 AND external_id = $4`, tenantID, channel, direction, ext))
	if err != nil {
		return Message{}, err
	}
	m.Attachments, err = attachmentsOf(ctx, tx, tenantID, `message_id = $2`, m.ID)
	return m, err
}

func attachmentsOf(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, where string, arg any) ([]Attachment, error) {
	rows, err := tx.Query(ctx, `SELECT id, message_id, filename, content_type, size FROM contact_attachments
		WHERE tenant_id = $1 AND `+where+` ORDER BY created_at, filename`, tenantID, arg)
	if err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Attachment])
}

// List returns a contact's messages in order, with their attachments.
func (s *Store) List(ctx context.Context, tenantID, contactID uuid.UUID) ([]Message, error) {
	out := []Message{}
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+messageColumns+` FROM contact_messages WHERE tenant_id = $1 AND contact_id = $2
			ORDER BY seq LIMIT 1000`, tenantID, contactID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) { return scan(r) })
		if err != nil {
			return err
		}
		atts, err := attachmentsOf(ctx, tx, tenantID, `contact_id = $2`, contactID)
		if err != nil {
			return err
		}
		for i := range out {
			out[i].Attachments = []Attachment{}
			for _, a := range atts {
				if a.MessageID == out[i].ID {
					out[i].Attachments = append(out[i].Attachments, a)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("conversation: %w", err)
	}
	return out, nil
}

// Get returns one message by id.
func (s *Store) Get(ctx context.Context, tenantID, id uuid.UUID) (Message, error) {
	var m Message
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		m, err = one(ctx, tx, tenantID, `id = $2`, id)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Message{}, cic.Codef(cic.ENOTFOUND, "not_found", "Message not found.")
	}
	return m, err
}

// AttachmentData returns an attachment with its bytes; contactID guards
// that the caller reads it through a contact it may see.
func (s *Store) AttachmentData(ctx context.Context, tenantID, contactID, id uuid.UUID) (Attachment, []byte, error) {
	var a Attachment
	var data []byte
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id, message_id, filename, content_type, size, data FROM contact_attachments
			WHERE tenant_id = $1 AND contact_id = $2 AND id = $3`, tenantID, contactID, id).
			Scan(&a.ID, &a.MessageID, &a.Filename, &a.ContentType, &a.Size, &data)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Attachment{}, nil, cic.Codef(cic.ENOTFOUND, "not_found", "Attachment not found.")
	}
	return a, data, err
}

// SetStatus records how an outbound message's delivery went, and the
// provider's id for it when it has one.
func (s *Store) SetStatus(ctx context.Context, tenantID, id uuid.UUID, status, errText, externalID string) error {
	if len(errText) > 1000 {
		errText = errText[:1000]
	}
	var ext *string
	if externalID != "" {
		ext = &externalID
	}
	return s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE contact_messages SET status = $3, error = $4, external_id = coalesce($5, external_id)
			WHERE tenant_id = $1 AND id = $2`, tenantID, id, status, errText, ext)
		return err
	})
}

// ContactOfExternal returns the contact holding a message with one of
// the provider ids (e-mail threading: In-Reply-To, References).
func ContactOfExternal(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, channel string, ids []string) (uuid.UUID, bool, error) {
	if len(ids) == 0 {
		return uuid.Nil, false, nil
	}
	var id uuid.UUID
	err := tx.QueryRow(ctx, `SELECT contact_id FROM contact_messages WHERE tenant_id = $1 AND channel = $2 AND external_id = ANY($3)
		ORDER BY created_at DESC LIMIT 1`, tenantID, channel, ids).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, nil
	}
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("thread lookup: %w", err)
	}
	return id, true, nil
}

// OpenContactOf returns the customer's newest contact on channel that is
// not over yet (an SMS or social conversation continues in it).
func OpenContactOf(ctx context.Context, tx pgx.Tx, tenantID, customerID uuid.UUID, channel string) (uuid.UUID, bool, error) {
	var id uuid.UUID
	err := tx.QueryRow(ctx, `SELECT id FROM contacts WHERE tenant_id = $1 AND customer_id = $2 AND channel = $3
		AND state IN ('new', 'queued', 'offered', 'accepted', 'wrap_up') ORDER BY created_at DESC LIMIT 1`,
		tenantID, customerID, channel).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, nil
	}
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("open contact lookup: %w", err)
	}
	return id, true, nil
}

// ClaimNew names the contact a customer's message on a text channel
// opens when none of theirs is open there: want (the id this message
// would give it) unless a concurrent message claimed one first whose
// contact has not ended, which is then joined. The claim row's lock makes
// the second of two simultaneous messages wait for the first's COMMIT, so
// both name one contact (contacts.Open is idempotent by id).
func ClaimNew(ctx context.Context, tx pgx.Tx, tenantID, customerID uuid.UUID, channel string, want uuid.UUID) (uuid.UUID, error) {
	var id uuid.UUID
	err := tx.QueryRow(ctx, `INSERT INTO conversation_claims AS c (tenant_id, customer_id, channel, contact_id)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant_id, customer_id, channel) DO UPDATE SET contact_id = EXCLUDED.contact_id, claimed_at = now()
		WHERE EXISTS (SELECT 1 FROM contacts k WHERE k.tenant_id = c.tenant_id AND k.id = c.contact_id
			AND k.state NOT IN ('new', 'queued', 'offered', 'accepted', 'wrap_up'))
		RETURNING contact_id`, tenantID, customerID, channel, want).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		// The claim stands: its contact is open, or not recorded yet.
		err = tx.QueryRow(ctx, `SELECT contact_id FROM conversation_claims WHERE tenant_id = $1 AND customer_id = $2 AND channel = $3`,
			tenantID, customerID, channel).Scan(&id)
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("claim conversation: %w", err)
	}
	return id, nil
}

// Receipt records that a provider event was handled; fresh is false when
// it was already (a retried or replayed webhook), and then the caller
// changes nothing.
func Receipt(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, provider, externalID string) (fresh bool, err error) {
	if externalID == "" || len(externalID) > 500 {
		return false, cic.Codef(cic.EINVALID, "invalid_event_id", "The event has no usable id.")
	}
	tag, err := tx.Exec(ctx, `INSERT INTO webhook_receipts (tenant_id, provider, external_id) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, tenantID, provider, externalID)
	if err != nil {
		return false, fmt.Errorf("webhook receipt: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ContactID derives a contact's id from what opened it (a channel and
// the provider's id of the first message), so a retried delivery names
// the same contact: contacts.OpenInput.ID.
func ContactID(tenantID uuid.UUID, channel, externalID string) uuid.UUID {
	return uuid.NewSHA1(tenantID, []byte(channel+"\x00"+externalID))
}
