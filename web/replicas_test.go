package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/web"
)

// replica is one more server process's worth of state on base's
// PostgreSQL and Redis: its own Meter (group-commit flushers), routing
// engine client and contacts service, sharing the routing keys (prefix).
func (ts *testServer) replica(t *testing.T, prefix string) *testServer {
	t.Helper()
	meter := metering.NewMeter(ts.Tenants.DB)
	meter.Start()
	t.Cleanup(meter.Close)
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st := &setup.Service{DB: ts.Tenants.DB}
	cs := contacts.New(ts.Tenants.DB, routing.New(ts.Rdb, prefix), st, meter, quiet)
	st.OnChange = cs.SetupChanged
	srv, err := web.New(web.Config{Tenants: ts.Tenants, Pool: ts.DB.App, Redis: ts.Rdb, PublicURL: "http://cic.test",
		RedisPrefix: testenv.Prefix(), Meter: meter, Seats: ts.Seats, Setup: st, Contacts: cs, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Server: srv, Tenants: ts.Tenants, DB: ts.DB, Rdb: ts.Rdb, Meter: meter, Seats: ts.Seats}
}

// TestReplicas_RouteConsistently: three servers share PostgreSQL and
// Redis; 24 agents (capacity 2 chats) take, reject and finish 240
// contacts opened on any of them, all at once. An observer reading the
// engine's atomic snapshots never sees a contact with two agents or an
// agent over capacity, and in the end every accepted contact is metered
// exactly once.
func TestReplicas_RouteConsistently(t *testing.T) {
	if testing.Short() {
		t.Skip("replicas race; run without -short")
	}
	base := newServer(t)
	prefix := testenv.Prefix()
	servers := []*testServer{base.replica(t, prefix), base.replica(t, prefix), base.replica(t, prefix)}
	owner := base.signup(t, "acme")
	// Enough seats for every agent.
	if _, err := base.DB.Owner.Exec(t.Context(), `UPDATE seat_grants SET seats = 100 WHERE tenant_id = $1`, owner.TenantID); err != nil {
		t.Fatal(err)
	}
	key, _ := base.apiKey(t, owner, "PBX")
	queue := servers[0].call(t, "POST", "/api/v1/queues", owner.Token, map[string]any{"name": "Support", "channels": []string{"chat"}, "offer_timeout_seconds": 5}).mustStatus(t, http.StatusCreated).str("id")
	servers[1].call(t, "PUT", "/api/v1/dispositions/solved", owner.Token, map[string]any{"label": "Solved"}).mustStatus(t, http.StatusOK)

	const nAgents, nContacts, capacity = 24, 240, 2
	agents := make([]company, nAgents)
	for i := range agents {
		a := base.createUser(t, owner, fmt.Sprintf("agent%d@acme.example", i), "agent")
		servers[i%3].call(t, "PUT", "/api/v1/agents/"+a.UserID.String()+"/routing", owner.Token, map[string]any{"capacity": map[string]int{"chat": capacity}}).mustStatus(t, http.StatusOK)
		lease := servers[i%3].lease(t, a, "desk").mustStatus(t, http.StatusCreated).str("lease_id")
		req := jsonRequest(t, "PUT", "/api/v1/agent/status", map[string]any{"status": "available"})
		req.Header.Set("Authorization", "Bearer "+a.Token)
		req.Header.Set("X-Seat-Lease", lease)
		servers[(i+1)%3].do(t, req).mustStatus(t, http.StatusOK)
		agents[i] = a
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	engine := routing.New(base.Rdb, prefix)
	var violations []string
	var vmu sync.Mutex
	var samples atomic.Int64
	observerDone := make(chan struct{})
	go func() {
		defer close(observerDone)
		for ctx.Err() == nil {
			snap, err := engine.Snapshot(ctx, owner.TenantID)
			if err != nil {
				continue
			}
			samples.Add(1)
			held := map[string]string{}
			for _, a := range snap.Agents {
				if a.Load[routing.Chat] > capacity {
					vmu.Lock()
					violations = append(violations, fmt.Sprintf("agent %s holds %d chats, capacity %d", a.ID, a.Load[routing.Chat], capacity))
					vmu.Unlock()
				}
				for _, c := range a.Holding {
					if other, dup := held[c]; dup {
						vmu.Lock()
						violations = append(violations, fmt.Sprintf("contact %s held by %s and %s", c, other, a.ID))
						vmu.Unlock()
					}
					held[c] = a.ID
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	// Contacts arrive on any server.
	var opened sync.WaitGroup
	var openErrs atomic.Int64
	for i := range nContacts {
		opened.Add(1)
		go func() {
			defer opened.Done()
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Millisecond)
			a := servers[i%3].call(t, "POST", "/api/v1/contacts", key, map[string]any{"queue_id": queue, "channel": "chat"})
			if a.Status != http.StatusCreated {
				openErrs.Add(1)
			}
		}()
	}
	// Agents work on any server: accept (sometimes reject) what is
	// offered, then wrap up and close.
	var closed atomic.Int64
	var work sync.WaitGroup
	for i, a := range agents {
		work.Add(1)
		go func() {
			defer work.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for ctx.Err() == nil && closed.Load() < nContacts {
				srv := servers[rng.IntN(3)]
				list := srv.call(t, "GET", "/api/v1/contacts?state=offered", a.Token, nil)
				items, _ := list.JSON["contacts"].([]any)
				if len(items) == 0 {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				id := items[0].(map[string]any)["id"].(string)
				srv = servers[rng.IntN(3)]
				if rng.IntN(8) == 0 {
					srv.call(t, "POST", "/api/v1/contacts/"+id+"/reject", a.Token, nil)
					continue
				}
				if r := srv.call(t, "POST", "/api/v1/contacts/"+id+"/accept", a.Token, nil); r.Status != http.StatusOK {
					continue // the offer timed out or moved on meanwhile
				}
				time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
				servers[rng.IntN(3)].call(t, "POST", "/api/v1/contacts/"+id+"/wrapup", a.Token, map[string]any{"disposition": "solved"}).mustStatus(t, http.StatusNoContent)
				servers[rng.IntN(3)].call(t, "POST", "/api/v1/contacts/"+id+"/close", a.Token, nil).mustStatus(t, http.StatusNoContent)
				closed.Add(1)
			}
		}()
	}
	opened.Wait()
	work.Wait()
	cancel()
	<-observerDone

	for _, v := range violations {
		t.Error(v)
	}
	if openErrs.Load() != 0 {
		t.Errorf("%d contacts could not be opened", openErrs.Load())
	}
	if closed.Load() != nContacts {
		t.Fatalf("%d of %d contacts were handled before the deadline", closed.Load(), nContacts)
	}
	var accepted, metered, recordsForOthers int
	err := base.DB.Owner.QueryRow(t.Context(), `SELECT
			(SELECT count(*) FROM contacts WHERE tenant_id = $1 AND accepted_at IS NOT NULL),
			(SELECT count(*) FROM meter_records m WHERE m.tenant_id = $1
				AND EXISTS (SELECT 1 FROM contacts c WHERE c.tenant_id = $1 AND c.id::text = m.contact_id AND c.accepted_at IS NOT NULL)),
			(SELECT count(*) FROM meter_records m WHERE m.tenant_id = $1
				AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.tenant_id = $1 AND c.id::text = m.contact_id AND c.accepted_at IS NOT NULL))`,
		owner.TenantID).Scan(&accepted, &metered, &recordsForOthers)
	if err != nil {
		t.Fatal(err)
	}
	if accepted != nContacts || metered != nContacts || recordsForOthers != 0 {
		t.Errorf("accepted %d, metered %d, meter records without an accepted contact %d; want %d, %d, 0",
			accepted, metered, recordsForOthers, nContacts, nContacts)
	}
	if samples.Load() < 20 {
		t.Errorf("the observer took only %d snapshots", samples.Load())
	}
	t.Logf("%d contacts over 3 servers, %d observer snapshots", nContacts, samples.Load())
}
