#!/usr/bin/env bash
# `make bench`: benchmarks against the private PostgreSQL + Redis.
#   BENCH_ARGS  extra `go test` flags (e.g. BENCH_ARGS='-benchtime 5s'); they come last, so they win
#   BENCH       benchmark regexp (default .), e.g. BENCH=BenchmarkMeter
#   CIC_BENCH_* sizes of BenchmarkMeter (metering/bench_test.go), e.g. CIC_BENCH_CONTACTS=20000
# BENCH=BenchmarkSeats runs only the seat leases (tenant/seats/bench_test.go, under a minute).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

bash infra/scripts/services.sh up
load_env
ensure_go

# Each benchmark group pairs a "baseline" sub-benchmark with the figures it
# is compared to; benchreport prints every figure (ns/op and the custom
# metrics, e.g. contacts/s and p99-ms) as a ratio to it.
#
# The metering benchmarks run a fixed workload per iteration (BenchmarkMeter:
# 200,000 contacts per sub-benchmark), so they run exactly once
# (-benchtime 1x) and may take several minutes; the other packages run as
# usual. BenchmarkSeats (acquire/renew/release against an EVALSHA of
# `return 1`, 50 clients) counts one call by each client as an iteration,
# so its ns/op is 50 calls; compare its ops/s and p99-ms.
bench=${BENCH:-.}
others=$(go list ./... | grep -vx 'github.com/cic-platform/cic/metering')
set -o pipefail
{
	rc=0
	# shellcheck disable=SC2086
	go test -run '^$' -bench "$bench" -benchmem -benchtime 1x -timeout 60m ${BENCH_ARGS:-} ./metering/ || rc=$?
	# shellcheck disable=SC2086
	go test -run '^$' -bench "$bench" -benchmem ${BENCH_ARGS:-} $others || rc=$?
	exit "$rc"
} 2>&1 | go run ./infra/benchreport
