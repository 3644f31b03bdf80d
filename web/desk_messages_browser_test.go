package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/infra/testenv"
)

// TestBrowser_DeskAnswersAnSMSAndKnowsTheCustomer: an SMS arrives through
// the provider's signed webhook and rings on the agent's desk; the agent
// accepts, reads it in the conversation pane and answers from the reply
// box (the answer leaves through the provider's API); the customer panel
// shows who wrote, the agent sets "no sales offers by phone", finds the
// customer's e-mail record and merges it in, and starts an outbound SMS.
func TestBrowser_DeskAnswersAnSMSAndKnowsTheCustomer(t *testing.T) {
	ms := newMsgServer(t)
	base := ms.listen(t)
	co := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	ctx := testenv.Context(t)
	cs := &customer.Service{DB: ms.Tenants.DB}
	jane, err := cs.Resolve(ctx, co.TenantID, customer.KindEmail, "jane@example.com", "Jane Doe")
	if err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t)
	desk := personIn(t, b)
	run(t, desk, "agent goes available", loginSteps(base, "acme", "agent@acme.example",
		chromedp.Navigate(base+"/desk"), visible("#status-card"),
		until(`document.getElementById("live-state").dataset.state === "live"`),
		click("#status-available"),
		until(`document.getElementById("my-status").dataset.status === "available"`))...)

	const caller = "+4915112345678"
	ms.postTwilio(t, smsPath(co.TenantID), co.TwilioToken, smsForm("SMbrowser1", caller, co.Number, "My parcel is late.")).mustStatus(t, http.StatusOK)
	var id uuid.UUID
	if err := ms.DB.Owner.QueryRow(ctx, `SELECT id FROM contacts WHERE tenant_id = $1 AND channel = 'sms'`, co.TenantID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	offer := "#offer-" + id.String()
	run(t, desk, "the SMS rings and is accepted", visible(offer), click(offer+" .accept"),
		until(`document.getElementById("conversation").dataset.contactId === "`+id.String()+`"`),
		until(`(document.getElementById("msg-list") || {}).textContent.includes("My parcel is late.")`))

	run(t, desk, "agent answers", visible("#msg-body"), chromedp.SendKeys(chromedp.CSS("#msg-body"), "Sorry! It arrives tomorrow."), click("#msg-send"),
		until(`document.querySelectorAll("#msg-list .msg-outbound").length === 1`),
		until(`document.querySelector("#msg-list .msg-outbound .msg-status").textContent === "sent"`))
	sent := ms.API.calls()
	if len(sent) != 1 || sent[0].Form.Get("Body") != "Sorry! It arrives tomorrow." || sent[0].Form.Get("To") != caller || sent[0].Form.Get("From") != co.Number {
		t.Fatalf("at the provider: %+v", sent)
	}

	run(t, desk, "the customer panel shows the caller", visible("#cust-body"),
		until(`document.getElementById("cust-identities").textContent.includes("`+caller+`")`),
		click(`#customer-panel input[value="no_sales_phone"]`), choose("#cust-pref", "sms"), click("#cust-save"),
		until(`document.getElementById("cust-note").textContent === "Saved."`))
	smsCustomer := ms.call(t, "GET", "/api/v1/contacts/"+id.String()+"/customer", co.Agent.Token, nil).mustStatus(t, http.StatusOK)
	cust := smsCustomer.JSON["customer"].(map[string]any)
	if opts, _ := cust["opt_outs"].([]any); cust["preferred_channel"] != "sms" || !slices.Contains(opts, any("no_sales_phone")) {
		t.Fatalf("preferences after the desk: %s", smsCustomer.Body)
	}

	run(t, desk, "agent finds the e-mail record and merges it in", fill("#search-q", "jane"), click("#search-btn"),
		visible("#cust-results .merge-btn"), click("#cust-results .merge-btn"),
		until(`document.getElementById("cust-note").textContent === "Merged."`),
		until(`document.getElementById("cust-identities").textContent.includes("jane@example.com")`))
	if got, err := cs.Get(ctx, co.TenantID, jane); err != nil || got.ID.String() != cust["id"] {
		t.Fatalf("the e-mail record after the merge: %v, %v; want the SMS customer %v", got.ID, err, cust["id"])
	}

	run(t, desk, "agent starts an outbound SMS", click("#outbound summary"), choose("#outbound-channel", "sms"),
		choose("#outbound-queue", co.QueueID.String()), fill("#outbound-to", "+49 151 99999999"),
		chromedp.SendKeys(chromedp.CSS("#outbound-body"), "Your new parcel is on its way."), click("#outbound-send"),
		until(`document.getElementById("outbound-state").textContent.startsWith("Started")`))
	sent = ms.API.calls()
	if len(sent) != 2 || sent[1].Form.Get("To") != "+4915199999999" || !strings.Contains(sent[1].Form.Get("Body"), "on its way") {
		t.Fatalf("outbound at the provider: %+v", sent)
	}
}
