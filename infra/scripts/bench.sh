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

# shellcheck disable=SC2086
exec go test -run '^$' -bench "${BENCH:-.}" -benchmem ${BENCH_ARGS:-} ./...
