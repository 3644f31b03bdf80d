// Command cic is the whole product in one binary: `cic migrate` prepares
// the database, `cic serve` runs the HTTP server, `cic worker` the job
// worker, `cic demo` seeds a demo tenant, `cic operator` manages the
// platform operators. It only wires packages together;
// every rule lives in them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/cic-platform/cic/infra"
	"github.com/cic-platform/cic/tenant"
)

func main() {
	// One signal context for every command: serve and worker shut down
	// gracefully on it, migrate and demo stop where they are.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	m := &Main{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr}
	err := m.Run(ctx, os.Args[1:])
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// Main runs one command. Its fields are the process's edges, so tests run
// commands in-process with their own environment and output.
type Main struct {
	Getenv func(string) string
	Stdout io.Writer // results meant for people (demo logins, "migrated")
	Stderr io.Writer // logs

	// passwords overrides the argon2 costs; tests set cheap ones.
	passwords *tenant.PasswordParams
}

// usageError is a mistake in how cic was invoked or configured: exit 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "cic: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "cic: error: %v\n", err)
	return 1
}

var commands = []struct{ name, help string }{
	{"migrate", "apply database migrations and create/repair the app role"},
	{"serve", "run the HTTP server until SIGINT/SIGTERM"},
	{"worker", "run the background job worker and scheduler until SIGINT/SIGTERM"},
	{"demo", "create (or complete) the demo tenant and print its logins; safe to re-run"},
	{"secrets", "secrets rotate: seal every provider secret again with the first key of SECRETS_KEY (or the JWT keys)"},
	{"operator", "add EMAIL [--name NAME] | reset EMAIL | list: platform operators (add and reset print a one-time password)"},
	{"help", "show this help"},
}

func (m *Main) usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: cic <command>")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.help)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Environment (default in brackets):")
	for _, v := range envVars {
		def := v.def
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(w, "  %-17s %s [%s]\n", v.name, v.help, def)
	}
}

// Run runs the command named by args[0] until it finishes or ctx ends.
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		m.usage(m.Stderr)
		return &usageError{errors.New("no command given")}
	}
	cmd := args[0]
	switch cmd {
	case "help", "-h", "-help", "--help":
		m.usage(m.Stdout)
		return nil
	case "migrate", "serve", "worker", "demo", "operator":
	case "secrets":
		if len(args) != 2 || args[1] != "rotate" {
			return &usageError{errors.New("usage: cic secrets rotate")}
		}
	default:
		m.usage(m.Stderr)
		return &usageError{fmt.Errorf("unknown command %q", cmd)}
	}
	var oa operatorArgs
	if cmd == "operator" {
		var err error
		if oa, err = parseOperatorArgs(args[1:]); err != nil {
			return err
		}
	} else if len(args) > 1 && cmd != "secrets" {
		return &usageError{fmt.Errorf("%s takes no arguments (configuration is by environment; see cic help), got %q", cmd, strings.Join(args[1:], " "))}
	}
	cfg, err := LoadConfig(m.Getenv)
	if err != nil {
		return &usageError{fmt.Errorf("invalid configuration:\n%w", err)}
	}
	log := cfg.NewLogger(m.Stderr)
	switch cmd {
	case "migrate":
		return m.migrate(ctx, cfg)
	case "serve":
		return m.serve(ctx, cfg, log)
	case "worker":
		return m.worker(ctx, cfg, log)
	case "secrets":
		return m.rotateSecrets(ctx, cfg, log)
	case "operator":
		return m.operator(ctx, cfg, log, oa)
	default:
		return m.demo(ctx, cfg, log)
	}
}

// migrate runs as the owner: it is the one command that may change the
// schema and the app role.
func (m *Main) migrate(ctx context.Context, cfg Config) error {
	if err := infra.Migrate(ctx, cfg.DatabaseURL, cfg.AppRole); err != nil {
		return fmt.Errorf("migrate %s: %w", redact(cfg.DatabaseURL), err)
	}
	fmt.Fprintln(m.Stdout, "migrated")
	return nil
}
