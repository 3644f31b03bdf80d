#!/usr/bin/env bash
# `make soak`: the routing liveness soak (routing/liveness_test.go) against
# private redis-servers it starts itself, for longer than `go test` runs it.
#   SOAK       how long (a Go duration, default 10m)
#   SOAK_ARGS  extra `go test` flags (e.g. SOAK_ARGS=-race)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

bash infra/scripts/services.sh up
load_env
ensure_go

soak=${SOAK:-10m}
log "routing liveness soak for $soak"
# The model histories run too (many more than in a normal run).
# shellcheck disable=SC2086
CIC_SOAK=$soak go test -count=1 -v -timeout 0 -run 'TestSoak_EngineLiveness|TestLiveness_' ${SOAK_ARGS:-} ./routing/
