#!/usr/bin/env bash
# A private stripe-mock (Stripe's official API mock) for the tests that drive the real stripe-go
# client, kept under the project's data folder like PostgreSQL and Redis.
#
#   stripe-mock.sh up       install it with `go install` when missing, start it (idempotent)
#   stripe-mock.sh down     stop it
#   stripe-mock.sh url      print its HTTP URL
#
# Settings (environment):
#   CIC_DATA_DIR            data folder (default <repo>/.data)
#   CIC_STRIPE_MOCK_PORT    HTTP port (default 12111, 127.0.0.1 only); HTTPS listens on the next one
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Pinned: its bundled OpenAPI fixtures decide what the tests see.
STRIPE_MOCK_VERSION=v0.203.0
PORT=${CIC_STRIPE_MOCK_PORT:-12111}
BIN=$DATA/bin/stripe-mock
PIDFILE=$DATA/stripe-mock.pid
LOG=$DATA/stripe-mock.log
URL=http://127.0.0.1:$PORT

sm_pid() {
	local pid
	[ -f "$PIDFILE" ] || return 1
	pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	printf '%s\n' "$pid"
}

sm_ping() {
	# Any HTTP answer will do: stripe-mock answers 401 without a key.
	# shellcheck disable=SC2016 # $1 expands in the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET /v1/customers HTTP/1.0\r\n\r\n" >&3 && IFS= read -r l <&3 && [[ $l == HTTP/* ]]' _ "$PORT" 2>/dev/null
}

up() {
	local pid i
	mkdir -p "$DATA/bin"
	if [ ! -x "$BIN" ] || [ "$(cat "$BIN.version" 2>/dev/null)" != "$STRIPE_MOCK_VERSION" ]; then
		ensure_go
		log "installing stripe-mock $STRIPE_MOCK_VERSION (go install)"
		GOBIN=$DATA/bin GOFLAGS=-mod=mod go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION" ||
			die "go install github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION failed (needs network access to the Go module proxy)"
		echo "$STRIPE_MOCK_VERSION" >"$BIN.version"
	fi
	if pid=$(sm_pid); then
		log "stripe-mock already running ($URL, pid $pid)"
	else
		if port_busy "$PORT"; then
			die "port $PORT is already in use by another program; set CIC_STRIPE_MOCK_PORT to a free port"
		fi
		log "starting stripe-mock on $URL (log $LOG)"
		nohup "$BIN" -http-addr "127.0.0.1:$PORT" -https-addr "127.0.0.1:$((PORT + 1))" >"$LOG" 2>&1 </dev/null &
		echo $! >"$PIDFILE"
	fi
	for ((i = 0; i < 50; i++)); do
		sm_ping && return 0
		sleep 0.2
	done
	tail -n 20 "$LOG" >&2 2>/dev/null || true
	die "stripe-mock does not answer on $URL (log: $LOG)"
}

down() {
	local pid
	if pid=$(sm_pid); then
		log "stopping stripe-mock"
		kill "$pid" 2>/dev/null || true
	else
		log "stripe-mock not running"
	fi
	rm -f "$PIDFILE"
}

case ${1:-} in
up) up ;;
down) down ;;
url) echo "$URL" ;;
*)
	sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
