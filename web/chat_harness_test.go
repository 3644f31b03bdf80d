package web_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/cic-platform/cic/channels/chat"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
	"github.com/cic-platform/cic/web"
)

// chatReplicas builds n server processes on one database, one Redis and
// one key prefix, as replicas behind a load balancer share them; each has
// its own routing client, contacts service and chat hub. grace is how
// long a visitor may be gone before an unaccepted chat is abandoned.
func chatReplicas(t *testing.T, n int, grace time.Duration) []*testServer {
	t.Helper()
	db := testenv.NewDB(t)
	rdb := testenv.NewRedis(t)
	prefix := testenv.Prefix()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc := tenant.NewService(&tenant.DB{Pool: db.App}, tenant.GenerateKeys(), tenant.NewLimiter(rdb, prefix, tenant.Limits{}))
	svc.Password = tenant.FastPasswordParams
	svc.OnSignup = []tenant.SignupHook{metering.TrialHook(metering.DefaultTrial), seats.TrialHook(seats.DefaultTrial)}
	meter := metering.NewMeter(svc.DB)
	meter.Start()
	t.Cleanup(meter.Close)
	seatSvc := seats.NewService(svc.DB, seats.NewLeases(rdb, prefix), nil)
	var out []*testServer
	for range n {
		st := &setup.Service{DB: svc.DB}
		cs := contacts.New(svc.DB, routing.New(rdb, prefix), st, meter, log)
		st.OnChange = cs.SetupChanged
		ch := chat.New(svc.DB, cs, st, rdb, prefix, log)
		ch.LeaveGrace = grace
		cs.Notify = ch.ContactChanged // as cmd/cic chains it
		t.Cleanup(ch.Close)
		srv, err := web.New(web.Config{Tenants: svc, Pool: db.App, Redis: rdb, PublicURL: "http://cic.test", RedisPrefix: prefix, BodyLimit: 64 << 10,
			Meter: meter, Seats: seatSvc, Setup: st, Contacts: cs, Chat: ch, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &testServer{Server: srv, Tenants: svc, DB: db, Rdb: rdb, Meter: meter, Seats: seatSvc})
	}
	return out
}

// site is the origin of the shop page that carries the widget.
const site = "https://shop.example"

// widget creates a chat widget on rc's queue for origins and returns its key.
func (ts *testServer) widget(t *testing.T, rc routedCompany, origins ...string) (key, id string) {
	t.Helper()
	a := ts.call(t, "POST", "/api/v1/chat/widgets", rc.Token, map[string]any{"name": "Shop", "queue_id": rc.queue,
		"allowed_origins": origins, "greeting": "Hello! How can we help?"}).mustStatus(t, http.StatusCreated)
	return a.str("key"), a.str("id")
}

// startChat is the widget's start call from origin.
func (ts *testServer) startChat(t *testing.T, key, origin string, body any) answer {
	t.Helper()
	req := jsonRequest(t, "POST", "/chat/v1/sessions?key="+url.QueryEscape(key), body)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return ts.do(t, req)
}

// wsClient is a test's end of a chat socket: frames are read by a
// goroutine and queued.
type wsClient struct {
	conn   *websocket.Conn
	frames chan map[string]any
	buf    []map[string]any // read, not yet asked for
}

// dial opens a socket; base is http://127.0.0.1:port.
func dial(t *testing.T, base, path string, hdr http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(base, "http")+path, hdr)
	if err != nil {
		return nil, resp, err
	}
	c := &wsClient{conn: conn, frames: make(chan map[string]any, 256)}
	go func() {
		defer close(c.frames)
		for {
			var f map[string]any
			if err := conn.ReadJSON(&f); err != nil {
				return
			}
			c.frames <- f
		}
	}()
	t.Cleanup(func() { _ = conn.Close() })
	return c, resp, nil
}

func mustDial(t *testing.T, base, path string, hdr http.Header) *wsClient {
	t.Helper()
	c, resp, err := dial(t, base, path, hdr)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	return c
}

// visitorSocket opens the visitor's socket from site.
func visitorSocket(t *testing.T, base, token string, after int) *wsClient {
	t.Helper()
	return mustDial(t, base, "/chat/v1/ws?token="+url.QueryEscape(token)+"&after="+itoa(int64(after)), http.Header{"Origin": {site}})
}

// agentSocket opens an agent's socket with their bearer token.
func agentSocket(t *testing.T, base string, who company) *wsClient {
	t.Helper()
	return mustDial(t, base, "/api/v1/chat/ws", http.Header{"Authorization": {"Bearer " + who.Token}})
}

func (c *wsClient) send(t *testing.T, frame map[string]any) {
	t.Helper()
	if err := c.conn.WriteJSON(frame); err != nil {
		t.Fatalf("write %v: %v", frame, err)
	}
}

// next returns the first frame of type typ, from what arrived already or
// what comes within 10 s; frames of other types stay queued for later
// calls (and are returned, for the failure message).
func (c *wsClient) next(t *testing.T, typ string) (map[string]any, []map[string]any) {
	t.Helper()
	for i, f := range c.buf {
		if f["type"] == typ {
			c.buf = append(c.buf[:i:i], c.buf[i+1:]...)
			return f, nil
		}
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				t.Fatalf("socket closed waiting for %q; queued %v", typ, c.buf)
			}
			if f["type"] == typ {
				return f, c.buf
			}
			c.buf = append(c.buf, f)
		case <-timeout:
			t.Fatalf("no %q frame within 10s; queued %v", typ, c.buf)
		}
	}
}

// message returns the message frame of seq n, leaving others queued.
func (c *wsClient) message(t *testing.T, n int) map[string]any {
	t.Helper()
	var skipped []map[string]any
	defer func() { c.buf = append(skipped, c.buf...) }()
	for {
		f, _ := c.next(t, "message")
		if seq, _, _, _ := msg(f); seq == n {
			return f
		}
		skipped = append(skipped, f)
	}
}

// quiet returns every queued frame and what arrives within d.
func (c *wsClient) quiet(d time.Duration) []map[string]any {
	got := c.buf
	c.buf = nil
	timeout := time.After(d)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return got
			}
			got = append(got, f)
		case <-timeout:
			return got
		}
	}
}

// msg is the message inside a message or ack frame.
func msg(f map[string]any) (seq int, sender, body, clientID string) {
	m, _ := f["message"].(map[string]any)
	s, _ := m["seq"].(float64)
	sender, _ = m["sender"].(string)
	body, _ = m["body"].(string)
	clientID, _ = m["client_id"].(string)
	return int(s), sender, body, clientID
}

// waitState polls a contact until it is in state (as the owner sees it).
func (ts *testServer) waitState(t *testing.T, owner company, id, state string) answer {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := ts.call(t, "GET", "/api/v1/contacts/"+id, owner.Token, nil).mustStatus(t, http.StatusOK)
		if a.str("state") == state {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("contact %s is %s, want %s", id, a.str("state"), state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
