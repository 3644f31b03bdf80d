#!/usr/bin/env bash
# Private PostgreSQL and Redis for development and tests, kept under the project's data folder.
#
#   services.sh up       install what is missing, start both (idempotent), create database "cic"
#   services.sh down     stop both
#   services.sh status   say what runs where
#   services.sh env      print `export` lines for DATABASE_URL, REDIS_URL, CIC_TEST_*
#
# Settings (environment):
#   CIC_DATA_DIR    data folder (default <repo>/.data)
#   CIC_PG_PORT     private PostgreSQL port (default 55432), listens on 127.0.0.1 only
#   CIC_REDIS_PORT  private Redis port (default 56379), listens on 127.0.0.1 only
#   DATABASE_URL    use this PostgreSQL server instead; nothing is started for it
#   REDIS_URL       use this Redis server instead; nothing is started for it
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_PORT=${CIC_PG_PORT:-55432}
REDIS_PORT=${CIC_REDIS_PORT:-56379}
REDIS_DIR=$DATA/redis
REDIS_PID=$DATA/redis.pid
REDIS_LOG=$DATA/redis.log

# ---------------------------------------------------------------- PostgreSQL

PG_BIN=   # directory holding initdb, pg_ctl, postgres (and usually psql)
PG_BASE=  # folder holding pg/, pg-sock/, pg.log (normally $DATA)

# pg_bin_candidates: directories that hold both initdb and pg_ctl.
pg_bin_candidates() {
	local d p
	if p=$(command -v pg_ctl 2>/dev/null); then
		d=$(dirname "$p")
		[ -x "$d/initdb" ] && printf '%s\n' "$d"
	fi
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && printf '%s\n' "$d"
	done
	return 0
}

# pg_find_bin [MAJOR]: newest server binaries (of MAJOR, when given) into PG_BIN.
pg_find_bin() {
	local want=${1:-} d v best='' bestv=''
	while IFS= read -r d; do
		v=$("$d/pg_ctl" --version 2>/dev/null | awk '{print $3}') || continue
		[ -n "$v" ] || continue
		if [ -n "$want" ] && [ "${v%%.*}" != "$want" ]; then continue; fi
		if [ -z "$best" ] || [ "$(printf '%s\n%s\n' "$bestv" "$v" | sort -V | tail -n 1)" = "$v" ]; then
			best=$d bestv=$v
		fi
	done < <(pg_bin_candidates | awk '!seen[$0]++')
	PG_BIN=$best
	[ -n "$PG_BIN" ]
}

pg_psql() {
	if [ -x "$PG_BIN/psql" ]; then
		printf '%s\n' "$PG_BIN/psql"
	elif command -v psql >/dev/null 2>&1; then
		command -v psql
	else
		return 1
	fi
}

# postgres_user_can_reach DIR: can the postgres user traverse to DIR (DIR exists)?
postgres_user_can_reach() {
	(cd / && runuser -u postgres -- test -x "$1") 2>/dev/null
}

# pg_locate: choose PG_BASE. Normally $DATA; when running as root and the postgres user cannot
# traverse into $DATA (e.g. the repo lives under /root), fall back to /var/tmp/cic-<hash of $DATA>.
# Also used when the socket path would be too long for a unix socket.
pg_locate() {
	local hash fallback
	hash=$(printf '%s' "$DATA" | sha256sum | cut -c1-12)
	fallback=/var/tmp/cic-$hash
	if [ -f "$DATA/pg/PG_VERSION" ]; then
		PG_BASE=$DATA
	elif [ -f "$fallback/pg/PG_VERSION" ]; then
		PG_BASE=$fallback
	else
		PG_BASE=$DATA
		if is_root && ! postgres_user_can_reach "$DATA"; then
			PG_BASE=$fallback
			note "note: user 'postgres' cannot reach $DATA; PostgreSQL data goes to $PG_BASE"
		elif [ "${#DATA}" -gt 80 ]; then
			PG_BASE=$fallback
			note "note: $DATA is too long a path for a unix socket; PostgreSQL data goes to $PG_BASE"
		fi
	fi
	PGDATA_DIR=$PG_BASE/pg
	PG_SOCK=$PG_BASE/pg-sock
	PG_LOG=$PG_BASE/pg.log
}

