package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/cic-platform/cic/tenant"
)

// `cic operator add EMAIL [--name NAME]`, `cic operator reset EMAIL` and
// `cic operator list` manage the platform operators. add and reset print
// a one-time password, shown only then: it opens the operator's first
// login on /operator, where they choose their own password and set up
// their authenticator app (TOTP).

const operatorUsage = "usage: cic operator add EMAIL [--name NAME] | cic operator reset EMAIL | cic operator list"

// operatorArgs is a parsed `cic operator` command line.
type operatorArgs struct {
	verb, email, name string
}

func parseOperatorArgs(args []string) (operatorArgs, error) {
	bad := &usageError{errors.New(operatorUsage)}
	if len(args) == 0 {
		return operatorArgs{}, bad
	}
	a := operatorArgs{verb: args[0]}
	var rest []string
	for i := 1; i < len(args); i++ {
		switch v := args[i]; {
		case v == "--name" || v == "-name":
			if i+1 >= len(args) {
				return operatorArgs{}, bad
			}
			a.name = args[i+1]
			i++
		case strings.HasPrefix(v, "--name="):
			a.name = strings.TrimPrefix(v, "--name=")
		case strings.HasPrefix(v, "-"):
			return operatorArgs{}, bad
		default:
			rest = append(rest, v)
		}
	}
	switch {
	case a.verb == "list" && len(rest) == 0 && a.name == "":
	case a.verb == "add" && len(rest) == 1:
		a.email = rest[0]
	case a.verb == "reset" && len(rest) == 1 && a.name == "":
		a.email = rest[0]
	default:
		return operatorArgs{}, bad
	}
	return a, nil
}

func (m *Main) operator(ctx context.Context, cfg Config, log *slog.Logger, oa operatorArgs) error {
	ops, closeFn, err := m.openOperators(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeFn()
	meta := tenant.ClientMeta{RequestID: "cli:operator-" + oa.verb}
	switch oa.verb {
	case "list":
		list, err := ops.List(ctx)
		if err != nil {
			return err
		}
		for _, op := range list {
			state := "enrolled"
			if !op.TOTPEnabled {
				state = "not yet enrolled"
			}
			fmt.Fprintf(m.Stdout, "%-32s %-24s %s, %d failed logins\n", op.Email, op.Name, state, op.FailedLogins)
		}
		return nil
	case "add", "reset":
		var op tenant.Operator
		var pw string
		if oa.verb == "add" {
			op, pw, err = ops.Add(ctx, oa.email, oa.name, meta)
		} else {
			op, pw, err = ops.Reset(ctx, oa.email, meta)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "Operator %s <%s>\n", op.Name, op.Email)
		fmt.Fprintf(m.Stdout, "One-time password: %s\n", pw)
		fmt.Fprintf(m.Stdout, "It is shown only now and opens only the first login, within %s: on %s/operator log in with the e-mail and this password (no code), then choose a password and set up the authenticator app.\n",
			ops.OneTimeTTL, strings.TrimRight(cfg.PublicURL, "/"))
		return nil
	}
	return &usageError{errors.New(operatorUsage)}
}

// openOperators connects the operator accounts with serve's signing keys
// (which seal the TOTP secrets) and production limits.
func (m *Main) openOperators(ctx context.Context, cfg Config, log *slog.Logger) (*tenant.Operators, func(), error) {
	keys, err := loadKeys(cfg)
	if err != nil {
		return nil, nil, err
	}
	a, err := openApp(ctx, cfg, log, keys, m.passwords)
	if err != nil {
		return nil, nil, err
	}
	ops := tenant.NewOperators(a.tenants.DB, keys, a.tenants.Limiter)
	ops.Password = a.tenants.Password
	return ops, a.Close, nil
}
