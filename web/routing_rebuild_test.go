package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

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

// TestChat_VisitorWaitingSurvivesRedisFlush: a chat visitor waits while
// the only agent handles another chat; Redis loses everything (FLUSHALL:
// routing, seat leases, all of it). The running ticker rebuilds routing
// from PostgreSQL, the agent's desk heartbeat takes the seat again and
// puts the agent back as available, and when the agent wraps up the
// first chat the waiting visitor's contact is offered to them; the
// visitor, on the socket they had, sees the agent accept and the two
// talk.
func TestChat_VisitorWaitingSurvivesRedisFlush(t *testing.T) {
	db := testenv.NewDB(t)
	rp := testenv.StartRedis(t) // ours to flush
	rdb := rp.Client()
	prefix := "cic:"
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc := tenant.NewService(&tenant.DB{Pool: db.App}, tenant.GenerateKeys(), tenant.NewLimiter(rdb, prefix, tenant.Limits{}))
	svc.Password = tenant.FastPasswordParams
	svc.OnSignup = []tenant.SignupHook{metering.TrialHook(metering.DefaultTrial), seats.TrialHook(seats.DefaultTrial)}
	meter := metering.NewMeter(svc.DB)
	meter.Start()
	t.Cleanup(meter.Close)
	leases := seats.NewLeases(rdb, prefix)
	seatSvc := seats.NewService(svc.DB, leases, nil)
	st := &setup.Service{DB: svc.DB}
	cs := contacts.New(svc.DB, routing.New(rdb, prefix), st, meter, log)
	st.OnChange = cs.SetupChanged
	ch := chat.New(svc.DB, cs, st, rdb, prefix, log)
	cs.Notify = ch.ContactChanged
	t.Cleanup(ch.Close)
	holders := func(ctx context.Context, tenantID uuid.UUID) (map[uuid.UUID]bool, error) {
		ls, err := leases.List(ctx, tenantID)
		m := map[uuid.UUID]bool{}
		for _, l := range ls {
			m[l.UserID] = true
		}
		return m, err
	}
	cs.Seated = holders
	srv, err := web.New(web.Config{Tenants: svc, Pool: db.App, Redis: rdb, PublicURL: "http://cic.test", RedisPrefix: prefix, BodyLimit: 64 << 10,
		Meter: meter, Seats: seatSvc, Setup: st, Contacts: cs, Chat: ch, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, Tenants: svc, DB: db, Rdb: rdb, Meter: meter, Seats: seatSvc, Setup: st, Contacts: cs}
	base := ts.listen(t)
	tk := &contacts.Ticker{Contacts: cs, Holders: holders, Interval: 100 * time.Millisecond}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tk.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })

	rc := ts.routed(t, "acme", 1)
	agent := rc.agents[0]
	key, _ := ts.widget(t, rc, site)
	first := ts.startChat(t, key, site, map[string]any{}).mustStatus(t, http.StatusCreated).str("contact_id")
	ts.call(t, "POST", "/api/v1/contacts/"+first+"/accept", agent.Token, nil).mustStatus(t, http.StatusOK)
	started := ts.startChat(t, key, site, map[string]any{"name": "Vera"}).mustStatus(t, http.StatusCreated)
	id, token := started.str("contact_id"), started.str("token")
	ts.waitState(t, rc.company, id, "queued")
	v := visitorSocket(t, base, token, 0)
	v.next(t, "hello")

	if err := rdb.FlushAll(testenv.Context(t)).Err(); err != nil {
		t.Fatal(err)
	}
	// The desk's next heartbeat finds its lease gone and takes a seat
	// again: the agent is back in routing as they were, available.
	hb := ts.heartbeat(t, agent, rc.leases[0]).mustStatus(t, http.StatusOK)
	if hb.JSON["reacquired"] != true {
		t.Fatalf("heartbeat after the flush: %s", hb.Body)
	}
	// The first chat, restored with the agent, still fills their one
	// chat: the visitor waits until it is wrapped up.
	time.Sleep(300 * time.Millisecond) // a few ticks: the rebuild has run
	if s := ts.call(t, "GET", "/api/v1/contacts/"+id, rc.Token, nil).str("state"); s != "queued" {
		t.Fatalf("waiting contact while the agent is busy: %s", s)
	}
	ts.call(t, "POST", "/api/v1/contacts/"+first+"/wrapup", agent.Token, map[string]any{"disposition": "solved"}).mustStatus(t, http.StatusNoContent)
	offered := ts.waitState(t, rc.company, id, "offered")
	if offered.str("agent_id") != agent.UserID.String() {
		t.Fatalf("offered to %s", offered.str("agent_id"))
	}
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/accept", agent.Token, nil).mustStatus(t, http.StatusOK)
	if f, _ := v.next(t, "state"); f["state"] != "accepted" {
		t.Fatalf("visitor got %v", f)
	}
	ag := agentSocket(t, base, agent)
	ag.next(t, "hello")
	v.send(t, map[string]any{"type": "send", "client_id": "v-1", "body": "Still here after the flush"})
	if f, _ := ag.next(t, "message"); true {
		if _, sender, body, _ := msg(f); sender != "visitor" || body != "Still here after the flush" {
			t.Fatalf("agent got %v", f)
		}
	}
}
