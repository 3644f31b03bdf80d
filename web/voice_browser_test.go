package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/cic-platform/cic/channels/conversation"
)

// setTree replaces a menu editor's JSON as typing would (input event).
func setTree(form, value string) step {
	raw, _ := json.Marshal(value)
	return until(`(function(){var a=document.querySelector("` + form + ` textarea.ivr-tree");a.value=` + string(raw) +
		`;a.dispatchEvent(new Event("input",{bubbles:true}));return true;})()`)
}

func checkReads(form, valid, contains string) step {
	return until(`(function(){var c=document.querySelector("` + form + ` .ivr-check");return c.dataset.valid==="` + valid +
		`" && c.textContent.indexOf(` + jsString(contains) + `)>=0;})()`)
}

func jsString(s string) string {
	raw, _ := json.Marshal(s)
	return string(raw)
}

func TestBrowser_ManagerCreatesAnIVRMenuAndPointsANumberAtIt(t *testing.T) {
	vs := newVoiceServer(t)
	base := vs.listen(t)
	co := vs.callCenter(t, "acme", 0)
	b := newBrowser(t)
	run(t, b, "owner opens the IVR page", loginSteps(base, "acme", "owner@acme.example",
		chromedp.Navigate(base+"/ivr"), visible("#new-menu-form"),
		checkReads("#new-menu-form", "true", "Valid menu"))...)
	if !strings.Contains(read(t, b, "#new-menu-form .ivr-preview"), "→ queue Deliveries") {
		t.Fatalf("the preview does not name the queue: %s", read(t, b, "#new-menu-form .ivr-preview"))
	}
	run(t, b, "broken JSON is caught as typed", setTree("#new-menu-form", `{"prompt": "Hi", `),
		checkReads("#new-menu-form", "false", "Not valid JSON"))
	bad := `{"prompt":"Hi","options":{"1":{"prompt":"Sub","options":{"4":{"action":{"type":"queue","queue_id":"` + uuid.NewString() + `"}}}}}}`
	run(t, b, "the server's check names the faulty node", setTree("#new-menu-form", bad),
		checkReads("#new-menu-form", "false", "root → 1 → 4: No such queue."))
	good := `{"prompt":"Welcome. Payments press 1, deliveries press 2.","timeout_seconds":6,"options":{` +
		`"1":{"action":{"type":"queue","queue_id":"` + co.Payments + `"}},` +
		`"2":{"prompt":"Agent press 1.","options":{"1":{"action":{"type":"queue","queue_id":"` + co.Deliveries + `"}}},` +
		`"timeout":{"action":{"type":"hangup","message":"Goodbye."}}}},` +
		`"timeout":{"action":{"type":"queue","queue_id":"` + co.Payments + `"}}}`
	run(t, b, "a good menu is saved", setTree("#new-menu-form", good), checkReads("#new-menu-form", "true", "Valid menu"),
		fill("#new-menu-form input[name=name]", "Main line"), click("#create-menu"), visible("#notice"))
	if n := read(t, b, "#notice"); n != "The menu was created." {
		t.Fatalf("notice %q", n)
	}
	if p := read(t, b, "#menu-list .ivr-menu .ivr-preview"); !strings.Contains(p, "Press 2") || !strings.Contains(p, "queue Deliveries") {
		t.Fatalf("saved menu's preview: %s", p)
	}
	l := vs.call(t, "GET", "/api/v1/ivr-menus", co.Token, nil).mustStatus(t, http.StatusOK)
	menus := l.JSON["menus"].([]any)
	if len(menus) != 1 || menus[0].(map[string]any)["name"] != "Main line" {
		t.Fatalf("menus after the page: %s", l.Body)
	}
	menuID := menus[0].(map[string]any)["id"].(string)

	run(t, b, "the number is pointed at the menu", fill("#number-form input[name=address]", co.Number),
		choose("#number-menu", menuID), click("#add-number"),
		// The page still shows the notice of the menu just created: wait
		// for the new page's row (WaitVisible survives the navigation, a
		// polled script does not).
		visible(`#number-list tr[data-number="`+co.Number+`"]`))
	if row := read(t, b, `#number-list tr[data-number="`+co.Number+`"]`); !strings.Contains(row, "Main line") {
		t.Fatalf("number row %q", row)
	}
	// And a caller now hears it.
	c := vs.dial(t, co, "CAc0000000000000000000000000000001", "+4917600000301")
	if c.last.Gather == nil || c.last.Gather.Say != "Welcome. Payments press 1, deliveries press 2." || c.last.Gather.Timeout != "6" {
		t.Fatalf("the caller hears %+v", c.last)
	}
}

func TestBrowser_DeskShowsTheCallerAndHoldsTheCall(t *testing.T) {
	vs := newVoiceServer(t)
	base := vs.listen(t)
	co := vs.callCenter(t, "acme", 0)
	agent := vs.createUser(t, co.company, "ann@acme.example", "agent")
	vs.call(t, "PUT", "/api/v1/agents/"+agent.UserID.String()+"/routing", co.Token, map[string]any{"capacity": map[string]int{"voice": 1}}).mustStatus(t, http.StatusOK)
	hotline := vs.call(t, "POST", "/api/v1/queues", co.Token, map[string]any{"name": "Hotline", "channels": []string{"voice"}}).mustStatus(t, http.StatusCreated).str("id")
	q := uuid.MustParse(hotline)
	vs.number(t, co, nil, &q)
	b := newBrowser(t)
	run(t, b, "agent goes available", loginSteps(base, "acme", "ann@acme.example",
		chromedp.Navigate(base+"/desk"), visible("#status-card"),
		until(`document.getElementById("live-state").dataset.state === "live"`),
		click("#status-available"), until(`document.getElementById("my-status").dataset.status === "available"`))...)
	sid := "CAd0000000000000000000000000000001"
	vs.dial(t, co, sid, "+4917612340000")
	id := conversation.ContactID(co.TenantID, "voice", sid).String()
	run(t, b, "the call rings and is answered", visible("#offer-"+id), click("#offer-"+id+" .accept"),
		until(`document.getElementById("conversation").dataset.contactId === "`+id+`"`),
		visible("#call-bar"), until(`document.getElementById("call-number").textContent === "+4917612340000"`),
		visible("#call-hold"), click("#call-hold"),
		until(`document.getElementById("call-bar").dataset.held === "true"`), visible("#call-resume"))
	if s := read(t, b, "#call-status"); s != "on hold" {
		t.Fatalf("status %q", s)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(vs.lastRedirect(t, sid), "/voice/hold?contact="+id) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	run(t, b, "resume", click("#call-resume"), until(`document.getElementById("call-bar").dataset.held === "false"`))
	if !strings.Contains(vs.lastRedirect(t, sid), "/voice/wait?contact="+id) {
		t.Fatalf("resume did not reach the provider: %s", vs.lastRedirect(t, sid))
	}
	if ev := vs.events(t, co, uuid.MustParse(id)); has(ev, "hold") != 1 || has(ev, "resumed") != 1 {
		t.Fatalf("timeline %v", ev)
	}
}
