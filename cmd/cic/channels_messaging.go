package main

import (
	"context"

	"github.com/cic-platform/cic/channels/fax"
	"github.com/cic-platform/cic/channels/messaging"
	"github.com/cic-platform/cic/channels/sms"
	"github.com/cic-platform/cic/channels/social"
	"github.com/cic-platform/cic/web"
)

// startMessaging builds the SMS, social and fax channels on one shared
// flow, registers them and turns their webhooks on. The returned stop
// closes the idle connections to the providers' APIs.
func startMessaging(_ context.Context, d channelDeps, wc *web.Config) (func(), error) {
	flow := &messaging.Flow{DB: d.app.tenants.DB, Contacts: d.contacts, Customers: d.customers,
		Conversations: d.conversations, Directory: d.directory, Log: d.log.With("component", "messaging")}
	// One client for the providers' APIs (at the tenants' api_base, so
	// under the outbound policy): a slow provider holds a reply for 15 s
	// at most.
	hc := d.outbound
	wc.SMS = &sms.Service{Flow: flow, PublicURL: d.cfg.PublicURL, HTTP: hc}
	wc.Social = &social.Service{Flow: flow, HTTP: hc}
	wc.Fax = &fax.Service{Flow: flow}
	d.registry.Register(wc.SMS)
	d.registry.Register(wc.Social)
	d.registry.Register(wc.Fax)
	return hc.CloseIdleConnections, nil
}
