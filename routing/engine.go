package routing

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/cic-platform/cic"
)

// Every operation is one function of one Redis Function library: one
// round trip, atomic. lua/lib.lua holds what they share (matching,
// indexes, the lazy tick); each operation file registers its function.
// The library is loaded into Redis once (FUNCTION LOAD), not sent or
// re-run with every call as an EVAL script would be: defining the shared
// functions cost every call some 5 µs of Redis CPU.
var (
	//go:embed lua/lib.lua
	libSrc string
	//go:embed lua/configure_queue.lua
	configureQueueSrc string
	//go:embed lua/configure_agent.lua
	configureAgentSrc string
	//go:embed lua/set_status.lua
	setStatusSrc string
	//go:embed lua/enqueue.lua
	enqueueSrc string
	//go:embed lua/accept.lua
	acceptSrc string
	//go:embed lua/reject.lua
	rejectSrc string
	//go:embed lua/finish.lua
	finishSrc string
	//go:embed lua/transfer.lua
	transferSrc string
	//go:embed lua/abandon.lua
	abandonSrc string
	//go:embed lua/tick.lua
	tickSrc string
	//go:embed lua/snapshot.lua
	snapshotSrc string

	libName, libCode = library()
)

// library assembles the Function library. Its name, and so its functions'
// names (<name>_<op>), carry a hash of the code: server replicas running
// different versions during a rollout each call their own functions, and
// never replace each other's. Old versions stay loaded, harmlessly, until
// FUNCTION DELETE or FLUSH.
func library() (name, code string) {
	body := strings.Join([]string{libSrc, configureQueueSrc, configureAgentSrc, setStatusSrc, enqueueSrc,
		acceptSrc, rejectSrc, finishSrc, transferSrc, abandonSrc, tickSrc, snapshotSrc}, "\n")
	// Appended after the list, on a line of its own (rebuild.go).
	body += "\n" + restoreSrc
	sum := sha256.Sum256([]byte(body))
	name = "cic_routing_" + hex.EncodeToString(sum[:6])
	return name, "#!lua name=" + name + "\nlocal LIB = '" + name + "'\n" + body
}

// ErrUnavailable wraps every failure to reach Redis.
var ErrUnavailable = errors.New("routing store unavailable")

// Engine routes the contacts of every tenant. Keys are
// <prefix>rt:{t:<tenant>}:..., the hash tag putting a tenant's keys in one
// Redis Cluster slot (lua/lib.lua lists them).
//
// Redis Cluster: a function declares the keys it touches, and Cluster
// routes the call by them and checks that they share one slot. Every
// function declares exactly one key, the tenant's reservations zset
// (keys); the others it builds from the tenant prefix passed as ARGV[1],
// which has the same {t:<tenant>} hash tag, so they are in that slot too.
// The library must be on every primary: call loads it through the client
// when a call says "Function not found" (with a ClusterClient, check that
// FUNCTION LOAD reaches the node that said so; not tested here, the
// project runs one Redis).
type Engine struct {
	rdb    redis.UniversalClient
	prefix string
}

// New keeps routing state in rdb under prefix (e.g. "cic:").
func New(rdb redis.UniversalClient, prefix string) *Engine {
	return &Engine{rdb: rdb, prefix: prefix}
}

// keys returns the tenant's prefix and the one key every function
// declares: the reservations zset, which every call touches (lazy expiry).
func (e *Engine) keys(tenant uuid.UUID) (string, []string) {
	p := e.prefix + "rt:{t:" + tenant.String() + "}:"
	return p, []string{p + "res"}
}

// scriptErrors maps a function's refusal to the shared error vocabulary.
var scriptErrors = map[string]struct {
	kind cic.Kind
	msg  string
}{
	"unknown_queue":      {cic.ENOTFOUND, "No such queue."},
	"unknown_agent":      {cic.ENOTFOUND, "No such agent: configure its routing profile first."},
	"unknown_contact":    {cic.ENOTFOUND, "No such contact in routing: it was finished or abandoned."},
	"contact_exists":     {cic.ECONFLICT, "The contact is already being routed."},
	"channel_not_served": {cic.EINVALID, "The queue does not serve the contact's channel."},
	"not_offered":        {cic.ECONFLICT, "The contact is not offered to this agent (the offer may have timed out)."},
	"not_assigned":       {cic.ECONFLICT, "The contact is not assigned to this agent."},
	"agent_unavailable":  {cic.ECONFLICT, "The agent is not available or has no room on this channel."},
	"already_accepted":   {cic.ECONFLICT, "The contact was accepted already."},
	"same_agent":         {cic.EINVALID, "The contact is already with this agent."},
}

