package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cic-platform/cic/tenant"
)

// rotateSecrets is `cic secrets rotate`: every provider secret not sealed
// with the first key (and any still in plain text) is sealed again with
// it. Run it after putting a new key first in SECRETS_KEY (or JWT_KEYS);
// the old key can go once it has finished.
func (m *Main) rotateSecrets(ctx context.Context, cfg Config, log *slog.Logger) error {
	box, err := openSecrets(cfg, nil)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, log, tenant.GenerateKeys(), m.passwords)
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := newDirectory(cfg, a.tenants.DB, box).SealSecrets(ctx, true)
	if err != nil {
		return fmt.Errorf("secrets rotate (%d sealed again before the error): %w", res.Sealed, err)
	}
	fmt.Fprintf(m.Stdout, "sealed %d secrets with the first key\n", res.Sealed)
	return nil
}
