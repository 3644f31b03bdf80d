package seats

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/tenant"
)

// Reservation is a number of seats only one department may use.
type Reservation struct {
	DepartmentID uuid.UUID `json:"department_id"`
	Department   string    `json:"department"`
	Seats        int       `json:"seats"`
}

// PoolInfo is the tenant's pool as PostgreSQL defines it: the limit from
// the seat grants valid now and the department reservations.
type PoolInfo struct {
	Limit        int
	Reservations []Reservation
}

func (p PoolInfo) pool() Pool {
	out := Pool{Limit: p.Limit, Reserved: make(map[uuid.UUID]int, len(p.Reservations))}
	for _, r := range p.Reservations {
		out.Reserved[r.DepartmentID] = r.Seats
	}
	return out
}

func (p PoolInfo) reservation(dept *uuid.UUID) (Reservation, bool) {
	if dept == nil {
		return Reservation{}, false
	}
	for _, r := range p.Reservations {
		if r.DepartmentID == *dept {
			return r, true
		}
	}
	return Reservation{}, false
}

// ReservedTotal is the sum of every department's reservation.
func (p PoolInfo) ReservedTotal() int {
	n := 0
	for _, r := range p.Reservations {
		n += r.Seats
	}
	return n
}

func loadPool(ctx context.Context, q tenant.Querier, tenantID uuid.UUID, now time.Time) (PoolInfo, error) {
	limit, err := Limit(ctx, q, tenantID, now)
	if err != nil {
		return PoolInfo{}, err
	}
	rows, err := q.Query(ctx, `SELECT r.department_id, d.name, r.seats FROM seat_reservations r
		JOIN departments d ON d.tenant_id = r.tenant_id AND d.id = r.department_id
		WHERE r.tenant_id = $1 ORDER BY d.name`, tenantID)
	if err != nil {
		return PoolInfo{}, fmt.Errorf("seat reservations: %w", err)
	}
	res, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Reservation, error) {
		var v Reservation
		return v, r.Scan(&v.DepartmentID, &v.Department, &v.Seats)
	})
	if err != nil {
		return PoolInfo{}, fmt.Errorf("seat reservations: %w", err)
	}
	return PoolInfo{Limit: limit, Reservations: res}, nil
}

// poolCache spares PostgreSQL a query per login and heartbeat. A change
// made through this process is seen at once; one made by another replica
// (or a grant expiring) within ttl.
type poolCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[uuid.UUID]cachedPool
}

type cachedPool struct {
	info PoolInfo
	at   time.Time
}

func (c *poolCache) get(tenantID uuid.UUID, now time.Time) (PoolInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[tenantID]
	if !ok || now.Sub(e.at) >= c.ttl || now.Before(e.at) {
		return PoolInfo{}, false
	}
	return e.info, true
}

func (c *poolCache) put(tenantID uuid.UUID, info PoolInfo, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[uuid.UUID]cachedPool{}
	}
	// Bounded: drop everything rather than track ages when it grows big.
	if len(c.m) > 10000 {
		clear(c.m)
	}
	c.m[tenantID] = cachedPool{info: info, at: now}
}

func (c *poolCache) forget(tenantID uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, tenantID)
}
