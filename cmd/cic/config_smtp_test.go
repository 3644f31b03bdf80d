package main

import (
	"strings"
	"testing"
)

func TestLoadConfigSMTP(t *testing.T) {
	cfg, err := LoadConfig(envOf(nil))
	if err != nil || cfg.SMTPAddr != "" || cfg.SMTPFrom != "" {
		t.Fatalf("defaults: %+v, %v (empty: e-mail off, sender metering.DefaultMailFrom)", cfg, err)
	}
	cfg, err = LoadConfig(envOf(map[string]string{"SMTP_ADDR": "mail.internal:587", "SMTP_FROM": "CIC Billing <billing@cic.example>"}))
	if err != nil || cfg.SMTPAddr != "mail.internal:587" || cfg.SMTPFrom != "CIC Billing <billing@cic.example>" {
		t.Fatalf("set: %+v, %v", cfg, err)
	}
	for _, tc := range []struct{ env map[string]string }{
		{map[string]string{"SMTP_ADDR": "mail.internal"}},
		{map[string]string{"SMTP_ADDR": ":25"}},
		{map[string]string{"SMTP_ADDR": "mail:smtp"}},
		{map[string]string{"SMTP_ADDR": "mail:0"}},
		{map[string]string{"SMTP_FROM": "not an address"}},
	} {
		_, err := LoadConfig(envOf(tc.env))
		for k := range tc.env {
			if err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("%v: err = %v, want one about %s", tc.env, err, k)
			}
		}
	}
}
