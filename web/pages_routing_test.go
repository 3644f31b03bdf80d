package web_test

import (
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
