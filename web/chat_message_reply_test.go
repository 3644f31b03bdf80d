package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/chat"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/email"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/web"
)

// TestChatMessage_AnsweredByEmail: a message left in the widget is a
// contact an agent accepts, and the agent's answer leaves by e-mail to
// the address the visitor gave, from the tenant's mailbox, with the
// message's subject; the contact is metered once, at the accept.
func TestChatMessage_AnsweredByEmail(t *testing.T) {
	sink := testenv.StartSMTPSink(t)
	ms := newMsgServerWith(t, func(cfg *web.Config, reg *channels.Registry) {
		ch := chat.New(cfg.Tenants.DB, cfg.Contacts, cfg.Setup, cfg.Redis, cfg.RedisPrefix, cfg.Logger)
		t.Cleanup(ch.Close)
		cfg.Chat = ch
		reg.Register(chat.Channel{S: ch})
		reg.Register(&email.Service{DB: cfg.Tenants.DB, Contacts: cfg.Contacts, Conversations: cfg.Conversations, Directory: cfg.Directory,
			Domain: "mail.test", MaxBytes: 256 << 10, Relay: &metering.SMTPMailer{Addr: sink.Addr, From: "cic@mail.test"}, Logger: cfg.Logger})
	})
	mc := ms.company(t, "acme", "+4930111111", "+4930222222", "facebook:page1")
	ctx := testenv.Context(t)
	live := uuid.MustParse(ms.call(t, "POST", "/api/v1/queues", mc.Token, map[string]any{"name": "Live",
		"channels": []string{"chat", "email"}}).mustStatus(t, http.StatusCreated).str("id"))
	if _, err := ms.Dir.AddAddress(ctx, mc.Owner, directory.Address{Channel: "email", Address: "support@acme.mail.test", QueueID: &live}); err != nil {
		t.Fatal(err)
	}
	key, _ := ms.widget(t, routedCompany{company: mc.company, queue: live.String()}, site)

	left := ms.leaveMessage(t, key, site, `{"name":"Jane Doe","email":"Jane@Example.com","message":"Where is my parcel 4711?","client_id":"m-1"}`).
		mustStatus(t, http.StatusCreated)
	id := uuid.MustParse(left.str("contact_id"))
	// Not answerable before an agent accepts it.
	ms.call(t, "POST", "/api/v1/contacts/"+id.String()+"/messages", mc.Token, map[string]any{"client_id": "a-0", "body": "too early"}).
		mustStatus(t, http.StatusConflict)

	ms.call(t, "PUT", "/api/v1/agents/"+mc.Agent.UserID.String()+"/routing", mc.Token,
		map[string]any{"capacity": map[string]int{"email": 3}}).mustStatus(t, http.StatusOK)
	agentP := tenant.Principal{Actor: tenant.Actor{TenantID: mc.TenantID, UserID: mc.Agent.UserID, Role: cic.RoleAgent}}
	if err := ms.Contacts.SetStatus(ctx, agentP, "available", true); err != nil {
		t.Fatal(err)
	}
	ms.waitState(t, mc.company, id.String(), "offered")
	if _, err := ms.Contacts.Accept(ctx, agentP, id); err != nil {
		t.Fatal(err)
	}
	ms.call(t, "POST", "/api/v1/contacts/"+id.String()+"/messages", mc.Agent.Token,
		map[string]any{"client_id": "a-1", "body": "Hello Jane, it arrives tomorrow."}).mustStatus(t, http.StatusCreated)

	got := sink.Next(t)
	if got.From != "support@acme.mail.test" || len(got.To) != 1 || got.To[0] != "jane@example.com" {
		t.Fatalf("envelope %s -> %v, want support@acme.mail.test -> jane@example.com", got.From, got.To)
	}
	raw := string(got.Data)
	if !strings.Contains(raw, "Hello Jane, it arrives tomorrow.") || !strings.Contains(raw, "Subject: Re: ") {
		t.Fatalf("the answer's mail:\n%s", raw)
	}
	var metered int
	if err := ms.DB.Owner.QueryRow(ctx, `SELECT count(*) FROM meter_records WHERE tenant_id = $1 AND contact_id = $2`, mc.TenantID, id.String()).Scan(&metered); err != nil {
		t.Fatal(err)
	}
	if metered != 1 {
		t.Fatalf("%d meter records for the answered message, want 1", metered)
	}
}