# pg_as_owner CMD...: run a server command as the data directory's owner (never as root).
pg_as_owner() {
	if is_root; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

pg_running() {
	[ -f "$PGDATA_DIR/PG_VERSION" ] && pg_as_owner "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1
}

ensure_postgres_user() {
	if ! getent passwd postgres >/dev/null; then
		log "creating system user 'postgres'"
		useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
			--shell /bin/bash postgres || die "could not create user 'postgres'"
	fi
}

# pg_mkdir DIR MODE: create DIR owned by the server's user.
pg_mkdir() {
	mkdir -p "$1"
	if is_root; then chown postgres:postgres "$1"; fi
	chmod "$2" "$1"
}

# single-quote a value for postgresql.conf
pg_quote() { printf "'%s'" "${1//\'/\'\'}"; }

pg_write_conf() {
	local conf=$PGDATA_DIR/cic.conf
	{
		echo "# Written by infra/scripts/services.sh on every 'up'; edits are lost."
		echo "listen_addresses = '127.0.0.1'"
		echo "port = $PG_PORT"
		echo "unix_socket_directories = $(pg_quote "$PG_SOCK")"
		echo "max_connections = 200"
	} >"$conf"
	if is_root; then chown postgres:postgres "$conf"; fi
}

pg_up() {
	pg_locate
	local major=
	[ -f "$PGDATA_DIR/PG_VERSION" ] && major=$(cat "$PGDATA_DIR/PG_VERSION")
	if ! pg_find_bin "$major"; then
		if [ -n "$major" ] && pg_find_bin; then
			die "$PGDATA_DIR was made by PostgreSQL $major but only $("$PG_BIN/pg_ctl" --version) is installed.
       Install postgresql-$major, or remove $PGDATA_DIR to start over (this deletes the data)."
		fi
		apt_install postgresql
		pg_find_bin "$major" || die "PostgreSQL server binaries (initdb, pg_ctl) not found after installing"
	fi
	if is_root; then
		command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) is needed to run PostgreSQL as root"
		ensure_postgres_user
	fi

	mkdir -p "$PG_BASE"
	if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
		log "initialising PostgreSQL in $PGDATA_DIR ($("$PG_BIN/pg_ctl" --version | awk '{print $3}'))"
		pg_mkdir "$PGDATA_DIR" 700
		local locale=C
		locale -a 2>/dev/null | grep -qix 'c\.utf-\?8' && locale=C.UTF-8
		local out
		if ! out=$(pg_as_owner "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres -E UTF8 --locale="$locale" \
			--auth-local=trust --auth-host=trust 2>&1); then
			printf '%s\n' "$out" >&2
			die "initdb failed"
		fi
		printf "\n# Added by infra/scripts/services.sh\ninclude_if_exists = 'cic.conf'\n" >>"$PGDATA_DIR/postgresql.conf"
	fi
	pg_mkdir "$PG_SOCK" 755
	touch "$PG_LOG"
	if is_root; then chown postgres:postgres "$PG_LOG"; fi
	pg_write_conf

	if pg_running; then
		log "PostgreSQL already running (127.0.0.1:$PG_PORT, data $PGDATA_DIR)"
	else
		if port_busy "$PG_PORT"; then
			die "port $PG_PORT is already in use by another program; set CIC_PG_PORT to a free port"
		fi
		log "starting PostgreSQL on 127.0.0.1:$PG_PORT (log $PG_LOG)"
		if ! pg_as_owner "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PG_LOG" -w -t 60 start >/dev/null; then
			tail -n 20 "$PG_LOG" >&2 || true
			die "PostgreSQL did not start (full log: $PG_LOG)"
		fi
	fi

	local psql i url="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
	psql=$(pg_psql) || die "psql not found (install postgresql-client)"
	for ((i = 0; i < 30; i++)); do
		PGCONNECT_TIMEOUT=3 "$psql" -X -Atq "$url" -c 'select 1' >/dev/null 2>&1 && break
		sleep 1
	done
	[ "$i" -lt 30 ] || die "PostgreSQL on 127.0.0.1:$PG_PORT does not accept connections (log: $PG_LOG)"
	if [ -z "$("$psql" -X -Atq "$url" -c "select 1 from pg_database where datname = 'cic'")" ]; then
		log "creating database cic"
		"$psql" -X -q "$url" -c 'create database cic' >/dev/null || die "could not create database cic"
	fi
}

pg_down() {
	pg_locate
	if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
		log "PostgreSQL: no private instance in $PGDATA_DIR"
		return 0
	fi
	pg_find_bin "$(cat "$PGDATA_DIR/PG_VERSION")" || pg_find_bin ||
		die "pg_ctl not found; cannot stop PostgreSQL in $PGDATA_DIR"
	if pg_running; then
		log "stopping PostgreSQL"
		pg_as_owner "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 60 stop >/dev/null ||
			die "pg_ctl stop failed (log: $PG_LOG)"
	else
		log "PostgreSQL not running"
	fi
}

pg_status() {
	pg_locate
	if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
		echo "PostgreSQL: not initialised ($PGDATA_DIR)"
	elif { pg_find_bin "$(cat "$PGDATA_DIR/PG_VERSION")" || pg_find_bin; } && pg_running; then
		echo "PostgreSQL: running on 127.0.0.1:$PG_PORT (data $PGDATA_DIR, log $PG_LOG)"
	else
		echo "PostgreSQL: stopped (data $PGDATA_DIR)"
	fi
}

# ---------------------------------------------------------------- Redis

redis_pid() {
	local pid
	[ -f "$REDIS_PID" ] || return 1
	pid=$(cat "$REDIS_PID" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	printf '%s\n' "$pid"
}

redis_ping() {
	[ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

redis_up() {
	if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
		apt_install redis-server
	fi
	command -v redis-server >/dev/null 2>&1 || die "redis-server not found after installing"
	mkdir -p "$REDIS_DIR"

	local pid i
	if pid=$(redis_pid); then
		log "Redis already running (127.0.0.1:$REDIS_PORT, pid $pid)"
	else
		if port_busy "$REDIS_PORT"; then
			die "port $REDIS_PORT is already in use by another program; set CIC_REDIS_PORT to a free port"
		fi
		log "starting Redis on 127.0.0.1:$REDIS_PORT (log $REDIS_LOG)"
		rm -f "$REDIS_PID"
		redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" \
			--daemonize yes --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" \
			--save "" --appendonly yes >/dev/null ||
			die "redis-server failed to start (log: $REDIS_LOG)"
	fi
	for ((i = 0; i < 30; i++)); do
		redis_ping && return 0
		sleep 1
	done
	tail -n 20 "$REDIS_LOG" >&2 2>/dev/null || true
	die "Redis does not answer PING on 127.0.0.1:$REDIS_PORT after 30 s (log: $REDIS_LOG)"
}

redis_down() {
	local pid i
	if ! pid=$(redis_pid); then
		log "Redis not running"
		rm -f "$REDIS_PID"
		return 0
	fi
	log "stopping Redis"
	timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		note "Redis (pid $pid) did not stop in 10 s; killing it"
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$REDIS_PID"
}

redis_status() {
	local pid
	if pid=$(redis_pid); then
		echo "Redis: running on 127.0.0.1:$REDIS_PORT (pid $pid, data $REDIS_DIR, log $REDIS_LOG)"
	else
		echo "Redis: stopped (data $REDIS_DIR)"
	fi
}

# ---------------------------------------------------------------- env

shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# test_db_url URL: the same server's "postgres" database.
test_db_url() {
	local u=$1
	if [[ $u =~ ^(postgres(ql)?://[^/?#]*)(/[^?#]*)?(.*)$ ]]; then
		printf '%s/postgres%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[4]}"
	elif [[ $u =~ (^|[[:space:]])dbname=[^[:space:]]* ]]; then
		printf '%s\n' "$u" | sed -E 's/(^|[[:space:]])dbname=[^[:space:]]*/\1dbname=postgres/'
	else
		printf '%s dbname=postgres\n' "$u"
	fi
}

print_env() {
	local db redis tdb tredis
	if [ -n "${DATABASE_URL:-}" ]; then
		db=$DATABASE_URL
		tdb=${CIC_TEST_DATABASE_URL:-$(test_db_url "$DATABASE_URL")}
	else
		db="postgres://postgres@127.0.0.1:$PG_PORT/cic?sslmode=disable"
		tdb=${CIC_TEST_DATABASE_URL:-"postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"}
	fi
	if [ -n "${REDIS_URL:-}" ]; then
		redis=$REDIS_URL
		tredis=${CIC_TEST_REDIS_URL:-$REDIS_URL}
	else
		redis="redis://127.0.0.1:$REDIS_PORT/0"
		tredis=${CIC_TEST_REDIS_URL:-"redis://127.0.0.1:$REDIS_PORT/1"}
	fi
	echo "export DATABASE_URL=$(shq "$db")"
	echo "export REDIS_URL=$(shq "$redis")"
	echo "export CIC_TEST_DATABASE_URL=$(shq "$tdb")"
	echo "export CIC_TEST_REDIS_URL=$(shq "$tredis")"
}

# ---------------------------------------------------------------- main

usage() {
	sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

cmd=${1:-}
case $cmd in
up)
	mkdir -p "$DATA"
	if [ -n "${DATABASE_URL:-}" ]; then log "PostgreSQL: using DATABASE_URL (nothing started)"; else pg_up; fi
	if [ -n "${REDIS_URL:-}" ]; then log "Redis: using REDIS_URL (nothing started)"; else redis_up; fi
	;;
down)
	bash "$REPO/infra/scripts/stripe-mock.sh" down
	if [ -z "${DATABASE_URL:-}" ]; then pg_down; fi
	if [ -z "${REDIS_URL:-}" ]; then redis_down; fi
	;;
status)
	if [ -n "${DATABASE_URL:-}" ]; then echo "PostgreSQL: external (DATABASE_URL)"; else pg_status; fi
	if [ -n "${REDIS_URL:-}" ]; then echo "Redis: external (REDIS_URL)"; else redis_status; fi
	;;
env) print_env ;;
-h | --help | help) usage ;;
*) usage ;;
esac
