package main

import (
	"context"

	"github.com/cic-platform/cic/web"
)

// startEmail builds the email channel(s) (work in progress).
func startEmail(ctx context.Context, d channelDeps, wc *web.Config) (func(), error) { return nil, nil }
