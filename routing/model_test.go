package routing

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/cic-platform/cic"
)

// model is the reference model of the routing rules: plain Go that finds
// every answer by scanning all agents and contacts, with none of the
// engine's indexes. It is the specification the Lua engine must match
// step for step (equivalence_test.go): same events in the same order,
// same state.
type model struct {
	now      int64
	queues   map[string]*mQueue
	agents   map[string]*mAgent
	contacts map[string]*mContact
	accepted map[string]bool
	events   []Event
	// neverReoffer is the rule before issue 16: the agent that missed a
	// contact is never offered it again (no block end), which strands a
	// contact whose only eligible agent missed it. Only the liveness test
	// sets it, to show that its checker catches that.
	neverReoffer bool
}

type mQueue struct {
	Queue
	chans map[Channel]bool
	rr    string // the agent last offered one of the queue's contacts
}

type mAgent struct {
	id       string
	skills   map[string]int
	capacity map[Channel]int
	load     map[Channel]int
	status   Status
	idle     int64
	misses   int
	why      Reason
}

type mContact struct {
	id       string
	queue    string
	channel  Channel
	priority int
	enq      int64
	state    ContactStatus
	agent    string
	exp      int64
	excluded string
	xu       int64 // when the block of excluded ends (0: never, neverReoffer)
	relaxAt  int64 // when the next skill step or the relax falls due (0: none)
	relaxed  bool
	step     int
	pref     string // waiting for this preferred agent until pu
	pu       int64
	pkey     int64 // its rank key when it began waiting for pref
}

func newModel() *model {
	return &model{queues: map[string]*mQueue{}, agents: map[string]*mAgent{}, contacts: map[string]*mContact{}, accepted: map[string]bool{}}
}

// refusal is how the model says no: the same codes as the scripts.
func refusal(code string) error {
	return cic.Codef(scriptErrors[code].kind, code, "%s", scriptErrors[code].msg)
}

func (m *model) ev(e Event) { m.events = append(m.events, e) }

// begin starts an operation at now, as every script does: advance first.
func (m *model) begin(now time.Time) {
	m.now = now.UnixMilli()
	m.events = nil
	m.advance()
}

func (m *model) changes() Changes { return Changes{Events: m.events} }

// rank orders waiting contacts: effective priority with ageing, then
// earliest enqueue, then id.
func (m *model) rank(c *mContact) (int64, string) {
	member := fmt.Sprintf("%015d|%s", c.enq, c.id)
	if c.pref != "" {
		return c.pkey, member
	}
	q := m.queues[c.queue]
	return c.enq - int64(q.Priority+c.priority)*AgeingStep.Milliseconds(), member
}

func (m *model) before(a, b *mContact) bool {
	ka, ma := m.rank(a)
	kb, mb := m.rank(b)
	if ka != kb {
		return ka < kb
	}
	return ma < mb
}

func (a *mAgent) free(ch Channel) bool {
	return a.status == Available && a.capacity[ch] > a.load[ch]
}

func (a *mAgent) totals() (load, capacity int) {
	for _, n := range a.load {
		load += n
	}
	for _, n := range a.capacity {
		capacity += n
	}
	return load, capacity
}

// qualify is the agent's level sum over the queue's required skills, and
// whether it meets every minimum, capped at limit (0: not capped).
func (a *mAgent) qualify(q *mQueue, limit int) (int, bool) {
	sum := 0
	for s, min := range q.Skills {
		if limit > 0 {
			min = minInt(min, limit)
		}
		l, ok := a.skills[s]
		if !ok || l < min {
			return 0, false
		}
		sum += l
	}
	return sum, true
}

func minInt(a, b int) int { return min(a, b) }

// tier is the first skill step at which the agent qualifies for the
// queue (0: the full minimums), with its level sum there.
func (a *mAgent) tier(q *mQueue) (tier, sum int, ok bool) {
	if sum, ok := a.qualify(q, 0); ok {
		return 0, sum, true
	}
	for i, st := range q.Steps {
		if sum, ok := a.qualify(q, st.MinLevel); ok {
			return i + 1, sum, true
		}
	}
	return 0, 0, false
}

