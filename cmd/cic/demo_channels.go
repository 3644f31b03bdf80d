package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/voice"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
	"github.com/google/uuid"
)

// The demo's channels: its queue takes every channel, and it has a
// mailbox, a phone number behind an IVR menu, an SMS number, a social
// page and a fax number, with provider secrets fixed so that a developer
// can sign webhooks by hand (README, Channels).
const (
	demoNumber       = "+15005550100"
	demoFaxNumber    = "+15005550199"
	demoSocialPage   = "facebook:demo"
	demoTwilioSID    = "ACdemo"
	demoTwilioToken  = "demo-twilio-auth-token"
	demoSocialSecret = "demo-social-secret"
	demoFaxSecret    = "demo-fax-secret"
	demoMenu         = "Main menu"
)

var demoChannels = []string{"chat", "email", "voice", "sms", "social", "fax"}

func demoMailbox(domain string) string { return "support@" + demoSlug + "." + domain }

// seedDemoChannels adds what is missing of the demo's channels.
func seedDemoChannels(ctx context.Context, svc *tenant.Service, cfg Config, log *slog.Logger) error {
	owner, err := demoOwner(ctx, svc, log)
	if err != nil {
		return err
	}
	st := &setup.Service{DB: svc.DB}
	queues, err := st.ListQueues(ctx, owner)
	if err != nil {
		return err
	}
	var q setup.Queue
	for _, x := range queues {
		if x.Name == demoQueue {
			q = x
		}
	}
	if q.Name == "" {
		return fmt.Errorf("demo channels: no queue %q", demoQueue)
	}
	if !slices.Equal(q.Channels, demoChannels) {
		if q, err = st.UpdateQueue(ctx, owner, q.ID, setup.QueueInput{Channels: demoChannels}); err != nil {
			return fmt.Errorf("demo queue channels: %w", err)
		}
	}
	box, err := openSecrets(cfg, nil)
	if err != nil {
		return err
	}
	dir := newDirectory(cfg, svc.DB, box)
	for _, p := range []directory.Provider{
		{Provider: directory.Twilio, AccountID: demoTwilioSID, Secret: demoTwilioToken, From: demoNumber},
		{Provider: directory.Social, Secret: demoSocialSecret},
		{Provider: directory.Fax, Secret: demoFaxSecret},
	} {
		if _, err := dir.Provider(ctx, owner.TenantID, p.Provider); err == nil {
			continue
		}
		if err := dir.SetProvider(ctx, owner, p); err != nil {
			return fmt.Errorf("demo provider %s: %w", p.Provider, err)
		}
	}
	menu, err := demoIVRMenu(ctx, svc, owner, q, log)
	if err != nil {
		return err
	}
	for _, a := range []directory.Address{
		{Channel: "email", Address: demoMailbox(cfg.InboundDomain), QueueID: &q.ID},
		{Channel: "voice", Address: demoNumber, QueueID: &q.ID, IVRMenuID: &menu},
		{Channel: "sms", Address: demoNumber, QueueID: &q.ID},
		{Channel: "social", Address: demoSocialPage, QueueID: &q.ID},
		{Channel: "fax", Address: demoFaxNumber, QueueID: &q.ID},
	} {
		if _, err := dir.AddressOf(ctx, owner.TenantID, a.Channel, a.Address); err == nil {
			continue
		}
		if _, err := dir.AddAddress(ctx, owner, a); err != nil && !isCode(err, "address_taken") {
			return fmt.Errorf("demo address %s: %w", a.Address, err)
		}
	}
	return nil
}

// demoIVRMenu finds or creates the demo's menu: 1 to an agent, 2 the
// opening hours (self-service, metered), nothing pressed to an agent.
func demoIVRMenu(ctx context.Context, svc *tenant.Service, owner tenant.Actor, q setup.Queue, log *slog.Logger) (uuid.UUID, error) {
	v := &voice.Service{DB: svc.DB}
	menus, err := v.Menus(ctx, owner)
	if err != nil {
		return uuid.Nil, err
	}
	for _, m := range menus {
		if m.Name == demoMenu {
			return m.ID, nil
		}
	}
	agent := &voice.Node{Action: &voice.Action{Type: voice.ActionQueue, QueueID: &q.ID}}
	tree := &voice.Node{Prompt: "Welcome to Demo Company. For support, press 1. For our opening hours, press 2.", TimeoutSeconds: 5,
		Options: map[string]*voice.Node{
			"1": agent,
			"2": {Action: &voice.Action{Type: voice.ActionSelfService, Metered: true,
				Message: "We are open Monday to Friday, 8 am to 6 pm. Goodbye."}},
		},
		Timeout: agent}
	m, err := v.CreateMenu(ctx, owner, voice.MenuInput{Name: demoMenu, Tree: tree})
	if isCode(err, "name_taken") { // a concurrent `cic demo` made it
		return demoIVRMenu(ctx, svc, owner, q, log)
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("demo IVR menu: %w", err)
	}
	log.Info("demo IVR menu created", "menu", demoMenu)
	return m.ID, nil
}

// printDemoChannels says where the demo's channels are reached.
func printDemoChannels(w io.Writer, cfg Config) {
	fmt.Fprintln(w, "  Channels (the Support queue takes all of them; sign webhooks with the secrets below, README: Channels)")
	fmt.Fprintf(w, "  e-mail:   %-28s SMTP on %s\n", demoMailbox(cfg.InboundDomain), cfg.SMTPAddr)
	fmt.Fprintf(w, "  calls:    %-28s IVR menu %q; Twilio token %s\n", demoNumber, demoMenu, demoTwilioToken)
	fmt.Fprintf(w, "  SMS:      %-28s same token\n", demoNumber)
	fmt.Fprintf(w, "  social:   %-28s secret %s\n", demoSocialPage, demoSocialSecret)
	fmt.Fprintf(w, "  fax:      %-28s secret %s\n", demoFaxNumber, demoFaxSecret)
	fmt.Fprintln(w)
}
