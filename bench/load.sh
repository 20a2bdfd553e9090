#!/usr/bin/env bash
# 10,000 concurrent SFTP sessions on one transferd server, as Transfer Family promises a server
# holds, and 500 sessions all working; a load test, not part of the test suite.
#
# Builds transferd and bench/load, starts transferd with its defaults (local storage, default
# limits, --debug-listen for its goroutines) and a server with USERS users (bench000 ...), then:
#   1. hold: SESSIONS sessions from 10 loopback addresses (no user or address past the default
#      limits), 1% of them transferring (put, get, rm of 256 KiB) for DURATION while a prober
#      stats idle sessions: failures, server RSS (before, open, peak), memory per session, p99
#      stat latency;
#   2. mixed: MIXED sessions each running put, ls, rename, get, rm for DURATION, then closed: zero
#      errors, and the server's RSS, heap and goroutines before, at the end and 70 s after.
#
#   usage: bench/load.sh [--sessions N] [--mixed N] [--duration D] [--only hold|mixed]
#   e.g.   bench/load.sh                                   # 10,000 and 500 sessions, 5 minutes each
#          bench/load.sh --sessions 2000 --mixed 100 --duration 30s   # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=10000 MIXED=500 DURATION=5m ONLY=hold,mixed USERS=100
while [ $# -gt 0 ]; do
  case "$1" in
    --sessions) SESSIONS=$2; shift 2 ;;
    --mixed) MIXED=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    *) sed -n '14,17p' "$0" >&2; exit 2 ;;
  esac
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }
command -v ssh-keygen >/dev/null || { echo "load: ssh-keygen is needed (apt-get install openssh-client)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"
need=$((SESSIONS + 1000))
if [ "$(ulimit -n)" -lt "$need" ]; then
  echo "load: $SESSIONS sessions need about $need file descriptors in each process; the hard limit is $(ulimit -Hn)" >&2
  exit 1
fi

WORK=$(mktemp -d)
tpid=""
cleanup() {
  [ -z "$tpid" ] || kill "$tpid" 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
go build -o "$WORK/transferd" ./cmd/transferd
go build -o "$WORK/load" ./bench/load
ssh-keygen -q -t ed25519 -N "" -f "$WORK/key"
PORT=$((24000 + RANDOM % 1000)) DEBUG=$((25000 + RANDOM % 1000))
{
  echo "Servers:"
  echo "  - Endpoint: 127.0.0.1:$PORT"
  echo "    Users:"
  for ((u = 0; u < USERS; u++)); do
    printf '      - UserName: bench%03d\n        HomeDirectoryType: LOGICAL\n' "$u"
    printf '        HomeDirectoryMappings: [{Entry: /, Target: "/bucket/${transfer:UserName}"}]\n'
    printf '        SshPublicKeys: ["%s"]\n' "$(cat "$WORK/key.pub")"
  done
} >"$WORK/transferd.yaml"

start() {
  "$WORK/transferd" serve --data-dir "$WORK/data" --config "$WORK/transferd.yaml" --api-listen off \
    --activity-log /dev/null --debug-listen "127.0.0.1:$DEBUG" 2>"$WORK/transferd.log" &
  tpid=$!
  for _ in $(seq 100); do grep -q 'msg=started' "$WORK/transferd.log" 2>/dev/null && return; sleep 0.1; done
  echo "load: transferd did not start:" >&2; cat "$WORK/transferd.log" >&2; exit 1
}
stop() { kill "$tpid"; wait "$tpid" 2>/dev/null || true; tpid=""; }

echo "load: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB, $(go version | cut -d' ' -f3), commit $(git rev-parse --short HEAD)"
status=0
if want hold; then
  echo "== hold: $SESSIONS sessions, 1% transferring, $DURATION"
  start
  "$WORK/load" -mode hold -addr "127.0.0.1:$PORT" -key "$WORK/key" -users "$USERS" -sources 10 \
    -n "$SESSIONS" -duration "$DURATION" -pid "$tpid" -debug "http://127.0.0.1:$DEBUG" || status=1
  grep -E 'level=(WARN|ERROR)' "$WORK/transferd.log" | grep -v 'is not implemented by this build' | head -5 || true
  stop
fi
if want mixed; then
  echo "== mixed: $MIXED sessions each putting, listing, renaming, getting and removing, $DURATION"
  start
  "$WORK/load" -mode mixed -addr "127.0.0.1:$PORT" -key "$WORK/key" -users "$USERS" -sources 10 \
    -n "$MIXED" -duration "$DURATION" -pid "$tpid" -debug "http://127.0.0.1:$DEBUG" || status=1
  grep -E 'level=(WARN|ERROR)' "$WORK/transferd.log" | grep -v 'is not implemented by this build' | head -5 || true
  stop
fi
exit $status
