package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/twilio"
	"github.com/cic-platform/cic/channels/voice"
)

func TestVoiceWebhooks_SignatureDecides(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 1)
	other := vs.callCenter(t, "bravo", 0)
	menu := vs.menu(t, co, "Main", deliveryMenu(co))
	vs.number(t, co, &menu, nil)
	sid := "CAa0000000000000000000000000000001"
	c := vs.dial(t, co, sid, "+4917600000101")
	c.press(t, "1") // queued: its contact exists for the steps below
	id := conversation.ContactID(co.TenantID, "voice", sid).String()
	form := c.form(map[string]string{"Digits": "1"})
	for _, step := range []string{"", "/ivr?node=&try=1", "/wait?contact=" + id, "/hold?contact=" + id, "/status",
		"/outbound?contact=" + id, "/survey?contact=" + id} {
		t.Run("step"+strings.SplitN(step, "?", 2)[0], func(t *testing.T) {
			before := vs.count(t, co.TenantID, `SELECT count(*) FROM contact_events`)
			for name, a := range map[string]answer{
				"invalid":        vs.hook(t, co.TenantID, step, form, "not-the-token"),
				"missing":        vs.hook(t, co.TenantID, step, form, ""),
				"other tenant's": vs.hook(t, co.TenantID, step, form, other.Secret),
				"unknown tenant": vs.hook(t, uuid.New(), step, form, co.Secret),
			} {
				if a.Status != http.StatusForbidden {
					t.Errorf("%s signature: %d %s", name, a.Status, a.Body)
				}
			}
			// Signed for another URL (the query is part of what is signed).
			p := voice.WebhookPath(co.TenantID.String(), "") + step
			sep := "?"
			if strings.Contains(p, "?") {
				sep = "&"
			}
			req := newRequest("POST", p+sep+"x=1", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Twilio-Signature", twilio.Sign(co.Secret, publicBase+p, form))
			if a := vs.do(t, req); a.Status != http.StatusForbidden {
				t.Errorf("signature of another URL: %d", a.Status)
			}
			if n := vs.count(t, co.TenantID, `SELECT count(*) FROM contact_events`); n != before {
				t.Errorf("a refused webhook changed the timeline: %d -> %d", before, n)
			}
			parseTwiML(t, vs.hook(t, co.TenantID, step, form, co.Secret))
		})
	}
	// A replayed status callback changes nothing the second time.
	c.status(t, "completed")
	ev := len(vs.events(t, co, uuid.MustParse(id)))
	if a := c.status(t, "completed"); a.Status != http.StatusOK {
		t.Fatalf("replayed status: %d", a.Status)
	}
	if n := len(vs.events(t, co, uuid.MustParse(id))); n != ev {
		t.Fatalf("a replayed status callback changed the timeline: %d -> %d", ev, n)
	}
}

