package seats

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/cic-platform/cic/infra/testenv"
)

// raceDuration is how long the race runs; CIC_SEAT_RACE may shorten it
// while working on this file (e.g. CIC_SEAT_RACE=5s).
func raceDuration(t *testing.T, def time.Duration) time.Duration {
	if v := os.Getenv("CIC_SEAT_RACE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CIC_SEAT_RACE: %v", err)
		}
		return d
	}
	return def
}

// raceWorld is 1,000 users of one tenant contending for 20 seats, 4 of
// them reserved for the support department.
type raceWorld struct {
	l       *Leases
	rdb     *redis.Client
	tenant  uuid.UUID
	pool    Pool
	support uuid.UUID
	sales   uuid.UUID
	users   []Request
}

const (
	raceUsers   = 1000
	raceSeats   = 20
	raceReserve = 4
	raceWorkers = 50
	raceKeepers = 3
)

func newRaceWorld(rdb *redis.Client) *raceWorld {
	w := &raceWorld{l: NewLeases(rdb, "race:"), rdb: rdb, tenant: uuid.New(), support: uuid.New(), sales: uuid.New()}
	// Short leases, so that abandoned ones expire and are reclaimed many
	// times within the run.
	w.l.TTL = 3 * time.Second
	w.pool = Pool{Limit: raceSeats, Reserved: map[uuid.UUID]int{w.support: raceReserve}}
	for i := range raceUsers {
		r := Request{TenantID: w.tenant, UserID: uuid.New(), Workstation: fmt.Sprintf("ws-%d", i), IP: "10.0.0.1"}
		switch i % 3 {
		case 0:
			r.DepartmentID = &w.support
		case 1:
			r.DepartmentID = &w.sales
		}
		w.users = append(w.users, r)
	}
	return w
}

// observe samples the pool until ctx ends and reports the first
// violation: more holders than seats, or others sitting in the support
// department's reserved seats.
func (w *raceWorld) observe(ctx context.Context, samples *atomic.Int64) error {
	_, keys := w.l.keys(w.tenant)
	for ctx.Err() == nil {
		n, err := w.rdb.ZCard(ctx, keys[0]).Result()
		if err != nil {
			continue // Redis is down: nothing to count
		}
		if n > raceSeats {
			return fmt.Errorf("%d leases recorded, limit %d", n, raceSeats)
		}
		held, err := w.l.List(ctx, w.tenant)
		if err != nil {
			continue
		}
		if len(held) > raceSeats {
			return fmt.Errorf("%d live holders, limit %d", len(held), raceSeats)
		}
		others := 0
		for _, h := range held {
			if h.DepartmentID == nil || *h.DepartmentID != w.support {
				others++
			}
		}
		if others > raceSeats-raceReserve {
			return fmt.Errorf("%d holders outside support, but %d of %d seats are reserved for it", others, raceReserve, raceSeats)
		}
		samples.Add(1)
	}
	return nil
}

// keep holds a lease and heartbeats it every TTL/6 until ctx ends, as the
// agent pages do. lost counts heartbeats that found the lease gone;
// reacquire says whether to take a seat again then (after Redis lost
// everything) or to count it as a failure.
func (w *raceWorld) keep(ctx context.Context, r Request, lost *atomic.Int64, reacquire bool) error {
	g, err := w.l.Acquire(ctx, r, w.pool)
	for err != nil && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		g, err = w.l.Acquire(ctx, r, w.pool)
	}
	id := g.ID
	tick := time.NewTicker(w.l.TTL / 6)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		_, err := w.l.Renew(ctx, w.tenant, id, r.UserID)
		var gone *Gone
		switch {
		case err == nil || ctx.Err() != nil || errors.Is(err, ErrUnavailable):
		case errors.As(err, &gone) && reacquire:
			lost.Add(1)
			again := r
			again.Resume = true
			if g, err := w.l.Acquire(ctx, again, w.pool); err == nil {
				id = g.ID
			}
		default:
			lost.Add(1)
			return fmt.Errorf("keeper %s lost its lease: %w", r.Workstation, err)
		}
	}
}

