package routing

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/testenv"
)

// fixture is one tenant on the test Redis with a clock the test moves.
type fixture struct {
	t      *testing.T
	e      *Engine
	tenant uuid.UUID
	now    time.Time
	ctx    context.Context
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t, e: New(testenv.NewRedis(t), testenv.Prefix()), tenant: uuid.New(),
		now: time.UnixMilli(1_700_000_000_000), ctx: context.Background()}
}

func (f *fixture) at(d time.Duration) *fixture {
	f.now = time.UnixMilli(1_700_000_000_000).Add(d)
	return f
}

func (f *fixture) must(ch Changes, err error) Changes {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	return ch
}

func (f *fixture) queue(q Queue) { f.must(f.e.ConfigureQueue(f.ctx, f.tenant, q, f.now)) }
func (f *fixture) status(a string, s Status) Changes {
	return f.must(f.e.SetStatus(f.ctx, f.tenant, a, s, f.now))
}

// agent configures an agent and makes it available now.
func (f *fixture) agent(id string, skills map[string]int, capacity map[Channel]int) {
	f.must(f.e.ConfigureAgent(f.ctx, f.tenant, Agent{ID: id, Skills: skills, Capacity: capacity}, f.now))
	f.status(id, Available)
}

func (f *fixture) enqueue(c Contact) Changes { return f.must(f.e.Enqueue(f.ctx, f.tenant, c, f.now)) }

func (f *fixture) contact(id string) ContactState {
	f.t.Helper()
	s, err := f.e.Snapshot(f.ctx, f.tenant)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, c := range s.Contacts {
		if c.ID == id {
			return c
		}
	}
	f.t.Fatalf("contact %s not in routing", id)
	return ContactState{}
}

