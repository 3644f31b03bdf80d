package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/emersion/go-smtp"

	cic "github.com/cic-platform/cic"
)

// Listener limits.
const (
	maxRecipients  = 50
	commandTimeout = 2 * time.Minute
	// deliverTimeout bounds storing one mail; past it the sender is told
	// to retry.
	deliverTimeout = time.Minute
)

// SMTP replies of the listener.
var (
	replyUnknown   = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox here"}
	replyTooLarge  = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	replyAttTooBig = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "An attachment is larger than 10 MB"}
	replyMalformed = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message could not be read"}
	replyTryLater  = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, please try again later"}
	// Permanent: the same bytes would fail the same way, so a sender must
	// not retry them (a 451 would have it send them again and again).
	replyLineTooLong = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Line too long"}
	replyHeaderBomb  = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message headers too large or with too many encoded words"}
)

// Listener is the inbound SMTP server.
type Listener struct {
	srv    *smtp.Server
	ln     net.Listener
	cancel context.CancelFunc
	done   chan struct{}
	s      *Service
}

// Listen starts the SMTP listener on addr (SMTP_ADDR).
func (s *Service) Listen(ctx context.Context, addr string) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtp listen %s: %w", addr, err)
	}
	maxConns, perIP := limitOr(s.MaxConnections, DefaultMaxConnections), limitOr(s.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP)
	ln = newLimitListener(ln, maxConns, perIP, func(remote string) {
		s.log().Warn("smtp: connection refused over the limit", "remote", remote, "max", maxConns, "per_ip", perIP)
	})
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, ctx: ctx, remote: c.Conn().RemoteAddr().String()}, nil
	}))
	srv.Domain = s.Domain
	srv.MaxMessageBytes = s.MaxBytes
	srv.MaxRecipients = maxRecipients
	srv.ReadTimeout, srv.WriteTimeout = commandTimeout, commandTimeout
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = errorLog{s.log()}
	l := &Listener{srv: srv, ln: ln, cancel: cancel, done: make(chan struct{}), s: s}
	go func() {
		defer close(l.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			s.log().Error("smtp: listener stopped", "err", err)
		}
	}()
	s.log().Info("smtp: listening", "addr", ln.Addr().String(), "domain", s.Domain)
	return l, nil
}

// limitOr is n, or def for 0; a negative n means no limit (0).
func limitOr(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}

// Addr is the address the listener listens on.
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// Close stops taking mail, lets sessions under way finish (up to
// grace), then waits for automatic replies under way.
func (l *Listener) Close(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := l.srv.Shutdown(ctx); err != nil {
		_ = l.srv.Close()
	}
	<-l.done
	l.cancel()
	l.s.Wait()
}

// session is one SMTP connection's transaction.
type session struct {
	s      *Service
	ctx    context.Context
	remote string
	from   string
	rcpts  []Recipient
}

func (ss *session) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from, ss.rcpts = from, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ctx, cancel := context.WithTimeout(ss.ctx, deliverTimeout)
	defer cancel()
	r, err := ss.s.Resolve(ctx, to)
	if errors.Is(err, errUnknownRecipient) {
		ss.s.log().Info("smtp: unknown recipient", "rcpt", clean(to, 320), "remote", ss.remote)
		return replyUnknown
	}
	if err != nil {
		ss.s.log().Error("smtp: recipient lookup", "rcpt", clean(to, 320), "err", err)
		return replyTryLater
	}
	for _, have := range ss.rcpts {
		if have.TenantID == r.TenantID && have.Address.ID == r.Address.ID {
			return nil // the same mailbox twice gets the mail once
		}
	}
	ss.rcpts = append(ss.rcpts, r)
	return nil
}

// Data reads, parses and stores the mail for every recipient and answers
// 250 only when all of it is committed; a failure for one recipient
// makes the sender retry, and the mailboxes that have it already keep
// it once.
func (ss *session) Data(r io.Reader) (err error) {
	raw, err := io.ReadAll(io.LimitReader(r, ss.s.MaxBytes+1))
	if errors.Is(err, smtp.ErrDataTooLarge) || int64(len(raw)) > ss.s.MaxBytes {
		return replyTooLarge
	}
	if errors.Is(err, smtp.ErrTooLongLine) {
		ss.s.log().Info("smtp: message with an over-long line refused", "remote", ss.remote)
		return replyLineTooLong
	}
	if err != nil {
		return replyTryLater
	}
	defer func() {
		// No mail may take the listener down; the sender retries, and
		// the stack says what to fix.
		if p := recover(); p != nil {
			ss.s.log().Error("smtp: panic handling a message", "panic", fmt.Sprint(p), "remote", ss.remote, "stack", string(debug.Stack()))
			err = replyTryLater
		}
	}()
	m, err := Parse(raw)
	switch {
	case errors.Is(err, ErrAttachmentTooLarge):
		return replyAttTooBig
	case errors.Is(err, ErrHeaderBomb):
		ss.s.log().Info("smtp: message headers refused", "remote", ss.remote, "err", err)
		return replyHeaderBomb
	case err != nil:
		ss.s.log().Info("smtp: malformed message refused", "remote", ss.remote, "err", err)
		return replyMalformed
	}
	ctx, cancel := context.WithTimeout(ss.ctx, deliverTimeout)
	defer cancel()
	for _, rc := range ss.rcpts {
		res, err := ss.s.Deliver(ctx, rc, m, raw, ss.from)
		if err != nil && !errors.Is(err, errTemporary) && cic.ErrorKind(err) == cic.EINVALID {
			// Something in the mail we cannot store (a From address only
			// a lenient parser takes): retrying would not help.
			ss.s.log().Info("smtp: message refused", "rcpt", rc.Address.Address, "err", err)
			return replyMalformed
		}
		if err != nil {
			ss.s.log().Error("smtp: mail not stored", "tenant", rc.TenantID, "rcpt", rc.Address.Address, "message_id", m.MessageID, "err", err)
			return replyTryLater
		}
		ss.s.log().Info("smtp: mail received", "tenant", rc.TenantID, "rcpt", rc.Address.Address, "message_id", m.MessageID,
			"outcome", res.Outcome, "contact", res.ContactID, "bytes", len(raw), "attachments", len(m.Attachments))
	}
	return nil
}

// errorLog sends go-smtp's own messages to slog.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.l.Warn("smtp: " + fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any) {
	e.l.Warn("smtp: " + string(bytes.TrimSpace([]byte(fmt.Sprintln(v...)))))
}
