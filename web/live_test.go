package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// listen serves ts on a loopback port for tests that need a real
// connection (body limits, the browser) and returns its base URL.
func (ts *testServer) listen(t *testing.T) string {
	t.Helper()
	ln := loopback(t)
	ts.serve(t, ln)
	return "http://" + ln.Addr().String()
}

// loopback is a listener on a free loopback port, for a server that must
// know its address before it is built (its PublicURL).
func loopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// serve serves ts on ln until the test ends.
func (ts *testServer) serve(t *testing.T, ln net.Listener) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- ts.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ts.Shutdown(ctx)
		<-done
	})
}

func TestBadInput_OversizeBodyIs413WithErrorBody(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	huge := `{"company":"` + strings.Repeat("x", 70<<10) + `"}`
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(base+"/api/v1/signup", "application/json", strings.NewReader(huge))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body struct {
		Error struct{ Code, Message string }
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge || json.Unmarshal(raw, &body) != nil || body.Error.Code != "body_too_large" {
		t.Fatalf("oversize body: %d %s", resp.StatusCode, raw)
	}
}

func TestHealth_ReadyAndMetrics(t *testing.T) {
	ts := newServer(t)
	h := ts.call(t, "GET", "/healthz", "", nil).mustStatus(t, http.StatusOK)
	if h.str("status") != "ok" {
		t.Fatalf("healthz: %s", h.Body)
	}
	r := ts.call(t, "GET", "/readyz", "", nil).mustStatus(t, http.StatusOK)
	if r.str("checks", "postgres") != "ok" || r.str("checks", "redis") != "ok" {
		t.Fatalf("readyz: %s", r.Body)
	}
	for _, hdr := range []string{"X-Request-Id", "Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"} {
		if r.Header.Get(hdr) == "" {
			t.Errorf("missing header %s", hdr)
		}
	}
	ok := false
	for _, m := range ts.scrape(t)["cic_http_requests_total"].GetMetric() {
		ok = ok || label(m, "route") == "/readyz" && label(m, "status") == "200" && m.GetCounter().GetValue() == 1
	}
	if !ok {
		t.Fatal("metrics do not count /readyz")
	}
}

func TestHealth_ReadyzFailsWhenRedisIsGone(t *testing.T) {
	ts := newServer(t)
	ts.Rdb.Close()
	r := ts.call(t, "GET", "/readyz", "", nil)
	if r.Status != http.StatusServiceUnavailable || r.str("checks", "postgres") != "ok" || !strings.HasPrefix(r.str("checks", "redis"), "down") {
		t.Fatalf("readyz with Redis closed: %d %s", r.Status, r.Body)
	}
}
