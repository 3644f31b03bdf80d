package routing

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/infra/testenv"
)

// equivalenceSeeds is how many random histories TestEngine_MatchesModel
// replays; CIC_ROUTING_SEEDS changes it (more when working on the rules).
func equivalenceSeeds(t *testing.T) int {
	if v := os.Getenv("CIC_ROUTING_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("CIC_ROUTING_SEEDS: %v", err)
		}
		return n
	}
	if testing.Short() {
		return 10
	}
	return 60
}

const equivalenceSteps = 400

// TestEngine_MatchesModel replays seeded random histories (arrivals,
// accepts, rejects, timeouts, status changes, transfers, abandons,
// finishes, queue and agent changes, refused calls) on the Lua engine and
// on the reference model: after every step both must have made the same
// changes in the same order, refused the same way, and hold the same
// state. Time moves in whole seconds, often not at all, so ties in
// idle-since and enqueue time are common and the tie-breaks are tested.
func TestEngine_MatchesModel(t *testing.T) {
	e := New(testenv.NewRedis(t), testenv.Prefix())
	for seed := range equivalenceSeeds(t) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			h := newHistory(t, e, uint64(seed))
			for step := range equivalenceSteps {
				h.step(step)
				if t.Failed() {
					t.Logf("replay: CIC_ROUTING_SEEDS=%d go test -run 'TestEngine_MatchesModel/seed=%d$' ./routing/", seed+1, seed)
					return
				}
			}
			t.Logf("%v", h.stats)
		})
	}
}

// history is one random sequence applied to both.
type history struct {
	t      *testing.T
	ctx    context.Context
	e      *Engine
	m      *model
	tenant uuid.UUID
	rng    *rand.Rand
	now    time.Time
	next   int
	stats  map[string]int
}

var (
	testQueues   = []string{"q0", "q1", "q2", "q3"}
	testAgents   = []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"}
	testSkills   = []string{"en", "de", "tech", "vip"}
	testChannels = []Channel{Chat, Email, Call}
	strategies   = []Strategy{LongestIdle, BestSkill, RoundRobin, LeastOccupied}
	statuses     = []Status{Available, Available, Available, Away, Offline, Busy}
)

func newHistory(t *testing.T, e *Engine, seed uint64) *history {
	h := &history{t: t, ctx: context.Background(), e: e, m: newModel(), tenant: uuid.New(),
		rng: rand.New(rand.NewPCG(seed, 0x5eed)), now: time.UnixMilli(1_700_000_000_000), stats: map[string]int{}}
	for _, id := range testQueues {
		h.configureQueue(h.randQueue(id))
	}
	for _, a := range testAgents {
		h.configureAgent(a)
		h.setStatus(a, Available)
	}
	return h
}

func (h *history) pickOne(list []string) string { return list[h.rng.IntN(len(list))] }

func (h *history) randQueue(id string) Queue {
	q := Queue{ID: id, Priority: h.rng.IntN(4) - 1, Strategy: strategies[h.rng.IntN(len(strategies))],
		OfferTimeout: time.Duration(5+h.rng.IntN(16)) * time.Second, MaxMisses: h.rng.IntN(4), Skills: map[string]int{}}
	for _, ch := range testChannels {
		if h.rng.IntN(2) == 0 {
			q.Channels = append(q.Channels, ch)
		}
	}
	if len(q.Channels) == 0 {
		q.Channels = []Channel{testChannels[h.rng.IntN(len(testChannels))]}
	}
	for range h.rng.IntN(3) {
		q.Skills[h.pickOne(testSkills)] = 1 + h.rng.IntN(6)
	}
	// Skill steps: none, or one to three to falling levels, ending at
	// level 0 (given as a step or as RelaxAfter) or not.
	after, level := 0, 2+h.rng.IntN(5)
	for range h.rng.IntN(4) {
		after += 2 + h.rng.IntN(10)
		level -= 1 + h.rng.IntN(2)
		if level < 1 {
			break
		}
		q.Steps = append(q.Steps, SkillStep{After: time.Duration(after) * time.Second, MinLevel: level})
	}
	switch h.rng.IntN(4) {
	case 0, 1:
		q.RelaxAfter = time.Duration(after+5+h.rng.IntN(26)) * time.Second
	case 2:
		q.Steps = append(q.Steps, SkillStep{After: time.Duration(after+5+h.rng.IntN(26)) * time.Second})
	}
	if h.rng.IntN(2) == 0 {
		q.PreferredFor = time.Duration(3+h.rng.IntN(20)) * time.Second
	}
	q.ReofferAfter = time.Duration([]int{0, 0, 1, 3, 10, 30}[h.rng.IntN(6)]) * time.Second
	return q
}

