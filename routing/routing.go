// Package routing is the ACD: it decides which agent is offered which
// contact. The routing state of a tenant (queues, agents with their load,
// waiting contacts, reservations) lives in Redis and changes only through
// one Lua script per operation, so any number of server replicas route
// consistently. Two invariants hold after every script: a contact is
// reserved for or assigned to at most one agent, and no agent holds more
// offered plus assigned contacts on a channel than its capacity allows
// (a capacity lowered below the current load only stops new offers).
//
// Durable records (the contact, its timeline, metering) are the caller's:
// every operation returns exactly what it changed, as Changes, for the
// caller to persist. The caller passes now, so that the Go reference
// model (model_test.go) can replay the same calls and must reach the same
// state; it is the specification of the rules below.
//
// Rules:
//   - An agent is eligible for a contact when it is available, has room on
//     the contact's channel and meets every skill minimum of the queue; once
//     the contact has waited a skill step's After, the minimums are capped
//     at the step's MinLevel (tiers: the agents meeting the full minimums
//     are offered first, then those of the first step, and so on); once it
//     has waited the queue's RelaxAfter (the step to level 0), any
//     available agent with room on the channel is (after those tiers).
//   - Preferred agent: a contact naming one (the agent that last handled
//     the customer) is offered only to that agent until it has waited the
//     queue's PreferredFor, if the agent is known and not offline (going
//     offline ends the wait); the agent needs room on the channel, not the
//     skills. Then, or once that agent misses it, it goes to the queue.
//   - Effective priority ages: a contact is ahead of another when
//     enqueued_at - (queue priority + contact priority) * AgeingStep is
//     smaller, i.e. one priority point is worth AgeingStep of waiting; ties
//     go to the earlier enqueue, then to the lower contact id.
//   - A contact gets the agent its queue's strategy ranks first among the
//     eligible ones (see Strategy); an agent with room gets the best
//     waiting contact it is eligible for, across queues and channels.
//   - Re-offer: after a reject or a lapsed offer the contact goes to
//     another eligible agent first; the agent that missed it (or, after a
//     transfer to a queue, the agent that held it) is blocked from it for
//     the queue's ReofferAfter (a transfer to a queue cuts a running block
//     to that queue's ReofferAfter), and once the block ends (at the first call
//     from then on: Tick every second) the contact is routed again, to
//     that agent too. So a contact whose only eligible agent missed it is
//     offered to it again, never stranded (liveness_test.go checks it).
//   - An agent that misses MaxMisses offers in a row is set away (a
//     SetAway event with Reason MissedOffers and the count).
//   - Idle-since is the last time the agent became available, was offered a
//     contact, or its load went back to zero.
package routing

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cic-platform/cic"
)

// Channel is how a contact reaches the company.
type Channel string

const (
	Chat   Channel = "chat"
	Email  Channel = "email"
	Call   Channel = "call"
	SMS    Channel = "sms"
	Social Channel = "social"
	Fax    Channel = "fax"
)

// Channels lists every channel, in the order the engine considers them.
var Channels = []Channel{Chat, Email, Call, SMS, Social, Fax}

// Strategy ranks the eligible agents for a queue's contact.
type Strategy string

const (
	// LongestIdle: earliest idle-since, then agent id.
	LongestIdle Strategy = "longest_idle"
	// BestSkill: highest sum of the agent's levels in the queue's required
	// skills, then longest idle.
	BestSkill Strategy = "best_skill"
	// RoundRobin: the first eligible agent id after the queue's cursor (the
	// agent last offered one of its contacts), wrapping around.
	RoundRobin Strategy = "round_robin"
	// LeastOccupied: lowest load/capacity over all channels, in thousandths
	// (rounded down), then longest idle.
	LeastOccupied Strategy = "least_occupied"
)

// Status is an agent's routing status; only Available takes offers.
type Status string

const (
	Offline   Status = "offline"
	Available Status = "available"
	Away      Status = "away"
	Busy      Status = "busy"
	WrapUp    Status = "wrap_up"
)

// AgeingStep is the wait worth one priority point.
const AgeingStep = time.Minute

// DefaultOfferTimeout is a queue's offer timeout when it sets none.
const DefaultOfferTimeout = 20 * time.Second

