package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// The demo's priced usage: without it every demo contact comes from the
// free trial and the chargeback reports add up to zero.
const (
	demoBundleContacts = 10000
	demoBundlePrice    = 49000 // 490.00 EUR: 4.9 cents a contact
	demoUsageContacts  = 400
)

// demoUsageQueues and demoUsageCampaigns spread the demo contacts over
// dimensions, so a report by queue, campaign or cost centre has groups.
var (
	demoUsageQueues    = []string{demoQueue, "Sales", "Billing"}
	demoUsageCampaigns = []string{"", "", "spring-offer"}
	demoUsageChannels  = []string{"chat", "email", "voice", "sms"}
)

// seedDemoUsage credits the demo tenant one priced bundle (once) and
// meters demoUsageContacts contacts handled over the last three weeks.
// Metering is idempotent by contact id, so a re-run meters nothing new.
func seedDemoUsage(ctx context.Context, svc *tenant.Service, log *slog.Logger) error {
	owner, err := demoOwner(ctx, svc, log)
	if err != nil {
		return err
	}
	tid := owner.TenantID
	err = svc.DB.Tx(ctx, tid, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM bundles WHERE tenant_id = $1 AND source = $2`,
			tid, metering.SourceGrant).Scan(&n); err != nil || n > 0 {
			return err
		}
		now := time.Now().UTC()
		_, err := metering.CreditBundle(ctx, tx, tid, metering.Bundle{Source: metering.SourceGrant,
			Contacts: demoBundleContacts, PriceMinor: demoBundlePrice, Currency: demoCurrency,
			ValidFrom: now.Add(-30 * 24 * time.Hour), ValidUntil: now.AddDate(1, 0, 0)})
		if err == nil {
			log.Info("demo bundle credited", "contacts", demoBundleContacts, "price_minor", demoBundlePrice)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("demo bundle: %w", err)
	}

	m := metering.NewMeter(svc.DB)
	m.Start()
	defer m.Close()
	now := time.Now().UTC()
	batch := make([]metering.HandledContact, 0, demoUsageContacts)
	for i := range demoUsageContacts {
		q := i % len(demoUsageQueues)
		dir := "inbound"
		if i%7 == 0 {
			dir = "outbound"
		}
		dept := demoDepartment
		if i%5 == 0 {
			dept = "" // e.g. handled by a bot: allocated by queue or campaign only
		}
		batch = append(batch, metering.HandledContact{
			ID:         "demo-" + uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "demo-usage-%d", i)).String(),
			Channel:    demoUsageChannels[i%len(demoUsageChannels)],
			Direction:  dir,
			HandledAt:  now.Add(-time.Duration(i) * 75 * time.Minute),
			Queue:      demoUsageQueues[q],
			Department: dept,
			Campaign:   demoUsageCampaigns[(i/3)%len(demoUsageCampaigns)],
			Agent:      demoEmail("agent"),
		})
	}
	res, err := m.Meter(ctx, tid, metering.SourceAPI, batch)
	if err != nil {
		return fmt.Errorf("demo usage: %w", err)
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("demo usage: %s: %s", res.Errors[0].Code, res.Errors[0].Message)
	}
	if len(res.Accepted) > 0 {
		log.Info("demo usage metered", "contacts", len(res.Accepted))
	}
	return nil
}
