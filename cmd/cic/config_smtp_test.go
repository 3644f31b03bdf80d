package main

import (
	"strings"
	"testing"
)

func TestLoadConfigSMTP(t *testing.T) {
	cfg, err := LoadConfig(envOf(nil))
	if err != nil || cfg.SMTPAddr != ":2525" || cfg.SMTPRelay != "" || cfg.SMTPFrom != "" ||
		cfg.InboundDomain != "mail.localhost" || cfg.SMTPMaxBytes != 25<<20 || cfg.SMTPMaxConns != 200 || cfg.SMTPMaxConnsPerIP != 20 {
		t.Fatalf("defaults: %+v, %v (listener :2525, no relay: e-mail off, sender metering.DefaultMailFrom)", cfg, err)
	}
	cfg, err = LoadConfig(envOf(map[string]string{"SMTP_ADDR": "127.0.0.1:25", "SMTP_RELAY": "mail.internal:587",
		"SMTP_FROM": "CIC Billing <billing@cic.example>", "INBOUND_DOMAIN": "Mail.CIC.example.", "SMTP_MAX_BYTES": "1048576"}))
	if err != nil || cfg.SMTPAddr != "127.0.0.1:25" || cfg.SMTPRelay != "mail.internal:587" || cfg.SMTPFrom != "CIC Billing <billing@cic.example>" ||
		cfg.InboundDomain != "mail.cic.example" || cfg.SMTPMaxBytes != 1<<20 {
		t.Fatalf("set: %+v, %v", cfg, err)
	}
	if cfg, err := LoadConfig(envOf(map[string]string{"SMTP_MAX_CONNECTIONS": "50", "SMTP_MAX_CONNECTIONS_PER_IP": "5"})); err != nil ||
		cfg.SMTPMaxConns != 50 || cfg.SMTPMaxConnsPerIP != 5 {
		t.Errorf("connection limits: %d %d, %v", cfg.SMTPMaxConns, cfg.SMTPMaxConnsPerIP, err)
	}
	if cfg, err := LoadConfig(envOf(map[string]string{"SMTP_ADDR": "2626"})); err != nil || cfg.SMTPAddr != ":2626" {
		t.Errorf("bare port: %q, %v", cfg.SMTPAddr, err)
	}
	for _, tc := range []struct{ env map[string]string }{
		{map[string]string{"SMTP_ADDR": "mail:smtp"}},
		{map[string]string{"SMTP_ADDR": ":70000"}},
		{map[string]string{"SMTP_RELAY": "mail.internal"}},
		{map[string]string{"SMTP_RELAY": ":25"}},
		{map[string]string{"SMTP_RELAY": "mail:smtp"}},
		{map[string]string{"SMTP_RELAY": "mail:0"}},
		{map[string]string{"SMTP_FROM": "not an address"}},
		{map[string]string{"INBOUND_DOMAIN": "localhost"}},
		{map[string]string{"INBOUND_DOMAIN": "mail example.com"}},
		{map[string]string{"INBOUND_DOMAIN": "-mail.example"}},
		{map[string]string{"SMTP_MAX_BYTES": "lots"}},
		{map[string]string{"SMTP_MAX_BYTES": "10"}},
		{map[string]string{"SMTP_MAX_CONNECTIONS": "0"}},
		{map[string]string{"SMTP_MAX_CONNECTIONS_PER_IP": "many"}},
	} {
		_, err := LoadConfig(envOf(tc.env))
		for k := range tc.env {
			if err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("%v: err = %v, want one about %s", tc.env, err, k)
			}
		}
	}
}
