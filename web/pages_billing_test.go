package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowser_BuyBundleThroughLocalCheckoutBalanceGrows is the buying
// journey without Stripe keys: billing page, Buy, the local checkout, Pay
// (the server signs the event and posts it to its own webhook), and the
// dashboard's balance grows by the bundle.
func TestBrowser_BuyBundleThroughLocalCheckoutBalanceGrows(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	base := ts.listen(t)
	br := newBrowser(t)

	run(t, br, "log in",
		chromedp.Navigate(base+"/login"),
		fill(`#login-form input[name=tenant]`, "acme"),
		fill(`#login-form input[name=email]`, "owner@acme.example"),
		fill(`#login-form input[name=password]`, goodPassword),
		click(`#login-form button[type=submit]`),
		visible("#contacts-left"),
	)
	if got := read(t, br, "#contacts-left"); got != "250" {
		t.Fatalf("contacts left before buying: %q", got)
	}
	run(t, br, "open billing from the navigation", click(`header nav a[href="/billing"]`), visible("#catalog"))
	if cat := read(t, br, "#catalog"); !strings.Contains(cat, "1,000,000 contacts") || !strings.Contains(cat, "19000.00 EUR") || !strings.Contains(cat, "1.9 EUR cents") {
		t.Fatalf("catalogue %q", cat)
	}
	if rate := read(t, br, "#overage-rate"); rate != "0.05 EUR" {
		t.Fatalf("overage rate %q", rate)
	}
	run(t, br, "buy 10,000", click("#buy-bundle-10k"), visible("#local-checkout"))
	if amount := read(t, br, "#checkout-amount"); amount != "490.00 EUR" {
		t.Fatalf("checkout amount %q", amount)
	}
	run(t, br, "pay", click("#pay"), visible("#notice"))
	if st := read(t, br, "#purchases tbody tr .status"); st != "paid" {
		t.Fatalf("purchase status %q", st)
	}
	if docs := read(t, br, "#invoices"); !strings.Contains(docs, "490.00 EUR") {
		t.Fatalf("receipts %q", docs)
	}
	run(t, br, "dashboard", chromedp.Navigate(base+"/dashboard"), visible("#contacts-left"))
	if got := read(t, br, "#contacts-left"); got != "10250" {
		t.Fatalf("contacts left after buying: %q, want 10250", got)
	}
	if b := ts.call(t, "GET", "/api/v1/usage/balance", a.Token, nil).mustStatus(t, http.StatusOK); b.JSON["total_remaining"] != float64(10250) {
		t.Fatalf("balance %s", b.Body)
	}

	run(t, br, "subscribe to 3 seats",
		chromedp.Navigate(base+"/billing"),
		fill(`#seats-form input[name=quantity]`, "3"),
		click(`#seats-form button[type=submit]`),
		visible("#local-checkout"),
		click("#pay"),
		visible("#subscription"),
	)
	if got := read(t, br, "#billing-seat-limit"); got != "3" {
		t.Fatalf("seat limit %q, want 3", got)
	}
}