// call runs the library's function fn (FCALL, or FCALL_RO when ro),
// loading the library first when Redis does not have it: on the first
// call to a new server, after a restart without persistence, a FUNCTION
// FLUSH or a failover to a replica that lacked it.
func (e *Engine) call(ctx context.Context, fn string, ro bool, keys []string, args []any) *redis.Cmd {
	name := libName + "_" + fn
	do := func() *redis.Cmd {
		if ro {
			return e.rdb.FCallRO(ctx, name, keys, args...)
		}
		return e.rdb.FCall(ctx, name, keys, args...)
	}
	cmd := do()
	if err := cmd.Err(); err != nil && strings.Contains(err.Error(), "Function not found") {
		if err := e.rdb.FunctionLoadReplace(ctx, libCode).Err(); err != nil {
			cmd.SetErr(fmt.Errorf("loading the routing functions: %w", err))
			return cmd
		}
		cmd = do()
	}
	return cmd
}

// run calls an operation's function and decodes its {code, info,
// events...} reply. A refusal still carries the changes the function's
// lazy tick made.
func (e *Engine) run(ctx context.Context, fn string, op string, tenant uuid.UUID, now time.Time, args ...any) (string, Changes, error) {
	ms, err := millis(now)
	if err != nil {
		return "", Changes{}, err
	}
	p, keys := e.keys(tenant)
	res, err := e.call(ctx, fn, false, keys, append([]any{p, ms}, args...)).Slice()
	if err != nil {
		return "", Changes{}, fmt.Errorf("routing %s: %w: %w", op, ErrUnavailable, err)
	}
	if len(res) < 2 {
		return "", Changes{}, fmt.Errorf("routing %s: short reply %v", op, res)
	}
	var ch Changes
	for _, item := range res[2:] {
		ev, err := decodeEvent(item)
		if err != nil {
			return "", ch, fmt.Errorf("routing %s: %w", op, err)
		}
		ch.Events = append(ch.Events, ev)
	}
	code, info := str(res[0]), str(res[1])
	if code != "" {
		m, ok := scriptErrors[code]
		if !ok {
			m.kind, m.msg = cic.EINTERNAL, "routing script refused: "+code
		}
		return info, ch, fmt.Errorf("routing %s: %w", op, cic.Codef(m.kind, code, "%s", m.msg))
	}
	return info, ch, nil
}

