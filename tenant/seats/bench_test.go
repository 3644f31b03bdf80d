package seats

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/cic-platform/cic/infra/testenv"
)

// The shape of BenchmarkSeats: 50 concurrent clients, as the issue asks,
// over 100 tenants that each reserve seats for two departments (so the
// acquire script walks its reservation loop), with a limit far above the
// workload so that every acquire is granted and measures the full path.
const (
	benchClients = 50
	benchTenants = 100
	// benchHeld is how many leases each client heartbeats in renew: 1,000
	// agents at their desks.
	benchHeld = 20
)

// benchPool is the pool of one benchmark tenant.
type benchPool struct {
	id   uuid.UUID
	dept [2]uuid.UUID
	pool Pool
}

// BenchmarkSeats is the cost of a seat lease against the raw speed of the
// Redis it lives in, measured in the same run on the same client:
//
//   - baseline: EVALSHA of the trivial script `return 1` (redis.Script.Run,
//     as the lease scripts run): one round trip, no work;
//   - acquire: a new user takes a seat (Leases.Acquire);
//   - renew: a heartbeat of one of 1,000 held leases (Leases.Renew);
//   - release: a logout, of a lease taken before the clock started
//     (Leases.Release).
//
// Each runs on 50 goroutines at once, each with a connection of its own
// (PoolSize 50). One iteration is one call by every client, so every
// client makes exactly b.N calls and none idles while others finish;
// ns/op is thus the time of 50 calls. Reported per sub-benchmark: ops/s
// (calls per second over all clients) and p99-ms, the 99th percentile of
// one call's latency. The target: acquire, renew and release at
// least 0.6x the baseline's ops/s, p99 under 2 ms on loopback.
func BenchmarkSeats(b *testing.B) {
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		b.Fatal(err)
	}
	opt.PoolSize = benchClients
	opt.MinIdleConns = benchClients
	rdb := redis.NewClient(opt)
	prefix := testenv.Prefix()
	b.Cleanup(func() {
		testenv.DeleteKeys(b, rdb, prefix)
		rdb.Close()
	})
	l := NewLeases(rdb, prefix)
	tenants := make([]benchPool, benchTenants)
	for i := range tenants {
		t := benchPool{id: uuid.New(), dept: [2]uuid.UUID{uuid.New(), uuid.New()}}
		t.pool = Pool{Limit: 1 << 30, Reserved: map[uuid.UUID]int{t.dept[0]: 5, t.dept[1]: 3}}
		tenants[i] = t
	}
	// request is client c's i-th user: tenants round robin, a third in
	// each reserved department and a third in none.
	request := func(c, i int) (Request, Pool) {
		t := tenants[(c*7919+i)%benchTenants]
		r := Request{TenantID: t.id, UserID: uuid.New(), Workstation: fmt.Sprintf("ws-%d-%d", c, i), IP: "10.0.0.1"}
		if k := i % 3; k < 2 {
			r.DepartmentID = &t.dept[k]
		}
		return r, t.pool
	}
	// take acquires n leases for each client, concurrently, before the
	// clock starts.
	take := func(b *testing.B, n int) [][]Granted {
		held := make([][]Granted, benchClients)
		var wg sync.WaitGroup
		var failed atomic.Pointer[error]
		for c := range benchClients {
			wg.Go(func() {
				held[c] = make([]Granted, n)
				for i := range n {
					r, p := request(c, i)
					g, err := l.Acquire(context.Background(), r, p)
					if err != nil {
						failed.CompareAndSwap(nil, &err)
						return
					}
					held[c][i] = g
				}
			})
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			b.Fatalf("acquire before the run: %v", *err)
		}
		return held
	}

	trivial := redis.NewScript(`return 1`)
	b.Run("baseline", func(b *testing.B) {
		runClients(b, func(ctx context.Context, c, i int) error {
			key := prefix + "seat:{t:" + tenants[(c*7919+i)%benchTenants].id.String() + "}:holders"
			n, err := trivial.Run(ctx, rdb, []string{key}).Int()
			if err == nil && n != 1 {
				err = fmt.Errorf("trivial script returned %d", n)
			}
			return err
		})
	})
	b.Run("acquire", func(b *testing.B) {
		type call struct {
			r Request
			p Pool
		}
		calls := make([][]call, benchClients)
		for c := range calls {
			calls[c] = make([]call, b.N)
			for i := range b.N {
				r, p := request(c, i)
				calls[c][i] = call{r, p}
			}
		}
		runClients(b, func(ctx context.Context, c, i int) error {
			_, err := l.Acquire(ctx, calls[c][i].r, calls[c][i].p)
			return err
		})
	})
	b.Run("renew", func(b *testing.B) {
		held := take(b, benchHeld)
		runClients(b, func(ctx context.Context, c, i int) error {
			g := held[c][i%benchHeld]
			_, err := l.Renew(ctx, g.TenantID, g.ID, g.UserID)
			return err
		})
	})
	b.Run("release", func(b *testing.B) {
		held := take(b, b.N)
		runClients(b, func(ctx context.Context, c, i int) error {
			g := held[c][i]
			return l.Release(ctx, g.TenantID, g.ID, g.UserID)
		})
	})
}

// runClients calls op(ctx, c, i) for i from 0 to b.N-1 on each of
// benchClients goroutines at once, times every call, and reports ops/s
// and p99-ms. Only the calls are timed: whatever the caller prepared
// before is not.
func runClients(b *testing.B, op func(ctx context.Context, c, i int) error) {
	ctx := context.Background()
	lat := make([][]time.Duration, benchClients)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range benchClients {
		lat[c] = make([]time.Duration, 0, b.N)
		wg.Go(func() {
			<-start
			for i := range b.N {
				if failed.Load() != nil {
					return
				}
				t := time.Now()
				if err := op(ctx, c, i); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				lat[c] = append(lat[c], time.Since(t))
			}
		})
	}
	b.ResetTimer()
	began := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(began)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	all := slices.Concat(lat...)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(testenv.P99Millis(all), "p99-ms")
}