func TestIVRMenusAPI_ValidationPointsAtTheFaultyNode(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 0)
	chatQ := vs.call(t, "POST", "/api/v1/queues", co.Token, map[string]any{"name": "Chat", "channels": []string{"chat"}}).mustStatus(t, http.StatusCreated).str("id")
	q := func(id string) map[string]any {
		return map[string]any{"action": map[string]any{"type": "queue", "queue_id": id}}
	}
	menu := func(opts map[string]any) map[string]any { return map[string]any{"prompt": "Hi", "options": opts} }
	deep := q(co.Payments)
	for range 5 {
		deep = menu(map[string]any{"1": deep})
	}
	for _, tc := range []struct {
		name string
		body any
		code string
		want string // in the message
	}{
		{"no name", map[string]any{"name": "", "tree": menu(map[string]any{"1": q(co.Payments)})}, "invalid_name", "name"},
		{"no tree", map[string]any{"name": "x"}, "invalid_menu", "root"},
		{"root is an action", map[string]any{"name": "x", "tree": q(co.Payments)}, "invalid_menu", "root"},
		{"no prompt", map[string]any{"name": "x", "tree": map[string]any{"options": map[string]any{"1": q(co.Payments)}}}, "invalid_menu", "prompt"},
		{"no options", map[string]any{"name": "x", "tree": map[string]any{"prompt": "Hi"}}, "invalid_menu", "option"},
		{"bad key", map[string]any{"name": "x", "tree": menu(map[string]any{"12": q(co.Payments)})}, "invalid_menu", `"12"`},
		{"bad timeout", map[string]any{"name": "x", "tree": map[string]any{"prompt": "Hi", "timeout_seconds": 31, "options": map[string]any{"1": q(co.Payments)}}}, "invalid_menu", "timeout_seconds"},
		{"unknown queue", map[string]any{"name": "x", "tree": menu(map[string]any{"2": menu(map[string]any{"3": q(uuid.NewString())})})}, "invalid_menu", "root → 2 → 3"},
		{"queue without voice", map[string]any{"name": "x", "tree": menu(map[string]any{"1": q(chatQ)})}, "invalid_menu", "root → 1: That queue does not take calls"},
		{"bad timeout path", map[string]any{"name": "x", "tree": map[string]any{"prompt": "Hi", "options": map[string]any{"1": q(co.Payments)},
			"timeout": map[string]any{"action": map[string]any{"type": "hangup"}}}}, "invalid_menu", "root → timeout"},
		{"unknown action", map[string]any{"name": "x", "tree": menu(map[string]any{"#": map[string]any{"action": map[string]any{"type": "fax"}}})}, "invalid_menu", "root → #"},
		{"metered hangup", map[string]any{"name": "x", "tree": menu(map[string]any{"*": map[string]any{"action": map[string]any{"type": "hangup", "message": "Bye", "metered": true}}})}, "invalid_menu", "root → *"},
		{"too deep", map[string]any{"name": "x", "tree": deep}, "invalid_menu", "at most 5 deep"},
		{"unknown field", map[string]any{"name": "x", "tree": map[string]any{"prompt": "Hi", "optoins": map[string]any{}}}, "invalid_json", "optoins"},
		{"not json", `{"name": "x", "tree": `, "invalid_json", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := vs.call(t, "POST", "/api/v1/ivr-menus", co.Token, tc.body).mustStatus(t, http.StatusBadRequest)
			msg, _ := a.JSON["error"].(map[string]any)["message"].(string)
			if a.errCode() != tc.code || !strings.Contains(msg, tc.want) {
				t.Fatalf("got %s, want %s mentioning %q", a.Body, tc.code, tc.want)
			}
		})
	}
	// A good one round-trips; the name is unique; it is audited.
	id := vs.menu(t, co, "Main", deliveryMenu(co))
	got := vs.call(t, "GET", "/api/v1/ivr-menus/"+id.String(), co.Token, nil).mustStatus(t, http.StatusOK)
	if got.str("name") != "Main" || got.str("tree", "options", "2", "options", "1", "action", "queue_id") != co.Deliveries {
		t.Fatalf("menu: %s", got.Body)
	}
	vs.call(t, "POST", "/api/v1/ivr-menus", co.Token, map[string]any{"name": "Main", "tree": deliveryMenu(co)}).mustStatus(t, http.StatusConflict)
	vs.call(t, "PUT", "/api/v1/ivr-menus/"+id.String(), co.Token, map[string]any{"name": "Main 2", "tree": deliveryMenu(co)}).mustStatus(t, http.StatusOK)
	if n := vs.count(t, co.TenantID, `SELECT count(*) FROM audit_log WHERE action LIKE 'ivr.menu_%'`); n != 2 {
		t.Fatalf("audit entries: %d", n)
	}
	// A menu a number leads to cannot go; without the number it can.
	vs.number(t, co, &id, nil)
	if a := vs.call(t, "DELETE", "/api/v1/ivr-menus/"+id.String(), co.Token, nil).mustStatus(t, http.StatusConflict); a.errCode() != "menu_in_use" {
		t.Fatalf("delete a menu in use: %s", a.Body)
	}
	// Only managers.
	agent := vs.createUser(t, co.company, "z@acme.example", "agent")
	vs.call(t, "GET", "/api/v1/ivr-menus", agent.Token, nil).mustStatus(t, http.StatusForbidden)
	vs.call(t, "POST", "/api/v1/ivr-menus", agent.Token, map[string]any{"name": "Mine", "tree": deliveryMenu(co)}).mustStatus(t, http.StatusForbidden)
	vs.call(t, "GET", "/api/v1/ivr-menus/not-an-id", co.Token, nil).mustStatus(t, http.StatusNotFound)
	vs.call(t, "POST", "/api/v1/calls/"+uuid.NewString()+"/dance", co.Token, nil).mustStatus(t, http.StatusNotFound)
}

