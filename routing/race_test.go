package routing

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/testenv"
)

// raceDuration is how long TestEngine_InvariantsUnderRace hammers;
// CIC_ROUTING_RACE changes it (e.g. CIC_ROUTING_RACE=30s).
func raceDuration(t *testing.T) time.Duration {
	if v := os.Getenv("CIC_ROUTING_RACE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CIC_ROUTING_RACE: %v", err)
		}
		return d
	}
	if testing.Short() {
		return 2 * time.Second
	}
	return 8 * time.Second
}

const (
	raceWorkers = 24
	raceAgents  = 40
)

// raceWorld is one tenant hammered by many goroutines, as many server
// replicas would: each learns of offers only from the changes its own
// calls return, and acts on what it learnt, often late.
type raceWorld struct {
	e      *Engine
	tenant uuid.UUID
	mu     sync.Mutex
	// offered is what the workers were told is reserved: contact -> agent.
	offered map[string]string
	// assigned is what they accepted: contact -> agent.
	assigned map[string]string
	// firsts counts Accept's first=true per contact, accepts the successes.
	firsts, accepts map[string]int
	ids             atomic.Int64
	calls           atomic.Int64
}

func (w *raceWorld) learn(ch Changes) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ev := range ch.Events {
		if ev.Kind == Offered {
			w.offered[ev.Contact] = ev.Agent
		}
	}
}

// any returns a random entry of m (under w.mu).
func anyOf(rng *rand.Rand, m map[string]string) (string, string, bool) {
	if len(m) == 0 {
		return "", "", false
	}
	n := rng.IntN(len(m))
	for k, v := range m {
		if n == 0 {
			return k, v, true
		}
		n--
	}
	return "", "", false
}

func (w *raceWorld) take(rng *rand.Rand, m map[string]string) (string, string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, a, ok := anyOf(rng, m)
	if ok {
		delete(m, c)
	}
	return c, a, ok
}

// expected is a refusal that a stale view may earn; anything else fails.
func expected(err error) bool {
	switch cic.ErrorKind(err) {
	case cic.ECONFLICT, cic.ENOTFOUND:
		return true
	}
	e, ok := cic.AsError(err)
	return ok && e.Code == "same_agent"
}

