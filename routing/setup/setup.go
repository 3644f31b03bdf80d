// Package setup is routing as the admin sets it up: skills, queues with
// their skill requirements and service-level targets, agents' routing
// profiles and disposition codes, kept in PostgreSQL. The routing engine
// (package routing) routes with a copy of them in Redis.
package setup

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Service reads and changes the routing setup of a tenant.
type Service struct {
	DB *tenant.DB
	// OnChange, when set, runs after a committed change of a tenant's
	// setup (e.g. push it to the routing engine). Its error is returned
	// to the caller, the change staying made.
	OnChange func(ctx context.Context, ev ChangeEvent) error
}

// ChangeEvent says what changed.
type ChangeEvent struct {
	TenantID uuid.UUID
	// Kind is "skill", "queue", "profile" or "disposition"; ID what changed.
	Kind string
	ID   string
}

// Channels a queue may serve and an agent may take.
var Channels = []string{"chat", "email", "voice", "sms", "social", "fax"}

func validChannel(c string) bool {
	for _, k := range Channels {
		if k == c {
			return true
		}
	}
	return false
}

var (
	errNotManager = cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin may change the routing setup.")
	errNotViewer  = cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner, admin or supervisor may see the routing setup.")
)

func requireManager(a tenant.Actor) error {
	if !a.Role.Manages() {
		return errNotManager
	}
	return nil
}

func requireViewer(a tenant.Actor) error {
	if !a.Role.In(cic.RoleOwner, cic.RoleAdmin, cic.RoleSupervisor) {
		return errNotViewer
	}
	return nil
}

func (s *Service) changed(ctx context.Context, tenantID uuid.UUID, kind, id string) error {
	if s.OnChange == nil {
		return nil
	}
	return s.OnChange(ctx, ChangeEvent{TenantID: tenantID, Kind: kind, ID: id})
}

func pgCode(err error) (code, constraint string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code, pe.ConstraintName
	}
	return "", ""
}