// Queue is a queue's routing configuration.
type Queue struct {
	ID       string
	Channels []Channel
	// Skills are the required skills with their minimum level (1–10).
	Skills   map[string]int
	Priority int
	// RelaxAfter drops the skill requirements for a contact that has
	// waited this long; 0 never does.
	RelaxAfter time.Duration
	// Strategy is LongestIdle when empty.
	Strategy     Strategy
	OfferTimeout time.Duration
	// MaxMisses sets an agent away after this many rejects or timeouts in
	// a row (an accept resets the count); 0 never does.
	MaxMisses int
	// ReofferAfter is how long the agent that missed a contact is not
	// offered it again (0: from the next call on); others go first.
	ReofferAfter time.Duration
	// Steps widen the skill requirements with the wait, in order of After
	// with falling MinLevel; a step to MinLevel 0 is RelaxAfter (give one
	// or the other).
	Steps []SkillStep
	// PreferredFor is how long a contact with a preferred agent waits for
	// that agent only; 0 never does.
	PreferredFor time.Duration
}

// SkillStep caps every skill minimum of the queue at MinLevel (0: none
// required) for a contact that has waited After.
type SkillStep struct {
	After    time.Duration `json:"after"`
	MinLevel int           `json:"min_level"`
}

// MaxSkillSteps bounds Queue.Steps.
const MaxSkillSteps = 10

// MaxReofferAfter bounds Queue.ReofferAfter.
const MaxReofferAfter = time.Hour

// Agent is an agent's routing profile.
type Agent struct {
	ID string
	// Skills with their level (1–10).
	Skills map[string]int
	// Capacity per channel, e.g. {Call: 1} or {Chat: 3, Email: 5}.
	Capacity map[Channel]int
}

// Contact is a new contact to route.
type Contact struct {
	ID       string
	Queue    string
	Channel  Channel
	Priority int
	// EnqueuedAt defaults to now; set it for a contact that already waited
	// elsewhere (an IVR menu), as its wait counts towards ageing.
	EnqueuedAt time.Time
	// PreferredAgent is offered the contact first, for the queue's
	// PreferredFor ("" none).
	PreferredAgent string
}

// Target is where a contact is transferred: a queue or a named agent.
type Target struct {
	Queue string
	Agent string
}

// Limits of the Redis encoding: ids are joined with , ; = | in scripts,
// scores are exact doubles only for the ranges below.
const (
	maxIDLen    = 200
	maxSkills   = 100
	maxPriority = 1000
	maxCapacity = 1000
	// maxMillis is 2^42 ms (year 2109): agent scores add idle-since to a
	// primary rank times 2^42.
	maxMillis = 1 << 42
)

func invalid(code, format string, args ...any) error {
	return cic.Codef(cic.EINVALID, code, format, args...)
}

func checkID(what, id string) error {
	if id == "" || len(id) > maxIDLen || strings.ContainsAny(id, ",;=| \t\r\n") {
		return invalid("invalid_"+what, "A %s id must be 1 to %d characters without spaces or , ; = |: %q.", what, maxIDLen, id)
	}
	return nil
}

func checkChannel(ch Channel) error {
	if !slices.Contains(Channels, ch) {
		return invalid("invalid_channel", "Unknown channel %q.", ch)
	}
	return nil
}

func checkLevels(skills map[string]int) error {
	if len(skills) > maxSkills {
		return invalid("invalid_skills", "At most %d skills.", maxSkills)
	}
	for s, l := range skills {
		if err := checkID("skill", s); err != nil {
			return err
		}
		if l < 1 || l > 10 {
			return invalid("invalid_skill_level", "Skill %s: level %d is not between 1 and 10.", s, l)
		}
	}
	return nil
}

func checkPriority(p int) error {
	if p < -maxPriority || p > maxPriority {
		return invalid("invalid_priority", "Priority %d is not between %d and %d.", p, -maxPriority, maxPriority)
	}
	return nil
}

func millis(t time.Time) (int64, error) {
	ms := t.UnixMilli()
	if ms < 0 || ms >= maxMillis {
		return 0, invalid("invalid_time", "Time %s is out of range.", t)
	}
	return ms, nil
}

