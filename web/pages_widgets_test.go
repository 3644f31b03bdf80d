package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/cic-platform/cic/web"
)

// snippetArea is a snippet textarea of the widgets page.
var snippetArea = regexp.MustCompile(`<textarea id="snippet-([0-9a-f-]{36})" class="snippet-text" readonly rows="2">([^<]*)</textarea>`)

// identitySecretShown is the widgets page's one-time identity secret:
// the widget's id and the secret.
var identitySecretShown = regexp.MustCompile(`(?s)id="identity-secret" data-widget-id="([0-9a-f-]{36})".*?id="identity-secret-value" class="wide snippet-text" readonly value="(cis1_[0-9a-f]{64})"`)

// pageSnippets are the snippets the widgets page shows, by widget id.
func pageSnippets(body string) map[string]string {
	out := map[string]string{}
	for _, m := range snippetArea.FindAllStringSubmatch(body, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

// widgetByID is one widget of the API's list.
func (ts *testServer) widgetByID(t *testing.T, who company, id string) map[string]any {
	t.Helper()
	for _, w := range ts.call(t, "GET", "/api/v1/chat/widgets", who.Token, nil).mustStatus(t, http.StatusOK).JSON["widgets"].([]any) {
		if m := w.(map[string]any); m["id"] == id {
			return m
		}
	}
	t.Fatalf("widget %s not listed", id)
	return nil
}

func TestWidgetPages_AdminCreatesCopiesChangesSitesAndRevokes(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	chatQ := ts.call(t, "POST", "/api/v1/queues", owner.Token, map[string]any{"name": "Support", "channels": []string{"chat", "email"}}).mustStatus(t, http.StatusCreated).str("id")
	mailQ := ts.call(t, "POST", "/api/v1/queues", owner.Token, map[string]any{"name": "Mail only", "channels": []string{"email"}}).mustStatus(t, http.StatusCreated).str("id")
	ts.createUser(t, owner, "admin@acme.example", "admin")
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "admin@acme.example", goodPassword)
	_, page, token := b.get("/chat-widgets")
	if !strings.Contains(page, `<option value="`+chatQ+`"`) || strings.Contains(page, `<option value="`+mailQ+`"`) || !strings.Contains(page, `href="/chat-widgets"`) {
		t.Fatal("the new widget form should offer the chat queue only, and the navigation the page")
	}
	if !strings.Contains(page, "No chat widgets yet.") {
		t.Error("an empty list should say so")
	}

	// Bad forms: readable messages, what was typed kept, nothing created.
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"a URL, not an origin", url.Values{"queue_id": {chatQ}, "allowed_origins": {"https://shop.example/cart"}}, "is not an origin"},
		{"a wildcard", url.Values{"queue_id": {chatQ}, "allowed_origins": {"https://*.shop.example"}}, "wildcards are not allowed"},
		{"no site", url.Values{"queue_id": {chatQ}, "allowed_origins": {"  \n "}}, "allowed origins"},
		{"a queue without chat", url.Values{"queue_id": {mailQ}, "allowed_origins": {"https://shop.example"}}, "does not take chat contacts"},
		{"no queue", url.Values{"queue_id": {"support"}, "allowed_origins": {"https://shop.example"}}, "queue"},
	} {
		tc.form.Set("_csrf", token)
		tc.form.Set("name", "Shop "+tc.name)
		resp, body := b.post("/chat-widgets", tc.form)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="error"`) || !strings.Contains(body, html.EscapeString(tc.want)) ||
			!strings.Contains(body, `value="Shop `+html.EscapeString(tc.name)+`"`) {
			t.Errorf("%s: %d, want 400 with %q and the form kept", tc.name, resp.StatusCode, tc.want)
		}
	}
	if ws := ts.call(t, "GET", "/api/v1/chat/widgets", owner.Token, nil).mustStatus(t, http.StatusOK).JSON["widgets"].([]any); len(ws) != 0 {
		t.Fatalf("refused forms created widgets: %v", ws)
	}

	resp, body := b.post("/chat-widgets", url.Values{"_csrf": {token}, "name": {"Shop"}, "queue_id": {chatQ}, "greeting": {"Hi there"},
		"allowed_origins": {"https://shop.example\r\nHTTP://127.0.0.1:3000\r\n\r\nhttps://shop.example:443"}})
	// Not a redirect: the identity secret is on this answer, once.
	sec := identitySecretShown.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || sec == nil || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	id := sec[1]
	w := ts.widgetByID(t, owner, id)
	if _, listed := w["identity_secret"]; listed {
		t.Fatalf("the API's list shows the identity secret: %v", w)
	}
	if fmt.Sprint(w["allowed_origins"]) != "[https://shop.example http://127.0.0.1:3000]" || w["queue_id"] != chatQ || w["greeting"] != "Hi there" || w["name"] != "Shop" {
		t.Fatalf("created widget: %v", w)
	}
	_, page, _ = b.get("/chat-widgets?done=created")
	snippets := pageSnippets(page)
	if snippets[id] != w["snippet"] || !strings.HasPrefix(snippets[id], `<script src="http://cic.test/widget.js" data-key="cw1.`) {
		t.Fatalf("the page's snippet %q is not the API's %q", snippets[id], w["snippet"])
	}
	if strings.Contains(page, sec[2]) || strings.Contains(page, `id="identity-secret"`) {
		t.Error("the identity secret shows again after its one answer")
	}
	// A new secret, shown once too; the old one is gone.
	resp, body = b.post("/chat-widgets/"+id+"/identity-secret", url.Values{"_csrf": {token}})
	if again := identitySecretShown.FindStringSubmatch(body); resp.StatusCode != http.StatusOK || again == nil || again[1] != id || again[2] == sec[2] {
		t.Fatalf("rotate: %d %v", resp.StatusCode, again)
	}
	for _, want := range []string{`id="notice"`, `data-copy="snippet-` + id + `"`, "<td>Support</td>", `<code class="origin">http://127.0.0.1:3000</code>`, `class="status">active`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if n := strings.Count(page, w["key"].(string)); n != 1 {
		t.Errorf("the key shows %d times, want once (in the snippet)", n)
	}

	// The allowed sites change at once; a bad one is refused readably.
	if resp, body := b.post("/chat-widgets/"+id+"/origins", url.Values{"_csrf": {token}, "allowed_origins": {"https://shop2.example\nftp://files.example"}}); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body, "the scheme must be http or https") {
		t.Errorf("bad origin edit: %d", resp.StatusCode)
	}
	if resp, _ := b.post("/chat-widgets/"+id+"/origins", url.Values{"_csrf": {token}, "allowed_origins": {"https://shop2.example, https://www.shop2.example"}}); resp.StatusCode != http.StatusSeeOther ||
		!strings.Contains(resp.Header.Get("Location"), "done=origins") {
		t.Fatalf("origins edit: %d", resp.StatusCode)
	}
	if w = ts.widgetByID(t, owner, id); fmt.Sprint(w["allowed_origins"]) != "[https://shop2.example https://www.shop2.example]" {
		t.Fatalf("origins after the edit: %v", w["allowed_origins"])
	}
	ts.startChat(t, w["key"].(string), "https://shop.example", map[string]any{}).mustStatus(t, http.StatusForbidden)
	ts.startChat(t, w["key"].(string), "https://shop2.example", map[string]any{}).mustStatus(t, http.StatusCreated)

	if resp, _ := b.post("/chat-widgets/"+id+"/revoke", url.Values{"_csrf": {token}}); resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "done=revoked") {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if w = ts.widgetByID(t, owner, id); w["revoked_at"] == nil {
		t.Fatalf("not revoked: %v", w)
	}
	ts.startChat(t, w["key"].(string), "https://shop2.example", map[string]any{}).mustStatus(t, http.StatusForbidden)
	_, page, _ = b.get("/chat-widgets")
	if len(pageSnippets(page)) != 0 || !strings.Contains(page, `class="status">revoked`) || strings.Contains(page, "/chat-widgets/"+id+"/revoke") {
		t.Error("a revoked widget should show as revoked, without snippet or forms")
	}
	if resp, body := b.post("/chat-widgets/"+id+"/origins", url.Values{"_csrf": {token}, "allowed_origins": {"https://shop.example"}}); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "revoked") {
		t.Errorf("editing a revoked widget: %d", resp.StatusCode)
	}
	// Forms need the CSRF token like every page.
	if resp, _ := b.post("/chat-widgets", url.Values{"queue_id": {chatQ}, "allowed_origins": {"https://shop.example"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("create without the CSRF token: %d", resp.StatusCode)
	}
}

// TestWidgetPages_OwnersAndAdminsOnly_PerTenant: supervisors and agents
// get a 403 page and can change nothing; tenant B neither sees nor
// touches A's widget through the pages (404), and A's is unchanged.
func TestWidgetPages_OwnersAndAdminsOnly_PerTenant(t *testing.T) {
	ts := newServer(t)
	rc := ts.routed(t, "acme", 0)
	key, id := ts.widget(t, rc, site)
	base := ts.listen(t)
	before := ts.widgetByID(t, rc.company, id)
	for _, role := range []string{"supervisor", "agent"} {
		ts.createUser(t, rc.company, role+"@acme.example", role)
		b := newBrowserClient(t, base)
		b.login("acme", role+"@acme.example", goodPassword)
		resp, page, _ := b.get("/chat-widgets")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "Only an owner or admin") || strings.Contains(page, key) || strings.Contains(page, `id="widget-form"`) {
			t.Errorf("%s GET /chat-widgets: %d", role, resp.StatusCode)
		}
		_, dash, token := b.get("/dashboard")
		if strings.Contains(dash, `href="/chat-widgets"`) {
			t.Errorf("%s: the navigation offers the widgets page", role)
		}
		for path, form := range map[string]url.Values{
			"/chat-widgets":                            {"queue_id": {rc.queue}, "allowed_origins": {"https://evil.example"}},
			"/chat-widgets/" + id + "/origins":         {"allowed_origins": {"https://evil.example"}},
			"/chat-widgets/" + id + "/revoke":          {},
			"/chat-widgets/" + id + "/identity-secret": {},
		} {
			form.Set("_csrf", token)
			if resp, _ := b.post(path, form); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s POST %s: %d, want 403", role, path, resp.StatusCode)
			}
		}
		b.logout()
	}

	ts.signup(t, "bravo")
	other := newBrowserClient(t, base)
	other.login("bravo", "owner@bravo.example", goodPassword)
	resp, page, token := other.get("/chat-widgets")
	if resp.StatusCode != http.StatusOK || strings.Contains(page, id) || strings.Contains(page, key) || !strings.Contains(page, "No chat widgets yet.") {
		t.Fatalf("B's widgets page shows A's widget (%d)", resp.StatusCode)
	}
	for path, form := range map[string]url.Values{
		"/chat-widgets/" + id + "/origins":         {"allowed_origins": {"https://evil.example"}},
		"/chat-widgets/" + id + "/revoke":          {},
		"/chat-widgets/" + id + "/identity-secret": {},
	} {
		form.Set("_csrf", token)
		resp, body := other.post(path, form)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(body, key) || strings.Contains(body, site) {
			t.Errorf("B POST %s: %d, want 404 without A's data", path, resp.StatusCode)
		}
	}
	// Nor can B point a widget of its own at A's queue.
	if resp, _ := other.post("/chat-widgets", url.Values{"_csrf": {token}, "queue_id": {rc.queue}, "allowed_origins": {"https://evil.example"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("B creates a widget on A's queue: %d", resp.StatusCode)
	}
	if after := ts.widgetByID(t, rc.company, id); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("A's widget changed under B and others:\n%v\n%v", before, after)
	}
}

