package main

import (
	"context"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/channels/voice"
	"github.com/cic-platform/cic/web"
)

// startVoice builds the call channel: its webhooks and IVR menus (through
// wc.Voice), the voice Channel in the registry (outbound calls, the
// survey of a closed call), and routing's changes chained to it, so a
// transferred call goes back to the hold loop. Nothing to stop: calls
// live at the provider.
func startVoice(_ context.Context, d channelDeps, wc *web.Config) (func(), error) {
	v := voice.New(d.app.tenants.DB, d.contacts, d.directory, d.cfg.PublicURL, d.log.With("channel", voice.Name))
	v.Conversations = d.conversations
	v.HTTP = d.outbound
	d.registry.Register(voice.Channel{S: v})
	// Callbacks that became due (not_before, a retry's delay) are queued
	// on the routing ticker's sweep.
	if d.ticker != nil {
		d.ticker.Sweeps = append(d.ticker.Sweeps, func(ctx context.Context, tenantID uuid.UUID) error {
			_, err := d.contacts.SweepCallbacks(ctx, tenantID)
			return err
		})
	}
	wc.Voice = v
	notify := d.contacts.Notify
	d.contacts.Notify = func(tenantID uuid.UUID, kind string, contactID uuid.UUID, agentID *uuid.UUID) {
		if notify != nil {
			notify(tenantID, kind, contactID, agentID)
		}
		v.ContactChanged(tenantID, kind, contactID, agentID)
	}
	return nil, nil
}
