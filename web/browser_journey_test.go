package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowser_ChatJourney is issue 5's journey in three browsers: a
// visitor writes in the widget on a shop page (another origin); the
// agent's desk rings, she accepts and they chat both ways; she transfers
// the chat to a colleague, who wraps it up; the supervisor's wallboard
// follows; the contact is metered once.
func TestBrowser_ChatJourney(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	owner := ts.signup(t, "acme")
	queue := ts.call(t, "POST", "/api/v1/queues", owner.Token, map[string]any{"name": "Support", "channels": []string{"chat"}}).mustStatus(t, http.StatusCreated).str("id")
	ts.call(t, "PUT", "/api/v1/dispositions/solved", owner.Token, map[string]any{"label": "Solved"}).mustStatus(t, http.StatusOK)
	ann := ts.createUser(t, owner, "ann@acme.example", "agent")
	bob := ts.createUser(t, owner, "bob@acme.example", "agent")
	ts.createUser(t, owner, "sam@acme.example", "supervisor")
	for _, a := range []company{ann, bob} {
		ts.call(t, "PUT", "/api/v1/agents/"+a.UserID.String()+"/routing", owner.Token, map[string]any{"capacity": map[string]int{"chat": 2}}).mustStatus(t, http.StatusOK)
	}
	// Enough seats for two agents and the supervisor.
	if _, err := ts.DB.Owner.Exec(t.Context(), `UPDATE seat_grants SET seats = 5 WHERE tenant_id = $1`, owner.TenantID); err != nil {
		t.Fatal(err)
	}
	var snippet string
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>Shop</title></head><body><h1>Our shop</h1>%s</body></html>`, snippet)
	}))
	t.Cleanup(shop.Close)
	wd := ts.call(t, "POST", "/api/v1/chat/widgets", owner.Token, map[string]any{"queue_id": queue, "allowed_origins": []string{shop.URL}}).mustStatus(t, http.StatusCreated)
	snippet = strings.Replace(wd.str("snippet"), "http://cic.test", base, 1)

	b := newBrowser(t)
	person := func() context.Context { return personIn(t, b) }
	login := func(email string, then ...step) []step { return loginSteps(base, "acme", email, then...) }
	visitor, desk, board := person(), person(), person()

	run(t, board, "supervisor opens the wallboard", login("sam@acme.example",
		chromedp.Navigate(base+"/wallboard"), visible("#wb-"+queue), until(`document.getElementById("live-state").dataset.state === "live"`))...)
	run(t, board, "nothing accepted yet", cellIs(queue, "today.accepted", "0"))
	run(t, desk, "Ann goes available", login("ann@acme.example",
		chromedp.Navigate(base+"/desk"), visible("#status-card"),
		until(`document.getElementById("live-state").dataset.state === "live"`),
		click("#status-available"),
		until(`document.getElementById("my-status").dataset.status === "available"`))...)

	run(t, visitor, "the visitor writes",
		chromedp.Navigate(shop.URL+"/"), visible("#cic-chat-button"), click("#cic-chat-button"), visible("#cic-chat-input"),
		chromedp.SendKeys(chromedp.CSS("#cic-chat-input"), "Where is my parcel?"), click("#cic-chat-send"),
		visible(`#cic-chat-messages li.cic-msg-visitor[data-seq="1"]`))

	run(t, desk, "the desk rings and Ann accepts", until(`document.querySelector("#offered .accept") !== null`), click("#offered .accept"),
		until(`document.getElementById("conversation").dataset.state === "accepted"`),
		visible(`#chat-messages li.chat-visitor[data-seq="1"]`), visible("#chat-input"))
	if got := read(t, desk, "#chat-messages li.chat-visitor .chat-body"); got != "Where is my parcel?" {
		t.Fatalf("Ann reads %q", got)
	}
	run(t, desk, "Ann answers", chromedp.SendKeys(chromedp.CSS("#chat-input"), "It arrives tomorrow."), click("#chat-send"),
		visible(`#chat-messages li.chat-agent`))
	run(t, visitor, "the visitor reads the answer and thanks", visible(`#cic-chat-messages li.cic-msg-agent`),
		chromedp.SendKeys(chromedp.CSS("#cic-chat-input"), "Thanks!\n"))
	if got := read(t, visitor, "#cic-chat-messages li.cic-msg-agent"); got != "It arrives tomorrow." {
		t.Fatalf("the visitor reads %q", got)
	}
	run(t, desk, "Ann reads the thanks", until(`document.querySelectorAll("#chat-messages li.chat-visitor").length === 2`))
	run(t, board, "the wallboard counts the accept", cellIs(queue, "today.accepted", "1"), cellIs(queue, "in_progress", "1"))

	// Bob comes on shift; Ann transfers the chat to him.
	lease := ts.lease(t, bob, "desk-2").mustStatus(t, http.StatusCreated).str("lease_id")
	req := jsonRequest(t, "PUT", "/api/v1/agent/status", map[string]any{"status": "available"})
	req.Header.Set("Authorization", "Bearer "+bob.Token)
	req.Header.Set("X-Seat-Lease", lease)
	ts.do(t, req).mustStatus(t, http.StatusOK)
	list := ts.call(t, "GET", "/api/v1/contacts?state=accepted", owner.Token, nil).mustStatus(t, http.StatusOK)
	id := list.JSON["contacts"].([]any)[0].(map[string]any)["id"].(string)
	run(t, desk, "Ann transfers to Bob", choose("#transfer-to", "agent:"+bob.UserID.String()), click("#transfer-form button[type=submit]"),
		until(`document.querySelector("#active-`+id+`") === null`))
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/accept", bob.Token, nil).mustStatus(t, http.StatusOK)
	msgs := ts.call(t, "GET", "/api/v1/contacts/"+id+"/messages", bob.Token, nil).mustStatus(t, http.StatusOK)
	if n := len(msgs.JSON["messages"].([]any)); n != 3 {
		t.Fatalf("Bob sees %d messages, want the 3 so far", n)
	}
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/wrapup", bob.Token, map[string]any{"disposition": "solved"}).mustStatus(t, http.StatusNoContent)
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/close", bob.Token, nil).mustStatus(t, http.StatusNoContent)
	run(t, board, "the wallboard sees it done", cellIs(queue, "in_progress", "0"))

	var metered int
	if err := ts.DB.Owner.QueryRow(t.Context(), `SELECT count(*) FROM meter_records WHERE tenant_id = $1 AND contact_id = $2`, owner.TenantID, id).Scan(&metered); err != nil {
		t.Fatal(err)
	}
	if metered != 1 {
		t.Fatalf("the transferred chat was metered %d times, want 1", metered)
	}
}
