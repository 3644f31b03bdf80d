#!/usr/bin/env bash
# `make bench`: benchmarks against the private PostgreSQL + Redis.
#   BENCH_ARGS  extra `go test` flags (e.g. BENCH_ARGS='-benchtime 5s')
#   BENCH       benchmark regexp (default .)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

bash infra/scripts/services.sh up
load_env
ensure_go

# Each benchmark group pairs a "baseline" sub-benchmark with the figures it
# is compared to; benchreport prints every figure as a ratio to it.
set -o pipefail
# shellcheck disable=SC2086
go test -run '^$' -bench "${BENCH:-.}" -benchmem ${BENCH_ARGS:-} ./... 2>&1 | go run ./infra/benchreport
