package email_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cic-platform/cic/infra/testenv"
)

// TestEmail_OverLongLineAndEncodedWordBombArePermanent: a line longer
// than the listener takes and a header of thousands of encoded words are
// refused with a permanent 5xx (a 451 has the sender send the same bytes
// again and again); nothing is stored and the next mail is served.
func TestEmail_OverLongLineAndEncodedWordBombArePermanent(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	long := plainMail("carla@customer.example", co.box, "long@customer.example", "Long", strings.Repeat("x", 5000)+"\n")
	if err := w.send(t, "carla@customer.example", co.box, long); smtpCode(err) != 500 || !strings.Contains(err.Error(), "5.5.2") {
		t.Errorf("over-long line: %v, want 500 5.5.2", err)
	}
	for name, subject := range map[string]string{
		"subject of encoded words": strings.Repeat(strings.Repeat("=?UTF-8?B?w6Q=?= ", 20)+"\n ", 50),
		"one long folded header":   strings.Repeat("=?ISO-8859-1?Q?=E4?=\n ", 2000),
	} {
		raw := "From: carla@customer.example\nTo: " + co.box + "\nMessage-ID: <bomb@customer.example>\nSubject: " + subject + "\n\nbody\n"
		if err := w.send(t, "carla@customer.example", co.box, raw); smtpCode(err) != 554 || !strings.Contains(err.Error(), "encoded words") {
			t.Errorf("%s: %v, want 554 5.6.0", name, err)
		}
	}
	w.mustSend(t, "carla@customer.example", co.box, plainMail("carla@customer.example", co.box, "ok@customer.example", "Hello =?UTF-8?B?w6Q=?=", "Hi"))
	if n := w.count(t, `SELECT count(*) FROM contact_messages WHERE tenant_id = $1`, co.owner.TenantID); n != 1 {
		t.Errorf("%d messages stored, want only the good one", n)
	}
}

// TestEmail_ConnectionLimits: past SMTP_MAX_CONNECTIONS_PER_IP open
// connections from one address, and past SMTP_MAX_CONNECTIONS in all,
// a new connection is greeted 421 and closed; a closed connection frees
// its place.
func TestEmail_ConnectionLimits(t *testing.T) {
	w := newWorld(t)
	w.email.MaxConnections, w.email.MaxConnectionsPerIP = 3, 2
	ln, err := w.email.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(5 * time.Second) })
	greet := func(from string) (net.Conn, string) {
		t.Helper()
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", ln.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return c, line[:min(3, len(line))]
	}
	a1, g1 := greet("127.0.0.1")
	_, g2 := greet("127.0.0.1")
	if g1 != "220" || g2 != "220" {
		t.Fatalf("first two connections: %s %s", g1, g2)
	}
	if _, g := greet("127.0.0.1"); g != "421" {
		t.Errorf("third connection from one address: %q, want 421", g)
	}
	if _, g := greet("127.0.0.2"); g != "220" {
		t.Fatalf("another address: %q, want 220", g)
	}
	if _, g := greet("127.0.0.3"); g != "421" {
		t.Errorf("fourth connection in all: %q, want 421", g)
	}
	// A closed connection gives its place back (once the server saw it).
	a1.Close()
	ctx := testenv.Context(t)
	for {
		if _, g := greet("127.0.0.1"); g == "220" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the closed connection's place never came back")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
