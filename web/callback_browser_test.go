package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/infra/testenv"
)

// TestBrowser_ChatWidgetCallMeBack: a visitor waiting in the chat (no
// agent free) asks to be called back with their number as they write it;
// the widget says so and ends the chat, and the callback waits in the
// chat's place in line.
func TestBrowser_ChatWidgetCallMeBack(t *testing.T) {
	vs := newVoiceServer(t)
	base := vs.listen(t)
	co := vs.callbackCenter(t, "acme", 0)
	queue := vs.call(t, "POST", "/api/v1/queues", co.Token, map[string]any{"name": "Shop", "channels": []string{"chat", "voice"}}).
		mustStatus(t, http.StatusCreated).str("id")
	var snippet string
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := map[string]string{"/": "en", "/de": "de"}[r.URL.Path]
		if lang == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="%s"><head><title>Shop</title></head><body><main><h1>Our shop</h1></main>%s</body></html>`, lang, snippet)
	}))
	t.Cleanup(shop.Close)
	w := vs.call(t, "POST", "/api/v1/chat/widgets", co.Token, map[string]any{"queue_id": queue,
		"allowed_origins": []string{shop.URL}, "greeting": "Hello!"}).mustStatus(t, http.StatusCreated)
	snippet = strings.Replace(w.str("snippet"), "http://cic.test", base, 1)

	b := newBrowser(t)
	visitor, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(visitor); err != nil {
		t.Fatal(err)
	}
	run(t, visitor, "visitor writes and waits",
		chromedp.Navigate(shop.URL+"/"),
		click("#cic-chat-button"),
		visible("#cic-chat-input"),
		chromedp.SendKeys(chromedp.CSS("#cic-chat-input"), "Anyone there?"),
		click("#cic-chat-send"),
		visible(`#cic-chat-messages li.cic-msg-visitor[data-seq="1"]`),
		visible("#cic-chat-callback"),
	)
	run(t, visitor, "visitor asks for a callback",
		click("#cic-chat-callback"),
		visible("#cic-callback-phone"),
		chromedp.SendKeys(chromedp.CSS("#cic-callback-phone"), "+49 30 765 4321"),
		click("#cic-callback-send"),
	)
	run(t, visitor, "the widget confirms", chromedp.WaitNotVisible(chromedp.CSS("#cic-callback-form")))
	if n := read(t, visitor, "#cic-chat-notice"); !strings.Contains(n, "call you back at +49307654321") {
		t.Fatalf("notice %q", n)
	}
	if count(t, visitor, "#cic-chat-input:disabled") != 1 {
		t.Fatal("the chat did not end in the widget")
	}
	var chatQueued, cbQueued string
	vs.inTenant(t, co.TenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(testenv.Context(t), `SELECT c.queued_at::text, b.queued_at::text FROM callbacks k
			JOIN contacts b ON b.tenant_id = k.tenant_id AND b.id = k.contact_id
			JOIN contacts c ON c.tenant_id = k.tenant_id AND c.id = k.from_contact_id
			WHERE k.to_number = '+49307654321' AND c.channel = 'chat' AND c.state = 'closed' AND b.state = 'queued'`).Scan(&chatQueued, &cbQueued)
	})
	if chatQueued == "" || chatQueued != cbQueued {
		t.Fatalf("callback queued at %q, the chat at %q", cbQueued, chatQueued)
	}

	// In German: the link, a number without its country code, then the
	// confirmation, all in the page's language.
	de, cancelDE := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	t.Cleanup(cancelDE)
	if err := chromedp.Do(de); err != nil {
		t.Fatal(err)
	}
	run(t, de, "a German visitor writes and waits",
		chromedp.Navigate(shop.URL+"/de"),
		click("#cic-chat-button"),
		visible("#cic-chat-input"),
		chromedp.SendKeys(chromedp.CSS("#cic-chat-input"), "Hallo?"),
		click("#cic-chat-send"),
		visible(`#cic-chat-messages li.cic-msg-visitor[data-seq="1"]`),
		visible("#cic-chat-callback"),
	)
	if l := read(t, de, "#cic-chat-callback"); l != "Stattdessen Rückruf anfordern" {
		t.Fatalf("German link %q", l)
	}
	run(t, de, "a number without its country code",
		click("#cic-chat-callback"),
		visible("#cic-callback-phone"),
		chromedp.SendKeys(chromedp.CSS("#cic-callback-phone"), "030 765"),
		click("#cic-callback-send"),
		visible("#cic-chat-notice"),
	)
	if n := read(t, de, "#cic-chat-notice"); !strings.Contains(n, "Ländervorwahl") {
		t.Fatalf("German notice for a bad number %q", n)
	}
	run(t, de, "the right number",
		chromedp.SetValue(chromedp.CSS("#cic-callback-phone"), "+49 30 765 4322"),
		click("#cic-callback-send"),
		chromedp.WaitNotVisible(chromedp.CSS("#cic-callback-form")),
	)
	if n := read(t, de, "#cic-chat-notice"); !strings.Contains(n, "Wir rufen Sie unter +49307654322 zurück") {
		t.Fatalf("German confirmation %q", n)
	}
}
