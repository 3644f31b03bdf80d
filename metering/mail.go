package metering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
)

// DefaultMailFrom is the sender when SMTP_FROM is not set.
const DefaultMailFrom = "cic@localhost"

// Message is one plain-text e-mail.
type Message struct {
	To      []mail.Address
	Subject string
	Body    string
}

// Mailer sends e-mail. A nil error means the message was handed over
// (to the SMTP server, or to the log when mail is off).
type Mailer interface {
	Send(ctx context.Context, msg Message) error
}

// NewMailer returns an SMTPMailer for addr (host:port), or a LogMailer
// when addr is empty (e-mail disabled). from defaults to DefaultMailFrom.
func NewMailer(addr, from string, log *slog.Logger) Mailer {
	if log == nil {
		log = slog.Default()
	}
	if from == "" {
		from = DefaultMailFrom
	}
	if addr == "" {
		return LogMailer{Logger: log}
	}
	return &SMTPMailer{Addr: addr, From: from, Logger: log}
}

// LogMailer writes messages to the log instead of sending them.
type LogMailer struct{ Logger *slog.Logger }

// Send logs msg.
func (l LogMailer) Send(ctx context.Context, msg Message) error {
	to := make([]string, len(msg.To))
	for i, a := range msg.To {
		to[i] = a.Address
	}
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	log.InfoContext(ctx, "e-mail not sent (SMTP_RELAY is not set)", "to", strings.Join(to, ","), "subject", msg.Subject)
	return nil
}

// SMTPMailer sends through an SMTP relay (no authentication, no TLS: a
// local MTA or relay that accepts mail from this host).
type SMTPMailer struct {
	Addr string // host:port
	From string
	// Timeout bounds the whole conversation; 0 means 30 seconds. A
	// deadline on ctx that comes sooner wins.
	Timeout time.Duration
	// LocalName is the name given in EHLO; empty means the host name.
	LocalName string
	// Logger reports refused recipients; nil means slog.Default().
	Logger *slog.Logger
}

// Send delivers msg in one SMTP transaction. Recipients the server
// refuses for good (5xx) are skipped; the message goes to the others. It
// fails if every recipient is refused, or on any other error.
func (m *SMTPMailer) Send(ctx context.Context, msg Message) error {
	if len(msg.To) == 0 {
		return nil
	}
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return fmt.Errorf("smtp: sender %q: %w", m.From, err)
	}
	data, err := buildMessage(*from, msg, time.Now())
	if err != nil {
		return err
	}
	to := make([]string, len(msg.To))
	for i, a := range msg.To {
		to[i] = a.Address
	}
	return m.SendRaw(ctx, from.Address, to, data)
}

// SendRaw delivers a message the caller rendered (data: RFC 5322, CRLF
// line ends) from the envelope sender from ("" is the null sender of
// automatic replies) to the envelope recipients, in one SMTP
// transaction, with Send's rules for refused recipients.
func (m *SMTPMailer) SendRaw(ctx context.Context, from string, to []string, data []byte) error {
	if len(to) == 0 {
		return nil
	}
	for _, a := range to {
		if err := checkAddress(a); err != nil {
			return err
		}
	}
	if from != "" {
		if err := checkAddress(from); err != nil {
			return err
		}
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("smtp: dial %s: %w", m.Addr, err)
	}
	// The deadline bounds every read and write of the conversation; a
	// cancelled ctx closes the connection, which ends any of them at once.
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(dctx, func() { _ = conn.Close() })
	defer stop()

	c := smtp.NewClient(conn)
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = timeout, timeout
	if err := c.Hello(m.localName()); err != nil {
		return fmt.Errorf("smtp: hello: %w", err)
	}
	var opts *smtp.MailOptions
	if !isASCII(from) || !allASCIIStrings(to) {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(from, opts); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	accepted := 0
	var refused []error
	for _, rcpt := range to {
		err := c.Rcpt(rcpt, nil)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &se) && se.Code >= 500:
			refused = append(refused, fmt.Errorf("%s: %w", rcpt, err))
		default:
			return fmt.Errorf("smtp: RCPT TO %s: %w", rcpt, err)
		}
	}
	if accepted == 0 {
		return fmt.Errorf("smtp: every recipient refused: %w", errors.Join(refused...))
	}
	if len(refused) > 0 {
		log := m.Logger
		if log == nil {
			log = slog.Default()
		}
		log.WarnContext(ctx, "smtp: some recipients refused; sent to the others", "err", errors.Join(refused...))
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return fmt.Errorf("smtp: write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: message refused: %w", err)
	}
	// The message is queued once DATA is accepted; a failed QUIT changes
	// nothing.
	_ = c.Quit()
	return nil
}

func (m *SMTPMailer) localName() string {
	if m.LocalName != "" {
		return m.LocalName
	}
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// buildMessage renders an RFC 5322 message, CRLF line ends, the body
// quoted-printable UTF-8. Header values are stripped of control
// characters, so no name or subject can inject a header.
func buildMessage(from mail.Address, msg Message, now time.Time) ([]byte, error) {
	if err := checkAddress(from.Address); err != nil {
		return nil, err
	}
	from.Name = headerSafe(from.Name)
	to := make([]string, 0, len(msg.To))
	for _, a := range msg.To {
		if err := checkAddress(a.Address); err != nil {
			return nil, err
		}
		a.Name = headerSafe(a.Name)
		to = append(to, a.String())
	}
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from.String())
	h("To", strings.Join(to, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", headerSafe(msg.Subject)))
	h("Date", now.Format(time.RFC1123Z))
	domain := "localhost"
	if i := strings.LastIndexByte(from.Address, '@'); i >= 0 {
		domain = from.Address[i+1:]
	}
	h("Message-ID", fmt.Sprintf("<%s@%s>", uuid.NewString(), domain))
	h("MIME-Version", "1.0")
	h("Content-Type", `text/plain; charset="utf-8"`)
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := strings.ReplaceAll(strings.ReplaceAll(msg.Body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

func checkAddress(a string) error {
	if a == "" || strings.ContainsAny(a, "\r\n<> ,") {
		return fmt.Errorf("smtp: invalid address %q", a)
	}
	return nil
}

// headerSafe drops control characters (CR and LF among them).
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCIIStrings(as []string) bool {
	for _, a := range as {
		if !isASCII(a) {
			return false
		}
	}
	return true
}
