// Package sms is the SMS channel through a Twilio-compatible provider:
// the provider posts each inbound SMS and each delivery status of ours to
// a webhook signed with X-Twilio-Signature (the tenant's auth token), we
// answer with TwiML, and replies go out through the provider's REST API.
//
// An inbound SMS joins the customer's open SMS contact or opens one
// (named by its MessageSid, so a retried webhook opens nothing twice); a
// lone 1 to 5 answering the customer's survey opens nothing.
package sms

import (
	"context"
	"net/http"
	"strings"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/messaging"
	"github.com/cic-platform/cic/channels/twilio"
)

// Channel is this channel's name.
const Channel = "sms"

// MaxBody is the longest SMS we send or take (the provider's limit for a
// message split into segments).
const MaxBody = 1600

// Service is the SMS channel of every tenant; it is a channels.Channel.
type Service struct {
	Flow *messaging.Flow
	// PublicURL is how the provider reaches us (web.Config.PublicURL):
	// webhook signatures cover it, and status callbacks are sent to it.
	PublicURL string
	// HTTP calls the provider's API at the tenant's api_base: an
	// outbound.Policy client; nil: the strict one.
	HTTP *http.Client
}

// Name implements channels.Channel.
func (s *Service) Name() string { return Channel }

// WebhookPath is where the provider posts a tenant's inbound SMS.
func WebhookPath(tenantID uuid.UUID) string { return "/webhooks/twilio/" + tenantID.String() + "/sms" }

// StatusPath is where the provider posts the delivery status of our SMS.
func StatusPath(tenantID uuid.UUID) string { return WebhookPath(tenantID) + "/status" }

func (s *Service) client(p directory.Provider) *twilio.Client {
	base := p.APIBase
	if base == "" {
		base = twilio.DefaultAPIBase
	}
	return &twilio.Client{APIBase: base, AccountSID: p.AccountID, AuthToken: p.Secret, HTTP: s.HTTP}
}

// sender returns the tenant's provider account and the number to send
// from: ours as the conversation used it, else the tenant's first SMS
// number, else the provider account's default sender.
func (s *Service) sender(ctx context.Context, tenantID uuid.UUID, ours string) (directory.Provider, string, error) {
	p, err := s.Flow.Directory.Provider(ctx, tenantID, directory.Twilio)
	if err != nil {
		return directory.Provider{}, "", err
	}
	if ours != "" {
		return p, ours, nil
	}
	if a, err := s.Flow.Directory.FirstAddress(ctx, tenantID, Channel); err == nil {
		return p, a.Address, nil
	}
	if p.From != "" {
		return p, p.From, nil
	}
	return directory.Provider{}, "", cic.Codef(cic.ECONFLICT, "no_address", "Set up an SMS number for the company first.")
}

// Send implements channels.Channel: the text goes to the customer's
// number from ours through the provider, recorded in the conversation
// with how its delivery went.
func (s *Service) Send(ctx context.Context, msg channels.Message) error {
	body := strings.TrimSpace(msg.Body)
	switch {
	case len(msg.Attachments) > 0:
		return cic.Codef(cic.EINVALID, "attachments_unsupported", "An SMS carries text only; send files by e-mail.")
	case body == "":
		return cic.Codef(cic.EINVALID, "empty_message", "Write a message.")
	case len([]rune(body)) > MaxBody:
		return cic.Codef(cic.EINVALID, "message_too_long", "An SMS is at most %d characters.", MaxBody)
	}
	msg.Body = body
	ends, err := s.Flow.EndsOf(ctx, msg.TenantID, msg.ContactID, Channel)
	if err != nil {
		return err
	}
	to, err := customer.NormalizePhone(ends.Customer)
	if err != nil {
		return cic.Codef(cic.ECONFLICT, "no_customer_number", "The contact has no customer phone number to answer.")
	}
	p, from, err := s.sender(ctx, msg.TenantID, ends.Ours)
	if err != nil {
		return err
	}
	callback := strings.TrimRight(s.PublicURL, "/") + StatusPath(msg.TenantID)
	_, err = s.Flow.Send(ctx, messaging.Outgoing{Channel: Channel, Msg: msg, From: from, To: to},
		func(ctx context.Context) (string, error) {
			r, err := s.client(p).SendSMS(ctx, from, to, msg.Body, callback)
			return r.SID, err
		})
	return err
}

// Start implements channels.Channel: an outbound SMS contact to out.To.
func (s *Service) Start(ctx context.Context, out channels.Outbound) (uuid.UUID, error) {
	// A contact that cannot be sent is not opened (nor metered).
	if _, _, err := s.sender(ctx, out.TenantID, ""); err != nil {
		return uuid.Nil, err
	}
	return s.Flow.Start(ctx, messaging.StartInput{Out: out, Channel: Channel, Identity: customer.KindPhone, OptOut: customer.NoSalesSMS,
		Send: func(ctx context.Context, contactID uuid.UUID, _ string) error {
			agent := out.AgentID
			return s.Send(ctx, channels.Message{TenantID: out.TenantID, ContactID: contactID, AgentID: &agent,
				Kind: channels.KindReply, Body: out.Body})
		}})
}
