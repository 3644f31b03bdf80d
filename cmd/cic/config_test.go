package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig(envOf(nil))
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	want := Config{
		DatabaseURL: defaultDatabaseURL, RedisURL: defaultRedisURL, HTTPAddr: ":8080",
		PublicURL: "http://localhost:8080", DataDir: "./.data", LogLevel: slog.LevelInfo, LogFormat: "text",
		ReportsRetention: 90 * 24 * time.Hour,
		SMTPAddr:         ":2525", InboundDomain: "mail.localhost", SMTPMaxBytes: 25 << 20, SMTPMaxConns: 200, SMTPMaxConnsPerIP: 20,
		BillingMode:    "off", // no key and no BILLING_MODE: nothing is sold
		TrustedProxies: "127.0.0.0/8,::1/128", MetricsAddr: "127.0.0.1:9090",
	}
	want.AppRole.Name, want.AppRole.Password = "cic_app", "cic_app"
	if cfg != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
	dsn, err := cfg.AppDSN()
	if err != nil {
		t.Fatal(err)
	}
	if dsn != "postgres://cic_app:cic_app@127.0.0.1:55432/cic?sslmode=disable" {
		t.Errorf("app DSN = %q", dsn)
	}
}

func TestLoadConfig(t *testing.T) {
	seed := base64.StdEncoding.EncodeToString(make([]byte, ed25519.SeedSize))
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c Config)
		wantErr []string // substrings of the error; nil means valid
	}{
		{
			name: "overrides",
			env: map[string]string{
				"DATABASE_URL": "postgresql://owner:secret@db.internal:5432/prod", "APP_DB_USER": "app_rw", "APP_DB_PASSWORD": "s3cret",
				"REDIS_URL": "rediss://:pw@cache:6380/2", "HTTP_ADDR": "127.0.0.1:9000", "PUBLIC_URL": "https://cic.example.com/",
				"DATA_DIR": "/var/lib/cic", "JWT_KEYS": seed + "," + seed, "LOG_LEVEL": "DEBUG", "LOG_FORMAT": "json",
			},
			check: func(t *testing.T, c Config) {
				if c.AppRole.Name != "app_rw" || c.AppRole.Password != "s3cret" || c.HTTPAddr != "127.0.0.1:9000" ||
					c.PublicURL != "https://cic.example.com" || c.DataDir != "/var/lib/cic" || c.LogLevel != slog.LevelDebug || c.LogFormat != "json" {
					t.Errorf("got %+v", c)
				}
				if dsn, _ := c.AppDSN(); dsn != "postgresql://app_rw:s3cret@db.internal:5432/prod" {
					t.Errorf("app DSN = %q", dsn)
				}
			},
		},
		{
			name: "APP_DATABASE_URL wins over the derived URL",
			env:  map[string]string{"APP_DATABASE_URL": "postgres://other:pw@elsewhere/cic"},
			check: func(t *testing.T, c Config) {
				if dsn, _ := c.AppDSN(); dsn != "postgres://other:pw@elsewhere/cic" {
					t.Errorf("app DSN = %q", dsn)
				}
			},
		},
		{
			name:  "bare port",
			env:   map[string]string{"HTTP_ADDR": "9090"},
			check: func(t *testing.T, c Config) { assertEq(t, c.HTTPAddr, ":9090") },
		},
		{
			name:  "blank values mean default",
			env:   map[string]string{"LOG_LEVEL": "  ", "HTTP_ADDR": ""},
			check: func(t *testing.T, c Config) { assertEq(t, c.HTTPAddr, ":8080") },
		},
		{name: "warn level", env: map[string]string{"LOG_LEVEL": "warn"}, check: func(t *testing.T, c Config) { assertEq(t, c.LogLevel, slog.LevelWarn) }},
		{name: "error level", env: map[string]string{"LOG_LEVEL": "error"}, check: func(t *testing.T, c Config) { assertEq(t, c.LogLevel, slog.LevelError) }},

		{name: "database url scheme", env: map[string]string{"DATABASE_URL": "mysql://x@y/z"}, wantErr: []string{"DATABASE_URL", `scheme "mysql"`}},
		{name: "database url is a DSN", env: map[string]string{"DATABASE_URL": "host=localhost dbname=cic"}, wantErr: []string{"DATABASE_URL"}},
		{name: "database url not echoed", env: map[string]string{"DATABASE_URL": "postgres://u:hunter2@h/%zz"}, wantErr: []string{"DATABASE_URL: not a valid URL"}},
		{name: "app database url", env: map[string]string{"APP_DATABASE_URL": "http://x"}, wantErr: []string{"APP_DATABASE_URL"}},
		{name: "app user", env: map[string]string{"APP_DB_USER": "Robert'); DROP"}, wantErr: []string{"APP_DB_USER"}},
		{name: "redis url", env: map[string]string{"REDIS_URL": "localhost:6379"}, wantErr: []string{"REDIS_URL"}},
		{name: "http addr", env: map[string]string{"HTTP_ADDR": ":http-alt"}, wantErr: []string{"HTTP_ADDR"}},
		{name: "http port range", env: map[string]string{"HTTP_ADDR": ":70000"}, wantErr: []string{"HTTP_ADDR"}},
		{name: "public url relative", env: map[string]string{"PUBLIC_URL": "localhost:8080"}, wantErr: []string{"PUBLIC_URL"}},
		{name: "public url scheme", env: map[string]string{"PUBLIC_URL": "ftp://example.com"}, wantErr: []string{"PUBLIC_URL"}},
		{name: "jwt keys", env: map[string]string{"JWT_KEYS": "not base64!"}, wantErr: []string{"JWT_KEYS"}},
		{name: "jwt key size", env: map[string]string{"JWT_KEYS": base64.StdEncoding.EncodeToString([]byte("short"))}, wantErr: []string{"JWT_KEYS"}},
		{name: "log level", env: map[string]string{"LOG_LEVEL": "verbose"}, wantErr: []string{"LOG_LEVEL", "verbose"}},
		{name: "log format", env: map[string]string{"LOG_FORMAT": "xml"}, wantErr: []string{"LOG_FORMAT"}},
		{
			name:    "every error at once",
			env:     map[string]string{"LOG_LEVEL": "loud", "LOG_FORMAT": "yaml", "HTTP_ADDR": "nope:x"},
			wantErr: []string{"LOG_LEVEL", "LOG_FORMAT", "HTTP_ADDR"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadConfig(envOf(tc.env))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				tc.check(t, cfg)
				return
			}
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func assertEq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestRunUsage: mistakes in invocation or configuration exit with 2 and
// say what is wrong, before touching any server.
func TestRunUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantOut  string // in stdout+stderr
	}{
		{"no command", nil, nil, 2, "Usage: cic"},
		{"unknown command", []string{"frobnicate"}, nil, 2, `unknown command "frobnicate"`},
		{"extra arguments", []string{"serve", "--port=1"}, nil, 2, "takes no arguments"},
		{"help", []string{"help"}, nil, 0, "DATABASE_URL"},
		{"invalid config", []string{"serve"}, map[string]string{"LOG_LEVEL": "chatty"}, 2, "LOG_LEVEL"},
		{"invalid config for migrate too", []string{"migrate"}, map[string]string{"DATABASE_URL": "mysql://x/y"}, 2, "DATABASE_URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			m := &Main{Getenv: envOf(tc.env), Stdout: &out, Stderr: &out}
			err := m.Run(context.Background(), tc.args)
			if code := exitCode(err, &out); code != tc.wantCode {
				t.Errorf("exit code %d, want %d (err %v)", code, tc.wantCode, err)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output does not mention %q:\n%s", tc.wantOut, out.String())
			}
		})
	}
}
