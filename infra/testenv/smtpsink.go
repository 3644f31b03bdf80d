package testenv

import (
	"io"
	"net"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// SMTPSink is a real SMTP server on loopback that keeps what it is sent:
// the relay the product's outbound mail goes to in tests.
type SMTPSink struct {
	Addr string
	ch   chan Mail
}

// Mail is one message the sink received.
type Mail struct {
	From string
	To   []string
	Data []byte
}

// StartSMTPSink starts a sink, stopped when the test ends.
func StartSMTPSink(t testing.TB) *SMTPSink {
	t.Helper()
	s := &SMTPSink{ch: make(chan Mail, 100)}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "customer.example"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = nopLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.Addr = ln.Addr().String()
	return s
}

// Next waits (up to 10 s) for the next message delivered.
func (s *SMTPSink) Next(t testing.TB) Mail {
	t.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no mail arrived at the test's SMTP server")
		return Mail{}
	}
}

// None checks that no message arrives for a moment.
func (s *SMTPSink) None(t testing.TB) {
	t.Helper()
	select {
	case m := <-s.ch:
		t.Fatalf("unexpected mail to %v:\n%s", m.To, m.Data)
	case <-time.After(300 * time.Millisecond):
	}
}

type sinkSession struct {
	s    *SMTPSink
	from string
	to   []string
}

func (ss *sinkSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(from string, _ *gosmtp.MailOptions) error {
	ss.from = from
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.ch <- Mail{From: ss.from, To: ss.to, Data: b}
	return nil
}

type nopLog struct{}

func (nopLog) Printf(string, ...any) {}
func (nopLog) Println(...any)        {}
