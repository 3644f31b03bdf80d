package email_test

import (
	"context"
	"log/slog"
	"net/smtp"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/email"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
)

const domain = "mail.test"

var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// world is the product's e-mail channel on real PostgreSQL and Redis,
// listening on loopback, with its relay pointed at a capturing SMTP
// server the test runs (the customer's mail server).
type world struct {
	db       *testenv.DB
	tenants  *tenant.Service
	setup    *setup.Service
	contacts *contacts.Service
	convs    *conversation.Store
	dir      *directory.Directory
	email    *email.Service
	registry *channels.Registry
	addr     string // the listener
	outbox   *testenv.SMTPSink
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db := testenv.NewDB(t)
	ts := tenant.NewService(&tenant.DB{Pool: db.App}, tenant.GenerateKeys(), nil)
	ts.Password = tenant.FastPasswordParams
	ts.OnSignup = []tenant.SignupHook{metering.TrialHook(metering.DefaultTrial)}
	m := metering.NewMeter(ts.DB)
	m.Start()
	t.Cleanup(m.Close)
	st := &setup.Service{DB: ts.DB}
	cs := contacts.New(ts.DB, routing.New(testenv.NewRedis(t), testenv.Prefix()), st, m, quiet)
	st.OnChange = cs.SetupChanged
	w := &world{db: db, tenants: ts, setup: st, contacts: cs, convs: &conversation.Store{DB: ts.DB},
		dir: &directory.Directory{DB: ts.DB}, registry: &channels.Registry{}, outbox: testenv.StartSMTPSink(t)}
	w.email = &email.Service{DB: ts.DB, Contacts: cs, Conversations: w.convs, Directory: w.dir, Domain: domain,
		MaxBytes: 256 << 10, Relay: &metering.SMTPMailer{Addr: w.outbox.Addr, From: "cic@" + domain}, Logger: quiet}
	w.registry.Register(w.email)
	ln, err := w.email.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(5 * time.Second) })
	w.addr = ln.Addr()
	return w
}

type company struct {
	owner  tenant.Principal
	agents []tenant.Principal
	queue  setup.Queue
	box    string // its mailbox
}

// company signs up <slug> with an e-mail queue, the mailbox
// support@<slug>.mail.test on it and n agents available for e-mail.
func (w *world) company(t *testing.T, slug string, n int) company {
	t.Helper()
	c := testenv.Context(t)
	res, err := w.tenants.Signup(c, tenant.SignupInput{Company: "Co " + slug, Slug: slug, Name: "Owner",
		Email: "owner@" + slug + ".example", Password: "correct horse battery", Currency: "EUR"}, tenant.ClientMeta{})
	if err != nil {
		t.Fatal(err)
	}
	co := company{owner: tenant.Principal{Actor: tenant.Actor{TenantID: res.Tenant.ID, UserID: res.User.ID, Role: cic.RoleOwner}}}
	name := "Support"
	if co.queue, err = w.setup.CreateQueue(c, co.owner.Actor, setup.QueueInput{Name: &name, Channels: []string{"email"}}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		u, err := w.tenants.CreateUser(c, co.owner.Actor, tenant.NewUser{Email: string(rune('a'+i)) + "@" + slug + ".example",
			Name: "Agent", Role: cic.RoleAgent, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.setup.SetProfile(c, co.owner.Actor, u.ID, setup.ProfileInput{Capacity: map[string]int{"email": 5}}); err != nil {
			t.Fatal(err)
		}
		p := tenant.Principal{Actor: tenant.Actor{TenantID: res.Tenant.ID, UserID: u.ID, Role: cic.RoleAgent}}
		if err := w.contacts.SetStatus(c, p, "available", true); err != nil {
			t.Fatal(err)
		}
		co.agents = append(co.agents, p)
	}
	co.box = "support@" + slug + "." + domain
	w.mailbox(t, co, co.box)
	return co
}

func (w *world) mailbox(t *testing.T, co company, addr string) {
	t.Helper()
	if _, err := w.dir.AddAddress(testenv.Context(t), co.owner.Actor, directory.Address{Channel: "email", Address: addr, QueueID: &co.queue.ID}); err != nil {
		t.Fatal(err)
	}
}

// send delivers raw to rcpt through the listener with net/smtp, as a
// customer's mail server would; the error is the listener's answer.
func (w *world) send(t *testing.T, from, rcpt string, raw string) error {
	t.Helper()
	return smtp.SendMail(w.addr, nil, from, []string{rcpt}, []byte(strings.ReplaceAll(raw, "\n", "\r\n")))
}

func (w *world) mustSend(t *testing.T, from, rcpt, raw string) {
	t.Helper()
	if err := w.send(t, from, rcpt, raw); err != nil {
		t.Fatalf("send to %s: %v", rcpt, err)
	}
}

func (w *world) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := w.db.Owner.QueryRow(testenv.Context(t), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (w *world) messages(t *testing.T, tenantID, contactID uuid.UUID) []conversation.Message {
	t.Helper()
	ms, err := w.convs.List(testenv.Context(t), tenantID, contactID)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// smtpCode is the reply code of a refused send.
func smtpCode(err error) int {
	var code int
	if err == nil {
		return 250
	}
	s := err.Error()
	if len(s) >= 3 {
		for _, r := range s[:3] {
			code = code*10 + int(r-'0')
		}
	}
	return code
}

// sink is the test's own SMTP server: it records every message the
// product's relay hands it.
