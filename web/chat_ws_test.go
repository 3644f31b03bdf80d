package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestChat_RoundTripOverWebSockets_ResumeWithoutLossOrDuplicates: a
// visitor and an agent talk over real sockets; the visitor drops off, the
// agent writes meanwhile, the visitor resends a message whose ack it never
// saw and resumes after its last seq: every message arrives once, in
// order, and is stored once.
func TestChat_RoundTripOverWebSockets_ResumeWithoutLossOrDuplicates(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	rc := ts.routed(t, "acme", 1)
	agent := rc.agents[0]
	key, _ := ts.widget(t, rc, site)
	started := ts.startChat(t, key, site, map[string]any{}).mustStatus(t, http.StatusCreated)
	id, token := started.str("contact_id"), started.str("token")

	ag := agentSocket(t, base, agent)
	ag.next(t, "hello")
	v := visitorSocket(t, base, token, 0)
	if h, _ := v.next(t, "hello"); h["contact_id"] != id || h["state"] != "offered" {
		t.Fatalf("visitor hello: %v", h)
	}
	// Offered, not yet accepted: the agent sees the visitor's first words.
	v.send(t, map[string]any{"type": "send", "client_id": "v-1", "body": "Hello, anyone there?"})
	if ack, _ := v.next(t, "ack"); ack["client_id"] != "v-1" {
		t.Fatalf("ack: %v", ack)
	} else if seq, _, _, _ := msg(ack); seq != 1 {
		t.Fatalf("ack seq %d", seq)
	}
	if f, _ := ag.next(t, "message"); f["contact_id"] != id {
		t.Fatalf("agent got %v", f)
	} else if seq, sender, body, _ := msg(f); seq != 1 || sender != "visitor" || body != "Hello, anyone there?" {
		t.Fatalf("agent got %d %s %q", seq, sender, body)
	}
	// The agent may not answer before accepting.
	ag.send(t, map[string]any{"type": "send", "contact_id": id, "client_id": "a-0", "body": "too early"})
	if e, _ := ag.next(t, "error"); e["error"].(map[string]any)["code"] != "not_accepted" {
		t.Fatalf("send before accept: %v", e)
	}
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/accept", agent.Token, nil).mustStatus(t, http.StatusOK)

	v.send(t, map[string]any{"type": "typing"})
	if f, _ := ag.next(t, "typing"); f["contact_id"] != id || f["from"] != "visitor" {
		t.Fatalf("typing: %v", f)
	}
	ag.send(t, map[string]any{"type": "typing", "contact_id": id})
	v.next(t, "typing")
	ag.send(t, map[string]any{"type": "send", "contact_id": id, "client_id": "a-1", "body": "Hi, I am Ann. How can I help?"})
	if ack, _ := ag.next(t, "ack"); ack["client_id"] != "a-1" {
		t.Fatalf("agent ack: %v", ack)
	}
	if f := v.message(t, 2); true {
		_, sender, body, _ := msg(f)
		if sender != "agent" || body != "Hi, I am Ann. How can I help?" {
			t.Fatalf("visitor got %v", f)
		}
		if m := f["message"].(map[string]any); m["agent_id"] != nil {
			t.Errorf("the visitor learns the agent's user id: %v", m)
		}
	}

	// The visitor's connection drops. The agent writes twice meanwhile,
	// once over the API.
	_ = v.conn.Close()
	ag.send(t, map[string]any{"type": "send", "contact_id": id, "client_id": "a-2", "body": "Are you still there?"})
	ag.next(t, "ack")
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/messages", agent.Token, map[string]any{"client_id": "a-3", "body": "I will wait."}).mustStatus(t, http.StatusCreated)

	// Back, after seq 2 (the last it showed); it resends v-1, whose ack it
	// pretends it lost, and a new message.
	v2 := visitorSocket(t, base, token, 2)
	v2.send(t, map[string]any{"type": "send", "client_id": "v-1", "body": "Hello, anyone there?"})
	v2.send(t, map[string]any{"type": "send", "client_id": "v-2", "body": "Yes, sorry!"})
	got := v2.quiet(1500 * time.Millisecond)
	var seqs []int
	var acks []string
	for _, f := range got {
		switch f["type"] {
		case "message":
			seq, _, _, _ := msg(f)
			seqs = append(seqs, seq)
		case "ack":
			seq, _, _, _ := msg(f)
			acks = append(acks, fmt.Sprintf("%s=%d dup=%v", f["client_id"], seq, f["duplicate"] == true))
		}
	}
	if fmt.Sprint(seqs) != "[3 4 5]" {
		t.Errorf("after reconnecting the visitor got seqs %v, want [3 4 5] (3, 4 missed, 5 its own), once each: %v", seqs, got)
	}
	if strings.Join(acks, ",") != "v-1=1 dup=true,v-2=5 dup=false" {
		t.Errorf("acks %v", acks)
	}
	// The agent's socket saw each message once, in order.
	agentFrames := ag.quiet(500 * time.Millisecond)
	var agentSeqs []int
	for _, f := range agentFrames {
		if f["type"] == "message" {
			seq, _, _, _ := msg(f)
			agentSeqs = append(agentSeqs, seq)
		}
	}
	if fmt.Sprint(agentSeqs) != "[2 3 4 5]" {
		t.Errorf("agent's socket after seq 1: %v, want [2 3 4 5]", agentSeqs)
	}
	stored := ts.call(t, "GET", "/api/v1/contacts/"+id+"/messages", agent.Token, nil).mustStatus(t, http.StatusOK)
	var bodies []string
	for _, m := range stored.JSON["messages"].([]any) {
		bodies = append(bodies, m.(map[string]any)["body"].(string))
	}
	if len(bodies) != 5 || stored.JSON["last_seq"] != float64(5) {
		t.Fatalf("stored %d messages %q, want 5", len(bodies), bodies)
	}
	if tail := ts.call(t, "GET", "/api/v1/contacts/"+id+"/messages?after=4", agent.Token, nil).mustStatus(t, http.StatusOK); len(tail.JSON["messages"].([]any)) != 1 {
		t.Errorf("after=4: %s", tail.Body)
	}

	// A bad frame and an oversize message are refused on the socket,
	// which stays open.
	v2.send(t, map[string]any{"type": "dance"})
	if e, _ := v2.next(t, "error"); e["error"].(map[string]any)["code"] != "invalid_frame" {
		t.Errorf("bad frame: %v", e)
	}
	v2.send(t, map[string]any{"type": "send", "client_id": "v-3", "body": strings.Repeat("x", 4001)})
	if e, _ := v2.next(t, "error"); e["client_id"] != "v-3" || e["error"].(map[string]any)["code"] != "message_too_long" {
		t.Errorf("oversize: %v", e)
	}
	if err := v2.conn.WriteMessage(1, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if e, _ := v2.next(t, "error"); e["error"].(map[string]any)["code"] != "invalid_json" {
		t.Errorf("not JSON: %v", e)
	}
	v2.send(t, map[string]any{"type": "ping"})
	v2.next(t, "pong")
}

// TestChat_SocketsRefuseBadTokensAndOrigins: the handshake answers 401 or
// 403 before upgrading.
func TestChat_SocketsRefuseBadTokensAndOrigins(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	rc := ts.routed(t, "acme", 1)
	key, _ := ts.widget(t, rc, site)
	token := ts.startChat(t, key, site, map[string]any{}).mustStatus(t, http.StatusCreated).str("token")
	for _, tc := range []struct {
		name, path string
		hdr        http.Header
		status     int
	}{
		{"visitor from another origin", "/chat/v1/ws?token=" + url.QueryEscape(token), http.Header{"Origin": {"https://evil.example"}}, 403},
		{"visitor without a token", "/chat/v1/ws", http.Header{"Origin": {site}}, 401},
		{"visitor with a bad token", "/chat/v1/ws?token=" + url.QueryEscape(otherLast(token)), http.Header{"Origin": {site}}, 401},
		{"visitor with a bad after", "/chat/v1/ws?after=x&token=" + url.QueryEscape(token), http.Header{"Origin": {site}}, 400},
		{"agent without credentials", "/api/v1/chat/ws", http.Header{"Origin": {base}}, 401},
		{"agent with a bad token", "/api/v1/chat/ws", http.Header{"Authorization": {"Bearer nope"}}, 401},
		{"agent page session from another site", "/api/v1/chat/ws", http.Header{"Origin": {site}, "Cookie": {"cic_access=x"}}, 403},
	} {
		_, resp, err := dial(t, base, tc.path, tc.hdr)
		if err == nil || resp == nil || resp.StatusCode != tc.status {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Errorf("%s: err %v status %d, want %d", tc.name, err, status, tc.status)
		}
	}
	// Without an upgrade, the socket routes say so.
	ts.call(t, "GET", "/chat/v1/ws?token="+url.QueryEscape(token), "", nil).mustStatus(t, http.StatusUpgradeRequired)
}

// TestChat_TwoServersDeliverAcrossReplicas: the visitor is connected to
// one server, the agent to another; both share PostgreSQL and Redis only.
func TestChat_TwoServersDeliverAcrossReplicas(t *testing.T) {
	rs := chatReplicas(t, 2, time.Minute)
	one, two := rs[0], rs[1]
	baseOne, baseTwo := one.listen(t), two.listen(t)
	rc := one.routed(t, "acme", 1)
	agent := rc.agents[0]
	key, _ := one.widget(t, rc, site)
	started := two.startChat(t, key, site, map[string]any{}).mustStatus(t, http.StatusCreated)
	id, token := started.str("contact_id"), started.str("token")
	two.call(t, "POST", "/api/v1/contacts/"+id+"/accept", agent.Token, nil).mustStatus(t, http.StatusOK)

	v := visitorSocket(t, baseOne, token, 0)
	v.next(t, "hello")
	ag := agentSocket(t, baseTwo, agent)
	ag.next(t, "hello")

	v.send(t, map[string]any{"type": "send", "client_id": "v-1", "body": "Written on server one"})
	if f, _ := ag.next(t, "message"); true {
		if _, sender, body, _ := msg(f); sender != "visitor" || body != "Written on server one" {
			t.Fatalf("agent on server two got %v", f)
		}
	}
	ag.send(t, map[string]any{"type": "send", "contact_id": id, "client_id": "a-1", "body": "Answered on server two"})
	if f := v.message(t, 2); true {
		if _, sender, body, _ := msg(f); sender != "agent" || body != "Answered on server two" {
			t.Fatalf("visitor on server one got %v", f)
		}
	}
	// A message posted over the API of server one reaches the agent's
	// socket on server two as well.
	one.call(t, "POST", "/api/v1/contacts/"+id+"/messages", agent.Token, map[string]any{"client_id": "a-2", "body": "Via the API"}).mustStatus(t, http.StatusCreated)
	if f := v.message(t, 3); true {
		if _, _, body, _ := msg(f); body != "Via the API" {
			t.Fatalf("visitor got %v", f)
		}
	}
	// The agent closes the contact on server two: the visitor on server
	// one is told, and can write no more.
	two.call(t, "POST", "/api/v1/contacts/"+id+"/close", agent.Token, nil).mustStatus(t, http.StatusNoContent)
	if f, _ := v.next(t, "state"); f["state"] != "closed" {
		t.Fatalf("visitor got %v", f)
	}
	v.send(t, map[string]any{"type": "send", "client_id": "v-2", "body": "One more thing"})
	if e, _ := v.next(t, "error"); e["error"].(map[string]any)["code"] != "chat_ended" {
		t.Fatalf("send after close: %v", e)
	}
}

// TestChat_VisitorLeavingBeforeAcceptance_Abandoned_NotMetered: saying so
// on the socket, by the page's beacon, or silently (gone past the grace
// period): each contact is abandoned and nothing is metered.
func TestChat_VisitorLeavingBeforeAcceptance_Abandoned_NotMetered(t *testing.T) {
	rs := chatReplicas(t, 2, 400*time.Millisecond)
	ts := rs[0]
	base := ts.listen(t)
	rc := ts.routed(t, "acme", 0) // no agents: every chat waits
	key, _ := ts.widget(t, rc, site)
	before := ts.remaining(t, rc.company)

	open := func() (string, string) {
		a := ts.startChat(t, key, site, map[string]any{}).mustStatus(t, http.StatusCreated)
		return a.str("contact_id"), a.str("token")
	}
	// 1. The leave frame.
	id1, tok1 := open()
	v := visitorSocket(t, base, tok1, 0)
	v.next(t, "hello")
	v.send(t, map[string]any{"type": "leave"})
	ts.waitState(t, rc.company, id1, "abandoned")

	// 2. The beacon (text/plain, no preflight).
	id2, tok2 := open()
	req := newRequest("POST", "/chat/v1/leave", strings.NewReader(jsonString(map[string]any{"token": tok2})))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	req.Header.Set("Origin", site)
	if a := ts.do(t, req); a.Status != http.StatusNoContent || a.Header.Get("Access-Control-Allow-Origin") != site {
		t.Fatalf("beacon: %d %s", a.Status, a.Body)
	}
	ts.waitState(t, rc.company, id2, "abandoned")

	// 3. The page closes without a word; the visitor of a fourth chat
	// drops off too but comes back within the grace period, to the other
	// server, and keeps their chat.
	id3, tok3 := open()
	id4, tok4 := open()
	v3 := visitorSocket(t, base, tok3, 0)
	v3.next(t, "hello")
	v4 := visitorSocket(t, base, tok4, 0)
	v4.next(t, "hello")
	_ = v3.conn.Close()
	_ = v4.conn.Close()
	time.Sleep(200 * time.Millisecond)
	v4b := visitorSocket(t, rs[1].listen(t), tok4, 0)
	v4b.next(t, "hello")
	ts.waitState(t, rc.company, id3, "abandoned")
	time.Sleep(500 * time.Millisecond)
	if st := ts.call(t, "GET", "/api/v1/contacts/"+id4, rc.Token, nil).str("state"); st != "queued" {
		t.Fatalf("a visitor who came back: contact %s, want queued", st)
	}
	v4b.send(t, map[string]any{"type": "send", "client_id": "v-1", "body": "still here"})
	v4b.next(t, "ack")

	if after := ts.remaining(t, rc.company); after != before {
		t.Fatalf("remaining contacts %v -> %v: abandoned chats were metered", before, after)
	}
	// A left chat takes no more messages.
	v1b := visitorSocket(t, base, tok1, 0)
	if h, _ := v1b.next(t, "hello"); h["ended"] != true {
		t.Errorf("hello of an abandoned chat: %v", h)
	}
	v1b.send(t, map[string]any{"type": "send", "client_id": "late", "body": "hello?"})
	if e, _ := v1b.next(t, "error"); e["error"].(map[string]any)["code"] != "chat_ended" {
		t.Errorf("send after leaving: %v", e)
	}
}

// otherLast changes a token's last character (to another one always: a
// token that already ends in "A" stays valid with "A").
func otherLast(token string) string {
	last := "A"
	if strings.HasSuffix(token, "A") {
		last = "B"
	}
	return token[:len(token)-1] + last
}
