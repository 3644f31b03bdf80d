package seats

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Every lease operation is one Lua script: one round trip, atomic, so
// any number of server replicas share a pool without ever handing out
// more seats than it has.
var (
	//go:embed lua/acquire.lua
	acquireSrc string
	//go:embed lua/renew.lua
	renewSrc string
	//go:embed lua/release.lua
	releaseSrc string
	//go:embed lua/list.lua
	listSrc string
	//go:embed lua/drain.lua
	drainSrc string

	acquireScript = redis.NewScript(acquireSrc)
	renewScript   = redis.NewScript(renewSrc)
	releaseScript = redis.NewScript(releaseSrc)
	listScript    = redis.NewScript(listSrc)
	drainScript   = redis.NewScript(drainSrc)
)

// noDepartment stands for "no department" in Redis.
const noDepartment = "-"

// Leases keeps the seat leases of every tenant in Redis. Keys are
// <prefix>seat:{t:<tenant>}:..., the hash tag putting a tenant's keys in
// one Redis Cluster slot.
type Leases struct {
	rdb    redis.UniversalClient
	prefix string
	// TTL is how long a lease lives without a heartbeat.
	TTL time.Duration
}

// DefaultTTL is the lease time to live; clients heartbeat every third of it.
const DefaultTTL = 60 * time.Second

// NewLeases keeps leases in rdb under prefix (e.g. "cic:").
func NewLeases(rdb redis.UniversalClient, prefix string) *Leases {
	return &Leases{rdb: rdb, prefix: prefix, TTL: DefaultTTL}
}

// HeartbeatEvery is how often a holder should renew.
func (l *Leases) HeartbeatEvery() time.Duration { return l.TTL / 3 }

// Pool is the shape of a tenant's seat pool at one moment.
type Pool struct {
	Limit int
	// Reserved holds the seats that only a department may use.
	Reserved map[uuid.UUID]int
}

// Lease is one user holding one seat from one workstation.
type Lease struct {
	ID           uuid.UUID
	TenantID     uuid.UUID
	UserID       uuid.UUID
	DepartmentID *uuid.UUID
	Workstation  string
	IP           string
	Since        time.Time
	Heartbeat    time.Time
	ExpiresAt    time.Time
	// Token is the fencing token: it grows with every lease of the
	// tenant, so work stamped with it can tell an old holder from a new.
	Token int64
}

// Request asks for a seat.
type Request struct {
	TenantID     uuid.UUID
	UserID       uuid.UUID
	DepartmentID *uuid.UUID
	Workstation  string
	IP           string
	// Resume marks a holder taking a seat again after Redis lost its
	// lease; refused, it gets a claim on the next seat freed.
	Resume bool
}

// Granted is a new lease; MovedFrom names the workstation the user's
// previous lease was taken from, if any.
type Granted struct {
	Lease
	MovedFrom string
}

// Refusal says why no seat was given.
type Refusal struct {
	Held, Limit int
	// DeptReserved and DeptHeld are the seats reserved for the user's
	// department and how many of them are held; AllReserved is the sum
	// of every department's reservation.
	DeptReserved, DeptHeld, AllReserved int
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("no seat free: %d of %d held", r.Held, r.Limit)
}

// Gone says why a lease is no longer held.
type Gone struct {
	// Reason is "moved", "released" (by an admin), "ended" (by its
	// holder), "expired", "foreign" (another user's lease) or "" when unknown (Redis lost its data, or the
	// lease never existed).
	Reason string
	// Workstation is where the lease moved to, for Reason "moved".
	Workstation string
}

func (g *Gone) Error() string {
	if g.Reason == "" {
		return "lease not held"
	}
	return "lease not held: " + g.Reason
}

// ErrUnavailable wraps every failure to reach Redis: callers refuse new
// leases then (fail closed) rather than guess.
var ErrUnavailable = errors.New("seat store unavailable")

func (l *Leases) keys(tenantID uuid.UUID) (prefix string, keys []string) {
	prefix = l.prefix + "seat:{t:" + tenantID.String() + "}:"
	return prefix, []string{prefix + "holders", prefix + "cnt"}
}

func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

func deptArg(d *uuid.UUID) string {
	if d == nil {
		return noDepartment
	}
	return d.String()
}

// Acquire takes a seat for the user, moving the user's lease here if they
// hold one elsewhere. It returns *Refusal when the pool is full, and
// *Gone (moved) when req.Resume finds the user seated elsewhere.
func (l *Leases) Acquire(ctx context.Context, req Request, pool Pool) (Granted, error) {
	prefix, keys := l.keys(req.TenantID)
	id := uuid.New()
	resume := 0
	if req.Resume {
		resume = 1
	}
	args := make([]any, 0, 10+2*len(pool.Reserved))
	args = append(args, prefix, id.String(), req.UserID.String(), deptArg(req.DepartmentID),
		req.Workstation, req.IP, l.TTL.Milliseconds(), pool.Limit, resume, len(pool.Reserved))
	for d, n := range pool.Reserved {
		args = append(args, d.String(), n)
	}
	res, err := acquireScript.Run(ctx, l.rdb, keys, args...).Slice()
	if err != nil {
		return Granted{}, unavailable("acquire seat", err)
	}
	r := reply(res)
	if r.int(0) == 2 {
		return Granted{}, &Gone{Reason: "moved", Workstation: r.str(1)}
	}
	if r.int(0) == 0 {
		return Granted{}, &Refusal{Held: int(r.int(1)), Limit: int(r.int(2)), DeptReserved: int(r.int(3)),
			DeptHeld: int(r.int(4)), AllReserved: int(r.int(5))}
	}
	now := time.Now()
	exp := time.UnixMilli(r.int(2))
	return Granted{
		Lease: Lease{ID: id, TenantID: req.TenantID, UserID: req.UserID, DepartmentID: req.DepartmentID,
			Workstation: req.Workstation, IP: req.IP, Since: now, Heartbeat: now, ExpiresAt: exp, Token: r.int(1)},
		MovedFrom: r.str(3),
	}, nil
}

