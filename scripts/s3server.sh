#!/usr/bin/env bash
# Runs a real S3 server on loopback for the tests: versitygw v1.8.0 over a temporary directory.
#
#   scripts/s3server.sh start   install versitygw if needed, start it, wait until it answers
#   scripts/s3server.sh env     print the shell line that points the tests at it (eval "$(... env)")
#   scripts/s3server.sh stop    stop it and delete its data
#   scripts/s3server.sh pause   stop the server, keeping its data (as if S3 went away)
#   scripts/s3server.sh resume  start it again on the same port and data
#
# versitygw is installed with `go install` into a cache outside the repository (never into go.mod):
# $TRANSFERD_S3_CACHE, by default ${XDG_CACHE_HOME:-$HOME/.cache}/transferd-test/versitygw-v1.8.0.
# The first install downloads ~75 modules and builds for about 1.5 minutes; later starts are instant.
# The server's pid, port, data directory and log live in the state directory $TRANSFERD_S3_STATE
# (default ${TMPDIR:-/tmp}/transferd-s3server.$UID), so several servers can run side by side when
# each caller sets its own. The port is $TRANSFERD_S3_PORT or a free one below the ephemeral range.
set -euo pipefail

VERSION=v1.8.0
CACHE=${TRANSFERD_S3_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/transferd-test/versitygw-$VERSION}
STATE=${TRANSFERD_S3_STATE:-${TMPDIR:-/tmp}/transferd-s3server.$(id -u)}
BIN=$CACHE/bin/versitygw
ACCESS_KEY=transferdtest
SECRET_KEY=transferdtestsecret

die() { echo "s3server: $*" >&2; exit 1; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running() { [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; }

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

install() { go_install_cached versitygw "github.com/versity/versitygw/cmd/versitygw@$VERSION" "$CACHE" || die "install failed"; }

# launch PORT DATA starts versitygw over DATA on 127.0.0.1:PORT and waits until it answers; it
# fails when it does not (the port was taken meanwhile, or versitygw failed).
launch() {
  local port=$1 data=$2 pid
  ROOT_ACCESS_KEY=$ACCESS_KEY ROOT_SECRET_KEY=$SECRET_KEY \
    "$BIN" --port "127.0.0.1:$port" posix "$data" >"$STATE/versitygw.log" 2>&1 &
  pid=$!
  echo "$pid" >"$STATE/pid"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break # lost the port to someone else, or failed
    if listening "$port"; then
      echo "$port" >"$STATE/port"
      return 0
    fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$STATE/pid"
  return 1
}

start() {
  running && die "already running (pid $(cat "$STATE/pid"), state $STATE); stop it first"
  install
  mkdir -p "$STATE"
  local data port
  data=$(mktemp -d "${TMPDIR:-/tmp}/transferd-s3data.XXXXXX")
  echo "$data" >"$STATE/data"
  for _ in $(seq 1 20); do
    port=${TRANSFERD_S3_PORT:-$((20000 + RANDOM % 12000))} # below the ephemeral range
    listening "$port" && { [ -z "${TRANSFERD_S3_PORT:-}" ] || die "port $port is in use"; continue; }
    if launch "$port" "$data"; then
      printf 'export TRANSFERD_TEST_S3_ENDPOINT=http://127.0.0.1:%s TRANSFERD_TEST_S3_ACCESS_KEY=%s TRANSFERD_TEST_S3_SECRET_KEY=%s\n' \
        "$port" "$ACCESS_KEY" "$SECRET_KEY" >"$STATE/env"
      return
    fi
    [ -z "${TRANSFERD_S3_PORT:-}" ] || break
  done
  cat "$STATE/versitygw.log" >&2 || true
  rm -rf "$data"
  die "versitygw did not start (log above)"
}

# kill_server stops the versitygw process, if it runs, keeping its data.
kill_server() {
  if running; then
    local pid
    pid=$(cat "$STATE/pid")
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$STATE/pid"
}

pause() {
  running || die "not running (state $STATE)"
  kill_server
}

resume() {
  [ -f "$STATE/port" ] && [ -f "$STATE/data" ] || die "nothing to resume (state $STATE)"
  running && return
  launch "$(cat "$STATE/port")" "$(cat "$STATE/data")" || { cat "$STATE/versitygw.log" >&2; die "versitygw did not start again"; }
}

stop() {
  kill_server
  [ ! -f "$STATE/data" ] || rm -rf "$(cat "$STATE/data")"
  rm -f "$STATE/port" "$STATE/env" "$STATE/data"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
pause) pause ;;
resume) resume ;;
env)
  running && [ -f "$STATE/env" ] || die "not running (state $STATE); run: $0 start"
  cat "$STATE/env"
  ;;
*) die "usage: $0 start|stop|env|pause|resume" ;;
esac
