// Package fax is the inbound fax channel: the fax provider posts each
// received fax, its PDF and who sent it, as multipart/form-data signed
// with the tenant's fax secret (messaging.Sign over the raw body). A fax
// becomes a contact in the queue of the number it was sent to, with the
// document attached to its first message. A fax is not answered by fax:
// the agent calls or writes back, so the channel sends nothing.
package fax

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/messaging"
)

// Channel is this channel's name.
const Channel = "fax"

// MaxDocument is the largest fax document taken, in bytes.
const MaxDocument = 20 << 20

// maxParts bounds the parts of a webhook body: four fields and the file.
const maxParts = 16

// Service is the fax channel of every tenant; it is a channels.Channel.
type Service struct {
	Flow *messaging.Flow
	// Now is the clock of signatures; nil: time.Now.
	Now func() time.Time
}

// Name implements channels.Channel.
func (s *Service) Name() string { return Channel }

// WebhookPath is where the provider posts a tenant's faxes.
func WebhookPath(tenantID uuid.UUID) string { return "/webhooks/fax/" + tenantID.String() }

// Send implements channels.Channel. The survey after close is not sent
// by fax (it would cost the customer paper); nothing else is either.
func (s *Service) Send(_ context.Context, msg channels.Message) error {
	if msg.Kind == channels.KindSurvey {
		return nil
	}
	return cic.Codef(cic.EINVALID, "fax_reply_unsupported", "A fax cannot be answered by fax: answer it by phone or e-mail.")
}

// Start implements channels.Channel: outbound faxes are not sent.
func (s *Service) Start(context.Context, channels.Outbound) (uuid.UUID, error) {
	return uuid.Nil, cic.Codef(cic.EINVALID, "fax_outbound_unsupported", "Faxes are not sent: contact the customer by phone or e-mail.")
}

// Webhook is the provider's request as the web edge received it.
type Webhook struct {
	Timestamp   string // X-CIC-Timestamp
	Signature   string // X-CIC-Signature
	ContentType string
	Body        []byte
}

// Fax is a received fax.
type Fax struct {
	ID       string
	From, To string // E.164
	Pages    int
	Document []byte // a PDF
}

// Result is the webhook's answer.
type Result struct {
	// Status is received, unavailable (the tenant's policy blocks new
	// contacts: the fax is kept on the contact recorded as rejected) or
	// closed (outside business hours: nothing kept).
	Status    string     `json:"status"`
	ContactID *uuid.UUID `json:"contact_id,omitempty"`
	Message   string     `json:"message,omitempty"`
}

func bad(code, format string, args ...any) error {
	return cic.Codef(cic.EINVALID, code, format, args...)
}

// ErrTooLarge is the error of a document over MaxDocument (the web edge
// answers it with 413).
var ErrTooLarge = cic.Codef(cic.EINVALID, "document_too_large", "A fax document is at most 20 MB.")

