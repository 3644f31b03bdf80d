package main

import (
	"strings"
	"testing"
)

func TestLoadConfig_TrustedProxiesAndMetricsAddr(t *testing.T) {
	c, err := LoadConfig(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	assertEq(t, c.TrustedProxies, "127.0.0.0/8,::1/128")
	assertEq(t, c.MetricsAddr, "127.0.0.1:9090")

	c, err = LoadConfig(envOf(map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7", "METRICS_ADDR": "9100"}))
	if err != nil {
		t.Fatal(err)
	}
	assertEq(t, c.TrustedProxies, "10.0.0.0/8, 192.0.2.7")
	assertEq(t, c.MetricsAddr, ":9100")

	c, err = LoadConfig(envOf(map[string]string{"METRICS_ADDR": "off"}))
	if err != nil {
		t.Fatal(err)
	}
	assertEq(t, c.MetricsAddr, "")

	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,everyone"}, "TRUSTED_PROXIES"},
		{map[string]string{"METRICS_ADDR": ":x"}, "METRICS_ADDR"},
		{map[string]string{"METRICS_ADDR": ":8080", "HTTP_ADDR": "8080"}, "must not be served on the public address"},
	} {
		if _, err := LoadConfig(envOf(tc.env)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.env, err, tc.want)
		}
	}
}
