#!/usr/bin/env bash
# Runs a private PostgreSQL on loopback for the tests: Debian's PostgreSQL 15, a cluster of its own
# in a temporary directory (initdb and pg_ctl; never the system's service or port 5432).
#
#   scripts/pgserver.sh start   install PostgreSQL if needed, create and start a cluster
#   scripts/pgserver.sh env     print the shell line that points the tests at it (eval "$(... env)")
#   scripts/pgserver.sh stop    stop it and delete its data
#   scripts/pgserver.sh pause   stop the server, keeping its data (as if the database went away)
#   scripts/pgserver.sh resume  start it again on the same port
#
# PostgreSQL is installed with apt-get (as root, or with sudo) the first time: postgresql-common
# told not to create the usual main cluster, then postgresql-15. initdb refuses to run as root, so
# as root the cluster runs as the package's postgres user. The cluster's pid, port, data and log
# live in the state directory $TRANSFERD_PG_STATE (default ${TMPDIR:-/tmp}/transferd-pgserver.$UID),
# so several clusters can run side by side when each caller sets its own. The port is
# $TRANSFERD_PG_PORT or a free one below the ephemeral range. It trusts every local connection
# (-A trust): it is for tests only, and listens on 127.0.0.1 alone.
set -euo pipefail

STATE=${TRANSFERD_PG_STATE:-${TMPDIR:-/tmp}/transferd-pgserver.$(id -u)}
PGBIN=${TRANSFERD_PG_BIN:-/usr/lib/postgresql/15/bin}

die() { echo "pgserver: $*" >&2; exit 1; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running() { [ -f "$STATE/port" ] && [ -f "$STATE/data/postmaster.pid" ] && listening "$(cat "$STATE/port")"; }

# as runs a command as the cluster's owner: the postgres user when this script runs as root.
as() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# pg_start DIR PORT starts the cluster of DIR/data on 127.0.0.1:PORT.
pg_start() {
  as "$PGBIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 30 \
    -o "-p $2 -k $1 -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
}

install() {
  [ -x "$PGBIN/initdb" ] && return
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  mkdir -p "${XDG_CACHE_HOME:-$HOME/.cache}/transferd-test"
  exec 9>"${XDG_CACHE_HOME:-$HOME/.cache}/transferd-test/postgresql-install.lock"
  command -v flock >/dev/null && flock 9
  if [ ! -x "$PGBIN/initdb" ]; then
    echo "pgserver: installing Debian's postgresql-15 (no main cluster, no service started)" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null
    $sudo sed -i 's/^#\?\s*create_main_cluster.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
  fi
  exec 9>&-
  [ -x "$PGBIN/initdb" ] || die "no $PGBIN/initdb after installing postgresql-15"
}

start() {
  running && die "already running (port $(cat "$STATE/port"), state $STATE); stop it first"
  install
  mkdir -p "$STATE"
  local dir port
  dir=$(mktemp -d "${TMPDIR:-/tmp}/transferd-pgdata.XXXXXX")
  echo "$dir" >"$STATE/dir"
  ln -sfn "$dir/data" "$STATE/data"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
  as "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
    die "initdb failed: $(tail -5 "$dir/initdb.log")"
  for _ in $(seq 1 20); do
    port=${TRANSFERD_PG_PORT:-$((20000 + RANDOM % 12000))} # below the ephemeral range
    listening "$port" && { [ -z "${TRANSFERD_PG_PORT:-}" ] || die "port $port is in use"; continue; }
    if pg_start "$dir" "$port"; then
      echo "$port" >"$STATE/port"
      "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAtc "CREATE DATABASE transferd" >/dev/null ||
        die "create database failed"
      return
    fi
    grep -q "Address already in use" "$dir/server.log" 2>/dev/null || die "pg_ctl start failed: $(tail -5 "$dir/server.log")"
  done
  die "no free port found"
}

show_env() {
  running || die "not running (state $STATE); start it first"
  printf 'export TRANSFERD_TEST_POSTGRES=postgres://postgres@127.0.0.1:%s/transferd?sslmode=disable\n' "$(cat "$STATE/port")"
}

pause() {
  running || die "not running (state $STATE)"
  as "$PGBIN/pg_ctl" -D "$(cat "$STATE/dir")/data" -m immediate -w stop >/dev/null
}

resume() {
  [ -f "$STATE/dir" ] && [ -f "$STATE/port" ] || die "nothing to resume (state $STATE)"
  local dir port
  dir=$(cat "$STATE/dir") port=$(cat "$STATE/port")
  pg_start "$dir" "$port" || die "pg_ctl start failed: $(tail -5 "$dir/server.log")"
}

stop() {
  if [ -f "$STATE/dir" ]; then
    local dir
    dir=$(cat "$STATE/dir")
    [ ! -f "$dir/data/postmaster.pid" ] || as "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
  fi
  rm -rf "$STATE"
}

case "${1:-}" in
  start) start ;;
  env) show_env ;;
  stop) stop ;;
  pause) pause ;;
  resume) resume ;;
  *) sed -n '5,9p' "$0" >&2; exit 2 ;;
esac