func (h *history) configureQueue(q Queue) {
	h.apply("configure queue", func() (string, Changes, error) {
		ch, err := h.e.ConfigureQueue(h.ctx, h.tenant, q, h.now)
		return "", ch, err
	}, func() (string, Changes, error) { ch, err := h.m.ConfigureQueue(q, h.now); return "", ch, err })
}

func (h *history) randAgent(id string) Agent {
	a := Agent{ID: id, Skills: map[string]int{}, Capacity: map[Channel]int{}}
	for range 1 + h.rng.IntN(4) {
		a.Skills[h.pickOne(testSkills)] = 1 + h.rng.IntN(10)
	}
	for _, ch := range testChannels {
		if h.rng.IntN(3) > 0 {
			a.Capacity[ch] = h.rng.IntN(4)
		}
	}
	return a
}

func (h *history) configureAgent(id string) {
	a := h.randAgent(id)
	h.apply("configure agent", func() (string, Changes, error) {
		ch, err := h.e.ConfigureAgent(h.ctx, h.tenant, a, h.now)
		return "", ch, err
	}, func() (string, Changes, error) { ch, err := h.m.ConfigureAgent(a, h.now); return "", ch, err })
}

func (h *history) setStatus(id string, st Status) {
	h.apply("status "+string(st), func() (string, Changes, error) {
		ch, err := h.e.SetStatus(h.ctx, h.tenant, id, st, h.now)
		return "", ch, err
	}, func() (string, Changes, error) { ch, err := h.m.SetStatus(id, st, h.now); return "", ch, err })
}

