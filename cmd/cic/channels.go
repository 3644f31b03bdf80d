package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/web"
)

// channelDeps is what every channel package is built from.
type channelDeps struct {
	app           *app
	cfg           Config
	log           *slog.Logger
	contacts      *contacts.Service
	customers     *customer.Service
	conversations *conversation.Store
	directory     *directory.Directory
	registry      *channels.Registry
	// ticker is the routing ticker, not started yet: channels add their
	// per-tenant sweeps to it.
	ticker *contacts.Ticker
	// outbound calls the providers' APIs (tenant-given URLs) under the
	// outbound policy.
	outbound *http.Client
}

// startChannels builds the channels beyond chat, registers them, puts
// them into the web config and starts their listeners (SMTP); the
// returned stop closes those.
func startChannels(ctx context.Context, d channelDeps, wc *web.Config) (stop func(), err error) {
	d.directory.InboundDomain = d.cfg.InboundDomain
	if d.outbound == nil {
		d.outbound = outboundPolicy(d.cfg).Client(15 * time.Second)
	}
	wc.Channels, wc.Customers, wc.Conversations, wc.Directory = d.registry, d.customers, d.conversations, d.directory
	wc.InboundDomain = d.cfg.InboundDomain
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	for _, start := range []func(context.Context, channelDeps, *web.Config) (func(), error){
		startEmail, startVoice, startMessaging,
	} {
		s, err := start(ctx, d, wc)
		if err != nil {
			stop()
			return nil, err
		}
		if s != nil {
			stops = append(stops, s)
		}
	}
	return stop, nil
}