func (w *raceWorld) accept(ctx context.Context, c, a string) error {
	first, ch, err := w.e.Accept(ctx, w.tenant, c, a, time.Now())
	w.learn(ch)
	w.calls.Add(1)
	if err != nil {
		if expected(err) || ctx.Err() != nil {
			return nil // a stale view, or the run ended mid-call
		}
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.accepts[c]++
	if first {
		w.firsts[c]++
	}
	w.assigned[c] = a
	return nil
}

func (w *raceWorld) work(ctx context.Context, rng *rand.Rand) error {
	queues := []string{"sales", "support", "billing", "vip", "tech"}
	for ctx.Err() == nil {
		now := time.Now()
		var ch Changes
		var err error
		switch r := rng.IntN(100); {
		case r < 30:
			id := fmt.Sprintf("c%06d", w.ids.Add(1))
			ch, err = w.e.Enqueue(ctx, w.tenant, Contact{ID: id, Queue: queues[rng.IntN(len(queues))],
				Channel: []Channel{Chat, Email, Call}[rng.IntN(3)], Priority: rng.IntN(3)}, now)
		case r < 55:
			c, a, ok := w.take(rng, w.offered)
			if !ok {
				continue
			}
			if rng.IntN(4) == 0 {
				// The same click arriving through two replicas at once.
				var wg sync.WaitGroup
				errs := make([]error, 2)
				for i := range 2 {
					wg.Go(func() { errs[i] = w.accept(ctx, c, a) })
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					return err
				}
				continue
			}
			if err := w.accept(ctx, c, a); err != nil {
				return err
			}
			continue
		case r < 62:
			c, a, ok := w.take(rng, w.offered)
			if !ok {
				continue
			}
			ch, err = w.e.Reject(ctx, w.tenant, c, a, now)
		case r < 80:
			c, a, ok := w.take(rng, w.assigned)
			if !ok {
				continue
			}
			ch, err = w.e.Finish(ctx, w.tenant, c, a, now)
		case r < 85:
			c := fmt.Sprintf("c%06d", 1+rng.Int64N(max(1, w.ids.Load())))
			_, ch, err = w.e.Abandon(ctx, w.tenant, c, now)
		case r < 90:
			c := fmt.Sprintf("c%06d", 1+rng.Int64N(max(1, w.ids.Load())))
			to := Target{Queue: queues[rng.IntN(len(queues))]}
			if rng.IntN(2) == 0 {
				to = Target{Agent: fmt.Sprintf("ag%02d", rng.IntN(raceAgents))}
			}
			ch, err = w.e.Transfer(ctx, w.tenant, c, to, now)
		case r < 96:
			st := []Status{Available, Available, Away, Offline}[rng.IntN(4)]
			ch, err = w.e.SetStatus(ctx, w.tenant, fmt.Sprintf("ag%02d", rng.IntN(raceAgents)), st, now)
		default:
			ch, err = w.e.Tick(ctx, w.tenant, now)
		}
		w.calls.Add(1)
		w.learn(ch)
		if err != nil && !expected(err) && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

// check is the observer's test of one atomic snapshot.
func check(s Snapshot) error {
	byID := map[string]ContactState{}
	for _, c := range s.Contacts {
		byID[c.ID] = c
		if (c.Status == Waiting) != (c.Agent == "") {
			return fmt.Errorf("contact %s is %s with agent %q", c.ID, c.Status, c.Agent)
		}
	}
	seen := map[string]string{}
	for _, a := range s.Agents {
		count := map[Channel]int{}
		for _, id := range a.Holding {
			if other, ok := seen[id]; ok {
				return fmt.Errorf("contact %s held by agents %s and %s", id, other, a.ID)
			}
			seen[id] = a.ID
			c, ok := byID[id]
			if !ok || c.Agent != a.ID {
				return fmt.Errorf("agent %s holds contact %s, which is with %q", a.ID, id, c.Agent)
			}
			count[c.Channel]++
		}
		for _, ch := range Channels {
			if a.Load[ch] != count[ch] {
				return fmt.Errorf("agent %s: load %d on %s but holds %d", a.ID, a.Load[ch], ch, count[ch])
			}
			if a.Load[ch] > a.Capacity[ch] {
				return fmt.Errorf("agent %s over capacity on %s: %d of %d", a.ID, ch, a.Load[ch], a.Capacity[ch])
			}
		}
	}
	for _, c := range s.Contacts {
		if c.Status != Waiting && seen[c.ID] != c.Agent {
			return fmt.Errorf("contact %s is %s to %s, who does not hold it", c.ID, c.Status, c.Agent)
		}
	}
	return nil
}

// TestEngine_InvariantsUnderRace: 24 goroutines enqueue, accept (a quarter
// of the accepts twice at once), reject, finish, abandon, transfer and
// change statuses on one tenant with 40 agents and 300 ms offers, while an
// observer checks every atomic snapshot: no contact with two agents, no
// agent over capacity, loads equal to what agents hold. Afterwards: each
// accepted contact had exactly one first accept.
func TestEngine_InvariantsUnderRace(t *testing.T) {
	e := New(testenv.NewRedis(t), testenv.Prefix())
	w := &raceWorld{e: e, tenant: uuid.New(), offered: map[string]string{}, assigned: map[string]string{},
		firsts: map[string]int{}, accepts: map[string]int{}}
	ctx := context.Background()
	now := time.Now()
	skills := []string{"en", "de", "billing", "tech"}
	for i, q := range []string{"sales", "support", "billing", "vip", "tech"} {
		_, err := e.ConfigureQueue(ctx, w.tenant, Queue{ID: q, Channels: []Channel{Chat, Email, Call},
			Skills: map[string]int{skills[i%4]: 1 + i%3}, Strategy: strategies[i%4], OfferTimeout: 300 * time.Millisecond,
			RelaxAfter: time.Second, MaxMisses: 3, Priority: i % 2}, now)
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range raceAgents {
		id := fmt.Sprintf("ag%02d", i)
		a := Agent{ID: id, Skills: map[string]int{skills[i%4]: 1 + i%10, skills[(i+1)%4]: 5},
			Capacity: map[Channel]int{Chat: i % 4, Email: i % 3, Call: i % 2}}
		if _, err := e.ConfigureAgent(ctx, w.tenant, a, now); err != nil {
			t.Fatal(err)
		}
		if _, err := e.SetStatus(ctx, w.tenant, id, Available, now); err != nil {
			t.Fatal(err)
		}
	}

	run, cancel := context.WithTimeout(ctx, raceDuration(t))
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, raceWorkers+1)
	var samples atomic.Int64
	wg.Go(func() {
		for run.Err() == nil {
			s, err := e.Snapshot(ctx, w.tenant)
			if err == nil {
				err = check(s)
			}
			if err != nil {
				errs <- err
				cancel()
				return
			}
			samples.Add(1)
		}
	})
	for i := range raceWorkers {
		wg.Go(func() {
			if err := w.work(run, rand.New(rand.NewPCG(uint64(i), 11))); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, err := e.Snapshot(ctx, w.tenant)
	if err != nil {
		t.Fatal(err)
	}
	if err := check(s); err != nil {
		t.Error(err)
	}
	if err := auditIndexes(ctx, e, w.tenant, s); err != nil {
		t.Error(err)
	}
	accepted, twice := 0, 0
	for c, n := range w.accepts {
		accepted++
		if n > 1 {
			twice++
		}
		if w.firsts[c] != 1 {
			t.Errorf("contact %s: accepted %d times, first-accept %d times, want once", c, n, w.firsts[c])
		}
	}
	t.Logf("%d calls, %d contacts, %d accepted (%d more than once: transfers, re-offers), %d snapshots checked",
		w.calls.Load(), w.ids.Load(), accepted, twice, samples.Load())
	if accepted < 100 || samples.Load() < 20 {
		t.Errorf("too little happened to mean anything: %d accepted, %d snapshots", accepted, samples.Load())
	}
}

// auditIndexes checks, on a quiet tenant, that every agent index holds
// exactly the agents the rules make eligible and every waiting zset
// exactly the waiting contacts.
func auditIndexes(ctx context.Context, e *Engine, tenant uuid.UUID, s Snapshot) error {
	p, _ := e.keys(tenant)
	queues, err := e.rdb.SMembers(ctx, p+"queues").Result()
	if err != nil {
		return err
	}
	for _, ch := range Channels {
		var want []string
		for _, a := range s.Agents {
			if a.Status == Available && a.Capacity[ch] > a.Load[ch] {
				want = append(want, a.ID)
			}
		}
		got, err := e.rdb.ZRange(ctx, p+"pool:"+string(ch), 0, -1).Result()
		if err != nil {
			return err
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("pool %s holds %v, want %v", ch, got, want)
		}
		for _, q := range queues {
			idx, err := e.rdb.ZRange(ctx, p+"i:"+q+":"+string(ch), 0, -1).Result()
			if err != nil {
				return err
			}
			for _, id := range idx {
				if !slices.Contains(want, id) {
					return fmt.Errorf("index %s/%s holds %s, who has no room", q, ch, id)
				}
			}
			var waiting []string
			for _, c := range s.Contacts {
				if c.Status == Waiting && c.Queue == q && c.Channel == ch {
					waiting = append(waiting, c.ID)
				}
			}
			var filed []string
			for _, pre := range []string{"w:", "r:"} {
				ms, err := e.rdb.ZRange(ctx, p+pre+q+":"+string(ch), 0, -1).Result()
				if err != nil {
					return err
				}
				for _, m := range ms {
					filed = append(filed, m[16:])
				}
			}
			slices.Sort(waiting)
			slices.Sort(filed)
			if !slices.Equal(waiting, filed) {
				return fmt.Errorf("queue %s/%s files %v, waiting are %v", q, ch, filed, waiting)
			}
		}
	}
	return nil
}
