package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBrowser_ChatWidgetOnAThirdPartyPage: a visitor on a shop page (its
// own origin) writes in the widget, the agent answers over the API and
// their socket; both messages show in the widget, once each, also after
// a reload; a blocked tenant's widget says the service is unavailable.
func TestBrowser_ChatWidgetOnAThirdPartyPage(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	rc := ts.routed(t, "acme", 1)
	agent := rc.agents[0]
	// The page's origin is only known once it listens: the snippet is
	// written into it afterwards.
	var snippet string
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>Shop</title></head><body><main><h1>Our shop</h1></main>%s</body></html>`, snippet)
	}))
	t.Cleanup(shop.Close)
	w := ts.call(t, "POST", "/api/v1/chat/widgets", rc.Token, map[string]any{"queue_id": rc.queue,
		"allowed_origins": []string{shop.URL}, "greeting": "Hello! How can we help?"}).mustStatus(t, http.StatusCreated)
	// The snippet names the public URL (cic.test); the page loads it from
	// the test listener instead.
	snippet = strings.Replace(w.str("snippet"), "http://cic.test", base, 1)

	b := newBrowser(t)
	visitor, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(visitor); err != nil {
		t.Fatal(err)
	}
	run(t, visitor, "visitor opens the chat and writes",
		chromedp.Navigate(shop.URL+"/"),
		visible("#cic-chat-button"),
		click("#cic-chat-button"),
		visible("#cic-chat-input"),
		chromedp.SendKeys(chromedp.CSS("#cic-chat-input"), "Where is my parcel?"),
		click("#cic-chat-send"),
		visible(`#cic-chat-messages li.cic-msg-visitor[data-seq="1"]`),
	)
	if g := read(t, visitor, "#cic-chat-messages li.cic-msg-system"); g != "Hello! How can we help?" {
		t.Errorf("greeting %q", g)
	}

	// The agent finds the chat offered, accepts, reads and answers.
	open := ts.call(t, "GET", "/api/v1/contacts?state=open", agent.Token, nil).mustStatus(t, http.StatusOK)
	list := open.JSON["contacts"].([]any)
	if len(list) != 1 {
		t.Fatalf("agent's open contacts: %s", open.Body)
	}
	id := list[0].(map[string]any)["id"].(string)
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/accept", agent.Token, nil).mustStatus(t, http.StatusOK)
	ag := agentSocket(t, base, agent)
	ag.send(t, map[string]any{"type": "join", "contact_id": id, "after": 0})
	if f := ag.message(t, 1); f["message"].(map[string]any)["body"] != "Where is my parcel?" {
		t.Fatalf("agent reads %v", f)
	}
	ag.send(t, map[string]any{"type": "typing", "contact_id": id})
	run(t, visitor, "visitor sees the agent typing", visible("#cic-chat-typing"))
	ag.send(t, map[string]any{"type": "send", "contact_id": id, "client_id": "a-1", "body": "It arrives tomorrow."})
	ag.next(t, "ack")
	run(t, visitor, "visitor reads the answer", visible(`#cic-chat-messages li.cic-msg-agent[data-seq="2"]`))
	if got := read(t, visitor, "#cic-chat-messages li.cic-msg-agent"); got != "It arrives tomorrow." {
		t.Fatalf("visitor reads %q", got)
	}
	run(t, visitor, "visitor writes again", chromedp.SendKeys(chromedp.CSS("#cic-chat-input"), "Thanks!\n"))
	if f := ag.message(t, 3); f["message"].(map[string]any)["body"] != "Thanks!" {
		t.Fatalf("agent reads %v", f)
	}

	// A reload resumes the same conversation: every message once.
	run(t, visitor, "visitor reloads the page",
		chromedp.Reload(),
		visible("#cic-chat-button"),
		click("#cic-chat-button"),
		chromedp.WaitVisible(chromedp.CSS(`#cic-chat-messages li[data-seq="3"]`)),
		chromedp.Sleep(300*time.Millisecond),
	)
	if v, a := count(t, visitor, "#cic-chat-messages li.cic-msg-visitor"), count(t, visitor, "#cic-chat-messages li.cic-msg-agent"); v != 2 || a != 1 {
		t.Fatalf("after reload: %d visitor and %d agent messages, want 2 and 1", v, a)
	}
	stored := ts.call(t, "GET", "/api/v1/contacts/"+id+"/messages", agent.Token, nil).mustStatus(t, http.StatusOK)
	if n := len(stored.JSON["messages"].([]any)); n != 3 {
		t.Fatalf("%d messages stored, want 3", n)
	}

	// Out of contacts under the block policy: a new visitor is told.
	ts.call(t, "PUT", "/api/v1/usage/policy", rc.Token, map[string]any{"policy": "block"}).mustStatus(t, http.StatusOK)
	ts.ingest(t, rc.key, handled("used", int(ts.remaining(t, rc.company)), "chat"), http.StatusOK)
	other, cancel2 := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel2)
	if err := chromedp.Do(other); err != nil {
		t.Fatal(err)
	}
	run(t, other, "another visitor writes while the tenant is blocked",
		chromedp.Navigate(shop.URL+"/"),
		click("#cic-chat-button"),
		visible("#cic-chat-input"),
		chromedp.SendKeys(chromedp.CSS("#cic-chat-input"), "Hello?"),
		click("#cic-chat-send"),
		visible("#cic-chat-notice"),
	)
	if n := read(t, other, "#cic-chat-notice"); !strings.Contains(n, "unavailable") {
		t.Fatalf("notice %q", n)
	}
}
