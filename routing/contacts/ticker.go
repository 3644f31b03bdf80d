package contacts

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/routing"
)

// SeatHolders returns the users holding a live seat lease in a tenant.
type SeatHolders func(ctx context.Context, tenantID uuid.UUID) (map[uuid.UUID]bool, error)

// Ticker keeps routing moving between requests: every Interval it ticks
// each tenant's engine (offers that timed out go to the next agent,
// requirements relax), and every SweepEvery it takes out of routing the
// available agents whose seat lease is gone (a closed browser), so that
// nothing is offered to an empty desk, and moves contacts that waited too
// long to their queue's overflow queue. It rebuilds a tenant's routing
// state from the record at once when Redis lost it (the tenant's marker
// is gone: checked on every tick), and reconciles the record with the
// engine on every sweep (rebuild.go). Every server replica may run one:
// all of it is idempotent.
type Ticker struct {
	Contacts   *Service
	Holders    SeatHolders
	Interval   time.Duration
	SweepEvery time.Duration
	// Sweeps run for each tenant every SweepEvery too (e.g. channels
	// abandoning contacts whose customer is gone).
	Sweeps []func(ctx context.Context, tenantID uuid.UUID) error

	tenants   []uuid.UUID
	listedAt  time.Time
	lastSweep time.Time
}

// tenantsTTL is how long the list of tenants is reused.
const tenantsTTL = 30 * time.Second

// Run ticks until ctx ends.
func (t *Ticker) Run(ctx context.Context) {
	if t.Interval == 0 {
		t.Interval = time.Second
	}
	if t.SweepEvery == 0 {
		t.SweepEvery = 10 * time.Second
	}
	tk := time.NewTicker(t.Interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			t.Once(ctx)
		}
	}
}

// Once runs one round.
func (t *Ticker) Once(ctx context.Context) {
	s := t.Contacts
	now := s.Now()
	if now.Sub(t.listedAt) > tenantsTTL {
		ids, err := s.DB.ListTenantIDs(ctx)
		if err != nil {
			s.Logger.Warn("routing ticker: list tenants", "err", err)
		} else {
			t.tenants, t.listedAt = ids, now
		}
	}
	sweep := now.Sub(t.lastSweep) >= t.SweepEvery
	if sweep {
		t.lastSweep = now
	}
	for _, id := range t.tenants {
		if ctx.Err() != nil {
			return
		}
		rebuilt := false
		if built, err := s.Engine.Built(ctx, id); err != nil {
			s.Logger.Warn("routing tick", "tenant", id, "err", err)
			continue // Redis is down: the rest would fail too
		} else if !built {
			// Redis lost the tenant's routing state: rebuild it now.
			if _, err := s.Reconcile(ctx, id, t.Holders); err != nil {
				s.Logger.Error("routing rebuild", "tenant", id, "err", err)
			}
			rebuilt = true
		}
		if err := s.Tick(ctx, id); err != nil {
			s.Logger.Warn("routing tick", "tenant", id, "err", err)
		}
		if !sweep {
			continue
		}
		if t.Holders != nil {
			if err := t.sweep(ctx, id); err != nil {
				s.Logger.Warn("routing seat sweep", "tenant", id, "err", err)
			}
		}
		if !rebuilt {
			if _, err := s.Reconcile(ctx, id, t.Holders); err != nil {
				s.Logger.Warn("routing reconciliation", "tenant", id, "err", err)
			}
		}
		if _, err := s.Overflow(ctx, id); err != nil {
			s.Logger.Warn("routing overflow", "tenant", id, "err", err)
		}
		for _, f := range t.Sweeps {
			if err := f(ctx, id); err != nil {
				s.Logger.Warn("routing sweep", "tenant", id, "err", err)
			}
		}
	}
}

// sweep sets offline the available agents without a seat.
func (t *Ticker) sweep(ctx context.Context, tenantID uuid.UUID) error {
	snap, err := t.Contacts.Engine.Snapshot(ctx, tenantID)
	if err != nil {
		return err
	}
	var seated map[uuid.UUID]bool
	for _, a := range snap.Agents {
		if a.Status != routing.Available {
			continue
		}
		if seated == nil {
			if seated, err = t.Holders(ctx, tenantID); err != nil {
				return err
			}
		}
		id, err := uuid.Parse(a.ID)
		if err != nil || seated[id] {
			continue
		}
		if err := t.Contacts.GoOffline(ctx, tenantID, id); err != nil {
			return err
		}
		t.Contacts.Logger.Info("agent without a seat taken out of routing", "tenant", tenantID, "agent", id)
	}
	return nil
}