// normalize fills the defaults and checks the queue.
func (q Queue) normalize() (Queue, error) {
	if err := checkID("queue", q.ID); err != nil {
		return q, err
	}
	if len(q.Channels) == 0 {
		return q, invalid("invalid_channels", "Queue %s serves no channel.", q.ID)
	}
	for _, ch := range q.Channels {
		if err := checkChannel(ch); err != nil {
			return q, err
		}
	}
	if err := checkLevels(q.Skills); err != nil {
		return q, err
	}
	if err := checkPriority(q.Priority); err != nil {
		return q, err
	}
	if q.Strategy == "" {
		q.Strategy = LongestIdle
	}
	switch q.Strategy {
	case LongestIdle, BestSkill, RoundRobin, LeastOccupied:
	default:
		return q, invalid("invalid_strategy", "Unknown strategy %q.", q.Strategy)
	}
	if q.OfferTimeout == 0 {
		q.OfferTimeout = DefaultOfferTimeout
	}
	if q.OfferTimeout < time.Millisecond || q.OfferTimeout > 24*time.Hour {
		return q, invalid("invalid_offer_timeout", "The offer timeout must be between 1 ms and 24 h.")
	}
	if q.RelaxAfter < 0 || q.RelaxAfter > 365*24*time.Hour {
		return q, invalid("invalid_relax_after", "relax_after must be between 0 and a year.")
	}
	if q.MaxMisses < 0 || q.MaxMisses > 1000 {
		return q, invalid("invalid_max_misses", "max_misses must be between 0 and 1000.")
	}
	if q.ReofferAfter < 0 || q.ReofferAfter > MaxReofferAfter {
		return q, invalid("invalid_reoffer_after", "reoffer_after must be between 0 and an hour.")
	}
	if q.PreferredFor < 0 || q.PreferredFor > time.Hour {
		return q, invalid("invalid_preferred_agent", "preferred_agent must be between 0 and an hour.")
	}
	return q.normalizeSteps()
}

// normalizeSteps checks the skill steps and splits them into RelaxAfter
// (the step to level 0) and Steps (those above), in order.
func (q Queue) normalizeSteps() (Queue, error) {
	steps := slices.Clone(q.Steps)
	if q.RelaxAfter > 0 {
		if slices.ContainsFunc(steps, func(s SkillStep) bool { return s.MinLevel == 0 }) {
			return q, invalid("invalid_skill_steps", "Give relax_after or a skill step to level 0, not both.")
		}
		steps = append(steps, SkillStep{After: q.RelaxAfter})
	}
	slices.SortStableFunc(steps, func(a, b SkillStep) int { return cmp.Compare(a.After, b.After) })
	if len(steps) > MaxSkillSteps {
		return q, invalid("invalid_skill_steps", "At most %d skill steps.", MaxSkillSteps)
	}
	q.RelaxAfter, q.Steps = 0, nil
	for i, s := range steps {
		if s.After < time.Millisecond || s.After > 365*24*time.Hour || s.MinLevel < 0 || s.MinLevel > 9 {
			return q, invalid("invalid_skill_steps", "A skill step comes after 1 ms to a year, to a level from 0 to 9.")
		}
		if i > 0 && (s.After == steps[i-1].After || s.MinLevel >= steps[i-1].MinLevel) {
			return q, invalid("invalid_skill_steps", "Skill steps come one after the other, each to a lower level.")
		}
		if s.MinLevel == 0 {
			q.RelaxAfter = s.After
		} else {
			q.Steps = append(q.Steps, s)
		}
	}
	return q, nil
}

func encodeSteps(steps []SkillStep) string {
	var b strings.Builder
	for i, s := range steps {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d=%d", s.After.Milliseconds(), s.MinLevel)
	}
	return b.String()
}

func (a Agent) check() error {
	if err := checkID("agent", a.ID); err != nil {
		return err
	}
	if err := checkLevels(a.Skills); err != nil {
		return err
	}
	for ch, n := range a.Capacity {
		if err := checkChannel(ch); err != nil {
			return err
		}
		if n < 0 || n > maxCapacity {
			return invalid("invalid_capacity", "Capacity %d on %s is not between 0 and %d.", n, ch, maxCapacity)
		}
	}
	return nil
}

func checkStatus(s Status) error {
	switch s {
	case Offline, Available, Away, Busy, WrapUp:
		return nil
	}
	return invalid("invalid_status", "Unknown status %q.", s)
}

// encodeLevels is "skill=level,..." in skill order (stable, for tests
// that read Redis).
func encodeLevels(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}

func encodeCapacity(m map[Channel]int) string {
	var b strings.Builder
	for _, ch := range Channels {
		if n := m[ch]; n > 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s=%d", ch, n)
		}
	}
	return b.String()
}
