package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func (b *browserClient) logout() {
	b.t.Helper()
	_, _, token := b.get("/dashboard")
	if resp, _ := b.post("/logout", url.Values{"_csrf": {token}}); resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("logout: %d", resp.StatusCode)
	}
}

func TestRoutingPages_RoleAccessToDeskWallboardAndRouting(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	base := ts.listen(t)
	for _, tc := range []struct {
		role                    string
		desk, wallboard, routes int
	}{
		{"owner", 200, 200, 200},
		{"admin", 200, 200, 200},
		{"supervisor", 200, 200, 403},
		{"agent", 200, 403, 403},
		{"finance", 403, 403, 403},
	} {
		email := "owner@acme.example"
		if tc.role != "owner" {
			email = tc.role + "@acme.example"
			ts.createUser(t, owner, email, tc.role)
		}
		b := newBrowserClient(t, base)
		b.login("acme", email, goodPassword)
		for _, p := range []struct {
			path string
			want int
			mark string // only on the page itself
		}{{"/desk", tc.desk, `id="conversation"`}, {"/wallboard", tc.wallboard, `id="wb-queues"`}, {"/routing", tc.routes, `id="skill-form"`}} {
			resp, body, _ := b.get(p.path)
			if resp.StatusCode != p.want {
				t.Errorf("%s GET %s: %d, want %d", tc.role, p.path, resp.StatusCode, p.want)
			}
			if has := strings.Contains(body, p.mark); has != (p.want == 200) {
				t.Errorf("%s GET %s: page content shown %v, want %v", tc.role, p.path, has, p.want == 200)
			}
			if nav := strings.Contains(body, `href="`+p.path+`"`); p.want == 200 && !nav {
				t.Errorf("%s: navigation lacks %s", tc.role, p.path)
			}
		}
		_, dash, _ := b.get("/dashboard")
		for path, want := range map[string]int{"/desk": tc.desk, "/wallboard": tc.wallboard, "/routing": tc.routes} {
			if nav := strings.Contains(dash, `href="`+path+`"`); nav != (want == 200) {
				t.Errorf("%s: navigation offers %s: %v", tc.role, path, nav)
			}
		}
		// The live endpoints answer JSON by role too.
		for path, want := range map[string]int{"/desk/state": tc.desk, "/wallboard/live": tc.wallboard} {
			if resp, _, _ := b.get(path); resp.StatusCode != want {
				t.Errorf("%s GET %s: %d, want %d", tc.role, path, resp.StatusCode, want)
			}
		}
		b.logout() // frees the seat for the next role
	}
	// Without a session: the pages go to the login page, the scripts' JSON is 401.
	anon := newBrowserClient(t, base)
	for _, p := range []string{"/desk", "/wallboard", "/routing"} {
		if resp, _, _ := anon.get(p); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("anonymous GET %s: %d", p, resp.StatusCode)
		}
	}
	for _, p := range []string{"/desk/state", "/desk/events", "/wallboard/live", "/wallboard/events", "/wallboard/chart"} {
		if resp, _, _ := anon.get(p); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("anonymous GET %s: %d", p, resp.StatusCode)
		}
	}
}

