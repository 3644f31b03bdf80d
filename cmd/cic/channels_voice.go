package main

import (
	"context"

	"github.com/cic-platform/cic/web"
)

// startVoice builds the voice channel(s) (work in progress).
func startVoice(ctx context.Context, d channelDeps, wc *web.Config) (func(), error) { return nil, nil }
