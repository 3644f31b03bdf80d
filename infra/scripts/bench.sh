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
# The test database of the private Redis piles up keys from every test
# run; on a Redis with AOF a big dataset makes its rewrites (a fork and a
# long write) land in the middle of the Redis benchmarks. Empty it first
# (only the private instance's: never a REDIS_URL someone pointed us at).
if command -v redis-cli >/dev/null 2>&1 &&
	[ "${CIC_TEST_REDIS_URL:-}" = "redis://127.0.0.1:${CIC_REDIS_PORT:-56379}/1" ]; then
	log "emptying the private test Redis database and compacting its AOF"
	redis-cli -u "$CIC_TEST_REDIS_URL" FLUSHDB >/dev/null
	redis-cli -u "$CIC_TEST_REDIS_URL" BGREWRITEAOF >/dev/null || true
fi
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