func TestIsolation_IVRMenusAndCallsArePerTenant(t *testing.T) {
	vs := newVoiceServer(t)
	a := vs.callCenter(t, "acme", 1)
	b := vs.callCenter(t, "bravo", 1)
	menu := vs.menu(t, a, "Main", deliveryMenu(a))
	_, contact := vs.answeredCall(t, a, "CAb0000000000000000000000000000001")
	m := "/api/v1/ivr-menus/" + menu.String()
	vs.call(t, "GET", m, b.Token, nil).mustStatus(t, http.StatusNotFound)
	vs.call(t, "PUT", m, b.Token, map[string]any{"name": "Mine", "tree": deliveryMenu(b)}).mustStatus(t, http.StatusNotFound)
	vs.call(t, "DELETE", m, b.Token, nil).mustStatus(t, http.StatusNotFound)
	if l := vs.call(t, "GET", "/api/v1/ivr-menus", b.Token, nil).mustStatus(t, http.StatusOK); len(l.JSON["menus"].([]any)) != 0 {
		t.Fatalf("B lists A's menus: %s", l.Body)
	}
	// B's menu may not lead to A's queue.
	vs.call(t, "POST", "/api/v1/ivr-menus", b.Token, map[string]any{"name": "Steal", "tree": deliveryMenu(a)}).mustStatus(t, http.StatusBadRequest)
	c := "/api/v1/calls/" + contact.String()
	for _, who := range []company{b.company, b.Agents[0]} {
		vs.call(t, "GET", c, who.Token, nil).mustStatus(t, http.StatusNotFound)
		for _, act := range []string{"hold", "resume", "hangup"} {
			vs.call(t, "POST", c+"/"+act, who.Token, nil).mustStatus(t, http.StatusNotFound)
		}
	}
	// Another agent of A does not see the call either.
	other := vs.createUser(t, a.company, "y@acme.example", "agent")
	vs.call(t, "POST", c+"/hold", other.Token, nil).mustStatus(t, http.StatusNotFound)
	// A's webhooks with B's tenant id in the path are refused, and B's
	// webhooks never see A's call.
	form := url.Values{"CallSid": {"CAb0000000000000000000000000000001"}, "To": {a.Number}, "From": {"+4917600000001"}}
	if r := vs.hook(t, b.TenantID, "/wait?contact="+contact.String(), form, a.Secret); r.Status != http.StatusForbidden {
		t.Fatalf("A's token on B's path: %d", r.Status)
	}
	x := parseTwiML(t, vs.hook(t, b.TenantID, "/wait?contact="+contact.String(), form, b.Secret))
	if x.Dial != nil || x.Hangup == nil {
		t.Fatalf("B's webhook reached A's call: %+v", x)
	}
	if n := len(vs.events(t, a, contact)); n == 0 {
		t.Fatal("no events")
	}
	// The supervisor of A may act on it.
	sup := vs.createUser(t, a.company, "s@acme.example", "supervisor")
	vs.call(t, "POST", c+"/hold", sup.Token, nil).mustStatus(t, http.StatusOK)
}