// contactIn returns a random live contact in the given state ("" any),
// from the model (which the previous step showed equal to the engine).
func (h *history) contactIn(st ContactStatus) *mContact {
	var ids []string
	for id, c := range h.m.contacts {
		if st == "" || c.state == st {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	return h.m.contacts[h.pickOne(ids)]
}

func (h *history) step(step int) {
	h.now = h.now.Add(time.Duration([]int{0, 0, 1, 1, 2, 3, 5, 13}[h.rng.IntN(8)]) * time.Second)
	r := h.rng.IntN(100)
	switch {
	case r < 25:
		h.next++
		c := Contact{ID: fmt.Sprintf("c%03d", h.next), Queue: h.pickOne(testQueues),
			Channel: testChannels[h.rng.IntN(len(testChannels))], Priority: h.rng.IntN(3) - 1}
		if h.rng.IntN(5) == 0 {
			c.EnqueuedAt = h.now.Add(-time.Duration(h.rng.IntN(40)) * time.Second)
		}
		if h.rng.IntN(3) == 0 {
			c.PreferredAgent = h.pickOne(append(testAgents, "nobody"))
		}
		if h.rng.IntN(20) == 0 && h.next > 1 {
			c.ID = fmt.Sprintf("c%03d", 1+h.rng.IntN(h.next-1)) // maybe still live: refused
		}
		h.apply("enqueue", func() (string, Changes, error) {
			ch, err := h.e.Enqueue(h.ctx, h.tenant, c, h.now)
			return "", ch, err
		}, func() (string, Changes, error) { ch, err := h.m.Enqueue(c, h.now); return "", ch, err })
	case r < 42:
		c := h.contactIn(Reserved)
		if c == nil {
			return
		}
		agent := c.agent
		if h.rng.IntN(10) == 0 {
			agent = h.pickOne(testAgents) // maybe not the reserved one
		}
		h.apply("accept", func() (string, Changes, error) {
			first, ch, err := h.e.Accept(h.ctx, h.tenant, c.id, agent, h.now)
			return strconv.FormatBool(first), ch, err
		}, func() (string, Changes, error) {
			first, ch, err := h.m.Accept(c.id, agent, h.now)
			return strconv.FormatBool(first), ch, err
		})
	case r < 50:
		c := h.contactIn(Reserved)
		if c == nil {
			return
		}
		id, agent := c.id, c.agent
		h.apply("reject", func() (string, Changes, error) {
			ch, err := h.e.Reject(h.ctx, h.tenant, id, agent, h.now)
			return "", ch, err
		}, func() (string, Changes, error) { ch, err := h.m.Reject(id, agent, h.now); return "", ch, err })
	case r < 63:
		c := h.contactIn(Assigned)
		if c == nil {
			return
		}
		id, agent := c.id, c.agent
		if h.rng.IntN(10) == 0 {
			agent = h.pickOne(testAgents)
		}
		h.apply("finish", func() (string, Changes, error) {
			ch, err := h.e.Finish(h.ctx, h.tenant, id, agent, h.now)
			return "", ch, err
		}, func() (string, Changes, error) { ch, err := h.m.Finish(id, agent, h.now); return "", ch, err })
	case r < 72:
		h.setStatus(h.pickOne(testAgents), statuses[h.rng.IntN(len(statuses))])
	case r < 79:
		c := h.contactIn("")
		if c == nil {
			return
		}
		id := c.id
		to := Target{Queue: h.pickOne(testQueues)}
		if h.rng.IntN(2) == 0 {
			to = Target{Agent: h.pickOne(testAgents)}
		}
		h.apply("transfer", func() (string, Changes, error) {
			ch, err := h.e.Transfer(h.ctx, h.tenant, id, to, h.now)
			return "", ch, err
		}, func() (string, Changes, error) { ch, err := h.m.Transfer(id, to, h.now); return "", ch, err })
	case r < 86:
		c := h.contactIn("")
		if c == nil {
			return
		}
		id := c.id
		h.apply("abandon", func() (string, Changes, error) {
			was, ch, err := h.e.Abandon(h.ctx, h.tenant, id, h.now)
			return string(was), ch, err
		}, func() (string, Changes, error) { was, ch, err := h.m.Abandon(id, h.now); return string(was), ch, err })
	case r < 93:
		h.apply("tick", func() (string, Changes, error) {
			ch, err := h.e.Tick(h.ctx, h.tenant, h.now)
			return "", ch, err
		}, func() (string, Changes, error) { ch, err := h.m.Tick(h.now); return "", ch, err })
	case r < 96:
		h.configureQueue(h.randQueue(h.pickOne(testQueues)))
	default:
		h.configureAgent(h.pickOne(testAgents))
	}
}

// apply runs one call on the engine and on the model and compares the
// answers and then the whole state.
func (h *history) apply(op string, engine, model func() (string, Changes, error)) {
	h.t.Helper()
	gi, gch, gerr := engine()
	wi, wch, werr := model()
	h.stats[op]++
	for _, e := range gch.Events {
		h.stats["event "+string(e.Kind)+" "+string(e.Reason)]++
	}
	if testenv.Code(gerr) != testenv.Code(werr) || gi != wi {
		h.t.Fatalf("at %d, %s: engine said (%q, %v), model (%q, %v)", h.now.UnixMilli(), op, gi, gerr, wi, werr)
	}
	if !reflect.DeepEqual(gch.Events, wch.Events) {
		h.t.Fatalf("at %d, %s: events differ\nengine: %v\nmodel:  %v", h.now.UnixMilli(), op, gch.Events, wch.Events)
	}
	got, err := h.e.Snapshot(h.ctx, h.tenant)
	if err != nil {
		h.t.Fatal(err)
	}
	if want := h.m.Snapshot(); !reflect.DeepEqual(got, want) {
		h.t.Fatalf("at %d, after %s: state differs\nengine: %+v\nmodel:  %+v", h.now.UnixMilli(), op, got, want)
	}
	for _, c := range got.Contacts {
		switch {
		case c.Preferred != "":
			h.stats["contact waiting for its preferred agent"]++
		case c.Step > 0 && c.Status == Waiting:
			h.stats["contact waiting at a skill step"]++
		case c.Excluded != "":
			h.stats["contact with a re-offer block"]++
		}
	}
}
