package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// leaveMessage posts the widget's message form from origin (text/plain,
// as the widget sends it).
func (ts *testServer) leaveMessage(t *testing.T, key, origin string, body string) answer {
	t.Helper()
	req := newRequest("POST", "/chat/v1/message?key="+url.QueryEscape(key), strings.NewReader(body))
	req.Header.Set("Content-Type", "text/plain")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return ts.do(t, req)
}

// TestChatMessage_LeaveAMessageBadInputAndOtherTenants: the message form's
// endpoint stores a message once per client id as an e-mail contact on
// the widget's queue and ends the visitor's waiting chat; the waiting
// visitor's socket says where they stand; bad input is a 400, a wrong
// key or origin a 403 without CORS, another tenant's chat token a 401, a
// queue that takes no e-mail a 409.
func TestChatMessage_LeaveAMessageBadInputAndOtherTenants(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	rc := ts.routed(t, "acme", 0)
	ts.call(t, "PATCH", "/api/v1/queues/"+rc.queue, rc.Token, map[string]any{"channels": []string{"chat", "email"}}).mustStatus(t, http.StatusOK)
	key, _ := ts.widget(t, rc, site)
	other := ts.routed(t, "globex", 0)
	otherKey, _ := ts.widget(t, other, site)

	// A waiting visitor: first in line, told so on the socket.
	st := ts.startChat(t, key, site, map[string]any{"visitor_id": "v1"}).mustStatus(t, http.StatusCreated)
	token, chatID := st.str("token"), st.str("contact_id")
	vs := visitorSocket(t, base, token, 0)
	hello, _ := vs.next(t, "hello")
	if p, _ := hello["position"].(map[string]any); p["queue_position"] != float64(1) || p["estimated_wait_seconds"] != float64(180) ||
		p["open"] != true || p["leave_message"] != false {
		t.Fatalf("hello: %v", hello)
	}
	otherChat := ts.startChat(t, otherKey, site, map[string]any{"visitor_id": "v2"}).mustStatus(t, http.StatusCreated).str("token")

	good := `{"name":"Jane","email":"Jane@Example.com","message":"Call me back, please.","client_id":"m-1"}`
	for _, tc := range []struct {
		name, key, origin, body string
		status                  int
		code                    string
	}{
		{"wrong key", "cw1.nope", site, good, 403, ""},
		{"origin not allowed", key, "https://evil.example", good, 403, ""},
		{"no origin", key, "", good, 403, ""},
		{"not JSON", key, site, `{"name":`, 400, "invalid_json"},
		{"no message", key, site, `{"email":"a@b.example","message":"  "}`, 400, "message_empty"},
		{"no e-mail", key, site, `{"message":"hi"}`, 400, "invalid_email"},
		{"bad e-mail", key, site, `{"email":"not an address","message":"hi"}`, 400, "invalid_email"},
		{"name on two lines", key, site, `{"name":"a\nb","email":"a@b.example","message":"hi"}`, 400, "invalid_name"},
		{"NUL", key, site, `{"email":"a@b.example","message":"a\u0000b"}`, 400, "invalid_text"},
		{"too long", key, site, `{"email":"a@b.example","message":"` + strings.Repeat("x", 4001) + `"}`, 400, "message_too_long"},
		{"bad client id", key, site, `{"email":"a@b.example","message":"hi","client_id":"a b"}`, 400, "invalid_client_id"},
		{"another tenant's chat", key, site, `{"email":"a@b.example","message":"hi","token":"` + otherChat + `"}`, 401, "invalid_chat_token"},
		{"queue takes no e-mail", otherKey, site, good, 409, "messages_unavailable"},
	} {
		a := ts.leaveMessage(t, tc.key, tc.origin, tc.body)
		if a.Status != tc.status || (tc.code != "" && a.errCode() != tc.code) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, a.Status, a.Body, tc.status, tc.code)
		}
		if tc.status == 403 && a.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: CORS on a refusal", tc.name)
		}
	}
	if n := ts.countMessages(t, rc); n != 0 {
		t.Fatalf("%d messages stored from bad input", n)
	}

	// The waiting visitor leaves a message: stored once, their chat ends.
	withToken := strings.Replace(good, `"client_id"`, `"token":"`+token+`","client_id"`, 1)
	a := ts.leaveMessage(t, key, site, withToken).mustStatus(t, http.StatusCreated)
	if a.Header.Get("Access-Control-Allow-Origin") != site || a.str("state") != "queued" {
		t.Fatalf("left message: %s %v", a.Body, a.Header)
	}
	again := ts.leaveMessage(t, key, site, good).mustStatus(t, http.StatusCreated)
	if again.str("contact_id") != a.str("contact_id") || ts.countMessages(t, rc) != 1 {
		t.Fatalf("a resend stored twice: %s vs %s", again.Body, a.Body)
	}
	d := ts.call(t, "GET", "/api/v1/contacts/"+a.str("contact_id"), rc.Token, nil).mustStatus(t, http.StatusOK)
	if d.str("channel") != "email" || d.str("customer_ref") != "jane@example.com" || d.str("queue_id") != rc.queue || d.str("customer_id") == "" {
		t.Fatalf("message contact: %s", d.Body)
	}
	msgs := ts.call(t, "GET", "/api/v1/contacts/"+a.str("contact_id")+"/messages", rc.Token, nil).mustStatus(t, http.StatusOK)
	if l := msgs.JSON["messages"].([]any); len(l) != 1 || l[0].(map[string]any)["from"] != "jane@example.com" ||
		l[0].(map[string]any)["body"] != "Call me back, please." {
		t.Fatalf("stored message: %s", msgs.Body)
	}
	ts.waitState(t, rc.company, chatID, "abandoned")
	// Another tenant sees none of it.
	ts.call(t, "GET", "/api/v1/contacts/"+a.str("contact_id"), other.Token, nil).mustStatus(t, http.StatusNotFound)
}

func (ts *testServer) countMessages(t *testing.T, rc routedCompany) int {
	t.Helper()
	l := ts.call(t, "GET", "/api/v1/contacts?state=queued", rc.Token, nil).mustStatus(t, http.StatusOK)
	n := 0
	for _, c := range l.JSON["contacts"].([]any) {
		if c.(map[string]any)["channel"] == "email" {
			n++
		}
	}
	return n
}
