package metering_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/cic-platform/cic/metering"
)

// sentMail is one message the test SMTP server accepted.
type sentMail struct {
	From string
	To   []string
	Data []byte
}

// parsed decodes the message: headers and the quoted-printable body.
func (m sentMail) parsed(t testing.TB) (*mail.Message, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v\n%s", err, m.Data)
	}
	// net/mail leaves the transfer encoding to the caller.
	if cte := msg.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding %q", cte)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	return msg, string(body)
}

func subjectOf(t testing.TB, msg *mail.Message) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mailServer is an in-process SMTP server on loopback that keeps what it
// receives, and can be told to refuse.
type mailServer struct {
	Addr string

	mu     sync.Mutex
	sent   []sentMail
	refuse map[string]bool // recipients answered 550
	// failData, when set, answers DATA's end with this error.
	failData error
}

func newMailServer(t testing.TB) *mailServer {
	t.Helper()
	ms := &mailServer{refuse: map[string]bool{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{s: ms}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	srv.MaxMessageBytes, srv.MaxRecipients = 1<<20, 50
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms.Addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ms
}

func (ms *mailServer) messages() []sentMail {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]sentMail(nil), ms.sent...)
}

func (ms *mailServer) setFailData(err error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.failData = err
}

type mailSession struct {
	s    *mailServer
	from string
	to   []string
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	if s.s.refuse[to] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	if s.s.failData != nil {
		return s.s.failData
	}
	s.s.sent = append(s.s.sent, sentMail{From: s.from, To: append([]string(nil), s.to...), Data: b})
	return nil
}

func TestSMTPMailer_Send(t *testing.T) {
	ms := newMailServer(t)
	m := &metering.SMTPMailer{Addr: ms.Addr, From: "Billing <billing@cic.example>", Timeout: 5 * time.Second, LocalName: "test.local"}
	err := m.Send(ctx(t), metering.Message{
		To: []mail.Address{
			{Name: "Zoë Owner", Address: "owner@acme.example"},
			{Name: "Eve\r\nBcc: victim@evil.example", Address: "finance@acme.example"},
		},
		Subject: "Acme: 12 contacts left\r\nX-Injected: yes",
		Body:    "Hello Zoë,\nline two with a very long line " + strings.Repeat("x", 120) + "\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := ms.messages()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	if got[0].From != "billing@cic.example" || strings.Join(got[0].To, ",") != "owner@acme.example,finance@acme.example" {
		t.Errorf("envelope from %q to %v", got[0].From, got[0].To)
	}
	msg, body := got[0].parsed(t)
	if s := subjectOf(t, msg); s != "Acme: 12 contacts leftX-Injected: yes" {
		t.Errorf("subject %q", s)
	}
	for _, h := range []string{"Bcc", "X-Injected"} {
		if v := msg.Header.Get(h); v != "" {
			t.Errorf("injected header %s: %q", h, v)
		}
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Name != "Zoë Owner" || to[1].Address != "finance@acme.example" {
		t.Errorf("To: %v %v", to, err)
	}
	if msg.Header.Get("Message-Id") == "" || msg.Header.Get("Date") == "" {
		t.Error("no Message-ID or Date")
	}
	if !strings.Contains(body, "Hello Zoë,\r\nline two") || !strings.Contains(body, strings.Repeat("x", 120)) {
		t.Errorf("body %q", body)
	}
}

func TestSMTPMailer_RefusedRecipients(t *testing.T) {
	ms := newMailServer(t)
	ms.refuse["gone@acme.example"] = true
	ms.refuse["left@acme.example"] = true
	m := &metering.SMTPMailer{Addr: ms.Addr, From: "cic@localhost", Timeout: 5 * time.Second}

	// One refused: the others still get it.
	err := m.Send(ctx(t), metering.Message{To: []mail.Address{{Address: "gone@acme.example"}, {Address: "here@acme.example"}}, Subject: "s", Body: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ms.messages(); len(got) != 1 || strings.Join(got[0].To, ",") != "here@acme.example" {
		t.Fatalf("messages %+v", got)
	}
	// All refused: an error.
	err = m.Send(ctx(t), metering.Message{To: []mail.Address{{Address: "gone@acme.example"}, {Address: "left@acme.example"}}, Subject: "s", Body: "b"})
	if err == nil || !strings.Contains(err.Error(), "every recipient refused") {
		t.Fatalf("err = %v", err)
	}
}

func TestSMTPMailer_Failures(t *testing.T) {
	c := ctx(t)
	msg := metering.Message{To: []mail.Address{{Address: "a@acme.example"}}, Subject: "s", Body: "b"}

	t.Run("refused message", func(t *testing.T) {
		ms := newMailServer(t)
		ms.setFailData(&smtp.SMTPError{Code: 451, Message: "try later"})
		err := (&metering.SMTPMailer{Addr: ms.Addr, From: "cic@localhost", Timeout: 5 * time.Second}).Send(c, msg)
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 451 {
			t.Fatalf("err = %v, want the server's 451", err)
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		if err := (&metering.SMTPMailer{Addr: addr, From: "cic@localhost", Timeout: 5 * time.Second}).Send(c, msg); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("silent server times out", func(t *testing.T) {
		// Accepts the connection and never says a word.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				defer conn.Close()
			}
		}()
		start := time.Now()
		err = (&metering.SMTPMailer{Addr: l.Addr().String(), From: "cic@localhost", Timeout: 300 * time.Millisecond}).Send(c, msg)
		if err == nil {
			t.Fatal("no error")
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("took %v, want about the 300ms timeout", took)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			conn, err := l.Accept()
			if err == nil {
				defer conn.Close()
				time.Sleep(5 * time.Second)
			}
		}()
		cc, cancel := context.WithTimeout(c, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := (&metering.SMTPMailer{Addr: l.Addr().String(), From: "cic@localhost", Timeout: time.Minute}).Send(cc, msg); err == nil {
			t.Fatal("no error")
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("took %v, want about the context's 200ms", took)
		}
	})
	t.Run("bad sender", func(t *testing.T) {
		if err := (&metering.SMTPMailer{Addr: "127.0.0.1:1", From: "not an address"}).Send(c, msg); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestNewMailer(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, ok := metering.NewMailer("", "", log).(metering.LogMailer); !ok {
		t.Error("no SMTP_RELAY: want the LogMailer")
	}
	m, ok := metering.NewMailer("mail:25", "", log).(*metering.SMTPMailer)
	if !ok || m.Addr != "mail:25" || m.From != metering.DefaultMailFrom {
		t.Errorf("got %+v", m)
	}
	if err := (metering.LogMailer{Logger: log}).Send(context.Background(), metering.Message{To: []mail.Address{{Address: "a@b.example"}}}); err != nil {
		t.Error(err)
	}
}
