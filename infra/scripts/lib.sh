#!/usr/bin/env bash
# shellcheck shell=bash
# Shared helpers for infra/scripts/*.sh. Source it; it does not run anything by itself.
#
# Sets REPO (absolute repo root) and DATA (${CIC_DATA_DIR:-$REPO/.data}, absolute).

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
DATA=${CIC_DATA_DIR:-$REPO/.data}
case $DATA in /*) ;; *) DATA=$PWD/$DATA ;; esac

log() { printf '==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# as_root CMD...: run CMD as root (directly, or through sudo).
as_root() {
	if is_root; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run '$*' (not root and sudo is not installed); install it yourself and retry"
	fi
}

_apt_updated=
# apt_install PKG...: install Debian/Ubuntu packages (apt-get update once per script run).
apt_install() {
	command -v apt-get >/dev/null 2>&1 ||
		die "apt-get not found: please install $* with your system's package manager"
	log "installing $* (apt-get; this can take a few minutes)"
	local out
	out=$(mktemp)
	if [ -z "$_apt_updated" ]; then
		if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$out" 2>&1; then
			tail -n 20 "$out" >&2
			rm -f "$out"
			die "apt-get update failed"
		fi
		_apt_updated=1
	fi
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >"$out" 2>&1; then
		tail -n 30 "$out" >&2
		rm -f "$out"
		die "apt-get install $* failed"
	fi
	rm -f "$out"
}

# port_busy PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_busy() {
	# shellcheck disable=SC2016 # $1 expands in the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# ensure_go: make `go` callable (adds /usr/local/go/bin to PATH when needed) or fail.
ensure_go() {
	if ! command -v go >/dev/null 2>&1; then
		if [ -x /usr/local/go/bin/go ]; then
			export PATH=$PATH:/usr/local/go/bin
		else
			die "Go is not installed. Install the version named in go.mod from https://go.dev/dl/
       (e.g. tar -C /usr/local -xzf go1.xx.linux-amd64.tar.gz) and retry."
		fi
	fi
	# `go install`ed tools (staticcheck, ...) live here.
	local gobin
	gobin=$(go env GOPATH)/bin
	case ":$PATH:" in *":$gobin:"*) ;; *) export PATH=$PATH:$gobin ;; esac
}

# ensure_cc: the race detector needs cgo, i.e. a C compiler and libc headers.
ensure_cc() {
	if ! command -v gcc >/dev/null 2>&1 && ! command -v cc >/dev/null 2>&1; then
		apt_install gcc libc6-dev
	fi
}

# load_env: export DATABASE_URL, REDIS_URL, CIC_TEST_* for the private services (or the user's).
load_env() {
	local out
	out=$(bash "$REPO/infra/scripts/services.sh" env) || die "services.sh env failed"
	eval "$out"
}
