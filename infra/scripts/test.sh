#!/usr/bin/env bash
# `make test`: private PostgreSQL + Redis + stripe-mock, Chromium for browser tests, go vet, go test -race.
#   TEST_ARGS  extra `go test` flags (e.g. TEST_ARGS='-run TestLease -v')
#   TEST_PKGS  packages (default ./...)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

bash infra/scripts/services.sh up
bash infra/scripts/stripe-mock.sh up
# Billing tests drive the real stripe-go client against it; they fail
# (not skip) when it does not answer.
CIC_TEST_STRIPE_URL=${CIC_TEST_STRIPE_URL:-$(bash infra/scripts/stripe-mock.sh url)}
export CIC_TEST_STRIPE_URL
CHROMIUM_PATH=$(bash infra/scripts/ensure-chromium.sh) ||
	die "could not install Chromium (needed by the browser tests)"
export CHROMIUM_PATH
load_env
ensure_go
ensure_cc
export CGO_ENABLED=1 # -race needs cgo

log "go vet ./..."
go vet ./...

# shellcheck disable=SC2086 # TEST_ARGS / TEST_PKGS are word lists on purpose
set -- ${TEST_ARGS:-}
log "go test -race -count=1 -timeout 45m $* ${TEST_PKGS:-./...}"
status=0
# shellcheck disable=SC2086
go test -race -count=1 -timeout 45m "$@" ${TEST_PKGS:-./...} || status=$?
exit "$status"
