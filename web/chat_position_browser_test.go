package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/infra/testenv"
)

// waitText waits until sel's text contains want.
func waitText(sel, want string) step {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && !e.hidden && e.textContent.includes(%q); })()`, sel, want),
		chromedp.WithPollingTimeout(15*time.Second))
}

// closedDays are business hours that are closed today (open on a day
// three days ahead only).
func closedDays() map[string]any {
	day := strings.ToLower(time.Now().UTC().AddDate(0, 0, 3).Weekday().String()[:3])
	return map[string]any{"timezone": "UTC", "days": map[string]any{day: []string{"08:00", "18:00"}}}
}

// TestBrowser_ChatPositionThenLeaveAMessage: in English and in German, a
// visitor waits behind two chats for the one busy agent and sees "You
// are number 3 — about 9 minutes"; the line moves (the agent finishes
// one) and the widget follows; then the queue closes and the waiting
// visitor is offered the message form, whose message becomes an e-mail
// contact queued on the queue (the chat is abandoned). A new visitor
// while closed gets the form at once, with what they typed.
func TestBrowser_ChatPositionThenLeaveAMessage(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	b := newBrowser(t)
	for _, tc := range []struct {
		lang, slug         string
		third, second      string
		closed, thanks     string
		sendLabel          string
		name, email, write string
	}{
		{"en", "acme", "You are number 3 \u2014 about 9 minutes", "You are number 2", "We are closed at the moment",
			"Thank you! We have your message", "Send message", "Jane Doe", "jane@example.com", "Please call me back about my order."},
		{"de", "gmbh", "Sie sind Nummer 3 \u2014 etwa 9 Minuten", "Sie sind Nummer 2", "Wir sind gerade nicht erreichbar",
			"Vielen Dank! Wir haben Ihre Nachricht erhalten", "Nachricht senden", "Erika Muster", "erika@example.de", "Bitte rufen Sie mich wegen meiner Bestellung an."},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			co := ts.signup(t, tc.slug)
			key, _ := ts.apiKey(t, co, "PBX")
			queue := ts.call(t, "POST", "/api/v1/queues", co.Token, map[string]any{"name": "Support", "channels": []string{"chat", "email"}}).mustStatus(t, http.StatusCreated).str("id")
			ts.call(t, "PUT", "/api/v1/dispositions/solved", co.Token, map[string]any{"label": "Solved"}).mustStatus(t, http.StatusOK)
			agent := ts.createUser(t, co, "a@"+tc.slug+".example", "agent")
			ts.call(t, "PUT", "/api/v1/agents/"+agent.UserID.String()+"/routing", co.Token, map[string]any{"capacity": map[string]int{"chat": 1}}).mustStatus(t, http.StatusOK)
			lease := ts.lease(t, agent, "desk").mustStatus(t, http.StatusCreated).str("lease_id")
			req := jsonRequest(t, "PUT", "/api/v1/agent/status", map[string]any{"status": "available"})
			req.Header.Set("Authorization", "Bearer "+agent.Token)
			req.Header.Set("X-Seat-Lease", lease)
			ts.do(t, req).mustStatus(t, http.StatusOK)

			// The agent is busy with one chat; two more wait.
			busy := ts.call(t, "POST", "/api/v1/contacts", key, map[string]any{"queue_id": queue, "channel": "chat"}).mustStatus(t, http.StatusCreated).str("id")
			ts.call(t, "POST", "/api/v1/contacts/"+busy+"/accept", agent.Token, nil).mustStatus(t, http.StatusOK)
			for range 2 {
				ts.call(t, "POST", "/api/v1/contacts", key, map[string]any{"queue_id": queue, "channel": "chat"}).mustStatus(t, http.StatusCreated)
			}

			var snippet string
			shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				fmt.Fprintf(w, `<!doctype html><html lang="%s"><head><title>Shop</title></head><body><main><h1>Shop</h1></main>%s</body></html>`, tc.lang, snippet)
			}))
			t.Cleanup(shop.Close)
			wg := ts.call(t, "POST", "/api/v1/chat/widgets", co.Token, map[string]any{"queue_id": queue, "allowed_origins": []string{shop.URL}}).mustStatus(t, http.StatusCreated)
			snippet = strings.Replace(wg.str("snippet"), "http://cic.test", base, 1)

			visitor, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
			t.Cleanup(cancel)
			if err := chromedp.Do(visitor); err != nil {
				t.Fatal(err)
			}
			run(t, visitor, "visitor writes and waits",
				chromedp.Navigate(shop.URL+"/"),
				click("#cic-chat-button"),
				visible("#cic-chat-input"),
				chromedp.SendKeys(chromedp.CSS("#cic-chat-input"), "Hello?"),
				click("#cic-chat-send"),
				waitText("#cic-chat-position", tc.third),
			)
			if got := read(t, visitor, "#cic-chat-position"); got != tc.third {
				t.Errorf("position %q, want %q", got, tc.third)
			}
			if tc.lang == "en" {
				shot, err := chromedp.Run(visitor, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatal(err)
				}
				dir := filepath.Join("..", ".screens")
				if err := os.MkdirAll(dir, 0o755); err == nil {
					_ = os.WriteFile(filepath.Join(dir, "widget-position.png"), shot, 0o644)
				}
			}

			// The line moves: the agent finishes its chat and takes the next.
			ts.call(t, "POST", "/api/v1/contacts/"+busy+"/wrapup", agent.Token, map[string]any{"disposition": "solved"}).mustStatus(t, http.StatusNoContent)
			ts.call(t, "POST", "/api/v1/contacts/"+busy+"/close", agent.Token, nil).mustStatus(t, http.StatusNoContent)
			run(t, visitor, "the line moves", waitText("#cic-chat-position", tc.second))

			// The queue closes: the waiting visitor is offered the form.
			ts.call(t, "PATCH", "/api/v1/queues/"+queue, co.Token, map[string]any{"business_hours": closedDays()}).mustStatus(t, http.StatusOK)
			run(t, visitor, "the form is offered",
				waitText("#cic-msg-note", tc.closed),
				waitText("#cic-msg-send", tc.sendLabel),
				fill("#cic-msg-name", tc.name),
				fill("#cic-msg-email", tc.email),
				chromedp.SendKeys(chromedp.CSS("#cic-msg-text"), tc.write),
				click("#cic-msg-send"),
				waitText("#cic-chat-notice", tc.thanks),
			)

			// The message is an e-mail contact queued on the queue, from
			// the visitor's address; the chat they waited in is abandoned.
			var msgs []struct{ id, state, from, body string }
			if err := ts.Tenants.DB.Tx(testenv.Context(t), co.TenantID, func(tx pgx.Tx) error {
				rows, err := tx.Query(testenv.Context(t), `SELECT c.id::text, c.state, m.from_addr, m.body FROM contacts c
					JOIN contact_messages m ON m.tenant_id = c.tenant_id AND m.contact_id = c.id
					WHERE c.tenant_id = $1 AND c.channel = 'email' AND c.queue_id = $2 ORDER BY c.created_at`, co.TenantID, uuid.MustParse(queue))
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var m struct{ id, state, from, body string }
					if err := rows.Scan(&m.id, &m.state, &m.from, &m.body); err != nil {
						return err
					}
					msgs = append(msgs, m)
				}
				return rows.Err()
			}); err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 1 || msgs[0].state != "queued" || msgs[0].from != tc.email || msgs[0].body != tc.write {
				t.Fatalf("left messages: %+v", msgs)
			}
			d := ts.call(t, "GET", "/api/v1/contacts/"+msgs[0].id, co.Token, nil).mustStatus(t, http.StatusOK)
			if d.str("customer_ref") != tc.email || d.JSON["queue_position"] != float64(1) {
				t.Errorf("message contact: %s", d.Body)
			}
			if n := ts.countChats(t, co.TenantID, "abandoned"); n != 1 {
				t.Errorf("%d abandoned chats, want the visitor's", n)
			}

			// A new visitor while closed: the form at once, with their text.
			other, cancel2 := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
			t.Cleanup(cancel2)
			if err := chromedp.Do(other); err != nil {
				t.Fatal(err)
			}
			run(t, other, "a visitor writes while closed",
				chromedp.Navigate(shop.URL+"/"),
				click("#cic-chat-button"),
				visible("#cic-chat-input"),
				chromedp.SendKeys(chromedp.CSS("#cic-chat-input"), tc.write),
				click("#cic-chat-send"),
				waitText("#cic-msg-note", tc.closed),
			)
			if got, err := chromedp.Run(other, chromedp.Value(chromedp.CSS("#cic-msg-text"))); err != nil || got != tc.write {
				t.Errorf("form prefilled with %q (%v)", got, err)
			}
			run(t, other, "they leave the message",
				fill("#cic-msg-email", "second@example.com"),
				click("#cic-msg-send"),
				waitText("#cic-chat-notice", tc.thanks),
			)
			var n int
			if err := ts.Tenants.DB.Tx(testenv.Context(t), co.TenantID, func(tx pgx.Tx) error {
				return tx.QueryRow(testenv.Context(t), `SELECT count(*) FROM contacts WHERE tenant_id = $1 AND channel = 'email' AND state = 'queued'
					AND customer_ref = 'second@example.com'`, co.TenantID).Scan(&n)
			}); err != nil || n != 1 {
				t.Errorf("second message: %d contacts (%v)", n, err)
			}
		})
	}
}

func (ts *testServer) countChats(t *testing.T, tenantID uuid.UUID, state string) int {
	t.Helper()
	var n int
	if err := ts.Tenants.DB.Tx(context.Background(), tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT count(*) FROM contacts WHERE tenant_id = $1 AND channel = 'chat' AND state = $2`, tenantID, state).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
