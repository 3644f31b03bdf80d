package main

import (
	"context"

	"github.com/cic-platform/cic/web"
)

// startMessaging builds the messaging channel(s) (work in progress).
func startMessaging(ctx context.Context, d channelDeps, wc *web.Config) (func(), error) { return nil, nil }