// Parse reads a webhook body: fields id, from, to, pages and the file
// part document, which must be a PDF.
func Parse(contentType string, body []byte) (Fax, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return Fax{}, bad("unsupported_media_type", "Send the fax as multipart/form-data.")
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var f Fax
	var pages string
	var haveDoc bool
	for n := 0; ; n++ {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil || n >= maxParts {
			return Fax{}, bad("invalid_multipart", "The body is not a well-formed multipart form.")
		}
		switch name := part.FormName(); name {
		case "document":
			if haveDoc {
				return Fax{}, bad("invalid_document", "Send one document.")
			}
			haveDoc = true
			if f.Document, err = io.ReadAll(io.LimitReader(part, MaxDocument+1)); err != nil {
				return Fax{}, bad("invalid_multipart", "The document part cannot be read.")
			}
			if len(f.Document) > MaxDocument {
				return Fax{}, ErrTooLarge
			}
		case "id", "from", "to", "pages":
			v, err := io.ReadAll(io.LimitReader(part, 201))
			if err != nil || len(v) > 200 {
				return Fax{}, bad("invalid_"+name, "%s is at most 200 characters.", name)
			}
			switch name {
			case "id":
				f.ID = strings.TrimSpace(string(v))
			case "from":
				f.From = string(v)
			case "to":
				f.To = string(v)
			case "pages":
				pages = strings.TrimSpace(string(v))
			}
		}
	}
	if f.ID == "" || strings.ContainsFunc(f.ID, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' }) {
		return Fax{}, bad("invalid_id", "id is 1 to 200 printable characters without spaces.")
	}
	if f.From, err = customer.NormalizePhone(f.From); err != nil {
		return Fax{}, bad("invalid_from", "from is not a fax number with its country code.")
	}
	if f.To, err = customer.NormalizePhone(f.To); err != nil {
		return Fax{}, bad("invalid_to", "to is not a fax number with its country code.")
	}
	if pages != "" {
		if f.Pages, err = strconv.Atoi(pages); err != nil || f.Pages < 0 || f.Pages > 10000 {
			return Fax{}, bad("invalid_pages", "pages is a number from 0 to 10000.")
		}
	}
	if !haveDoc || !bytes.HasPrefix(f.Document, []byte("%PDF-")) {
		return Fax{}, bad("invalid_document", "The document part must be a PDF.")
	}
	return f, nil
}

// Inbound takes the provider's webhook for tenantID. The signature is
// checked first, with the tenant's fax secret: an unknown tenant, a
// missing, wrong or stale signature are all 403 and nothing is read.
func (s *Service) Inbound(ctx context.Context, tenantID uuid.UUID, wh Webhook) (Result, error) {
	p, err := s.Flow.Directory.Provider(ctx, tenantID, directory.Fax)
	if e, ok := cic.AsError(err); ok && e.Kind == cic.ENOTFOUND {
		return Result{}, cic.Codef(cic.EFORBIDDEN, "invalid_signature", "The request's signature is missing or wrong.")
	}
	if err != nil {
		return Result{}, fmt.Errorf("fax webhook: provider: %w", err)
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	if err := messaging.Verify(p.Secret, wh.Timestamp, wh.Signature, wh.Body, now); err != nil {
		return Result{}, err
	}
	f, err := Parse(wh.ContentType, wh.Body)
	if err != nil {
		return Result{}, err
	}
	addr, err := s.Flow.Directory.AddressOf(ctx, tenantID, Channel, f.To)
	if err != nil {
		return Result{}, err
	}
	if addr.QueueID == nil {
		return Result{}, cic.Codef(cic.ECONFLICT, "address_without_queue", "The number %s leads to no queue.", f.To)
	}
	body := "Fax from " + f.From
	switch {
	case f.Pages == 1:
		body += ", 1 page"
	case f.Pages > 1:
		body += fmt.Sprintf(", %d pages", f.Pages)
	}
	out, err := s.Flow.Receive(ctx, messaging.Inbound{TenantID: tenantID, Channel: Channel, QueueID: *addr.QueueID,
		IdentityKind: customer.KindPhone, Identity: f.From, ExternalID: f.ID, From: f.From, To: f.To, Subject: body, Body: body,
		Meta:            map[string]any{"pages": f.Pages},
		Attachments:     []channels.Attachment{{Filename: "fax-" + safeName(f.ID) + ".pdf", ContentType: "application/pdf", Data: f.Document}},
		AttachmentLimit: MaxDocument})
	if err != nil {
		return Result{}, err
	}
	r := Result{Status: "received"}
	if out.ContactID != uuid.Nil {
		r.ContactID = &out.ContactID
	}
	switch {
	case out.Unavailable:
		r.Status, r.Message = "unavailable", out.Reply
	case out.Closed:
		r.Status, r.Message = "closed", out.Reply
	}
	return r, nil
}

// safeName keeps the letters, digits, '-' and '_' of a provider id, for
// a file name.
func safeName(id string) string {
	var b strings.Builder
	for _, r := range id {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_') && b.Len() < 100 {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "document"
	}
	return b.String()
}
