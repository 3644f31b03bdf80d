package main

import (
	"log/slog"

	"github.com/cic-platform/cic/billing/chargeback"
	"github.com/cic-platform/cic/metering"
)

// newReports wires chargeback reports: files in PostgreSQL, or under
// REPORTS_DIR when set; generation queued on the worker through the app's
// job client. The server passes no mailer (the worker mails when a report
// is ready).
func newReports(a *app, cfg Config, log *slog.Logger, mailer metering.Mailer) *chargeback.Service {
	svc := &chargeback.Service{DB: a.tenants.DB, Jobs: a.jobs, Retention: cfg.ReportsRetention, Mailer: mailer,
		PublicURL: cfg.PublicURL, Logger: log}
	if cfg.ReportsDir != "" {
		svc.Store = chargeback.DirStore{Dir: cfg.ReportsDir}
	}
	return svc
}
