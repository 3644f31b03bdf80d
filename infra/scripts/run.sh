#!/usr/bin/env bash
# `make run`: private PostgreSQL + Redis, build, migrate, seed the demo tenant, then run the server
# and the billing worker in the foreground until Ctrl-C (services stay up; `make down` stops them).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

bash infra/scripts/services.sh up
load_env
ensure_go

# Where to probe /healthz: HTTP_ADDR (":8080", "0.0.0.0:9000", "127.0.0.1:8080"), default :8080.
addr=${HTTP_ADDR:-:8080}
case $addr in *:*) ;; *) addr=:$addr ;; esac
port=${addr##*:}
host=${addr%:*}
case $host in "" | 0.0.0.0 | "[::]" | "::") host=127.0.0.1 ;; esac
host=${host#[}
host=${host%]}
case $host in *:*) HEALTH_URL="http://[$host]:$port/healthz" ;; *) HEALTH_URL="http://$host:$port/healthz" ;; esac
export PUBLIC_URL=${PUBLIC_URL:-http://localhost:$port}
# The server keeps its JWT signing keys in DATA_DIR: the same folder as the services.
export DATA_DIR=${DATA_DIR:-$DATA}
# Without Stripe keys, `make run` sells through the built-in local checkout (no card); a real
# installation without keys and without BILLING_MODE=local sells nothing.
if [ -z "${STRIPE_SECRET_KEY:-}" ]; then export BILLING_MODE=${BILLING_MODE:-local}; fi
# A local demo: provider API addresses may point at stubs on this machine (loopback, http).
# Never set this in production: it lets tenants' provider URLs reach private addresses.
export ALLOW_PRIVATE_OUTBOUND=${ALLOW_PRIVATE_OUTBOUND:-1}

BIN=$DATA/bin/cic
log "building $BIN"
go build -o "$BIN" ./cmd/cic || die "build failed"

log "migrating"
"$BIN" migrate || die "cic migrate failed"
log "seeding demo tenant"
"$BIN" demo || die "cic demo failed"

healthy() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsS -m 2 -o /dev/null "$HEALTH_URL" 2>/dev/null
	else
		# No curl on a minimal system: a plain HTTP/1.0 request over bash's /dev/tcp.
		# shellcheck disable=SC2016 # expands in the inner bash
		timeout 3 bash -c '
			exec 3<>"/dev/tcp/$1/$2" || exit 1
			printf "GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n" "$1" >&3
			IFS= read -r line <&3 || exit 1
			[[ $line =~ ^HTTP/[0-9.]+\ 2[0-9][0-9] ]]' _ "$host" "$port" 2>/dev/null
	fi
}

pids=()
stop_children() {
	local pid i
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for ((i = 0; i < 150; i++)); do
		local alive=
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		[ -n "$alive" ] || break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
# shellcheck disable=SC2317 # called from the traps below
on_signal() {
	trap - INT TERM HUP
	printf '\n' >&2
	log "stopping server and worker"
	stop_children
	log "stopped. PostgreSQL and Redis are still running; 'make down' stops them."
	exit "$1"
}
trap 'on_signal 0' INT # Ctrl-C is how one stops it: not a failure
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

"$BIN" serve &
serve_pid=$!
pids+=("$serve_pid")
"$BIN" worker &
worker_pid=$!
pids+=("$worker_pid")

ok=
deadline=$((SECONDS + 30))
while [ "$SECONDS" -lt "$deadline" ]; do
	if healthy; then
		ok=1
		break
	fi
	kill -0 "$serve_pid" 2>/dev/null || break
	kill -0 "$worker_pid" 2>/dev/null || break
	sleep 0.5
done
if [ -z "$ok" ]; then
	if kill -0 "$serve_pid" 2>/dev/null && kill -0 "$worker_pid" 2>/dev/null; then
		log "the server did not answer $HEALTH_URL within 30 s"
	else
		log "the server or the worker exited during start-up (see the output above)"
	fi
	stop_children
	exit 1
fi

cat >&2 <<MSG

  ================================================================
    CIC is running:  $PUBLIC_URL
    (demo logins are printed above by 'cic demo')
    Ctrl-C stops server and worker; 'make down' stops PostgreSQL and Redis.
  ================================================================

MSG

status=0
wait -n "$serve_pid" "$worker_pid" || status=$?
trap - INT TERM HUP
if kill -0 "$serve_pid" 2>/dev/null; then which=worker; else which=server; fi
# Ctrl-C reaches the whole foreground process group: server and worker may
# stop cleanly (status 0) before this shell's trap runs. That is a normal stop.
if [ "$status" -eq 0 ]; then
	log "the $which stopped; stopping the other"
	stop_children
	log "stopped. PostgreSQL and Redis are still running; 'make down' stops them."
	exit 0
fi
log "the $which exited (status $status); stopping the other"
stop_children
exit "$status"
