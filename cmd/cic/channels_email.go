package main

import (
	"context"
	"time"

	"github.com/cic-platform/cic/channels/email"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/web"
)

// startEmail builds the e-mail channel: registers it (replies, surveys,
// outbound e-mail through SMTP_RELAY), starts the inbound SMTP listener
// on SMTP_ADDR and, as a sweep of the routing ticker, the delivery of
// mail held while a queue was closed.
// The returned stop closes the listener and waits for replies under way.
func startEmail(ctx context.Context, d channelDeps, _ *web.Config) (func(), error) {
	svc := &email.Service{DB: d.app.tenants.DB, Contacts: d.contacts, Conversations: d.conversations, Directory: d.directory,
		Domain: d.cfg.InboundDomain, MaxBytes: d.cfg.SMTPMaxBytes, Logger: d.log.With("channel", "email"),
		MaxConnections: d.cfg.SMTPMaxConns, MaxConnectionsPerIP: d.cfg.SMTPMaxConnsPerIP}
	if d.cfg.SMTPRelay != "" {
		from := d.cfg.SMTPFrom
		if from == "" {
			from = metering.DefaultMailFrom
		}
		svc.Relay = &metering.SMTPMailer{Addr: d.cfg.SMTPRelay, From: from, Logger: d.log}
	} else {
		d.log.Info("outbound e-mail is off (SMTP_RELAY not set): replies on e-mail contacts are saved as not sent")
	}
	d.registry.Register(svc)
	ln, err := svc.Listen(ctx, d.cfg.SMTPAddr)
	if err != nil {
		return nil, err
	}
	// Mail held while its queue was closed goes to the queue once it
	// opens: a sweep of the routing ticker, which visits every tenant.
	d.ticker.Sweeps = append(d.ticker.Sweeps, svc.ReleaseSweep)
	return func() { ln.Close(10 * time.Second) }, nil
}