// score ranks agents within a queue (lower first, then id): the primary
// rank of the strategy, times 2^42, plus idle-since.
func (a *mAgent) score(q *mQueue) int64 {
	var prim int64
	switch q.Strategy {
	case RoundRobin:
		return 0
	case BestSkill:
		_, sum, _ := a.tier(q)
		prim = int64(1000 - sum)
	case LeastOccupied:
		l, c := a.totals()
		prim = min(2000, int64(1000*l/c))
	}
	return prim<<42 + a.idle
}

// stepState is where the contact's wait stands: steps reached, relaxed,
// and when the next of those falls due (0: none).
func (m *model) stepState(c *mContact) {
	q := m.queues[c.queue]
	c.step, c.relaxed, c.relaxAt = 0, false, 0
	for i, st := range q.Steps {
		if t := c.enq + st.After.Milliseconds(); t > m.now {
			c.relaxAt = t
			return
		}
		c.step = i + 1
	}
	if q.RelaxAfter > 0 {
		if t := c.enq + q.RelaxAfter.Milliseconds(); t <= m.now {
			c.relaxed = true
		} else {
			c.relaxAt = t
		}
	}
}

func (m *model) putWaiting(c *mContact) {
	c.state, c.agent, c.exp = Waiting, "", 0
	c.pref, c.pu = "", 0
	m.stepState(c)
}

func (m *model) sortedAgents(keep func(*mAgent) bool) []*mAgent {
	var out []*mAgent
	for _, a := range m.agents {
		if keep(a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *mAgent) int { return cmp.Compare(a.id, b.id) })
	return out
}

func (m *model) pick(c *mContact) *mAgent {
	q := m.queues[c.queue]
	for j := 0; j <= c.step; j++ {
		eligible := m.sortedAgents(func(a *mAgent) bool {
			t, _, ok := a.tier(q)
			return ok && t == j && a.free(c.channel) && a.id != c.excluded
		})
		if len(eligible) == 0 {
			continue
		}
		if q.Strategy == RoundRobin {
			for _, a := range eligible {
				if q.rr != "" && a.id > q.rr {
					return a
				}
			}
			return eligible[0]
		}
		return slices.MinFunc(eligible, func(a, b *mAgent) int {
			return cmp.Or(cmp.Compare(a.score(q), b.score(q)), cmp.Compare(a.id, b.id))
		})
	}
	if !c.relaxed {
		return nil
	}
	any := m.sortedAgents(func(a *mAgent) bool { return a.free(c.channel) && a.id != c.excluded })
	if len(any) == 0 {
		return nil
	}
	return slices.MinFunc(any, func(a, b *mAgent) int { return cmp.Or(cmp.Compare(a.idle, b.idle), cmp.Compare(a.id, b.id)) })
}

func (m *model) offer(c *mContact, a *mAgent) {
	q := m.queues[c.queue]
	c.state, c.agent, c.exp = Reserved, a.id, m.now+q.OfferTimeout.Milliseconds()
	c.pref, c.pu = "", 0
	a.load[c.channel]++
	a.idle = m.now
	q.rr = a.id
	m.ev(Event{Kind: Offered, Contact: c.id, Agent: a.id, Queue: c.queue, Channel: c.channel, ExpiresAt: time.UnixMilli(c.exp)})
}

func (m *model) release(c *mContact) *mAgent {
	a := m.agents[c.agent]
	a.load[c.channel]--
	if l, _ := a.totals(); l == 0 {
		a.idle = m.now
	}
	return a
}

func (m *model) route(c *mContact) {
	if c.state != Waiting {
		return
	}
	if a := m.pick(c); a != nil {
		m.offer(c, a)
	}
}

// pull offers an available agent the best waiting contacts it is eligible
// for until it is full or none is left.
func (m *model) pull(a *mAgent) {
	for a.status == Available {
		var best *mContact
		for _, c := range m.contacts {
			if c.state != Waiting || !a.free(c.channel) || c.excluded == a.id {
				continue
			}
			if c.pref != "" {
				if c.pref != a.id {
					continue
				}
			} else if t, _, ok := a.tier(m.queues[c.queue]); !c.relaxed && (!ok || t > c.step) {
				continue
			}
			if best == nil || m.before(c, best) {
				best = c
			}
		}
		if best == nil {
			return
		}
		m.offer(best, a)
	}
}

