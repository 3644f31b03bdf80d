package web_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"

	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/chat"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/email"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/web"
)

// TestAnswers_NeverOnAContactWithoutAMeterRecord checks the property of
// issue #15, item 3, over every channel that answers in writing (chat,
// e-mail, SMS, social), every role that may write (the agent, a
// supervisor, the owner), every path an answer takes (the API, the
// channel registry as the desk and the survey use it, with a reply and
// with a kind it does not know) and the states a contact goes through
// (queued, offered, accepted, abandoned): after every attempt, no answer
// stored on any contact lacks its meter record. Before acceptance every
// attempt is refused, 409 not_accepted (or 404 to an agent who may not
// see the contact); once accepted, each is delivered: the property holds
// and is not vacuous.
func TestAnswers_NeverOnAContactWithoutAMeterRecord(t *testing.T) {
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
	ms.call(t, "PUT", "/api/v1/agents/"+mc.Agent.UserID.String()+"/routing", mc.Token,
		map[string]any{"capacity": map[string]int{"sms": 9, "social": 9, "fax": 9, "chat": 9, "email": 9}}).mustStatus(t, http.StatusOK)
	if _, err := ms.Dir.AddAddress(ctx, mc.Owner, directory.Address{Channel: "email", Address: "support@acme.mail.test", QueueID: &live}); err != nil {
		t.Fatal(err)
	}
	key, _ := ms.widget(t, routedCompany{company: mc.company, queue: live.String()}, site)
	sup := ms.createUser(t, mc.company, "sam@acme.example", "supervisor")
	agentP := tenant.Principal{Actor: tenant.Actor{TenantID: mc.TenantID, UserID: mc.Agent.UserID, Role: cic.RoleAgent}}

	unmetered := func() int {
		t.Helper()
		var n int
		err := ms.DB.Owner.QueryRow(ctx, `SELECT count(*) FROM (
				SELECT contact_id FROM chat_messages WHERE tenant_id = $1 AND sender = 'agent'
				UNION ALL SELECT contact_id FROM contact_messages WHERE tenant_id = $1 AND direction = 'outbound' AND sender <> 'system'
			) a WHERE NOT EXISTS (SELECT 1 FROM meter_records m WHERE m.tenant_id = $1 AND m.contact_id = a.contact_id::text)`,
			mc.TenantID).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	open := func(channel string) uuid.UUID {
		t.Helper()
		var in contacts.OpenInput
		switch channel {
		case "chat":
			return uuid.MustParse(ms.startChat(t, key, site, map[string]any{}).mustStatus(t, http.StatusCreated).str("contact_id"))
		case "email":
			in = contacts.OpenInput{QueueID: live, CustomerRef: "carla@customer.example"}
		case "sms":
			in = contacts.OpenInput{QueueID: mc.QueueID, CustomerRef: "+4917012345678"}
		case "social":
			in = contacts.OpenInput{QueueID: mc.QueueID, CustomerRef: "facebook:carla"}
		}
		in.Channel = channel
		c, err := ms.Contacts.Open(ctx, mc.TenantID, in)
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	n := 0
	// try sends one answer by who along path; it reports whether the
	// answer went out, and the error code otherwise.
	try := func(channel string, id uuid.UUID, who company, path string) (bool, string) {
		t.Helper()
		n++
		switch path {
		case "api":
			a := ms.call(t, "POST", "/api/v1/contacts/"+id.String()+"/messages", who.Token,
				map[string]any{"client_id": fmt.Sprintf("c-%d", n), "body": fmt.Sprintf("answer %d", n)})
			return a.Status == http.StatusCreated, a.errCode()
		default:
			msg := channels.Message{TenantID: mc.TenantID, ContactID: id, Body: fmt.Sprintf("answer %d", n)}
			if path == "registry" {
				uid := who.UserID
				msg.AgentID, msg.Kind = &uid, channels.KindReply
			}
			err := ms.Registry.Send(ctx, channel, msg)
			return err == nil, testenv.Code(err)
		}
	}
	roles := map[string]company{"agent": mc.Agent, "supervisor": sup, "owner": mc.company}
	paths := []string{"api", "registry", "unknown-kind"}
	check := func(step string) {
		t.Helper()
		if u := unmetered(); u != 0 {
			t.Fatalf("%s: %d answers on contacts without a meter record", step, u)
		}
	}
	for _, channel := range []string{"chat", "email", "sms", "social"} {
		// Queued: the agent is away.
		if err := ms.Contacts.SetStatus(ctx, agentP, "away", true); err != nil {
			t.Fatal(err)
		}
		id := open(channel)
		gone := open(channel)
		for _, stage := range []string{"queued", "offered", "abandoned", "accepted"} {
			target := id
			switch stage {
			case "offered":
				if err := ms.Contacts.SetStatus(ctx, agentP, "available", true); err != nil {
					t.Fatal(err)
				}
			case "abandoned":
				target = gone
				if err := ms.Contacts.Abandon(ctx, mc.TenantID, gone); err != nil {
					t.Fatal(err)
				}
			case "accepted":
				if _, err := ms.Contacts.Accept(ctx, agentP, id); err != nil {
					t.Fatal(err)
				}
			}
			ct, err := ms.Contacts.GetByID(ctx, mc.TenantID, target)
			if err != nil {
				t.Fatal(err)
			}
			if ct.State != stage {
				t.Fatalf("%s contact is %s, want %s", channel, ct.State, stage)
			}
			for role, who := range roles {
				for _, path := range paths {
					sent, code := try(channel, target, who, path)
					step := fmt.Sprintf("%s %s, %s by %s", channel, stage, path, role)
					check(step)
					if stage != "accepted" {
						hidden := role == "agent" && path == "api" && code == "not_found" && stage != "offered"
						if sent || (code != "not_accepted" && !hidden) {
							t.Errorf("%s: sent %v, code %q; want refused not_accepted", step, sent, code)
						}
						continue
					}
					if !sent {
						t.Errorf("%s: refused %q; an accepted contact is answered", step, code)
					}
				}
			}
		}
	}
	check("end")
}