// Renewed is the state of a lease after a heartbeat.
type Renewed struct {
	Token     int64
	ExpiresAt time.Time
	Since     time.Time
}

// Renew extends the user's lease by TTL. It returns *Gone when the lease
// is no longer held.
func (l *Leases) Renew(ctx context.Context, tenantID, leaseID, userID uuid.UUID) (Renewed, error) {
	prefix, keys := l.keys(tenantID)
	res, err := renewScript.Run(ctx, l.rdb, keys[:1], prefix, leaseID.String(), userID.String(), l.TTL.Milliseconds()).Slice()
	if err != nil {
		return Renewed{}, unavailable("renew seat", err)
	}
	r := reply(res)
	if r.int(0) == 0 {
		return Renewed{}, goneFrom(r.str(1))
	}
	return Renewed{Token: r.int(1), ExpiresAt: time.UnixMilli(r.int(2)), Since: time.UnixMilli(r.int(3))}, nil
}

func goneFrom(reason string) *Gone {
	if ws, ok := strings.CutPrefix(reason, "moved:"); ok {
		return &Gone{Reason: "moved", Workstation: ws}
	}
	return &Gone{Reason: reason}
}

// Release frees the user's lease (leaseID uuid.Nil: whichever lease the
// user holds). It returns *Gone when there is none to free.
func (l *Leases) Release(ctx context.Context, tenantID, leaseID, userID uuid.UUID) error {
	_, err := l.release(ctx, tenantID, leaseID, userID.String(), "ended")
	return err
}

// ForceRelease frees any holder's lease and leaves word for them that an
// admin released it. It returns the holder.
func (l *Leases) ForceRelease(ctx context.Context, tenantID, leaseID uuid.UUID) (uuid.UUID, error) {
	return l.release(ctx, tenantID, leaseID, "", "released")
}

// ReleaseUser frees whatever lease the user holds, for when the user is
// deactivated; it is not an error if there is none.
func (l *Leases) ReleaseUser(ctx context.Context, tenantID, userID uuid.UUID) error {
	_, err := l.release(ctx, tenantID, uuid.Nil, userID.String(), "released")
	var g *Gone
	if errors.As(err, &g) {
		return nil
	}
	return err
}

func (l *Leases) release(ctx context.Context, tenantID, leaseID uuid.UUID, user, reason string) (uuid.UUID, error) {
	prefix, keys := l.keys(tenantID)
	id := ""
	if leaseID != uuid.Nil {
		id = leaseID.String()
	}
	res, err := releaseScript.Run(ctx, l.rdb, keys, prefix, id, user, reason).Slice()
	if err != nil {
		return uuid.Nil, unavailable("release seat", err)
	}
	r := reply(res)
	if r.int(0) == 0 {
		return uuid.Nil, &Gone{}
	}
	holder, _ := uuid.Parse(r.str(1))
	return holder, nil
}

// List returns the tenant's live leases, oldest first.
func (l *Leases) List(ctx context.Context, tenantID uuid.UUID) ([]Lease, error) {
	prefix, keys := l.keys(tenantID)
	res, err := listScript.Run(ctx, l.rdb, keys[:1], prefix).Slice()
	if err != nil {
		return nil, unavailable("list seats", err)
	}
	r := reply(res)
	out := make([]Lease, 0, len(res)/9)
	for i := 0; i+9 <= len(res); i += 9 {
		le := Lease{TenantID: tenantID, Workstation: r.str(i + 3), IP: r.str(i + 4),
			Since: time.UnixMilli(r.int(i + 5)), Heartbeat: time.UnixMilli(r.int(i + 6)),
			ExpiresAt: time.UnixMilli(r.int(i + 7)), Token: r.int(i + 8)}
		le.ID, _ = uuid.Parse(r.str(i))
		le.UserID, _ = uuid.Parse(r.str(i + 1))
		if d, err := uuid.Parse(r.str(i + 2)); err == nil {
			le.DepartmentID = &d
		}
		out = append(out, le)
	}
	return out, nil
}

// reply reads a script's array reply, whose items are integers or strings.
type reply []any

func (r reply) int(i int) int64 {
	if i >= len(r) {
		return 0
	}
	switch v := r[i].(type) {
	case int64:
		return v
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

func (r reply) str(i int) string {
	if i >= len(r) {
		return ""
	}
	switch v := r[i].(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}