// grantClipboard lets origin's pages read and write the clipboard in the
// context's browser context, and brings its tab to the front (the
// Clipboard API wants a focused document).
func grantClipboard(origin string) step {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{Permission: &browser.PermissionDescriptor{Name: name},
				Setting: browser.PermissionSettingGranted, Origin: origin, BrowserContextID: chromedp.FromContext(ctx).BrowserContextID}); err != nil {
				return err
			}
		}
		_, err := chromedp.Call(ctx, page.BringToFront, cdp.Empty{})
		return err
	})
}

// TestBrowser_AdminCopiesTheWidgetSnippetIntoAnotherSite: the admin
// creates a widget on the page and copies its snippet; a page on another
// loopback origin carrying exactly that snippet shows the chat, and its
// visitor's chat reaches the agent, whose answer comes back.
func TestBrowser_AdminCopiesTheWidgetSnippetIntoAnotherSite(t *testing.T) {
	// The snippet names PublicURL: the server's own address here.
	ln := loopback(t)
	base := "http://" + ln.Addr().String()
	ts := newServer(t, func(c *web.Config) { c.PublicURL = base })
	ts.serve(t, ln)
	rc := ts.routed(t, "acme", 1)
	agent := rc.agents[0]
	var snippet string
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>Shop</title></head><body><h1>Our shop</h1>%s</body></html>`, snippet)
	}))
	t.Cleanup(shop.Close)

	b := newBrowser(t)
	admin, visitor := personIn(t, b), personIn(t, b)
	run(t, admin, "the owner creates a widget for the shop", loginSteps(base, "acme", "owner@acme.example",
		chromedp.Navigate(base+"/dashboard"), click(`header nav a[href="/chat-widgets"]`), visible("#widget-form"),
		fill(`#widget-form input[name=name]`, "Shop"),
		choose(`#widget-form select[name=queue_id]`, rc.queue),
		chromedp.SendKeys(chromedp.CSS(`#widget-form textarea[name=allowed_origins]`), shop.URL),
		click(`#widget-form button[type=submit]`),
		visible("#notice"), visible("#widgets textarea.snippet-text"))...)
	shown, err := chromedp.Run(admin, chromedp.Value(chromedp.CSS("#widgets textarea.snippet-text")))
	if err != nil || !strings.HasPrefix(shown, `<script src="`+base+`/widget.js" data-key="cw1.`) {
		t.Fatalf("snippet %q %v", shown, err)
	}
	// Copy: the clipboard then holds the snippet (the permission a user
	// grants the page, here granted up front).
	run(t, admin, "the owner copies it", grantClipboard(base), click("#widgets button.copy"),
		until(`document.querySelector("#widgets .copy-state").textContent !== ""`))
	if state := read(t, admin, "#widgets .copy-state"); state != "Copied." {
		t.Fatalf("copy says %q", state)
	}
	copied, err := chromedp.Run(admin, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil || copied != shown {
		t.Fatalf("the clipboard holds %q (%v), want the snippet %q", copied, err, shown)
	}
	snippet = copied

	run(t, visitor, "a visitor of the shop opens the chat and writes",
		chromedp.Navigate(shop.URL+"/"), visible("#cic-chat-button"), click("#cic-chat-button"), visible("#cic-chat-input"),
		chromedp.SendKeys(chromedp.CSS("#cic-chat-input"), "Do you ship to Norway?"), click("#cic-chat-send"),
		visible(`#cic-chat-messages li.cic-msg-visitor[data-seq="1"]`))
	open := ts.call(t, "GET", "/api/v1/contacts?state=open", agent.Token, nil).mustStatus(t, http.StatusOK).JSON["contacts"].([]any)
	if len(open) != 1 || open[0].(map[string]any)["queue_id"] != rc.queue || open[0].(map[string]any)["channel"] != "chat" {
		t.Fatalf("the agent's offered contacts: %v", open)
	}
	id := open[0].(map[string]any)["id"].(string)
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/accept", agent.Token, nil).mustStatus(t, http.StatusOK)
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/messages", agent.Token, map[string]any{"client_id": "a-1", "body": "Yes, in three days."}).mustStatus(t, http.StatusCreated)
	run(t, visitor, "the visitor reads the answer", visible(`#cic-chat-messages li.cic-msg-agent[data-seq="2"]`))
	if got := read(t, visitor, "#cic-chat-messages li.cic-msg-agent"); got != "Yes, in three days." {
		t.Fatalf("the visitor reads %q", got)
	}
}
