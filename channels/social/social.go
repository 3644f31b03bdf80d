// Package social is the channel of messaging and social platforms (a
// page's direct messages) through one generic signed JSON webhook: the
// platform's connector posts each message a customer sends to a page,
// signed with the tenant's social secret (messaging.Sign), and our
// answers go back to the connector's reply API signed the same way.
//
// A message joins the customer's open social contact or opens one (named
// by the event id, so a replayed event opens and stores nothing twice);
// a lone 1 to 5 answering the customer's survey opens nothing.
package social

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/messaging"
	"github.com/cic-platform/cic/infra/outbound"
)

// Channel is this channel's name.
const Channel = "social"

// MaxText is the longest message we send or take.
const MaxText = 20000

// Service is the social channel of every tenant; it is a channels.Channel.
type Service struct {
	Flow *messaging.Flow
	// HTTP calls the reply API at the tenant's api_base: an
	// outbound.Policy client; nil: the strict one.
	HTTP *http.Client
	// Now is the clock of signatures; nil: time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Name implements channels.Channel.
func (s *Service) Name() string { return Channel }

// WebhookPath is where a tenant's connector posts messages.
func WebhookPath(tenantID uuid.UUID) string { return "/webhooks/social/" + tenantID.String() }

// Reply is the body our side posts to {api_base}/messages.
type Reply struct {
	Platform  string `json:"platform"`
	Page      string `json:"page"`
	Recipient string `json:"recipient"`
	Text      string `json:"text"`
}

// post sends r to the tenant's reply API and returns the platform's id
// for the message, if it gives one.
func (s *Service) post(ctx context.Context, p directory.Provider, r Reply) (string, error) {
	if p.APIBase == "" {
		return "", cic.Codef(cic.ECONFLICT, "no_reply_api", "Set the social provider's API address first.")
	}
	body, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("social reply: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(p.APIBase, "/")+"/messages", bytes.NewReader(body))
	if err != nil {
		return "", cic.Codef(cic.ECONFLICT, "no_reply_api", "The social provider's API address is not usable.")
	}
	req.Header.Set("Content-Type", "application/json")
	messaging.SignRequest(req, p.Secret, body, s.now())
	hc := s.HTTP
	if hc == nil {
		hc = outbound.Strict()
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", outbound.Unreachable(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var answer struct {
		ID    string `json:"id"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(raw, &answer)
	if resp.StatusCode/100 != 2 {
		if answer.Error == "" {
			answer.Error = resp.Status
		}
		return "", outbound.Answered(resp.StatusCode, answer.Error)
	}
	if len(answer.ID) > 200 {
		answer.ID = ""
	}
	return answer.ID, nil
}

// pageFor returns the page to answer from on platform: ours as the
// conversation used it, else the tenant's first page on that platform,
// else the provider account's default.
func (s *Service) pageFor(ctx context.Context, tenantID uuid.UUID, p directory.Provider, platform, ours string) (string, error) {
	if pl, page, ok := strings.Cut(ours, ":"); ok && pl == platform {
		return page, nil
	}
	addrs, err := s.Flow.Directory.Addresses(ctx, tenantID)
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if pl, page, ok := strings.Cut(a.Address, ":"); ok && a.Channel == Channel && pl == platform {
			return page, nil
		}
	}
	if pl, page, ok := strings.Cut(p.From, ":"); ok && strings.EqualFold(pl, platform) {
		return page, nil
	}
	return "", cic.Codef(cic.ECONFLICT, "no_address", "Set up a %s page for the company first.", platform)
}

// Send implements channels.Channel: the text goes to the customer's
// handle from our page through the reply API, recorded in the
// conversation with how its delivery went.
func (s *Service) Send(ctx context.Context, msg channels.Message) error {
	body := strings.TrimSpace(msg.Body)
	switch {
	case len(msg.Attachments) > 0:
		return cic.Codef(cic.EINVALID, "attachments_unsupported", "Social replies carry text only; send files by e-mail.")
	case body == "":
		return cic.Codef(cic.EINVALID, "empty_message", "Write a message.")
	case len(body) > MaxText:
		return cic.Codef(cic.EINVALID, "message_too_long", "A message is at most %d characters.", MaxText)
	}
	msg.Body = body
	ends, err := s.Flow.EndsOf(ctx, msg.TenantID, msg.ContactID, Channel)
	if err != nil {
		return err
	}
	return s.send(ctx, msg, ends.Customer, ends.Ours)
}

func (s *Service) send(ctx context.Context, msg channels.Message, handle, ours string) error {
	platform, recipient, ok := strings.Cut(handle, ":")
	if !ok {
		return cic.Codef(cic.ECONFLICT, "no_customer_handle", "The contact has no customer handle to answer.")
	}
	p, err := s.Flow.Directory.Provider(ctx, msg.TenantID, directory.Social)
	if err != nil {
		return err
	}
	page, err := s.pageFor(ctx, msg.TenantID, p, platform, ours)
	if err != nil {
		return err
	}
	_, err = s.Flow.Send(ctx, messaging.Outgoing{Channel: Channel, Msg: msg, From: platform + ":" + page, To: handle},
		func(ctx context.Context) (string, error) {
			return s.post(ctx, p, Reply{Platform: platform, Page: page, Recipient: recipient, Text: msg.Body})
		})
	return err
}

// Start implements channels.Channel: an outbound social contact to the
// handle out.To ("platform:handle").
func (s *Service) Start(ctx context.Context, out channels.Outbound) (uuid.UUID, error) {
	handle, err := customer.Normalize(customer.KindHandle, out.To)
	if err != nil {
		return uuid.Nil, err
	}
	platform, _, _ := strings.Cut(handle, ":")
	// A contact that cannot be sent is not opened (nor metered).
	p, err := s.Flow.Directory.Provider(ctx, out.TenantID, directory.Social)
	if err != nil {
		return uuid.Nil, err
	}
	if p.APIBase == "" {
		return uuid.Nil, cic.Codef(cic.ECONFLICT, "no_reply_api", "Set the social provider's API address first.")
	}
	if _, err := s.pageFor(ctx, out.TenantID, p, platform, ""); err != nil {
		return uuid.Nil, err
	}
	return s.Flow.Start(ctx, messaging.StartInput{Out: out, Channel: Channel, Identity: customer.KindHandle,
		Send: func(ctx context.Context, contactID uuid.UUID, to string) error {
			agent := out.AgentID
			return s.send(ctx, channels.Message{TenantID: out.TenantID, ContactID: contactID, AgentID: &agent,
				Kind: channels.KindReply, Body: strings.TrimSpace(out.Body)}, to, "")
		}})
}
