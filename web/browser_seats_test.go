package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowser_SeatsThreeAgentsTwoSeats: three agents, two seats. The
// third is refused with the message; one logs out and the third gets in;
// the admin's seats page lists the holders and force-releases one, whose
// open page is told by its heartbeat and sent to the login page.
func TestBrowser_SeatsThreeAgentsTwoSeats(t *testing.T) {
	ts := newServer(t)
	// Short leases, so the pages heartbeat every 3 seconds.
	ts.Seats.Leases.TTL = 9 * time.Second
	base := ts.listen(t)
	owner := ts.signup(t, "acme")
	for i := 1; i <= 3; i++ {
		ts.createUser(t, owner, fmt.Sprintf("agent%d@acme.example", i), "agent")
	}
	b := newBrowser(t)
	// Each person has a browser of their own: separate cookies.
	person := func() context.Context { return personIn(t, b) }
	login := func(email, ws string, then ...step) []step {
		return append([]step{
			chromedp.Navigate(base + "/login"),
			visible("#login-form"),
			fill(`#login-form input[name=tenant]`, "acme"),
			fill(`#login-form input[name=email]`, email),
			fill(`#login-form input[name=password]`, goodPassword),
			fill(`#login-form input[name=workstation]`, ws),
			click(`#login-form button[type=submit]`),
		}, then...)
	}
	a1, a2, a3, admin := person(), person(), person(), person()

	run(t, a1, "agent 1 logs in", login("agent1@acme.example", "Desk 1", visible("#whoami"))...)
	run(t, a2, "agent 2 logs in", login("agent2@acme.example", "Desk 2", visible("#whoami"))...)
	run(t, a3, "agent 3 is refused", login("agent3@acme.example", "Desk 3", visible("#error"))...)
	if msg := read(t, a3, "#error"); !strings.Contains(msg, "All 2 seats of Company acme are in use — ask an admin to free one, or try again in a moment") {
		t.Fatalf("agent 3 reads %q", msg)
	}

	run(t, a1, "agent 1 logs out", click("#logout"), visible("#login-form"))
	run(t, a3, "agent 3 gets in", login("agent3@acme.example", "Desk 3", visible("#whoami"))...)

	run(t, admin, "admin opens the seats page",
		login("owner@acme.example", "Office", visible("#whoami"), chromedp.Navigate(base+"/seats"), visible("#holders"))...)
	holders := read(t, admin, "#holders")
	for _, want := range []string{"agent2@acme.example", "Desk 2", "agent3@acme.example", "Desk 3"} {
		if !strings.Contains(holders, want) {
			t.Fatalf("holders lack %q: %s", want, holders)
		}
	}
	if strings.Contains(holders, "agent1@acme.example") || strings.Contains(holders, "owner@acme.example") {
		t.Fatalf("holders list someone without a seat: %s", holders)
	}
	if used := read(t, admin, "#seat-in-use"); used != "2" {
		t.Fatalf("in use %q, want 2", used)
	}
	run(t, admin, "seat charts", visible("#seat-chart-day"), visible("#seat-chart-hour"))
	if read(t, admin, "#seat-advice") == "" {
		t.Fatal("no sizing advice")
	}
	if ip := read(t, admin, "#holders tbody tr:first-child td:nth-child(4)"); ip != "127.0.0.1" {
		t.Fatalf("holder IP %q, want 127.0.0.1", ip)
	}

	var lease2 string
	for _, h := range ts.holders(t, owner) {
		if m := h.(map[string]any); m["email"] == "agent2@acme.example" {
			lease2, _ = m["lease_id"].(string)
		}
	}
	run(t, admin, "admin releases agent 2's seat",
		click(`#holders tr[data-lease="`+lease2+`"] button`), visible("#notice"))
	if h := read(t, admin, "#holders"); strings.Contains(h, "agent2@acme.example") || !strings.Contains(h, "agent3@acme.example") {
		t.Fatalf("after release: %s", h)
	}

	// Agent 2's open page learns it at its next heartbeat and goes to
	// the login page, which says why.
	run(t, a2, "agent 2 is told", visible("#seat-banner"))
	if msg := read(t, a2, "#seat-banner"); !strings.Contains(msg, "An admin released your seat") {
		t.Fatalf("agent 2's banner: %q", msg)
	}
	run(t, a2, "agent 2 is logged out", visible("#login-form"))
	if msg := read(t, a2, "#error"); !strings.Contains(msg, "An admin released your seat") {
		t.Fatalf("agent 2's login page: %q", msg)
	}
}