func (m *model) unavailable(a *mAgent, st Status) []*mContact {
	a.status = st
	var out []*mContact
	for _, c := range m.contacts {
		if c.state == Reserved && c.agent == a.id {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(x, y *mContact) int { return cmp.Compare(x.id, y.id) })
	for _, c := range out {
		m.release(c)
		m.putWaiting(c)
		m.ev(Event{Kind: Requeued, Contact: c.id, Agent: a.id, Queue: c.queue, Reason: Unavailable})
	}
	return out
}

// exclude blocks agent id from the contact for its queue's ReofferAfter.
func (m *model) exclude(c *mContact, id string) {
	c.excluded, c.xu = id, 0
	if !m.neverReoffer {
		c.xu = m.now + m.queues[c.queue].ReofferAfter.Milliseconds()
	}
}

func (m *model) miss(c *mContact, reason Reason) {
	a := m.release(c)
	m.exclude(c, a.id)
	m.putWaiting(c)
	m.ev(Event{Kind: Requeued, Contact: c.id, Agent: a.id, Queue: c.queue, Reason: reason})
	a.misses++
	var others []*mContact
	if q := m.queues[c.queue]; q.MaxMisses > 0 && a.misses >= q.MaxMisses && a.status == Available {
		m.ev(Event{Kind: SetAway, Agent: a.id, Reason: MissedOffers, Misses: a.misses})
		others = m.unavailable(a, Away)
		a.why = MissedOffers
	}
	m.route(c)
	for _, o := range others {
		m.route(o)
	}
	m.pull(a)
}

func (m *model) advance() {
	var due []*mContact
	for _, c := range m.contacts {
		if c.state == Waiting && c.pref == "" && c.relaxAt > 0 && c.relaxAt <= m.now {
			due = append(due, c)
		}
	}
	slices.SortFunc(due, func(a, b *mContact) int { return cmp.Or(cmp.Compare(a.relaxAt, b.relaxAt), cmp.Compare(a.id, b.id)) })
	for _, c := range due {
		m.stepState(c)
	}
	for _, c := range due {
		m.route(c)
	}
	// Then what falls due, in the order of the engine's res zset: time,
	// then member (the contact id for an expiry, x|id for a block's end).
	for {
		var next *mContact
		var at int64
		var member string
		for _, c := range m.contacts {
			consider := func(t int64, mem string) {
				if t <= m.now && (next == nil || t < at || (t == at && mem < member)) {
					next, at, member = c, t, mem
				}
			}
			if c.state == Reserved {
				consider(c.exp, c.id)
			}
			if c.excluded != "" && c.xu > 0 {
				consider(c.xu, "x|"+c.id)
			}
			if c.state == Waiting && c.pref != "" {
				consider(c.pu, "p|"+c.id)
			}
		}
		if next == nil {
			return
		}
		switch member[:min(2, len(member))] {
		case "x|":
			next.excluded, next.xu = "", 0
			m.route(next)
		case "p|":
			m.putWaiting(next)
			m.route(next)
		default:
			m.miss(next, TimedOut)
		}
	}
}

func (m *model) ConfigureQueue(q Queue, now time.Time) (Changes, error) {
	q, err := q.normalize()
	if err != nil {
		return Changes{}, err
	}
	m.begin(now)
	mq := m.queues[q.ID]
	if mq == nil {
		mq = &mQueue{}
		m.queues[q.ID] = mq
	}
	mq.Queue = q
	mq.chans = map[Channel]bool{}
	for _, ch := range q.Channels {
		mq.chans[ch] = true
	}
	var cs []*mContact
	for _, c := range m.contacts {
		// (Those waiting for their preferred agent stay so.)
		if c.queue == q.ID && c.state == Waiting && c.pref == "" {
			m.putWaiting(c)
			cs = append(cs, c)
		}
	}
	slices.SortFunc(cs, func(a, b *mContact) int {
		if m.before(a, b) {
			return -1
		}
		return 1
	})
	for _, c := range cs {
		m.route(c)
	}
	return m.changes(), nil
}

func (m *model) ConfigureAgent(a Agent, now time.Time) (Changes, error) {
	if err := a.check(); err != nil {
		return Changes{}, err
	}
	m.begin(now)
	ma := m.agents[a.ID]
	if ma == nil {
		ma = &mAgent{id: a.ID, load: map[Channel]int{}, status: Offline, idle: m.now}
		m.agents[a.ID] = ma
	}
	ma.skills = maps(a.Skills)
	ma.capacity = map[Channel]int{}
	for ch, n := range a.Capacity {
		if n > 0 {
			ma.capacity[ch] = n
		}
	}
	m.pull(ma)
	return m.changes(), nil
}

func maps[K comparable](in map[K]int) map[K]int {
	out := make(map[K]int, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func (m *model) SetStatus(id string, st Status, now time.Time) (Changes, error) {
	m.begin(now)
	a := m.agents[id]
	switch {
	case a == nil:
		return m.changes(), refusal("unknown_agent")
	case st == a.status:
		return m.changes(), nil
	}
	a.why = ""
	switch {
	case st == Available:
		a.status, a.misses, a.idle = st, 0, m.now
		m.pull(a)
	case a.status == Available:
		for _, c := range m.unavailable(a, st) {
			m.route(c)
		}
	default:
		a.status = st
	}
	if st == Offline {
		var cs []*mContact
		for _, c := range m.contacts {
			if c.state == Waiting && c.pref == id {
				cs = append(cs, c)
			}
		}
		slices.SortFunc(cs, func(x, y *mContact) int { return cmp.Compare(x.id, y.id) })
		for _, c := range cs {
			m.putWaiting(c)
		}
		for _, c := range cs {
			m.route(c)
		}
	}
	return m.changes(), nil
}

func (m *model) Enqueue(c Contact, now time.Time) (Changes, error) {
	m.begin(now)
	if m.contacts[c.ID] != nil {
		return m.changes(), refusal("contact_exists")
	}
	q := m.queues[c.Queue]
	if q == nil {
		return m.changes(), refusal("unknown_queue")
	}
	if !q.chans[c.Channel] {
		return m.changes(), refusal("channel_not_served")
	}
	enq := c.EnqueuedAt
	if enq.IsZero() {
		enq = now
	}
	mc := &mContact{id: c.ID, queue: c.Queue, channel: c.Channel, priority: c.Priority, enq: enq.UnixMilli()}
	m.contacts[c.ID] = mc
	if pu := mc.enq + q.PreferredFor.Milliseconds(); c.PreferredAgent != "" && q.PreferredFor > 0 && pu > m.now {
		if y := m.agents[c.PreferredAgent]; y != nil && y.status != Offline {
			if y.free(c.Channel) {
				mc.state = Waiting // offer sets the rest
				m.offer(mc, y)
			} else {
				mc.pkey, _ = m.rank(mc)
				mc.state, mc.pref, mc.pu = Waiting, y.id, pu
			}
			return m.changes(), nil
		}
	}
	m.putWaiting(mc)
	m.route(mc)
	return m.changes(), nil
}

func (m *model) Accept(id, agent string, now time.Time) (bool, Changes, error) {
	m.begin(now)
	c := m.contacts[id]
	if c == nil {
		return false, m.changes(), refusal("unknown_contact")
	}
	if c.state != Reserved || c.agent != agent {
		return false, m.changes(), refusal("not_offered")
	}
	c.state, c.exp = Assigned, 0
	m.agents[agent].misses = 0
	first := !m.accepted[id]
	m.accepted[id] = true
	return first, m.changes(), nil
}

func (m *model) Reject(id, agent string, now time.Time) (Changes, error) {
	m.begin(now)
	c := m.contacts[id]
	if c == nil {
		return m.changes(), refusal("unknown_contact")
	}
	if c.state != Reserved || c.agent != agent {
		return m.changes(), refusal("not_offered")
	}
	m.miss(c, Rejected)
	return m.changes(), nil
}

func (m *model) Finish(id, agent string, now time.Time) (Changes, error) {
	m.begin(now)
	c := m.contacts[id]
	if c == nil {
		return m.changes(), refusal("unknown_contact")
	}
	if c.state != Assigned || c.agent != agent {
		return m.changes(), refusal("not_assigned")
	}
	a := m.release(c)
	delete(m.contacts, id)
	m.pull(a)
	return m.changes(), nil
}

func (m *model) Transfer(id string, to Target, now time.Time) (Changes, error) {
	m.begin(now)
	c := m.contacts[id]
	if c == nil {
		return m.changes(), refusal("unknown_contact")
	}
	from := ""
	if to.Agent != "" {
		y := m.agents[to.Agent]
		if y == nil {
			return m.changes(), refusal("unknown_agent")
		}
		if c.state != Waiting && c.agent == to.Agent {
			return m.changes(), refusal("same_agent")
		}
		if !y.free(c.channel) {
			return m.changes(), refusal("agent_unavailable")
		}
		if c.state != Waiting {
			from = c.agent
			m.release(c)
		}
		m.ev(Event{Kind: Transferred, Contact: id, Agent: from, Queue: c.queue})
		m.offer(c, y)
	} else {
		q := m.queues[to.Queue]
		if q == nil {
			return m.changes(), refusal("unknown_queue")
		}
		if !q.chans[c.channel] {
			return m.changes(), refusal("channel_not_served")
		}
		if c.state != Waiting {
			from = c.agent
			m.release(c)
		}
		c.queue = to.Queue
		if from != "" {
			m.exclude(c, from)
		} else if xu := m.now + q.ReofferAfter.Milliseconds(); c.excluded != "" && c.xu > 0 && xu < c.xu {
			c.xu = xu // a running block is cut to the new queue's re-offer time
		}
		m.putWaiting(c)
		m.ev(Event{Kind: Transferred, Contact: id, Agent: from, Queue: to.Queue})
		m.route(c)
	}
	if from != "" {
		m.pull(m.agents[from])
	}
	return m.changes(), nil
}

func (m *model) Abandon(id string, now time.Time) (Was, Changes, error) {
	m.begin(now)
	c := m.contacts[id]
	if c == nil {
		return "", m.changes(), refusal("unknown_contact")
	}
	if c.state == Assigned {
		return "", m.changes(), refusal("already_accepted")
	}
	was := WasWaiting
	var a *mAgent
	if c.state == Reserved {
		was = WasOffered
		a = m.release(c)
	}
	delete(m.contacts, id)
	if a != nil {
		m.pull(a)
	}
	return was, m.changes(), nil
}

func (m *model) Tick(now time.Time) (Changes, error) {
	m.begin(now)
	return m.changes(), nil
}

// Snapshot is the model's state in the engine's shape.
func (m *model) Snapshot() Snapshot {
	var s Snapshot
	for _, a := range m.agents {
		load := map[Channel]int{}
		for ch, n := range a.load {
			if n != 0 {
				load[ch] = n
			}
		}
		var held []string
		for _, c := range m.contacts {
			if c.state != Waiting && c.agent == a.id {
				held = append(held, c.id)
			}
		}
		slices.Sort(held)
		s.Agents = append(s.Agents, AgentState{ID: a.id, Status: a.status, IdleSince: time.UnixMilli(a.idle),
			Misses: a.misses, Capacity: maps(a.capacity), Load: load, Holding: held, AwayReason: a.why})
	}
	for _, c := range m.contacts {
		cs := ContactState{ID: c.id, Queue: c.queue, Channel: c.channel, Status: c.state, Agent: c.agent,
			Priority: c.priority, EnqueuedAt: time.UnixMilli(c.enq), Relaxed: c.relaxed, Excluded: c.excluded,
			Step: c.step, Preferred: c.pref}
		if c.pref != "" {
			cs.PreferredUntil = time.UnixMilli(c.pu)
		}
		if c.state == Reserved {
			cs.ExpiresAt = time.UnixMilli(c.exp)
		}
		if c.excluded != "" {
			cs.ExcludedUntil = time.UnixMilli(c.xu)
		}
		s.Contacts = append(s.Contacts, cs)
	}
	slices.SortFunc(s.Agents, func(a, b AgentState) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(s.Contacts, func(a, b ContactState) int { return cmp.Compare(a.ID, b.ID) })
	return s
}