func offeredTo(ch Changes) []string {
	var out []string
	for _, e := range ch.Offers() {
		out = append(out, e.Contact+"→"+e.Agent)
	}
	return out
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if e, ok := cic.AsError(err); !ok || e.Code != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

// TestStrategy_RanksAgents: four chats arrive one second apart for three
// agents who became available in the order a1, a2, a3: a1 (en 5, 2
// chats), a2 (en 9, 4 chats), a3 (en 5, 1 chat).
func TestStrategy_RanksAgents(t *testing.T) {
	for _, tt := range []struct {
		give Strategy
		want []string
	}{
		{LongestIdle, []string{"c1→a1", "c2→a2", "c3→a3", "c4→a1"}},
		{BestSkill, []string{"c1→a2", "c2→a2", "c3→a2", "c4→a2"}},
		{RoundRobin, []string{"c1→a1", "c2→a2", "c3→a3", "c4→a1"}},
		// c4: a1 is at 1/2, a2 at 1/4.
		{LeastOccupied, []string{"c1→a1", "c2→a2", "c3→a3", "c4→a2"}},
	} {
		t.Run(string(tt.give), func(t *testing.T) {
			f := newFixture(t)
			f.queue(Queue{ID: "q", Channels: []Channel{Chat}, Skills: map[string]int{"en": 1}, Strategy: tt.give})
			for i, a := range []struct {
				id    string
				level int
				chats int
			}{{"a1", 5, 2}, {"a2", 9, 4}, {"a3", 5, 1}} {
				f.at(time.Duration(i)*time.Second).agent(a.id, map[string]int{"en": a.level}, map[Channel]int{Chat: a.chats})
			}
			var got []string
			for i, id := range []string{"c1", "c2", "c3", "c4"} {
				got = append(got, offeredTo(f.at(time.Duration(10+i)*time.Second).enqueue(Contact{ID: id, Queue: "q", Channel: Chat}))...)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("offers %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRelaxAfter_AnyAgentOnTheChannel: a contact needing German waits for
// a German speaker until relax_after, then goes to whoever has room on
// its channel, through the tick; before that the English agent is idle.
func TestRelaxAfter_AnyAgentOnTheChannel(t *testing.T) {
	f := newFixture(t)
	f.queue(Queue{ID: "de", Channels: []Channel{Chat}, Skills: map[string]int{"de": 5}, RelaxAfter: 30 * time.Second})
	f.agent("en-only", map[string]int{"en": 9}, map[Channel]int{Chat: 1, Email: 1})
	f.agent("mail-de", map[string]int{"de": 9}, map[Channel]int{Email: 1})
	if got := offeredTo(f.enqueue(Contact{ID: "c1", Queue: "de", Channel: Chat})); len(got) != 0 {
		t.Fatalf("offered %v before relax_after", got)
	}
	if got := offeredTo(f.must(f.e.Tick(f.ctx, f.tenant, f.at(29999*time.Millisecond).now))); len(got) != 0 {
		t.Fatalf("offered %v before relax_after", got)
	}
	got := offeredTo(f.must(f.e.Tick(f.ctx, f.tenant, f.at(30*time.Second).now)))
	if !slices.Equal(got, []string{"c1→en-only"}) {
		t.Fatalf("offers at relax_after %v, want c1→en-only", got)
	}
	if !f.contact("c1").Relaxed {
		t.Error("contact not marked relaxed")
	}
}

// TestAgeing_PriorityPointIsAMinute: a contact of priority 1 overtakes a
// priority 0 one that waited less than a minute longer, not one that
// waited more.
func TestAgeing_PriorityPointIsAMinute(t *testing.T) {
	for _, tt := range []struct {
		name  string
		later time.Duration // how much later the priority-1 contact came
		want  string
	}{
		{"30s later", 30 * time.Second, "urgent"},
		{"59s later", 59 * time.Second, "urgent"},
		{"60s later: tie, earlier first", 60 * time.Second, "old"},
		{"90s later", 90 * time.Second, "old"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.queue(Queue{ID: "q", Channels: []Channel{Chat}})
			f.must(f.e.ConfigureAgent(f.ctx, f.tenant, Agent{ID: "a", Capacity: map[Channel]int{Chat: 1}}, f.now))
			f.enqueue(Contact{ID: "old", Queue: "q", Channel: Chat})
			f.at(tt.later).enqueue(Contact{ID: "urgent", Queue: "q", Channel: Chat, Priority: 1})
			got := offeredTo(f.at(5*time.Minute).status("a", Available))
			if !slices.Equal(got, []string{tt.want + "→a"}) {
				t.Errorf("offers %v, want %s→a", got, tt.want)
			}
		})
	}
}

// TestMaxMisses_SetsAgentAway: the second miss in a row (a reject, then a
// timeout) sets the agent away, and the other contact only offered to it
// goes back to the queue and on to the next agent.
func TestMaxMisses_SetsAgentAway(t *testing.T) {
	f := newFixture(t)
	f.queue(Queue{ID: "q", Channels: []Channel{Chat}, MaxMisses: 2, OfferTimeout: 10 * time.Second})
	f.agent("a1", nil, map[Channel]int{Chat: 2})
	f.at(time.Second).agent("a2", nil, map[Channel]int{Chat: 1})
	f.at(2 * time.Second).enqueue(Contact{ID: "c1", Queue: "q", Channel: Chat}) // → a1
	ch := f.must(f.e.Reject(f.ctx, f.tenant, "c1", "a1", f.now))
	if got := offeredTo(ch); !slices.Equal(got, []string{"c1→a2"}) {
		t.Fatalf("after reject: offers %v, want the next agent", got)
	}
	f.at(3 * time.Second).enqueue(Contact{ID: "c2", Queue: "q", Channel: Chat}) // → a1
	f.at(4 * time.Second).enqueue(Contact{ID: "c3", Queue: "q", Channel: Chat}) // → a1
	if _, _, err := f.e.Accept(f.ctx, f.tenant, "c1", "a2", f.now); err != nil {
		t.Fatal(err)
	}
	ch = f.must(f.e.Tick(f.ctx, f.tenant, f.at(13*time.Second).now)) // c2 timed out, c3 not yet
	if got := ch.Away(); !slices.Equal(got, []string{"a1"}) {
		t.Fatalf("away %v, want [a1]; changes %+v", got, ch.Events)
	}
	var requeued []string
	for _, e := range ch.Requeued() {
		requeued = append(requeued, e.Contact+":"+string(e.Reason))
	}
	if want := []string{"c2:timeout", "c3:unavailable"}; !slices.Equal(requeued, want) {
		t.Errorf("requeued %v, want %v", requeued, want)
	}
	if c := f.contact("c3"); c.Status != Waiting {
		t.Errorf("c3 is %s, want waiting (a2 is full)", c.Status)
	}
}

// TestTransfer_KeepsContactAndFreesAgent: an accepted contact moved to
// another queue frees its agent at once (who pulls the next waiting
// contact), is not offered back to it, and its next accept is not the
// first; a transfer to a named agent needs that agent free.
func TestTransfer_KeepsContactAndFreesAgent(t *testing.T) {
	f := newFixture(t)
	f.queue(Queue{ID: "sales", Channels: []Channel{Chat}})
	f.queue(Queue{ID: "support", Channels: []Channel{Chat}})
	f.agent("a1", nil, map[Channel]int{Chat: 1})
	f.enqueue(Contact{ID: "c1", Queue: "sales", Channel: Chat})
	if first, _, err := f.e.Accept(f.ctx, f.tenant, "c1", "a1", f.now); err != nil || !first {
		t.Fatalf("accept: first %v, %v", first, err)
	}
	f.at(time.Second).enqueue(Contact{ID: "c2", Queue: "sales", Channel: Chat}) // waits: a1 is full
	_, err := f.e.Transfer(f.ctx, f.tenant, "c1", Target{Agent: "a2"}, f.now)
	wantCode(t, err, "unknown_agent")
	f.must(f.e.ConfigureAgent(f.ctx, f.tenant, Agent{ID: "a2", Capacity: map[Channel]int{Chat: 1}}, f.now))
	_, err = f.e.Transfer(f.ctx, f.tenant, "c1", Target{Agent: "a2"}, f.now)
	wantCode(t, err, "agent_unavailable")

	ch := f.must(f.e.Transfer(f.ctx, f.tenant, "c1", Target{Queue: "support"}, f.at(2*time.Second).now))
	if got := offeredTo(ch); !slices.Equal(got, []string{"c2→a1"}) {
		t.Fatalf("offers %v, want a1 freed and pulling c2 (never c1 back)", got)
	}
	if c := f.contact("c1"); c.Status != Waiting || c.Queue != "support" || c.EnqueuedAt.UnixMilli() != 1_700_000_000_000 {
		t.Fatalf("c1 after transfer: %+v", c)
	}
	ch = f.status("a2", Available)
	if got := offeredTo(ch); !slices.Equal(got, []string{"c1→a2"}) {
		t.Fatalf("offers %v, want c1→a2", got)
	}
	if first, _, err := f.e.Accept(f.ctx, f.tenant, "c1", "a2", f.now); err != nil || first {
		t.Fatalf("second accept: first %v, %v; want not first", first, err)
	}
}

// TestAbandon_SaysWhereItWas: a waiting contact and an offered one are
// removed (the offered one frees its agent for the next), an accepted one
// is not abandoned.
func TestAbandon_SaysWhereItWas(t *testing.T) {
	f := newFixture(t)
	f.queue(Queue{ID: "q", Channels: []Channel{Chat}})
	f.agent("a1", nil, map[Channel]int{Chat: 1})
	f.enqueue(Contact{ID: "offered", Queue: "q", Channel: Chat})
	f.enqueue(Contact{ID: "waiting", Queue: "q", Channel: Chat})
	f.enqueue(Contact{ID: "next", Queue: "q", Channel: Chat})
	for _, tt := range []struct {
		give   string
		want   Was
		offers []string
	}{
		{"waiting", WasWaiting, nil},
		{"offered", WasOffered, []string{"next→a1"}},
	} {
		was, ch, err := f.e.Abandon(f.ctx, f.tenant, tt.give, f.now)
		if err != nil || was != tt.want || !slices.Equal(offeredTo(ch), tt.offers) {
			t.Errorf("abandon %s: %q, offers %v, %v; want %q, %v", tt.give, was, offeredTo(ch), err, tt.want, tt.offers)
		}
	}
	if _, _, err := f.e.Accept(f.ctx, f.tenant, "next", "a1", f.now); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.e.Abandon(f.ctx, f.tenant, "next", f.now)
	wantCode(t, err, "already_accepted")
	_, _, err = f.e.Abandon(f.ctx, f.tenant, "waiting", f.now)
	wantCode(t, err, "unknown_contact")
}

// TestAccept_OnlyTheReservedAgentBeforeTimeout.
func TestAccept_OnlyTheReservedAgentBeforeTimeout(t *testing.T) {
	f := newFixture(t)
	f.queue(Queue{ID: "q", Channels: []Channel{Chat}, OfferTimeout: 5 * time.Second})
	f.agent("a1", nil, map[Channel]int{Chat: 1})
	f.agent("a2", nil, map[Channel]int{Chat: 1})
	f.enqueue(Contact{ID: "c1", Queue: "q", Channel: Chat})
	_, _, err := f.e.Accept(f.ctx, f.tenant, "c1", "a2", f.now)
	wantCode(t, err, "not_offered")
	_, ch, err := f.e.Accept(f.ctx, f.tenant, "c1", "a1", f.at(5*time.Second).now)
	wantCode(t, err, "not_offered")
	// The refusal still reports what the lazy tick did: c1 went to a2.
	if got := offeredTo(ch); !slices.Equal(got, []string{"c1→a2"}) {
		t.Errorf("changes with the refusal: %v, want c1→a2", got)
	}
}

// TestReoffer_SameAgentAfterTheBlock: a contact whose only eligible agent
// rejected it, or let it time out, is offered to that agent again once
// the queue's re-offer time has passed since the miss (by the tick), not
// before; with a second agent available, the second gets it first.
func TestReoffer_SameAgentAfterTheBlock(t *testing.T) {
	for _, how := range []string{"reject", "timeout"} {
		t.Run(how, func(t *testing.T) {
			f := newFixture(t)
			f.queue(Queue{ID: "q", Channels: []Channel{Chat}, OfferTimeout: 5 * time.Second, ReofferAfter: 10 * time.Second})
			f.agent("a1", nil, map[Channel]int{Chat: 1})
			f.enqueue(Contact{ID: "c1", Queue: "q", Channel: Chat}) // → a1
			missed := time.Duration(0)
			if how == "reject" {
				if got := offeredTo(f.must(f.e.Reject(f.ctx, f.tenant, "c1", "a1", f.now))); len(got) != 0 {
					t.Fatalf("offers after the reject %v, want none (a1 is blocked)", got)
				}
			} else {
				missed = 5 * time.Second
				ch := f.must(f.e.Tick(f.ctx, f.tenant, f.at(missed).now))
				if len(ch.Requeued()) != 1 || ch.Requeued()[0].Reason != TimedOut || len(ch.Offers()) != 0 {
					t.Fatalf("at the timeout: %+v, want c1 requeued and not offered", ch.Events)
				}
			}
			if c := f.contact("c1"); c.Excluded != "a1" || !c.ExcludedUntil.Equal(f.now.Add(10*time.Second)) {
				t.Fatalf("c1 excluded %q until %v, want a1 until +10s", c.Excluded, c.ExcludedUntil)
			}
			if got := offeredTo(f.must(f.e.Tick(f.ctx, f.tenant, f.at(missed+9999*time.Millisecond).now))); len(got) != 0 {
				t.Fatalf("offered %v before the block ended", got)
			}
			got := offeredTo(f.must(f.e.Tick(f.ctx, f.tenant, f.at(missed+10*time.Second).now)))
			if !slices.Equal(got, []string{"c1→a1"}) {
				t.Fatalf("offers when the block ended: %v, want c1→a1", got)
			}
			if c := f.contact("c1"); c.Excluded != "" {
				t.Errorf("c1 still excludes %q", c.Excluded)
			}
		})
	}
	t.Run("another agent first", func(t *testing.T) {
		f := newFixture(t)
		f.queue(Queue{ID: "q", Channels: []Channel{Chat}, ReofferAfter: 10 * time.Second})
		f.agent("a1", nil, map[Channel]int{Chat: 1})
		f.at(time.Second).agent("a2", nil, map[Channel]int{Chat: 1})
		f.at(2 * time.Second).enqueue(Contact{ID: "c1", Queue: "q", Channel: Chat}) // → a1, the longest idle
		if got := offeredTo(f.must(f.e.Reject(f.ctx, f.tenant, "c1", "a1", f.now))); !slices.Equal(got, []string{"c1→a2"}) {
			t.Fatalf("offers after the reject %v, want c1→a2", got)
		}
		// a2 misses too: a1's block was replaced by a2's, so a1 gets it now.
		if got := offeredTo(f.must(f.e.Reject(f.ctx, f.tenant, "c1", "a2", f.at(3*time.Second).now))); !slices.Equal(got, []string{"c1→a1"}) {
			t.Fatalf("offers after the second reject %v, want c1→a1", got)
		}
	})
	t.Run("zero: at the next call", func(t *testing.T) {
		f := newFixture(t)
		f.queue(Queue{ID: "q", Channels: []Channel{Chat}})
		f.agent("a1", nil, map[Channel]int{Chat: 1})
		f.enqueue(Contact{ID: "c1", Queue: "q", Channel: Chat})
		if got := offeredTo(f.must(f.e.Reject(f.ctx, f.tenant, "c1", "a1", f.now))); len(got) != 0 {
			t.Fatalf("offers in the reject's own call %v, want none", got)
		}
		if got := offeredTo(f.must(f.e.Tick(f.ctx, f.tenant, f.now))); !slices.Equal(got, []string{"c1→a1"}) {
			t.Fatalf("offers at the next call %v, want c1→a1", got)
		}
	})
}

// TestMaxMisses_SaysWhy: the away event names the rule and the count,
// and the agent's state keeps the reason until its status changes.
func TestMaxMisses_SaysWhy(t *testing.T) {
	f := newFixture(t)
	f.queue(Queue{ID: "q", Channels: []Channel{Chat}, MaxMisses: 2})
	f.agent("a1", nil, map[Channel]int{Chat: 1})
	f.enqueue(Contact{ID: "c1", Queue: "q", Channel: Chat})
	f.must(f.e.Reject(f.ctx, f.tenant, "c1", "a1", f.now))
	ch := f.must(f.e.Tick(f.ctx, f.tenant, f.now)) // block of 0 s: offered again
	if got := offeredTo(ch); !slices.Equal(got, []string{"c1→a1"}) {
		t.Fatalf("re-offer %v", got)
	}
	ch = f.must(f.e.Reject(f.ctx, f.tenant, "c1", "a1", f.now))
	var away []Event
	for _, e := range ch.Events {
		if e.Kind == SetAway {
			away = append(away, e)
		}
	}
	if len(away) != 1 || away[0].Agent != "a1" || away[0].Reason != MissedOffers || away[0].Misses != 2 {
		t.Fatalf("away events %+v, want a1 missed_offers 2", away)
	}
	agentState := func() AgentState {
		s, err := f.e.Snapshot(f.ctx, f.tenant)
		if err != nil || len(s.Agents) != 1 {
			t.Fatalf("snapshot %+v, %v", s, err)
		}
		return s.Agents[0]
	}
	if a := agentState(); a.Status != Away || a.AwayReason != MissedOffers || a.Misses != 2 {
		t.Fatalf("agent %+v, want away for missed offers", a)
	}
	f.status("a1", Available)
	if a := agentState(); a.AwayReason != "" || a.Misses != 0 {
		t.Errorf("after becoming available: %+v", a)
	}
}

// TestSkillSteps_WidenInTiers: a contact needing German 8 is offered
// to no one below that level at first, after 10 s to agents with at least
// 5, after 20 s to any agent with room; agents meeting the full
// requirement always come first, whatever the strategy ranks.
func TestSkillSteps_WidenInTiers(t *testing.T) {
	q := Queue{ID: "de", Channels: []Channel{Chat}, Skills: map[string]int{"de": 8},
		Steps: []SkillStep{{After: 10 * time.Second, MinLevel: 5}, {After: 20 * time.Second, MinLevel: 0}}}
	f := newFixture(t)
	f.queue(q)
	f.agent("de5", map[string]int{"de": 5}, map[Channel]int{Chat: 1})
	f.agent("en", map[string]int{"en": 9}, map[Channel]int{Chat: 1})
	if got := offeredTo(f.enqueue(Contact{ID: "c1", Queue: "de", Channel: Chat})); len(got) != 0 {
		t.Fatalf("offered %v at once", got)
	}
	if got := offeredTo(f.must(f.e.Tick(f.ctx, f.tenant, f.at(9999*time.Millisecond).now))); len(got) != 0 {
		t.Fatalf("offered %v before the first step", got)
	}
	if got := offeredTo(f.must(f.e.Tick(f.ctx, f.tenant, f.at(10*time.Second).now))); !slices.Equal(got, []string{"c1→de5"}) {
		t.Fatalf("offers at the first step %v, want c1→de5", got)
	}
	// c2 waited 12 s already (an IVR): at the first step, de5 is full and
	// "en" does not qualify before the step to 0, at 18 s.
	f.enqueue(Contact{ID: "c2", Queue: "de", Channel: Chat, EnqueuedAt: f.now.Add(-12 * time.Second)})
	if c := f.contact("c2"); c.Status != Waiting || c.Step != 1 || c.Relaxed {
		t.Fatalf("c2 %+v, want waiting at step 1", c)
	}
	if got := offeredTo(f.must(f.e.Tick(f.ctx, f.tenant, f.at(17999*time.Millisecond).now))); len(got) != 0 {
		t.Fatalf("offered %v before the step to 0", got)
	}
	if got := offeredTo(f.must(f.e.Tick(f.ctx, f.tenant, f.at(18*time.Second).now))); !slices.Equal(got, []string{"c2→en"}) {
		t.Fatalf("offers at the step to 0 %v, want c2→en", got)
	}

	// Tiers: de5 is the longest idle, but de9 meets the full requirement.
	f = newFixture(t)
	f.queue(q)
	f.agent("de5", map[string]int{"de": 5}, map[Channel]int{Chat: 1})
	f.at(time.Second).agent("de9", map[string]int{"de": 9}, map[Channel]int{Chat: 1})
	got := offeredTo(f.at(2 * time.Second).enqueue(Contact{ID: "c3", Queue: "de", Channel: Chat, EnqueuedAt: f.now.Add(-15 * time.Second)}))
	if !slices.Equal(got, []string{"c3→de9"}) {
		t.Fatalf("offers %v, want c3→de9 (the full tier first)", got)
	}
}

// TestSkillSteps_RelaxAfterIsTheStepToZero: relax_after and a step to
// level 0 are the same rule; both at once, or steps out of order, are
// refused.
func TestSkillSteps_RelaxAfterIsTheStepToZero(t *testing.T) {
	a, err := Queue{ID: "q", Channels: []Channel{Chat}, RelaxAfter: 30 * time.Second}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Queue{ID: "q", Channels: []Channel{Chat}, Steps: []SkillStep{{After: 30 * time.Second}}}.normalize()
	if err != nil || a.RelaxAfter != b.RelaxAfter || len(b.Steps) != 0 {
		t.Fatalf("relax_after %+v, step to 0 %+v, %v", a, b, err)
	}
	for _, bad := range []Queue{
		{RelaxAfter: 30 * time.Second, Steps: []SkillStep{{After: 40 * time.Second}}},
		{Steps: []SkillStep{{After: 10 * time.Second, MinLevel: 3}, {After: 20 * time.Second, MinLevel: 5}}},
		{Steps: []SkillStep{{After: 10 * time.Second, MinLevel: 3}, {After: 10 * time.Second, MinLevel: 2}}},
		{Steps: []SkillStep{{After: 10 * time.Second, MinLevel: 0}, {After: 20 * time.Second, MinLevel: 2}}},
		{Steps: []SkillStep{{After: 0, MinLevel: 2}}},
		{Steps: []SkillStep{{After: time.Second, MinLevel: 10}}},
		{RelaxAfter: 5 * time.Second, Steps: []SkillStep{{After: 10 * time.Second, MinLevel: 2}}},
	} {
		bad.ID, bad.Channels = "q", []Channel{Chat}
		_, err := bad.normalize()
		wantCode(t, err, "invalid_skill_steps")
	}
}

// TestPreferredAgent_FirstThenTheQueue: a returning customer's contact
// waits for the agent who last handled them (busy now) for the queue's
// preferred window while another agent is idle, is taken by that agent as
// soon as it has room, and otherwise goes to the queue when the window
// ends; a preferred agent that is offline is not waited for, and one
// going offline ends the wait.
func TestPreferredAgent_FirstThenTheQueue(t *testing.T) {
	setUp := func(t *testing.T) *fixture {
		f := newFixture(t)
		f.queue(Queue{ID: "q", Channels: []Channel{Chat}, PreferredFor: 15 * time.Second})
		f.agent("pat", nil, map[Channel]int{Chat: 1})
		f.at(time.Second).agent("other", nil, map[Channel]int{Chat: 1})
		f.enqueue(Contact{ID: "busy", Queue: "q", Channel: Chat}) // → pat, the longest idle
		if _, _, err := f.e.Accept(f.ctx, f.tenant, "busy", "pat", f.now); err != nil {
			t.Fatal(err)
		}
		if got := offeredTo(f.at(2 * time.Second).enqueue(Contact{ID: "c1", Queue: "q", Channel: Chat, PreferredAgent: "pat"})); len(got) != 0 {
			t.Fatalf("offered %v, want c1 waiting for pat", got)
		}
		if c := f.contact("c1"); c.Preferred != "pat" || !c.PreferredUntil.Equal(f.at(17*time.Second).now) {
			t.Fatalf("c1 %+v", c)
		}
		return f
	}
	t.Run("taken by the preferred agent", func(t *testing.T) {
		f := setUp(t)
		ch := f.must(f.e.Finish(f.ctx, f.tenant, "busy", "pat", f.at(5*time.Second).now))
		if got := offeredTo(ch); !slices.Equal(got, []string{"c1→pat"}) {
			t.Fatalf("offers when pat is free %v, want c1→pat", got)
		}
	})
	t.Run("to the queue after the window", func(t *testing.T) {
		f := setUp(t)
		if got := offeredTo(f.must(f.e.Tick(f.ctx, f.tenant, f.at(16999*time.Millisecond).now))); len(got) != 0 {
			t.Fatalf("offered %v within the window", got)
		}
		if got := offeredTo(f.must(f.e.Tick(f.ctx, f.tenant, f.at(17*time.Second).now))); !slices.Equal(got, []string{"c1→other"}) {
			t.Fatalf("offers at the window's end %v, want c1→other", got)
		}
	})
	t.Run("preferred agent goes offline", func(t *testing.T) {
		f := setUp(t)
		if got := offeredTo(f.at(3*time.Second).status("pat", Offline)); !slices.Equal(got, []string{"c1→other"}) {
			t.Fatalf("offers when pat went offline %v, want c1→other", got)
		}
		got := offeredTo(f.enqueue(Contact{ID: "c2", Queue: "q", Channel: Chat, PreferredAgent: "pat"}))
		if len(got) != 0 || f.contact("c2").Preferred != "" {
			t.Fatalf("c2 for an offline preferred agent: offers %v, %+v; want waiting in the queue", got, f.contact("c2"))
		}
	})
	t.Run("the preferred agent misses it", func(t *testing.T) {
		f := setUp(t)
		f.must(f.e.Finish(f.ctx, f.tenant, "busy", "pat", f.at(5*time.Second).now)) // c1 → pat
		f.must(f.e.SetStatus(f.ctx, f.tenant, "other", Available, f.now))
		ch := f.must(f.e.Reject(f.ctx, f.tenant, "c1", "pat", f.now))
		if got := offeredTo(ch); !slices.Equal(got, []string{"c1→other"}) {
			t.Fatalf("offers after pat's reject %v, want c1→other", got)
		}
	})
}
