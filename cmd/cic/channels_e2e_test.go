package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/smtp"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	chatpkg "github.com/cic-platform/cic/channels/chat"
	"github.com/cic-platform/cic/channels/twilio"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
)

// e2e is a running `cic serve` and `cic worker` and the HTTP client the
// test talks to them with.
type e2e struct {
	t    *testing.T
	base string // http://127.0.0.1:port
	smtp string // the product's SMTP listener
	env  map[string]string
	// ip is the client address the test's requests come from (the
	// server trusts X-Forwarded-For from loopback): one of its own, so
	// the per-IP sign-up and login limits in the shared test Redis
	// never count another run's requests.
	ip string
}

func (e *e2e) call(method, path, token string, body any, hdr ...string) (int, map[string]any) {
	e.t.Helper()
	var r io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case url.Values:
		r, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.base+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("X-Forwarded-For", e.ip)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := map[string]any{}
	if json.Unmarshal(raw, &out) != nil {
		out["raw"] = string(raw)
	}
	return res.StatusCode, out
}

func (e *e2e) must(want int, method, path, token string, body any, hdr ...string) map[string]any {
	e.t.Helper()
	st, out := e.call(method, path, token, body, hdr...)
	if st != want {
		e.t.Fatalf("%s %s: %d, want %d: %v", method, path, st, want, out)
	}
	return out
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// startServeAndWorker runs both commands in-process until the test ends.
func startServeAndWorker(t *testing.T, env map[string]string) *e2e {
	t.Helper()
	c := cli{t: t, env: env}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, name := range []string{"serve", "worker"} {
		go func() {
			defer func() { done <- struct{}{} }()
			if _, logs, err := c.run(ctx, name); err != nil && ctx.Err() == nil {
				t.Errorf("%s: %v\n%s", name, err, logs)
			}
		}()
	}
	t.Cleanup(func() {
		stop()
		for range 2 {
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("serve or worker did not stop")
			}
		}
	})
	e := &e2e{t: t, base: "http://" + env["HTTP_ADDR"], smtp: env["SMTP_ADDR"], env: env,
		ip: fmt.Sprintf("10.%d.%d.%d", rand.IntN(256), rand.IntN(256), 1+rand.IntN(254))}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if res, err := http.Get(e.base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not become ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitOffered waits until a contact on channel is offered to the agent.
func (e *e2e) waitOffered(agentToken, channel string) string {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		out := e.must(http.StatusOK, "GET", "/api/v1/contacts?state=open", agentToken, nil)
		list, _ := out["contacts"].([]any)
		for _, x := range list {
			c := x.(map[string]any)
			if c["channel"] == channel && c["state"] == "offered" {
				return str(c, "id")
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("no %s contact was offered to the agent", channel)
	return ""
}

// handle accepts, wraps up and closes a contact as the agent does.
func (e *e2e) handle(agentToken, id string) {
	e.t.Helper()
	e.must(http.StatusOK, "POST", "/api/v1/contacts/"+id+"/accept", agentToken, nil)
	e.must(http.StatusNoContent, "POST", "/api/v1/contacts/"+id+"/wrapup", agentToken, map[string]any{"disposition": "solved"})
	e.must(http.StatusNoContent, "POST", "/api/v1/contacts/"+id+"/close", agentToken, nil)
}

// One customer writes by e-mail, then chats, then calls. All three
// contacts go through the same routing, metering and chargeback path:
// one customer (the call's caller merged into them by the agent), three
// contacts, three meter records, one timeline across the channels, and
// the chargeback report's lines per channel and cost centre.
func TestEndToEnd_EmailThenChatThenCallIsOneCustomer(t *testing.T) {
	db := testenv.NewDB(t)
	relay := testenv.StartSMTPSink(t)
	env := newCLI(t, db.OwnerURL).env
	env["HTTP_ADDR"] = "127.0.0.1:" + freePort(t)
	env["SMTP_ADDR"] = "127.0.0.1:" + freePort(t)
	env["SMTP_RELAY"] = relay.Addr
	env["INBOUND_DOMAIN"] = "mail.cic.test"
	env["ALLOW_PRIVATE_OUTBOUND"] = "1" // provider stubs listen on loopback
	e := startServeAndWorker(t, env)
	ctx := testenv.Context(t)

	// The company: one queue for e-mail, chat and calls (cost centre
	// CC-42), an agent with room on each, a mailbox, a phone number, the
	// provider's token, a chat widget, and a priced bundle to draw from.
	// Sign-up is limited per e-mail address too, in the Redis every run
	// shares: the owner's address is this run's own.
	su := e.must(http.StatusCreated, "POST", "/api/v1/signup", "", map[string]any{"company": "Acme", "slug": "acme", "name": "Olive",
		"email": "owner-" + strings.ReplaceAll(e.ip, ".", "-") + "@acme.example", "password": "correct horse battery", "currency": "EUR"})
	owner := str(su, "access_token")
	tenantID := str(su["tenant"].(map[string]any), "id")
	queue := str(e.must(http.StatusCreated, "POST", "/api/v1/queues", owner, map[string]any{"name": "Support",
		"channels": []string{"email", "chat", "voice"}, "cost_centre": "CC-42"}), "id")
	e.must(http.StatusOK, "PUT", "/api/v1/dispositions/solved", owner, map[string]any{"label": "Solved"})
	agentID := str(e.must(http.StatusCreated, "POST", "/api/v1/users", owner, map[string]any{"email": "agent@acme.example",
		"name": "Ann Agent", "role": "agent", "password": "correct horse battery"}), "id")
	e.must(http.StatusOK, "PUT", "/api/v1/agents/"+agentID+"/routing", owner, map[string]any{"capacity": map[string]int{"email": 1, "chat": 1, "voice": 1}})
	agent := str(e.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]any{"tenant": "acme", "email": "agent@acme.example",
		"password": "correct horse battery"}), "access_token")
	lease := str(e.must(http.StatusCreated, "POST", "/api/v1/seats/lease", agent, map[string]any{"workstation": "desk-1"}), "lease_id")
	e.must(http.StatusOK, "PUT", "/api/v1/agent/status", agent, map[string]any{"status": "available"}, "X-Seat-Lease", lease)
	e.must(http.StatusCreated, "POST", "/api/v1/channel-addresses", owner, map[string]any{"channel": "email", "address": "support@acme.mail.cic.test", "queue_id": queue})
	e.must(http.StatusCreated, "POST", "/api/v1/channel-addresses", owner, map[string]any{"channel": "voice", "address": "+49 30 555000", "queue_id": queue})
	const twilioToken = "e2e-twilio-auth-token"
	e.must(http.StatusOK, "PUT", "/api/v1/channel-providers/twilio", owner, map[string]any{"account_id": "ACe2e", "secret": twilioToken})
	widget := e.must(http.StatusCreated, "POST", "/api/v1/chat/widgets", owner, map[string]any{"name": "Shop", "queue_id": queue,
		"allowed_origins": []string{"https://shop.example"}})
	tx, err := db.Owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('app.tenant_id', $1, true)`, tenantID); err != nil {
		t.Fatal(err)
	}
	// 3 contacts for 3.00 EUR, drawn before the trial (it expires first).
	if _, err := metering.CreditBundle(ctx, tx, mustUUID(t, tenantID), metering.Bundle{Source: metering.SourceGrant, Contacts: 3,
		PriceMinor: 300, Currency: "EUR", ValidFrom: time.Now().Add(-time.Hour), ValidUntil: time.Now().AddDate(0, 0, 7)}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	// 1. E-mail: a real SMTP client writes to the mailbox; the agent's
	// reply leaves through the relay, threaded on the customer's mail.
	mail := "From: Jane Doe <jane@example.com>\r\nTo: support@acme.mail.cic.test\r\nSubject: Where is my order?\r\n" +
		"Message-ID: <order-1@example.com>\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\nOrder 4711 has not arrived.\r\n"
	if err := smtp.SendMail(e.smtp, nil, "jane@example.com", []string{"support@acme.mail.cic.test"}, []byte(mail)); err != nil {
		t.Fatalf("SMTP: %v", err)
	}
	emailID := e.waitOffered(agent, "email")
	e.must(http.StatusOK, "POST", "/api/v1/contacts/"+emailID+"/accept", agent, nil)
	e.must(http.StatusCreated, "POST", "/api/v1/contacts/"+emailID+"/messages", agent, map[string]any{"body": "It ships today."})
	reply := relay.Next(t)
	if !bytes.Contains(reply.Data, []byte("In-Reply-To: <order-1@example.com>")) || len(reply.To) != 1 || reply.To[0] != "jane@example.com" {
		t.Fatalf("the reply is not threaded on the customer's mail:\n%s", reply.Data)
	}
	e.must(http.StatusNoContent, "POST", "/api/v1/contacts/"+emailID+"/wrapup", agent, map[string]any{"disposition": "solved"})
	e.must(http.StatusNoContent, "POST", "/api/v1/contacts/"+emailID+"/close", agent, nil)
	jane := str(e.must(http.StatusOK, "GET", "/api/v1/contacts/"+emailID+"/customer", agent, nil)["customer"].(map[string]any), "id")
	survey := relay.Next(t) // the satisfaction survey, on the same channel
	if !bytes.Contains(survey.Data, []byte("1 (not at all) to 5")) {
		t.Fatalf("no survey mail after close:\n%s", survey.Data)
	}

	// 2. Chat: the shop's page knows Jane and says so to the widget,
	// signing her address with the widget's identity secret.
	chat := e.must(http.StatusCreated, "POST", "/chat/v1/sessions?key="+url.QueryEscape(str(widget, "key")), "",
		map[string]any{"visitor_id": "browser42", "email": "jane@example.com", "name": "Jane Doe",
			"email_hash": chatpkg.EmailHash(str(widget, "identity_secret"), "jane@example.com")}, "Origin", "https://shop.example")
	chatID := str(chat, "contact_id")
	if got := e.waitOffered(agent, "chat"); got != chatID {
		t.Fatalf("offered chat %s, started %s", got, chatID)
	}
	e.handle(agent, chatID)

	// 3. Call: the provider's signed webhook; the caller's number is not
	// known yet, so the call has a customer of its own until the agent
	// merges it into Jane.
	callPath := "/webhooks/twilio/" + tenantID + "/voice"
	form := url.Values{"CallSid": {"CAe2e0000000000000000000000000001"}, "AccountSid": {"ACe2e"}, "From": {"+4915112345678"},
		"To": {"+4930555000"}, "CallStatus": {"ringing"}, "Direction": {"inbound"}}
	sig := twilio.Sign(twilioToken, env["PUBLIC_URL"]+callPath, form)
	if st, out := e.call("POST", callPath, "", form, twilio.SignatureHeader, twilio.Sign("wrong-token", env["PUBLIC_URL"]+callPath, form)); st != http.StatusForbidden {
		t.Fatalf("a badly signed call: %d %v", st, out)
	}
	if st, out := e.call("POST", callPath, "", form, twilio.SignatureHeader, sig); st != http.StatusOK || !strings.Contains(str(out, "raw"), "<Redirect") {
		t.Fatalf("incoming call: %d %v", st, out)
	}
	callID := e.waitOffered(agent, "voice")
	e.handle(agent, callID)
	caller := str(e.must(http.StatusOK, "GET", "/api/v1/contacts/"+callID+"/customer", agent, nil)["customer"].(map[string]any), "id")
	if caller == jane {
		t.Fatal("an unknown number was linked to Jane by itself")
	}
	e.must(http.StatusOK, "POST", "/api/v1/customers/"+jane+"/merge", agent, map[string]any{"from": caller})

	// One customer, three contacts on three channels, one timeline.
	cust := e.must(http.StatusOK, "GET", "/api/v1/customers/"+jane, owner, nil)
	list, _ := cust["contacts"].([]any)
	channels := map[string]string{}
	for _, x := range list {
		c := x.(map[string]any)
		channels[str(c, "channel")] = str(c, "id")
		if str(c, "customer_id") != jane {
			t.Errorf("contact %s has customer %s, want %s", str(c, "id"), str(c, "customer_id"), jane)
		}
	}
	if len(list) != 3 || channels["email"] != emailID || channels["chat"] != chatID || channels["voice"] != callID {
		t.Fatalf("Jane's timeline: %v", list)
	}
	if ids, _ := cust["identities"].([]any); len(ids) != 3 { // e-mail, browser, phone
		t.Fatalf("Jane's identities: %v", cust["identities"])
	}

	// Three meter records, one per contact.
	var n, distinct int
	if err := db.Owner.QueryRow(ctx, `SELECT count(*), count(DISTINCT contact_id) FROM meter_records WHERE tenant_id = $1
		AND contact_id = ANY($2)`, tenantID, []string{emailID, chatID, callID}).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != 3 || distinct != 3 {
		t.Fatalf("%d meter records (%d contacts); want 3 (3)", n, distinct)
	}

	// Chargeback: by channel one line each at 1.00 EUR, by cost centre
	// one line of 3 contacts and 3.00 EUR; both reconcile.
	today := time.Now().UTC().Format(time.DateOnly)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	for dim, want := range map[string]map[string][2]int64{
		"channel":     {"email": {1, 100}, "chat": {1, 100}, "voice": {1, 100}},
		"cost_centre": {"CC-42": {3, 300}},
	} {
		rep := e.must(http.StatusAccepted, "POST", "/api/v1/reports/chargeback", owner, map[string]any{"from": today, "to": tomorrow, "dimension": dim})
		done := e.waitReport(owner, str(rep, "id"))
		groups, _ := done["groups"].([]any)
		got := map[string][2]int64{}
		for _, g := range groups {
			m := g.(map[string]any)
			got[str(m, "key")] = [2]int64{int64(m["contacts"].(float64)), int64(m["cost_minor"].(float64))}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("chargeback by %s: %v; want %v", dim, got, want)
		}
		rec := done["reconciliation"].(map[string]any)
		if rec["total_minor"].(float64) != 300 || rec["groups_minor"].(float64) != 300 || rec["lines_minor"].(float64) != 300 {
			t.Errorf("chargeback by %s does not reconcile: %v", dim, rec)
		}
	}
}

// waitReport waits for the worker to finish a report.
func (e *e2e) waitReport(token, id string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out := e.must(http.StatusOK, "GET", "/api/v1/reports/"+id, token, nil)
		switch str(out, "status") {
		case "done":
			return out
		case "failed":
			e.t.Fatalf("report failed: %v", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatal("the report was not done within 60 s")
	return nil
}

func mustUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
