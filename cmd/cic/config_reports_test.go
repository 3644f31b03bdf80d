package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cic-platform/cic/billing/chargeback"
	"github.com/cic-platform/cic/tenant"
)

func TestLoadConfigReports(t *testing.T) {
	for _, tc := range []struct {
		give string
		want time.Duration
	}{{"90d", 90 * 24 * time.Hour}, {"1d", 24 * time.Hour}, {"2160h", 2160 * time.Hour}, {"1h", time.Hour}} {
		cfg, err := LoadConfig(envOf(map[string]string{"REPORTS_RETENTION": tc.give, "REPORTS_DIR": "/srv/reports"}))
		if err != nil || cfg.ReportsRetention != tc.want || cfg.ReportsDir != "/srv/reports" {
			t.Errorf("%s: %v %q, %v", tc.give, cfg.ReportsRetention, cfg.ReportsDir, err)
		}
	}
	for _, bad := range []string{"0d", "-1d", "ninety days", "30m", "d"} {
		if _, err := LoadConfig(envOf(map[string]string{"REPORTS_RETENTION": bad})); err == nil || !strings.Contains(err.Error(), "REPORTS_RETENTION") {
			t.Errorf("%q: err = %v, want one about REPORTS_RETENTION", bad, err)
		}
	}
	// Files in PostgreSQL unless REPORTS_DIR says otherwise.
	a := &app{tenants: &tenant.Service{}}
	if svc := newReports(a, Config{}, nil, nil); svc.Store != nil {
		t.Errorf("default store %T, want PostgreSQL (nil)", svc.Store)
	}
	if svc := newReports(a, Config{ReportsDir: "/srv/reports"}, nil, nil); svc.Store != (chargeback.DirStore{Dir: "/srv/reports"}) {
		t.Errorf("REPORTS_DIR store %#v", svc.Store)
	}
}
