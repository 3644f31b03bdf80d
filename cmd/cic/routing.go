package main

import (
	"context"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant/seats"
)

// seatHolders reads who holds a seat, for the routing ticker's sweep.
func seatHolders(s *seats.Service) contacts.SeatHolders {
	return func(ctx context.Context, tenantID uuid.UUID) (map[uuid.UUID]bool, error) {
		ls, err := s.Leases.List(ctx, tenantID)
		if err != nil {
			return nil, err
		}
		m := make(map[uuid.UUID]bool, len(ls))
		for _, l := range ls {
			m[l.UserID] = true
		}
		return m, nil
	}
}
