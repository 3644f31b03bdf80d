package web_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// until waits for a JavaScript condition on the page.
func until(expr string) step {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(15*time.Second))
}

// cellIs waits for a wallboard cell of the queue to read want.
func cellIs(queue, key, want string) step {
	return until(`(document.querySelector('#wb-` + queue + ` td[data-k="` + key + `"]') || {}).textContent === "` + want + `"`)
}

// TestBrowser_DeskRingsAcceptWrapUpCloseWallboardFollows: the admin sets
// up a queue and an agent's profile over the API; the agent opens the
// desk and goes available; a contact comes in over the API and rings on
// the desk with its countdown; the agent accepts, wraps up with a code and
// closes; the supervisor's wallboard, in another browser, follows live.
func TestBrowser_DeskRingsAcceptWrapUpCloseWallboardFollows(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	owner := ts.signup(t, "acme")
	key, _ := ts.apiKey(t, owner, "PBX")
	queue := ts.call(t, "POST", "/api/v1/queues", owner.Token, map[string]any{"name": "Support", "channels": []string{"chat"}, "sl_seconds": 30}).mustStatus(t, http.StatusCreated).str("id")
	ts.call(t, "PUT", "/api/v1/dispositions/solved", owner.Token, map[string]any{"label": "Solved"}).mustStatus(t, http.StatusOK)
	agent := ts.createUser(t, owner, "ann@acme.example", "agent")
	ts.createUser(t, owner, "sam@acme.example", "supervisor")
	ts.call(t, "PUT", "/api/v1/agents/"+agent.UserID.String()+"/routing", owner.Token, map[string]any{"capacity": map[string]int{"chat": 2}}).mustStatus(t, http.StatusOK)

	b := newBrowser(t)
	person := func() context.Context { return personIn(t, b) }
	login := func(email string, then ...step) []step { return loginSteps(base, "acme", email, then...) }
	desk, board := person(), person()

	run(t, board, "supervisor opens the wallboard", login("sam@acme.example",
		chromedp.Navigate(base+"/wallboard"), visible("#wb-"+queue), until(`document.getElementById("live-state").dataset.state === "live"`))...)
	if got := read(t, board, "#wb-"+queue+` td[data-k="today.offered"]`); got != "0" {
		t.Fatalf("contacts today before any: %q", got)
	}

	run(t, desk, "agent goes available", login("ann@acme.example",
		chromedp.Navigate(base+"/desk"), visible("#status-card"),
		until(`document.getElementById("live-state").dataset.state === "live"`),
		click("#status-available"),
		until(`document.getElementById("my-status").dataset.status === "available"`))...)
	run(t, board, "the wallboard sees the agent", cellIs(queue, "agents.available", "1"))

	id := ts.call(t, "POST", "/api/v1/contacts", key, map[string]any{"queue_id": queue, "channel": "chat", "customer_ref": "visitor-42"}).mustStatus(t, http.StatusCreated).str("id")
	offer := "#offer-" + id
	run(t, desk, "the desk rings", visible(offer), until(`document.querySelector("`+offer+` .countdown").textContent !== ""`))
	if cls, _ := chromedp.Run(desk, chromedp.Evaluate[string](`document.querySelector("`+offer+`").className`)); !strings.Contains(cls, "ringing") {
		t.Fatalf("offer classes %q", cls)
	}
	if ringing, err := chromedp.Run(desk, chromedp.Evaluate[bool](`window.CICRing.ringing()`)); err != nil || !ringing {
		t.Fatalf("the ring does not sound: %v %v", ringing, err)
	}
	if title := read(t, desk, offer+" .offer-title"); !strings.Contains(title, "visitor-42") || !strings.Contains(title, "Support") {
		t.Fatalf("offer reads %q", title)
	}
	first, _ := strconv.Atoi(strings.TrimSuffix(read(t, desk, offer+" .countdown"), " s"))
	if first < 1 || first > 20 {
		t.Fatalf("countdown starts at %d s, want the queue's 20 s offer timeout", first)
	}
	run(t, desk, "the countdown runs", until(`+document.querySelector("`+offer+` .countdown").dataset.seconds < `+strconv.Itoa(first)))
	run(t, board, "the wallboard shows it ringing", cellIs(queue, "ringing", "1"), cellIs(queue, "today.offered", "1"))

	run(t, desk, "agent accepts", click(offer+" .accept"),
		visible("#active-"+id),
		until(`document.getElementById("conversation").dataset.contactId === "`+id+`"`),
		until(`document.querySelector("#offered li.empty") !== null`),
		until(`!window.CICRing.ringing()`))
	if tl := read(t, desk, "#timeline"); !strings.Contains(tl, "offer") || !strings.Contains(tl, "accepted") {
		t.Fatalf("timeline: %q", tl)
	}
	run(t, board, "the wallboard counts the accept", cellIs(queue, "today.accepted", "1"), cellIs(queue, "in_progress", "1"),
		cellIs(queue, "ringing", "0"), cellIs(queue, "today.service_level_percent", "100.0 %"), cellIs(queue, "occupancy_percent", "50.0 %"))

	run(t, desk, "agent wraps up", choose("#disposition", "solved"), click("#wrapup-btn"),
		until(`document.querySelector("#active-`+id+`").dataset.state === "wrap_up"`),
		until(`document.getElementById("wrapup-form").hidden`))
	run(t, board, "the wallboard has a handle time", cellIs(queue, "in_progress", "0"),
		until(`document.querySelector('#wb-`+queue+` td[data-k="today.aht_seconds"]').textContent.endsWith(" s")`))

	run(t, desk, "agent closes", click("#close-btn"), visible("#active li.empty"), visible("#no-selection"))
	d := ts.call(t, "GET", "/api/v1/contacts/"+id, owner.Token, nil).mustStatus(t, http.StatusOK)
	if d.str("state") != "closed" || d.str("disposition") != "solved" || d.JSON["metered_at"] == nil {
		t.Fatalf("contact after the desk: %s", d.Body)
	}
	run(t, desk, "agent goes away", click("#status-away"), until(`document.getElementById("my-status").dataset.status === "away"`))
	run(t, board, "the wallboard sees the agent away", cellIs(queue, "agents.away", "1"), cellIs(queue, "agents.available", "0"))
}