func decodeEvent(item any) (Event, error) {
	f, ok := item.([]any)
	if !ok || len(f) < 2 {
		return Event{}, fmt.Errorf("bad event %v", item)
	}
	ev := Event{Kind: EventKind(str(f[0]))}
	switch ev.Kind {
	case Offered:
		if len(f) < 6 {
			return Event{}, fmt.Errorf("bad offer %v", f)
		}
		ev.Contact, ev.Agent, ev.Queue, ev.Channel = str(f[1]), str(f[2]), str(f[3]), Channel(str(f[4]))
		ev.ExpiresAt = time.UnixMilli(num(f[5]))
	case Requeued:
		if len(f) < 5 {
			return Event{}, fmt.Errorf("bad requeue %v", f)
		}
		ev.Contact, ev.Agent, ev.Queue, ev.Reason = str(f[1]), str(f[2]), str(f[3]), Reason(str(f[4]))
	case Transferred:
		if len(f) < 4 {
			return Event{}, fmt.Errorf("bad transfer %v", f)
		}
		ev.Contact, ev.Agent, ev.Queue = str(f[1]), str(f[2]), str(f[3])
	case SetAway:
		ev.Agent = str(f[1])
		if len(f) >= 4 {
			ev.Reason, ev.Misses = Reason(str(f[2])), int(num(f[3]))
		}
	default:
		return Event{}, fmt.Errorf("unknown event %v", f)
	}
	return ev, nil
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

func num(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

// ConfigureQueue creates or changes a queue. Agents' memberships follow at
// once, and its waiting contacts are re-ranked and routed (new requirements
// may match idle agents).
func (e *Engine) ConfigureQueue(ctx context.Context, tenant uuid.UUID, q Queue, now time.Time) (Changes, error) {
	q, err := q.normalize()
	if err != nil {
		return Changes{}, err
	}
	chans := make([]string, len(q.Channels))
	for i, ch := range q.Channels {
		chans[i] = string(ch)
	}
	_, ch, err := e.run(ctx, "configure_queue", "configure queue", tenant, now, q.ID, strings.Join(chans, ","),
		encodeLevels(q.Skills), q.Priority, q.RelaxAfter.Milliseconds(), string(q.Strategy),
		q.OfferTimeout.Milliseconds(), q.MaxMisses, q.ReofferAfter.Milliseconds(), q.PreferredFor.Milliseconds(), encodeSteps(q.Steps))
	return ch, err
}

// ConfigureAgent creates (offline) or changes an agent's routing profile;
// an available agent with new room is offered waiting contacts at once.
func (e *Engine) ConfigureAgent(ctx context.Context, tenant uuid.UUID, a Agent, now time.Time) (Changes, error) {
	if err := a.check(); err != nil {
		return Changes{}, err
	}
	_, ch, err := e.run(ctx, "configure_agent", "configure agent", tenant, now, a.ID, encodeLevels(a.Skills), encodeCapacity(a.Capacity))
	return ch, err
}

// SetStatus changes an agent's status. Available requires the caller to
// have checked that the agent holds a seat lease (seats.Leases); losing
// the lease must be followed by SetStatus(Offline). Leaving Available
// requeues (and reroutes) the contacts only offered to the agent; those it
// accepted stay with it.
func (e *Engine) SetStatus(ctx context.Context, tenant uuid.UUID, agentID string, s Status, now time.Time) (Changes, error) {
	if err := checkStatus(s); err != nil {
		return Changes{}, err
	}
	if err := checkID("agent", agentID); err != nil {
		return Changes{}, err
	}
	_, ch, err := e.run(ctx, "set_status", "set status", tenant, now, agentID, string(s))
	return ch, err
}

// Enqueue adds a contact to its queue and offers it at once when an agent
// is eligible (an Offered event).
func (e *Engine) Enqueue(ctx context.Context, tenant uuid.UUID, c Contact, now time.Time) (Changes, error) {
	if err := checkID("contact", c.ID); err != nil {
		return Changes{}, err
	}
	if err := checkID("queue", c.Queue); err != nil {
		return Changes{}, err
	}
	if err := checkChannel(c.Channel); err != nil {
		return Changes{}, err
	}
	if err := checkPriority(c.Priority); err != nil {
		return Changes{}, err
	}
	if c.PreferredAgent != "" {
		if err := checkID("agent", c.PreferredAgent); err != nil {
			return Changes{}, err
		}
	}
	enq := c.EnqueuedAt
	if enq.IsZero() {
		enq = now
	}
	ms, err := millis(enq)
	if err != nil {
		return Changes{}, err
	}
	_, ch, err := e.run(ctx, "enqueue", "enqueue", tenant, now, c.ID, c.Queue, string(c.Channel), c.Priority, ms, c.PreferredAgent)
	return ch, err
}

// Accept turns the agent's reservation into an assignment. first is true
// on the contact's first accept ever (transfers and re-offers keep the
// contact, so its later accepts are not), for the caller to meter once.
// Only the reserved agent may accept, before the offer times out.
func (e *Engine) Accept(ctx context.Context, tenant uuid.UUID, contactID, agentID string, now time.Time) (first bool, ch Changes, err error) {
	info, ch, err := e.run(ctx, "accept", "accept", tenant, now, contactID, agentID)
	return err == nil && info == "1", ch, err
}

// Reject declines an offer: the contact goes back to its queue (same
// enqueue time and priority) and on to the next agent; the agent's miss
// counts towards the queue's MaxMisses.
func (e *Engine) Reject(ctx context.Context, tenant uuid.UUID, contactID, agentID string, now time.Time) (Changes, error) {
	_, ch, err := e.run(ctx, "reject", "reject", tenant, now, contactID, agentID)
	return ch, err
}

// Finish ends an assigned contact (wrap-up done, closed): it leaves the
// routing state, and the agent's freed room is offered the next contact.
func (e *Engine) Finish(ctx context.Context, tenant uuid.UUID, contactID, agentID string, now time.Time) (Changes, error) {
	_, ch, err := e.run(ctx, "finish", "finish", tenant, now, contactID, agentID)
	return ch, err
}

// Transfer moves a contact, keeping its id: to another queue (whoever held
// it is freed, and it is not offered back to them first), or to a named
// agent, who gets a reservation if available with room on the channel.
func (e *Engine) Transfer(ctx context.Context, tenant uuid.UUID, contactID string, to Target, now time.Time) (Changes, error) {
	if (to.Queue == "") == (to.Agent == "") {
		return Changes{}, invalid("invalid_target", "Transfer to a queue or to an agent.")
	}
	_, ch, err := e.run(ctx, "transfer", "transfer", tenant, now, contactID, to.Queue, to.Agent)
	return ch, err
}

// Abandon removes a contact whose customer left before an agent accepted
// it, and says whether it was waiting or offered (then the agent is freed).
func (e *Engine) Abandon(ctx context.Context, tenant uuid.UUID, contactID string, now time.Time) (Was, Changes, error) {
	info, ch, err := e.run(ctx, "abandon", "abandon", tenant, now, contactID)
	return Was(info), ch, err
}

// Tick relaxes the requirements that are due and expires the reservations
// that ran out. Every operation does so first; call Tick every second or
// so for the tenants with routing activity, so nothing waits for the next
// operation.
func (e *Engine) Tick(ctx context.Context, tenant uuid.UUID, now time.Time) (Changes, error) {
	_, ch, err := e.run(ctx, "tick", "tick", tenant, now)
	return ch, err
}