func TestRoutingPages_AdminSetsUpSkillsQueuesProfilesAndCodes(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	agent := ts.createUser(t, owner, "agent@acme.example", "agent")
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "owner@acme.example", goodPassword)
	_, _, token := b.get("/routing")
	post := func(path string, form url.Values, wantDone string) {
		t.Helper()
		form.Set("_csrf", token)
		resp, body := b.post(path, form)
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "done="+wantDone) {
			t.Fatalf("POST %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	post("/routing/skills", url.Values{"name": {"German"}}, "skill")
	skills := ts.call(t, "GET", "/api/v1/skills", owner.Token, nil).mustStatus(t, http.StatusOK).JSON["skills"].([]any)
	if len(skills) != 1 {
		t.Fatalf("skills: %v", skills)
	}
	skill := skills[0].(map[string]any)["id"].(string)

	post("/routing/queues", url.Values{"name": {"Support DE"}, "channels": {"chat", "email"}, "strategy": {"best_skill"},
		"priority": {"5"}, "sl_percent": {"90"}, "sl_seconds": {"30"}, "offer_timeout_seconds": {"15"}, "max_misses": {"2"},
		"relax_after_seconds": {"60"}, "cost_centre": {"CC-7"}, "closed_message": {"Closed"}, "skill_" + skill: {"4"}}, "queue")
	qs := ts.call(t, "GET", "/api/v1/queues", owner.Token, nil).mustStatus(t, http.StatusOK).JSON["queues"].([]any)
	q := qs[0].(map[string]any)
	if len(qs) != 1 || q["name"] != "Support DE" || q["strategy"] != "best_skill" || q["sl_percent"] != 90.0 || q["sl_seconds"] != 30.0 ||
		q["relax_after_seconds"] != 60.0 || q["cost_centre"] != "CC-7" || len(q["channels"].([]any)) != 2 || len(q["skills"].([]any)) != 1 {
		t.Fatalf("queue: %v", q)
	}
	id := q["id"].(string)
	// Editing: one channel, no skill, relax-after cleared.
	post("/routing/queues/"+id, url.Values{"name": {"Support"}, "channels": {"chat"}, "strategy": {"longest_idle"}, "sl_percent": {"80"},
		"sl_seconds": {"20"}, "offer_timeout_seconds": {"20"}, "max_misses": {"3"}, "skill_" + skill: {"0"}}, "queue-saved")
	q = ts.call(t, "GET", "/api/v1/queues/"+id, owner.Token, nil).mustStatus(t, http.StatusOK).JSON
	if q["name"] != "Support" || q["relax_after_seconds"] != nil || len(q["channels"].([]any)) != 1 || len(q["skills"].([]any)) != 0 {
		t.Fatalf("edited queue: %v", q)
	}
	// A bad form shows the error on the page and changes nothing.
	form := url.Values{"_csrf": {token}, "name": {"Support"}, "channels": {"pigeon"}}
	if resp, body := b.post("/routing/queues/"+id, form); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="error"`) {
		t.Fatalf("bad queue form: %d", resp.StatusCode)
	}

	post("/routing/agents/"+agent.UserID.String(), url.Values{"skill_" + skill: {"7"}, "cap_chat": {"3"}, "cap_email": {"5"}, "cap_voice": {"0"}}, "profile")
	p := ts.call(t, "GET", "/api/v1/agents/"+agent.UserID.String()+"/routing", owner.Token, nil).mustStatus(t, http.StatusOK).JSON
	if c := p["capacity"].(map[string]any); c["chat"] != 3.0 || c["email"] != 5.0 || len(c) != 2 || len(p["skills"].([]any)) != 1 {
		t.Fatalf("profile: %v", p)
	}
	_, page, _ := b.get("/routing")
	if !strings.Contains(page, `name="cap_chat" type="number" min="0" max="50" value="3"`) {
		t.Error("the page does not show the saved capacity")
	}

	post("/routing/dispositions", url.Values{"code": {"solved"}, "label": {"Solved"}, "resolved": {"1"}}, "disposition")
	post("/routing/dispositions", url.Values{"code": {"callback"}, "label": {"Call back"}}, "disposition")
	ds := ts.call(t, "GET", "/api/v1/dispositions", owner.Token, nil).mustStatus(t, http.StatusOK).JSON["dispositions"].([]any)
	if len(ds) != 2 || ds[0].(map[string]any)["resolved"] != false || ds[1].(map[string]any)["resolved"] != true {
		t.Fatalf("dispositions: %v", ds)
	}
	post("/routing/dispositions/callback/delete", url.Values{}, "disposition-gone")
	// The skill is still required by nobody but held by the agent: refused.
	if resp, body := b.post("/routing/skills/"+skill+"/delete", url.Values{"_csrf": {token}}); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "remove it there first") {
		t.Fatalf("deleting a skill in use: %d", resp.StatusCode)
	}

	// Another tenant's admin cannot touch these.
	ts.signup(t, "bravo")
	other := newBrowserClient(t, b.base)
	other.login("bravo", "owner@bravo.example", goodPassword)
	_, _, otok := other.get("/routing")
	if resp, _ := other.post("/routing/queues/"+id, url.Values{"_csrf": {otok}, "name": {"Mine"}, "channels": {"chat"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("B edits A's queue: %d", resp.StatusCode)
	}
	if resp, _ := other.post("/routing/agents/"+agent.UserID.String(), url.Values{"_csrf": {otok}, "cap_chat": {"1"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("B edits A's agent: %d", resp.StatusCode)
	}
	// A supervisor sees no routing admin and cannot post to it.
	ts.createUser(t, owner, "sup@acme.example", "supervisor")
	sup := newBrowserClient(t, b.base)
	sup.login("acme", "sup@acme.example", goodPassword)
	_, _, stok := sup.get("/dashboard")
	if resp, _ := sup.post("/routing/skills", url.Values{"_csrf": {stok}, "name": {"French"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("supervisor adds a skill: %d", resp.StatusCode)
	}
}

// queueForm is what the page's queue form sends, with the defaults it
// shows, changed by set (an empty value removes the field).
func queueForm(token, name string, set url.Values) url.Values {
	f := url.Values{"_csrf": {token}, "name": {name}, "channels": {"chat"}, "strategy": {"longest_idle"}, "priority": {"0"},
		"sl_percent": {"80"}, "sl_seconds": {"20"}, "offer_timeout_seconds": {"20"}, "max_misses": {"3"}}
	for k, v := range set {
		if len(v) == 1 && v[0] == "" {
			f.Del(k)
			continue
		}
		f[k] = v
	}
	return f
}

func TestRoutingPages_QueueBusinessHoursMaxWaitAndOverflow(t *testing.T) {
	ts := newServer(t)
	owner := ts.signup(t, "acme")
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "owner@acme.example", goodPassword)
	_, _, token := b.get("/routing")
	post := func(path string, form url.Values, wantDone string) {
		t.Helper()
		resp, body := b.post(path, form)
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "done="+wantDone) {
			t.Fatalf("POST %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	queue := func(id string) map[string]any {
		t.Helper()
		return ts.call(t, "GET", "/api/v1/queues/"+id, owner.Token, nil).mustStatus(t, http.StatusOK).JSON
	}
	post("/routing/queues", queueForm(token, "Backup", url.Values{"always_open": {"1"}}), "queue")
	backup := ts.call(t, "GET", "/api/v1/queues", owner.Token, nil).mustStatus(t, http.StatusOK).JSON["queues"].([]any)[0].(map[string]any)["id"].(string)

	// Created with hours, a closed message, a maximum wait and an overflow queue.
	post("/routing/queues", queueForm(token, "Support", url.Values{"timezone": {"Europe/Berlin"}, "closed_message": {"We open at eight."},
		"open_mon": {"08:00"}, "close_mon": {"18:00"}, "open_tue": {"08:00"}, "close_tue": {"18:00"}, "open_wed": {"08:00"}, "close_wed": {"18:00"},
		"open_thu": {"08:00"}, "close_thu": {"18:00"}, "open_fri": {"08:00"}, "close_fri": {"18:00"}, "open_sat": {"10:00"}, "close_sat": {"12:00"},
		"max_wait_seconds": {"120"}, "overflow_queue_id": {backup}}), "queue")
	var id string
	for _, q := range ts.call(t, "GET", "/api/v1/queues", owner.Token, nil).mustStatus(t, http.StatusOK).JSON["queues"].([]any) {
		if q.(map[string]any)["name"] == "Support" {
			id = q.(map[string]any)["id"].(string)
		}
	}
	q := queue(id)
	hours, _ := q["business_hours"].(map[string]any)
	days, _ := hours["days"].(map[string]any)
	if hours["timezone"] != "Europe/Berlin" || len(days) != 6 || fmt.Sprint(days["sat"]) != "[10:00 12:00]" || days["sun"] != nil ||
		q["closed_message"] != "We open at eight." || q["max_wait_seconds"] != 120.0 || q["overflow_queue_id"] != backup {
		t.Fatalf("queue with hours: %v", q)
	}
	if q := queue(backup); q["business_hours"] != nil || q["overflow_queue_id"] != nil {
		t.Fatalf("the always-open queue: %v", q)
	}
	_, page, _ := b.get("/routing")
	for _, want := range []string{"Mon–Fri 08:00–18:00, Sat 10:00–12:00 (Europe/Berlin)", "overflows to Backup after 120 s", "always open",
		`name="open_sat" type="time" value="10:00"`, `<option value="` + backup + `" selected>Backup</option>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the routing page does not show %q", want)
		}
	}
	// A queue's own form does not offer it as its overflow.
	card := page[strings.Index(page, `id="queue-`+backup+`"`):]
	card = card[:strings.Index(card, "</details>")]
	if strings.Contains(card, `<option value="`+backup+`"`) {
		t.Error("Backup's form offers Backup as its own overflow")
	}

	// Bad input is a readable message on the page, and changes nothing.
	for _, tc := range []struct {
		name string
		set  url.Values
		want string
	}{
		{"unknown time zone", url.Values{"timezone": {"Mars/Olympus"}, "open_mon": {"08:00"}, "close_mon": {"18:00"}}, "&#34;Mars/Olympus&#34; is not an IANA time zone"},
		{"the server's zone", url.Values{"timezone": {"Local"}, "open_mon": {"08:00"}, "close_mon": {"18:00"}}, "is not an IANA time zone"},
		{"hours without a zone", url.Values{"open_mon": {"08:00"}, "close_mon": {"18:00"}}, "need an IANA time zone"},
		{"no such time", url.Values{"timezone": {"UTC"}, "open_mon": {"08:00"}, "close_mon": {"25:00"}}, "On Monday the hours must be"},
		{"closes before it opens", url.Values{"timezone": {"UTC"}, "open_fri": {"18:00"}, "close_fri": {"08:00"}}, "On Friday the hours must be"},
		{"only an opening time", url.Values{"timezone": {"UTC"}, "open_sun": {"09:00"}}, "On Sunday the hours must be"},
		{"a zone but no day", url.Values{"timezone": {"UTC"}}, "at least one open day"},
		{"overflow to itself", url.Values{"always_open": {"1"}, "max_wait_seconds": {"60"}, "overflow_queue_id": {id}}, "cannot overflow into itself"},
		{"max wait without overflow", url.Values{"always_open": {"1"}, "max_wait_seconds": {"60"}}, "needs an overflow queue"},
		{"max wait not a number", url.Values{"always_open": {"1"}, "max_wait_seconds": {"soon"}, "overflow_queue_id": {backup}}, "max wait seconds must be a whole number"},
		{"max wait too long", url.Values{"always_open": {"1"}, "max_wait_seconds": {"100000"}, "overflow_queue_id": {backup}}, "max_wait_seconds must be between"},
		{"overflow not an id", url.Values{"always_open": {"1"}, "overflow_queue_id": {"backup"}}, "Pick the overflow queue"},
	} {
		resp, body := b.post("/routing/queues/"+id, queueForm(token, "Support", tc.set))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="error"`) || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d, want 400 with %q on the page", tc.name, resp.StatusCode, tc.want)
		}
	}
	if after := queue(id); fmt.Sprint(after) != fmt.Sprint(q) {
		t.Fatalf("refused forms changed the queue:\n%v\n%v", q, after)
	}
	// Creating with bad hours is refused the same way.
	if resp, body := b.post("/routing/queues", queueForm(token, "Night", url.Values{"timezone": {"Nowhere/City"}, "open_mon": {"20:00"}, "close_mon": {"23:00"}})); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body, "is not an IANA time zone") || !strings.Contains(body, `value="Night"`) {
		t.Errorf("creating with a bad time zone: %d", resp.StatusCode)
	}

	// Updating: other hours; then always open, no maximum wait, no overflow.
	post("/routing/queues/"+id, queueForm(token, "Support", url.Values{"timezone": {"America/New_York"}, "open_tue": {"09:30"}, "close_tue": {"17:00"},
		"max_wait_seconds": {"300"}, "overflow_queue_id": {backup}}), "queue-saved")
	q = queue(id)
	hours, _ = q["business_hours"].(map[string]any)
	if days, _ := hours["days"].(map[string]any); hours["timezone"] != "America/New_York" || len(days) != 1 || fmt.Sprint(days["tue"]) != "[09:30 17:00]" || q["max_wait_seconds"] != 300.0 {
		t.Fatalf("updated hours: %v", q)
	}
	post("/routing/queues/"+id, queueForm(token, "Support", url.Values{"always_open": {"1"}, "timezone": {"America/New_York"}, "open_tue": {"09:30"}, "close_tue": {"17:00"}}), "queue-saved")
	if q = queue(id); q["business_hours"] != nil || q["max_wait_seconds"] != nil || q["overflow_queue_id"] != nil || q["closed_message"] != "" {
		t.Fatalf("cleared: %v", q)
	}
	// Hours again without ticking anything, then emptied: always open too.
	post("/routing/queues/"+id, queueForm(token, "Support", url.Values{"timezone": {"UTC"}, "open_sun": {"00:00"}, "close_sun": {"23:59"}}), "queue-saved")
	if q = queue(id); q["business_hours"] == nil {
		t.Fatalf("hours not saved: %v", q)
	}
	post("/routing/queues/"+id, queueForm(token, "Support", nil), "queue-saved")
	if q = queue(id); q["business_hours"] != nil {
		t.Fatalf("emptied hours kept: %v", q)
	}

	// Another tenant's queue is no overflow target.
	other := ts.signup(t, "bravo")
	theirs := ts.call(t, "POST", "/api/v1/queues", other.Token, map[string]any{"name": "Theirs", "channels": []string{"chat"}}).mustStatus(t, http.StatusCreated).str("id")
	if resp, body := b.post("/routing/queues/"+id, queueForm(token, "Support", url.Values{"max_wait_seconds": {"60"}, "overflow_queue_id": {theirs}})); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body, "overflow queue does not exist") {
		t.Errorf("overflow into another tenant's queue: %d", resp.StatusCode)
	}
}
