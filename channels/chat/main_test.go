package chat_test

import (
	"log/slog"
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/cic-platform/cic/channels/chat"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/contacts/contactstest"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
)

// world is one database and Redis prefix, as replicas share them; each
// replica (a chat.Service with its own hub) is made by replica().
type world struct {
	db       *testenv.DB
	rdb      *redis.Client
	prefix   string
	tenants  *tenant.Service
	setup    *setup.Service
	contacts *contacts.Service
	chat     *chat.Service
}

var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

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
	rdb := testenv.NewRedis(t)
	prefix := testenv.Prefix()
	w := &world{db: db, rdb: rdb, prefix: prefix, tenants: ts, setup: st,
		contacts: contacts.New(ts.DB, routing.New(rdb, prefix), st, m, quiet)}
	st.OnChange = w.contacts.SetupChanged
	w.chat = w.replica(t)
	return w
}

// replica is another server process's chat service: same stores, its
// own hub.
func (w *world) replica(t *testing.T) *chat.Service {
	s := chat.New(w.tenants.DB, w.contacts, w.setup, w.rdb, w.prefix, quiet)
	s.IdentityKey = w.tenants.Keys.Derive(chat.IdentityPurpose)
	t.Cleanup(s.Close)
	return s
}

const site = "https://shop.example"

type company struct {
	owner  tenant.Principal
	agents []tenant.Principal
	queue  setup.Queue
	widget chat.Widget
}

// company signs up a tenant with a chat queue, a widget for site on it
// and n agents available for three chats each.
func (w *world) company(t *testing.T, slug string, n int) company {
	t.Helper()
	c := testenv.Context(t)
	co := contactstest.New(t, c, w.tenants, w.setup, w.contacts, slug, n, 3)
	wd, err := w.chat.CreateWidget(c, co.Owner.Actor, chat.WidgetInput{QueueID: co.Queue.ID, AllowedOrigins: []string{site}, Greeting: "Hi!"})
	if err != nil {
		t.Fatal(err)
	}
	return company{owner: co.Owner, agents: co.Agents, queue: co.Queue, widget: wd}
}

// start opens a chat from site and authenticates its visitor.
func (w *world) start(t *testing.T, co company) chat.Visitor {
	t.Helper()
	c := testenv.Context(t)
	st, err := w.chat.Start(c, co.widget.Key, site, "192.0.2.1", chat.StartInput{VisitorID: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.chat.Authenticate(c, st.Token, site)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (w *world) contactCount(t *testing.T, tenantID uuid.UUID) int {
	t.Helper()
	var n int
	if err := w.db.Owner.QueryRow(testenv.Context(t), `SELECT count(*) FROM contacts WHERE tenant_id = $1`, tenantID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (w *world) state(t *testing.T, tenantID, id uuid.UUID) string {
	t.Helper()
	var st string
	if err := w.db.Owner.QueryRow(testenv.Context(t), `SELECT state FROM contacts WHERE tenant_id = $1 AND id = $2`, tenantID, id).Scan(&st); err != nil {
		t.Fatal(err)
	}
	return st
}
