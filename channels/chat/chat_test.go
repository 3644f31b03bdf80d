package chat_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/chat"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant"
)

func TestChatOrigin_NormalizedExactlyNoWildcards(t *testing.T) {
	for _, tc := range []struct {
		give, want string // want "" means refused
	}{
		{"https://shop.example", "https://shop.example"},
		{"HTTPS://Shop.Example/", "https://shop.example"},
		{"https://shop.example:443", "https://shop.example"},
		{"http://shop.example:80", "http://shop.example"},
		{"http://localhost:8080", "http://localhost:8080"},
		{"http://127.0.0.1:5173", "http://127.0.0.1:5173"},
		{"http://[::1]:3000", "http://[::1]:3000"},
		{"*", ""},
		{"https://*.shop.example", ""},
		{"shop.example", ""},
		{"ftp://shop.example", ""},
		{"https://shop.example/path", ""},
		{"https://shop.example?x=1", ""},
		{"https://shop.example#top", ""},
		{"https://user@shop.example", ""},
		{"https://shop.example:99999", ""},
		{"null", ""},
		{"", ""},
	} {
		got, err := chat.NormalizeOrigin(tc.give)
		if tc.want == "" {
			if err == nil || cic.ErrorKind(err) != cic.EINVALID {
				t.Errorf("NormalizeOrigin(%q) = %q, %v; want invalid", tc.give, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeOrigin(%q) = %q, %v; want %q", tc.give, got, err, tc.want)
		}
	}
}

func TestChatWidget_OwnersAndAdminsOnly_Validated_Audited(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	agent := co.agents[0]
	if _, err := w.chat.CreateWidget(c, agent.Actor, chat.WidgetInput{QueueID: co.queue.ID, AllowedOrigins: []string{site}}); testenv.Code(err) != "forbidden" {
		t.Errorf("agent creates a widget: %v", err)
	}
	if _, err := w.chat.ListWidgets(c, agent.Actor); testenv.Code(err) != "forbidden" {
		t.Errorf("agent lists widgets: %v", err)
	}
	for _, tc := range []struct {
		name string
		in   chat.WidgetInput
		code string
	}{
		{"wildcard origin", chat.WidgetInput{QueueID: co.queue.ID, AllowedOrigins: []string{"*"}}, "invalid_origin"},
		{"no origin", chat.WidgetInput{QueueID: co.queue.ID}, "invalid_origin"},
		{"path in origin", chat.WidgetInput{QueueID: co.queue.ID, AllowedOrigins: []string{"https://a.example/x"}}, "invalid_origin"},
		{"no queue", chat.WidgetInput{AllowedOrigins: []string{site}}, "invalid_queue"},
		{"unknown queue", chat.WidgetInput{QueueID: uuid.New(), AllowedOrigins: []string{site}}, "invalid_queue"},
		{"long greeting", chat.WidgetInput{QueueID: co.queue.ID, AllowedOrigins: []string{site}, Greeting: strings.Repeat("x", 501)}, "invalid_greeting"},
	} {
		if _, err := w.chat.CreateWidget(c, co.owner.Actor, tc.in); testenv.Code(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	if !strings.HasPrefix(co.widget.Key, "cw1."+co.owner.TenantID.String()+".") {
		t.Errorf("key %q", co.widget.Key)
	}
	if _, err := w.chat.RevokeWidget(c, co.owner.Actor, co.widget.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := w.db.Owner.QueryRow(c, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action IN ('chat_widget.create', 'chat_widget.revoke')`,
		co.owner.TenantID).Scan(&n); err != nil || n != 2 {
		t.Errorf("audit entries %d %v, want 2", n, err)
	}
}

func TestChatStart_RefusesBadKeyRevokedKeyAndOtherOrigins_WithoutAContact(t *testing.T) {
	w := newWorld(t)
	a := w.company(t, "acme", 0)
	b := w.company(t, "bravo", 0)
	c := testenv.Context(t)
	revoked, err := w.chat.CreateWidget(c, a.owner.Actor, chat.WidgetInput{QueueID: a.queue.ID, AllowedOrigins: []string{site}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.chat.RevokeWidget(c, a.owner.Actor, revoked.ID); err != nil {
		t.Fatal(err)
	}
	// A's random part under B's tenant id: a key B never issued.
	forged := "cw1." + b.owner.TenantID.String() + "." + a.widget.Key[strings.LastIndex(a.widget.Key, ".")+1:]
	for _, tc := range []struct {
		name, key, origin, code string
	}{
		{"garbage key", "nope", site, "invalid_widget_key"},
		{"unknown key", "cw1." + a.owner.TenantID.String() + ".AAAAAAAAAAAAAAAAAAAAAAAA", site, "invalid_widget_key"},
		{"revoked key", revoked.Key, site, "invalid_widget_key"},
		{"forged tenant", forged, site, "invalid_widget_key"},
		{"other origin", a.widget.Key, "https://evil.example", "origin_not_allowed"},
		{"other port", a.widget.Key, site + ":8443", "origin_not_allowed"},
		{"no origin", a.widget.Key, "", "origin_not_allowed"},
	} {
		_, err := w.chat.Start(c, tc.key, tc.origin, "192.0.2.1", chat.StartInput{})
		if testenv.Code(err) != tc.code || cic.ErrorKind(err) != cic.EFORBIDDEN {
			t.Errorf("%s: %v, want forbidden %s", tc.name, err, tc.code)
		}
	}
	if n, m := w.contactCount(t, a.owner.TenantID), w.contactCount(t, b.owner.TenantID); n != 0 || m != 0 {
		t.Fatalf("refused starts made contacts: %d in A, %d in B", n, m)
	}
	st, err := w.chat.Start(c, a.widget.Key, "HTTPS://SHOP.EXAMPLE:443", "192.0.2.1", chat.StartInput{})
	if err != nil || st.Greeting != "Hi!" || st.State != contacts.StateQueued {
		t.Fatalf("start: %+v %v", st, err)
	}
	if _, err := w.chat.Authenticate(c, st.Token, "https://evil.example"); testenv.Code(err) != "origin_not_allowed" {
		t.Errorf("token from another origin: %v", err)
	}
	// The token's tenant swapped for B's finds nothing.
	swapped := strings.Replace(st.Token, a.owner.TenantID.String(), b.owner.TenantID.String(), 1)
	if _, err := w.chat.Authenticate(c, swapped, site); testenv.Code(err) != "invalid_chat_token" {
		t.Errorf("token under B's tenant: %v", err)
	}
	if _, err := w.chat.Authenticate(c, st.Token[:len(st.Token)-2]+"xx", site); testenv.Code(err) != "invalid_chat_token" {
		t.Errorf("wrong secret: %v", err)
	}
}

func TestChatMessages_ResendStoredOnce_SeqsGaplessUnderConcurrency(t *testing.T) {
	w := newWorld(t)
	w.chat.MessageLimit = redis_rate.Limit{} // 60 sends at once: the store's test, not the limit's
	co := w.company(t, "acme", 0)
	v := w.start(t, co)
	c := testenv.Context(t)
	// 20 messages, each sent three times at once.
	var wg sync.WaitGroup
	seqs := make([][3]int, 20)
	for i := range 20 {
		for k := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, _, err := w.chat.VisitorSend(c, v, fmt.Sprintf("c-%d", i), fmt.Sprintf("message %d", i))
				if err != nil {
					t.Error(err)
					return
				}
				seqs[i][k] = m.Seq
			}()
		}
	}
	wg.Wait()
	for i, s := range seqs {
		if s[0] != s[1] || s[1] != s[2] {
			t.Errorf("client id c-%d got seqs %v, want one", i, s)
		}
	}
	ms, err := w.chat.Messages(c, v.TenantID, v.ContactID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 20 {
		t.Fatalf("%d messages stored, want 20", len(ms))
	}
	for i, m := range ms {
		if m.Seq != i+1 {
			t.Fatalf("message %d has seq %d: seqs must be gapless", i, m.Seq)
		}
	}
	if tail, _ := w.chat.Messages(c, v.TenantID, v.ContactID, 18, 0); len(tail) != 2 || tail[0].Seq != 19 {
		t.Errorf("after 18: %+v", tail)
	}
	for _, tc := range []struct {
		clientID, body, code string
	}{
		{"c-x", "", "empty_message"},
		{"c-x", "  \n ", "empty_message"},
		{"c-x", strings.Repeat("é", chat.MaxBody+1), "message_too_long"},
		{"", "hi", "invalid_client_id"},
		{"has space", "hi", "invalid_client_id"},
		{"c-x", "bad \xff utf8", "invalid_message"},
	} {
		if _, _, err := w.chat.VisitorSend(c, v, tc.clientID, tc.body); testenv.Code(err) != tc.code {
			t.Errorf("send %q/%.10q: %v, want %s", tc.clientID, tc.body, err, tc.code)
		}
	}
	if _, _, err := w.chat.VisitorSend(c, v, "c-max", strings.Repeat("é", chat.MaxBody)); err != nil {
		t.Errorf("a message of exactly %d characters: %v", chat.MaxBody, err)
	}
}

func TestChatAgentSend_OnlyTheAssignedAgentAfterAcceptOrASupervisor(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 2)
	c := testenv.Context(t)
	v := w.start(t, co)
	var offered, other = co.agents[0], co.agents[1]
	if st := w.state(t, v.TenantID, v.ContactID); st != contacts.StateOffered {
		t.Fatalf("state %s", st)
	}
	ct, _ := w.contacts.Get(c, co.owner, v.ContactID)
	if *ct.AgentID != offered.UserID {
		offered, other = other, offered
	}
	if _, _, err := w.chat.AgentSend(c, offered, v.ContactID, "a-1", "hello"); testenv.Code(err) != "not_accepted" {
		t.Errorf("send before accepting: %v", err)
	}
	if _, _, err := w.chat.AgentSend(c, other, v.ContactID, "a-1", "hello"); testenv.Code(err) != "not_found" {
		t.Errorf("another agent sends: %v", err)
	}
	if _, err := w.chat.AgentMessages(c, other, v.ContactID, 0, 0); testenv.Code(err) != "not_found" {
		t.Errorf("another agent reads: %v", err)
	}
	if _, err := w.contacts.Accept(c, offered, v.ContactID); err != nil {
		t.Fatal(err)
	}
	m, dup, err := w.chat.AgentSend(c, offered, v.ContactID, "a-1", "hello")
	if err != nil || dup || m.Seq != 1 || m.Sender != chat.SenderAgent || *m.AgentID != offered.UserID {
		t.Fatalf("agent send: %+v %v %v", m, dup, err)
	}
	if again, dup, err := w.chat.AgentSend(c, offered, v.ContactID, "a-1", "hello"); err != nil || !dup || again.ID != m.ID {
		t.Errorf("resend: %+v %v %v", again, dup, err)
	}
	if m, _, err := w.chat.AgentSend(c, co.owner, v.ContactID, "o-1", "supervisor here"); err != nil || m.Seq != 2 {
		t.Errorf("owner sends: %+v %v", m, err)
	}
	if m.ForVisitor().AgentID != nil {
		t.Error("the visitor's copy names the agent")
	}
}

// TestChatFeed_ExactlyOnceInOrderAcrossReplicas: messages stored through one
// replica reach a visitor's feed on another; an event published twice or
// out of order (a gap) still yields 1, 2, 3... once each.
func TestChatFeed_ExactlyOnceInOrderAcrossReplicas(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 0)
	v := w.start(t, co)
	c := testenv.Context(t)
	other := w.replica(t)
	if _, _, err := w.chat.VisitorSend(c, v, "c-1", "one"); err != nil {
		t.Fatal(err)
	}
	feed, err := other.VisitorFeed(c, v, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	for i := 2; i <= 4; i++ {
		if _, _, err := w.chat.VisitorSend(c, v, fmt.Sprintf("c-%d", i), "more"); err != nil {
			t.Fatal(err)
		}
	}
	// Replays: an old event again, and a gap (seq 6 announced while 5
	// is stored but its event is never published).
	ms, _ := w.chat.Messages(c, v.TenantID, v.ContactID, 0, 0)
	if err := w.chat.Hub.Publish(c, chat.Event{Type: chat.EventMessage, TenantID: v.TenantID, ContactID: v.ContactID, Message: &ms[1]}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Owner.Exec(c, `WITH s AS (UPDATE chat_sessions SET last_seq = 5 WHERE tenant_id = $1 AND contact_id = $2)
		INSERT INTO chat_messages (tenant_id, contact_id, seq, id, sender, client_msg_id, body) VALUES ($1, $2, 5, gen_random_uuid(), 'visitor', 'c-5', 'silent')`,
		v.TenantID, v.ContactID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.chat.VisitorSend(c, v, "c-6", "six"); err != nil {
		t.Fatal(err)
	}
	if err := w.chat.Typing(c, v.TenantID, v.ContactID, chat.SenderAgent, nil); err != nil {
		t.Fatal(err)
	}
	var got []int
	typing := false
	deadline := time.Now().Add(10 * time.Second)
	for (len(got) < 6 || !typing) && time.Now().Before(deadline) {
		nctx, cancel := context.WithTimeout(c, 10*time.Second)
		evs, err := feed.Next(nctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			switch ev.Type {
			case chat.EventMessage:
				got = append(got, ev.Message.Seq)
			case chat.EventTyping:
				typing = true
			}
		}
	}
	if fmt.Sprint(got) != "[1 2 3 4 5 6]" || !typing {
		t.Fatalf("feed delivered seqs %v (typing %v), want [1 2 3 4 5 6] and the typing event", got, typing)
	}
	// Nothing else is pending: late duplicates, of the newest message
	// too, are dropped.
	ms, _ = w.chat.Messages(c, v.TenantID, v.ContactID, 0, 0)
	for _, m := range []chat.Message{ms[0], ms[5]} {
		if err := w.chat.Hub.Publish(c, chat.Event{Type: chat.EventMessage, TenantID: v.TenantID, ContactID: v.ContactID, Message: &m}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := w.chat.VisitorSend(c, v, "c-7", "seven"); err != nil {
		t.Fatal(err)
	}
	evs, err := feed.Next(c)
	if err != nil || len(evs) != 1 || evs[0].Message.Seq != 7 {
		t.Fatalf("after a stale duplicate: %+v %v", evs, err)
	}
}

func TestChatLeave_BeforeAcceptAbandons_NotMetered_AfterAcceptOnlyNoted(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	v1 := w.start(t, co) // offered to the agent
	if err := w.chat.Leave(c, v1); err != nil {
		t.Fatal(err)
	}
	if err := w.chat.Leave(c, v1); err != nil {
		t.Fatalf("leaving twice: %v", err)
	}
	if st := w.state(t, v1.TenantID, v1.ContactID); st != contacts.StateAbandoned {
		t.Fatalf("left before accept: %s, want abandoned", st)
	}
	if _, _, err := w.chat.VisitorSend(c, v1, "late", "hello?"); testenv.Code(err) != "chat_ended" {
		t.Errorf("send after leaving: %v", err)
	}

	// Gone (no connection) past the grace period: abandoned too; one seen
	// recently is not.
	v2 := w.start(t, co)
	if err := w.chat.AbandonIfGone(c, v2.TenantID, v2.ContactID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if st := w.state(t, v2.TenantID, v2.ContactID); st == contacts.StateAbandoned {
		t.Fatal("a visitor seen just now was abandoned")
	}
	time.Sleep(20 * time.Millisecond)
	if err := w.chat.AbandonIfGone(c, v2.TenantID, v2.ContactID, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if st := w.state(t, v2.TenantID, v2.ContactID); st != contacts.StateAbandoned {
		t.Fatalf("gone visitor: %s, want abandoned", st)
	}

	// Accepted, then the visitor goes: the contact stays accepted (and
	// metered once), the timeline notes it.
	v3 := w.start(t, co)
	if _, err := w.contacts.Accept(c, co.agents[0], v3.ContactID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := w.chat.AbandonIfGone(c, v3.TenantID, v3.ContactID, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if st := w.state(t, v3.TenantID, v3.ContactID); st != contacts.StateAccepted {
		t.Fatalf("accepted chat after a disconnect: %s", st)
	}
	if _, _, err := w.chat.VisitorSend(c, v3, "back", "I'm back"); err != nil {
		t.Fatalf("a visitor back after a disconnect from an accepted chat cannot write: %v", err)
	}
	if err := w.chat.Leave(c, v3); err != nil {
		t.Fatal(err)
	}
	if st := w.state(t, v3.TenantID, v3.ContactID); st != contacts.StateAccepted {
		t.Fatalf("accepted chat the visitor left: %s", st)
	}
	var metered, left int
	if err := w.db.Owner.QueryRow(c, `SELECT count(*) FROM meter_records WHERE tenant_id = $1`, co.owner.TenantID).Scan(&metered); err != nil {
		t.Fatal(err)
	}
	if err := w.db.Owner.QueryRow(c, `SELECT count(*) FROM contact_events WHERE tenant_id = $1 AND contact_id = $2 AND kind = 'customer_left'`,
		co.owner.TenantID, v3.ContactID).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if metered != 1 || left != 1 {
		t.Fatalf("metered %d contacts (want 1: only the accepted one), customer_left events %d (want 1)", metered, left)
	}
}

// TestChatWidget_SetOrigins_ReplacesTheAllowListAtOnce: the new list
// holds from the next call (a chat's reconnect included), is validated
// like a new widget's, audited, managers only, per tenant, and a revoked
// widget stays revoked.
func TestChatWidget_SetOrigins_ReplacesTheAllowListAtOnce(t *testing.T) {
	w := newWorld(t)
	a := w.company(t, "acme", 1)
	b := w.company(t, "bravo", 0)
	c := testenv.Context(t)
	st, err := w.chat.Start(c, a.widget.Key, site, "192.0.2.1", chat.StartInput{})
	if err != nil {
		t.Fatal(err)
	}
	const shop2 = "https://shop2.example"
	got, err := w.chat.SetWidgetOrigins(c, a.owner.Actor, a.widget.ID, []string{" HTTPS://Shop2.example:443 ", shop2, "http://127.0.0.1:8080"})
	if err != nil || strings.Join(got.AllowedOrigins, " ") != shop2+" http://127.0.0.1:8080" {
		t.Fatalf("set origins: %+v %v", got, err)
	}
	if _, err := w.chat.Start(c, a.widget.Key, site, "192.0.2.1", chat.StartInput{}); testenv.Code(err) != "origin_not_allowed" {
		t.Errorf("start from the removed origin: %v", err)
	}
	if _, err := w.chat.Authenticate(c, st.Token, site); testenv.Code(err) != "origin_not_allowed" {
		t.Errorf("open chat of the removed origin reconnects: %v", err)
	}
	if _, err := w.chat.Start(c, a.widget.Key, shop2, "192.0.2.1", chat.StartInput{}); err != nil {
		t.Errorf("start from the added origin: %v", err)
	}
	for _, tc := range []struct {
		name    string
		who     tenant.Actor
		id      uuid.UUID
		origins []string
		code    string
	}{
		{"agent", a.agents[0].Actor, a.widget.ID, []string{site}, "forbidden"},
		{"no origin", a.owner.Actor, a.widget.ID, nil, "invalid_origin"},
		{"wildcard", a.owner.Actor, a.widget.ID, []string{"https://*.example"}, "invalid_origin"},
		{"a URL, not an origin", a.owner.Actor, a.widget.ID, []string{"https://shop.example/cart"}, "invalid_origin"},
		{"another tenant's widget", b.owner.Actor, a.widget.ID, []string{site}, "not_found"},
		{"no such widget", a.owner.Actor, uuid.New(), []string{site}, "not_found"},
	} {
		if _, err := w.chat.SetWidgetOrigins(c, tc.who, tc.id, tc.origins); testenv.Code(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	if _, err := w.chat.RevokeWidget(c, a.owner.Actor, a.widget.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.chat.SetWidgetOrigins(c, a.owner.Actor, a.widget.ID, []string{site}); testenv.Code(err) != "widget_revoked" {
		t.Errorf("revoked widget: %v", err)
	}
	ws, err := w.chat.ListWidgets(c, a.owner.Actor)
	if err != nil || len(ws) != 1 || strings.Join(ws[0].AllowedOrigins, " ") != shop2+" http://127.0.0.1:8080" || ws[0].RevokedAt == nil {
		t.Fatalf("A's widget after all: %+v %v", ws, err)
	}
	if bw, err := w.chat.ListWidgets(c, b.owner.Actor); err != nil || len(bw) != 1 || bw[0].AllowedOrigins[0] != site {
		t.Fatalf("B's widget: %+v %v", bw, err)
	}
	var n int
	if err := w.db.Owner.QueryRow(c, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'chat_widget.origins'`,
		a.owner.TenantID).Scan(&n); err != nil || n != 1 {
		t.Errorf("audit entries %d %v, want 1", n, err)
	}
}

// TestChatVisitor_MessageRateIsLimitedPerVisitor: a visitor past the
// message rate is refused too_many_messages (a rate limit, with when to
// send again) and nothing is stored; another visitor's chat is not
// affected.
func TestChatVisitor_MessageRateIsLimitedPerVisitor(t *testing.T) {
	w := newWorld(t)
	w.chat.MessageLimit = redis_rate.Limit{Rate: 5, Burst: 5, Period: time.Hour}
	co := w.company(t, "acme", 0)
	c := testenv.Context(t)
	v := w.start(t, co)
	for i := range 5 {
		if _, _, err := w.chat.VisitorSend(c, v, fmt.Sprintf("m-%d", i), "hello"); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	_, _, err := w.chat.VisitorSend(c, v, "m-5", "flood")
	if testenv.Code(err) != "too_many_messages" || cic.ErrorKind(err) != cic.ERATELIMIT || !strings.Contains(err.Error(), "seconds") {
		t.Fatalf("sixth message: %v, want rate limited too_many_messages", err)
	}
	if ms, _ := w.chat.Messages(c, v.TenantID, v.ContactID, 0, 0); len(ms) != 5 {
		t.Errorf("%d messages stored, want 5", len(ms))
	}
	st, err := w.chat.Start(c, co.widget.Key, site, "192.0.2.1", chat.StartInput{VisitorID: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := w.chat.Authenticate(c, st.Token, site)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.chat.VisitorSend(c, v2, "m-0", "hello"); err != nil {
		t.Errorf("another visitor is limited too: %v", err)
	}
}