// churn is one of the 50 goroutines: log a random user in, heartbeat a
// few times, then log out or walk away (the lease then expires).
func (w *raceWorld) churn(ctx context.Context, rng *rand.Rand, from, to int, stats *raceStats) {
	for ctx.Err() == nil {
		r := w.users[from+rng.IntN(to-from)]
		g, err := w.l.Acquire(ctx, r, w.pool)
		if err != nil {
			stats.refused.Add(1)
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
			continue
		}
		stats.granted.Add(1)
		for range rng.IntN(4) {
			time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
			if _, err := w.l.Renew(ctx, w.tenant, g.ID, r.UserID); err == nil {
				stats.renewed.Add(1)
			}
		}
		if rng.IntN(4) > 0 {
			if err := w.l.Release(ctx, w.tenant, g.ID, r.UserID); err == nil {
				stats.released.Add(1)
			}
		}
	}
}

type raceStats struct{ granted, refused, renewed, released atomic.Int64 }

// run starts the observer, raceKeepers keepers (users 0..raceKeepers-1,
// outside the churners' range) and raceWorkers churners for d, calling
// during(ctx) meanwhile; it returns the first error.
func (w *raceWorld) run(t *testing.T, d time.Duration, reacquire bool, during func(context.Context)) (*raceStats, int64, int64) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	var samples, lost atomic.Int64
	stats := &raceStats{}
	errs := make(chan error, raceKeepers+1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.observe(ctx, &samples); err != nil {
			errs <- err
			cancel()
		}
	}()
	for i := range raceKeepers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.keep(ctx, w.users[i], &lost, reacquire); err != nil {
				errs <- err
			}
		}()
	}
	// Keepers take their seats before the crowd arrives.
	time.Sleep(200 * time.Millisecond)
	for i := range raceWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.churn(ctx, rand.New(rand.NewPCG(uint64(i), 7)), raceKeepers, raceUsers, stats)
		}()
	}
	if during != nil {
		during(ctx)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	return stats, samples.Load(), lost.Load()
}

// TestLeaseRace: 1,000 users, 20 seats, 50 goroutines logging in,
// heartbeating and logging out at random for 30 s; an independent
// observer never sees more than 20 holders or the support reservation
// taken by others, and holders that keep heartbeating never lose their
// lease.
func TestLeaseRace(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s race; run without -short")
	}
	p := testenv.StartRedis(t)
	w := newRaceWorld(p.Client())
	stats, samples, lost := w.run(t, raceDuration(t, 30*time.Second), false, nil)
	t.Logf("granted %d, refused %d, renewed %d, released %d; observer samples %d; keepers lost %d",
		stats.granted.Load(), stats.refused.Load(), stats.renewed.Load(), stats.released.Load(), samples, lost)
	if stats.granted.Load() < 100 || stats.refused.Load() == 0 || samples < 100 {
		t.Errorf("too little contention to mean anything: granted %d, refused %d, samples %d",
			stats.granted.Load(), stats.refused.Load(), samples)
	}
	if lost != 0 {
		t.Errorf("keepers lost their lease %d times", lost)
	}
}

// TestLeaseRace_RedisLoss runs the same crowd while Redis is flushed
// (FLUSHALL) and later killed and restarted empty: the pool never holds
// more than its seats, and the keepers get a seat again on their next
// heartbeat.
func TestLeaseRace_RedisLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("race with Redis restarts; run without -short")
	}
	p := testenv.StartRedis(t)
	w := newRaceWorld(p.Client())
	d := raceDuration(t, 15*time.Second)
	var flushed, restarted atomic.Bool
	stats, samples, lost := w.run(t, d, true, func(ctx context.Context) {
		time.Sleep(d / 3)
		if err := w.rdb.FlushAll(ctx).Err(); err != nil {
			t.Errorf("flushall: %v", err)
			return
		}
		flushed.Store(true)
		time.Sleep(d / 3)
		p.Restart()
		restarted.Store(true)
	})
	t.Logf("granted %d, refused %d; observer samples %d; keeper re-acquisitions %d", stats.granted.Load(), stats.refused.Load(), samples, lost)
	if !flushed.Load() || !restarted.Load() {
		t.Fatal("Redis was not flushed and restarted during the run")
	}
	if lost < raceKeepers {
		t.Errorf("keepers noticed losing their lease %d times, want at least %d (Redis was emptied)", lost, raceKeepers)
	}
	// After the storm, every keeper holds a seat again.
	held, err := w.l.List(context.Background(), w.tenant)
	if err != nil {
		t.Fatal(err)
	}
	have := map[uuid.UUID]bool{}
	for _, h := range held {
		have[h.UserID] = true
	}
	for i := range raceKeepers {
		if !have[w.users[i].UserID] {
			t.Errorf("keeper %d holds no seat after Redis came back", i)
		}
	}
}
