#!/usr/bin/env bash
# transferd against OpenSSH's own SFTP server, side by side on this machine.
#
# Builds transferd, starts it and a private OpenSSH sshd (scripts/openssh-server.sh: its own
# config, an RSA-3072 host key like transferd's, internal-sftp) serving the same directory on
# loopback, and drives both with the OpenSSH sftp client, interleaved (A B A B ...) over ROUNDS
# rounds:
#   - upload and download of SIZE MiB (sha256 checked) with aes128-gcm, aes256-gcm,
#     chacha20-poly1305 and aes256-ctr + hmac-sha2-256-etm;
#   - sessions per second: connect, ls, quit; sequentially and from 8 clients at once;
#   - 8 clients at once each uploading, then downloading, SIZE/4 MiB;
#   - SESSIONS concurrent idle SFTP sessions (bench/sessions) on freshly started servers: none
#     refused, server memory (transferd's RSS; the PSS of sshd and all the processes it forked).
# Transfers have one empty session's time subtracted. Both sides use curve25519-sha256 (OpenSSH
# would pick sntrup761, which transferd's policies do not have). Prints one table of medians
# (min-max) with transferd/OpenSSH ratios and writes it into docs/BENCHMARKS.md (between the
# "latest" markers) with the machine, commit and command.
#
#   usage: bench/compare.sh [--rounds N] [--size MIB] [--sessions N] [--only LIST] [--no-write]
#          bench/compare.sh --storage s3 [--rounds N] [--size MIB]
#     --only     comma-separated parts: throughput, handshakes, parallel, sessions (default all)
#     --storage  local (default: the servers above) or s3: SFTP onto a local versitygw against direct
#                AWS SDK transfers of the same file to it (bench/s3.sh; default 2048 MiB), with
#                transferd's peak RSS
#   e.g.   bench/compare.sh                      # the full run (about 15 minutes on 2 cores)
#          bench/compare.sh --rounds 1 --size 128 --sessions 200 --no-write   # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=3 SIZE=1024 SESSIONS=2000 ONLY=throughput,handshakes,parallel,sessions WRITE=1 STORAGE=local SIZE_SET=""
ARGS="$*"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --size) SIZE=$2 SIZE_SET=1; shift 2 ;;
    --storage) STORAGE=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --no-write) WRITE=0; shift ;;
    *) sed -n '19,28p' "$0" >&2; exit 2 ;;
  esac
done
case $STORAGE in
  local) ;;
  s3) [ -n "$SIZE_SET" ] || SIZE=2048; exec bench/s3.sh "$SIZE" "$ROUNDS" ;;
  *) echo "compare: --storage $STORAGE: use local or s3" >&2; exit 2 ;;
esac
want() { [[ ",$ONLY," == *",$1,"* ]]; }
for t in sftp ssh-keygen bc sha256sum; do command -v "$t" >/dev/null || { echo "compare: $t is needed (apt-get install openssh-client bc coreutils)" >&2; exit 1; }; done
ulimit -n "$(ulimit -Hn)" # thousands of sessions need thousands of descriptors

WORK=$(mktemp -d)
tpid=""
cleanup() {
  [ -z "$tpid" ] || kill "$tpid" 2>/dev/null || true
  scripts/openssh-server.sh stop "$WORK/sshd" 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

echo "building transferd and bench/sessions" >&2
go build -o "$WORK/transferd" ./cmd/transferd
go build -o "$WORK/sessions" ./bench/sessions
scripts/openssh-server.sh path >/dev/null

ssh-keygen -q -t ed25519 -N '' -f "$WORK/key"
SHARE=$WORK/share/bench
mkdir -p "$SHARE"
pick() { echo $((20000 + RANDOM % 12000)); }
TPORT=$(pick) OPORT=$(pick)
while [ "$OPORT" = "$TPORT" ]; do OPORT=$(pick); done
ME=$(id -un)

cat >"$WORK/transferd.yaml" <<YAML
Storage:
  Local: {Root: "$WORK/share"}
Servers:
  - Endpoint: 127.0.0.1:$TPORT
    Domain: EFS
    SecurityPolicyName: TransferSecurityPolicy-2018-11
    Limits: # one user from one address holds all the idle sessions
      MaxConnectionsPerUser: $((SESSIONS + 100))
      MaxConnectionsPerSourceIp: $((SESSIONS + 100))
      MaxConnections: $((SESSIONS + 100))
      MaxStartupsPerSourceIp: 64
    Users:
      - UserName: bench
        HomeDirectoryType: LOGICAL
        HomeDirectoryMappings: [{Entry: /, Target: /bench}]
        SshPublicKeyFiles: [$WORK/key.pub]
YAML
start_servers() {
  "$WORK/transferd" serve --data-dir "$WORK/data" --config "$WORK/transferd.yaml" --api-listen off \
    --activity-log /dev/null 2>>"$WORK/transferd.log" &
  tpid=$!
  scripts/openssh-server.sh start "$WORK/sshd" "$OPORT" "$WORK/key.pub" "$SHARE"
  opid=$(cat "$WORK/sshd/pid")
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$TPORT") 2>/dev/null && return; sleep 0.1; done
  cat "$WORK/transferd.log" >&2
  echo "compare: transferd did not start" >&2
  exit 1
}
stop_servers() {
  kill "$tpid"
  wait "$tpid" || true
  tpid=""
  scripts/openssh-server.sh stop "$WORK/sshd"
}
start_servers

# transferd's user is chrooted to the share; sshd's internal-sftp starts in it.
NAMES=(transferd openssh)
declare -A PORT=([transferd]=$TPORT [openssh]=$OPORT)
declare -A LOGIN=([transferd]=bench [openssh]=$ME) # sshd serves system users only; transferd refuses "root"

base=(-P PORT -i "$WORK/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  -o BatchMode=yes -o LogLevel=ERROR -o KexAlgorithms=curve25519-sha256)
sftp_run() { # SERVER [sftp options...] < batch
  local s=$1; shift
  local o=("${base[@]}"); o[1]=${PORT[$s]}
  sftp -q "${o[@]}" "$@" -b - "${LOGIN[$s]}@127.0.0.1" >/dev/null
}
now() { date +%s.%N; }
timed() { # SERVER BATCH [sftp options...] -> seconds
  local s=$1 b=$2; shift 2
  sync # each transfer starts with no dirty page cache left by the one before
  local t0; t0=$(now)
  printf '%s\n' "$b" | sftp_run "$s" "$@"
  echo "$(now) - $t0" | bc -l
}

declare -A R # R[metric|server] = newline-separated values
add() { R["$1|$2"]+="$3"$'\n'; }
ORDER=() # metrics in table order
declare -A UNIT TARGET
metric() { ORDER+=("$1"); UNIT[$1]=$2; TARGET[$1]=$3; }

SRC=$WORK/src.bin
head -c $((SIZE * 1048576)) /dev/urandom >"$SRC"
SUM=$(sha256sum <"$SRC" | cut -d' ' -f1)
PSIZE=$((SIZE / 4))
PSRC=$WORK/psrc.bin
head -c $((PSIZE * 1048576)) "$SRC" >"$PSRC"
PSUM=$(sha256sum <"$PSRC" | cut -d' ' -f1)

CIPHERS=("aes128-gcm@openssh.com" "aes256-gcm@openssh.com" "chacha20-poly1305@openssh.com" "aes256-ctr hmac-sha2-256-etm@openssh.com")
short() { local c=${1%% *}; c=${c%@openssh.com}; [ "$1" = "${1#* }" ] || c="$c+${1#* }"; echo "${c%@openssh.com}"; }
want throughput && for c in "${CIPHERS[@]}"; do
  target=1.0
  case $c in aes256-ctr*) target=0.9 ;; chacha20*) target=report ;; esac
  metric "upload $(short "$c")" MiB/s "$target"
  metric "download $(short "$c")" MiB/s "$target"
done
want handshakes && { metric "sessions/s sequential" 1/s 3.0; metric "sessions/s 8 clients" 1/s 3.0; }
want parallel && { metric "8 clients upload" MiB/s 1.0; metric "8 clients download" MiB/s 1.0; }
want sessions && { metric "idle sessions open" count "all"; metric "idle sessions memory" MiB "<300 (transferd)"; }

throughput() { # SERVER
  local s=$1 c opts setup up down
  for c in "${CIPHERS[@]}"; do
    opts=(-o "Ciphers=${c%% *}")
    [ "$c" = "${c#* }" ] || opts+=(-o "MACs=${c#* }")
    setup=$(timed "$s" "pwd" "${opts[@]}")
    up=$(timed "$s" "put $SRC tput.bin" "${opts[@]}")
    down=$(timed "$s" "get tput.bin $WORK/dl.bin" "${opts[@]}")
    [ "$(sha256sum <"$WORK/dl.bin" | cut -d' ' -f1)" = "$SUM" ] || { echo "compare: $s: download of $c differs" >&2; exit 1; }
    [ "$(sha256sum <"$SHARE/tput.bin" | cut -d' ' -f1)" = "$SUM" ] || { echo "compare: $s: upload of $c differs" >&2; exit 1; }
    rm -f "$WORK/dl.bin" "$SHARE/tput.bin"
    add "upload $(short "$c")" "$s" "$(echo "$SIZE / ($up - $setup)" | bc -l)"
    add "download $(short "$c")" "$s" "$(echo "$SIZE / ($down - $setup)" | bc -l)"
  done
}

handshakes() { # SERVER
  local s=$1 n=40 t0 i w
  t0=$(now)
  for ((i = 0; i < n; i++)); do echo "ls" | sftp_run "$s"; done
  add "sessions/s sequential" "$s" "$(echo "$n / ($(now) - $t0)" | bc -l)"
  n=80
  t0=$(now)
  for ((w = 0; w < 8; w++)); do
    (for ((i = 0; i < n / 8; i++)); do echo "ls" | sftp_run "$s"; done) &
    PIDS+=($!)
  done
  wait_all
  add "sessions/s 8 clients" "$s" "$(echo "$n / ($(now) - $t0)" | bc -l)"
}
PIDS=() # clients started in the background
wait_all() {
  local p fail=0
  for p in "${PIDS[@]}"; do wait "$p" || fail=1; done
  PIDS=()
  [ $fail = 0 ] || { echo "compare: a client failed" >&2; exit 1; }
}

parallel() { # SERVER
  local s=$1 setup t0 i
  setup=$(timed "$s" "pwd")
  t0=$(now)
  for ((i = 0; i < 8; i++)); do printf 'put %s par%d.bin\n' "$PSRC" "$i" | sftp_run "$s" & PIDS+=($!); done
  wait_all
  add "8 clients upload" "$s" "$(echo "8 * $PSIZE / ($(now) - $t0 - $setup)" | bc -l)"
  t0=$(now)
  for ((i = 0; i < 8; i++)); do printf 'get par%d.bin %s/pdl%d.bin\n' "$i" "$WORK" "$i" | sftp_run "$s" & PIDS+=($!); done
  wait_all
  add "8 clients download" "$s" "$(echo "8 * $PSIZE / ($(now) - $t0 - $setup)" | bc -l)"
  for ((i = 0; i < 8; i++)); do
    [ "$(sha256sum <"$WORK/pdl$i.bin" | cut -d' ' -f1)" = "$PSUM" ] || { echo "compare: $s: parallel download $i differs" >&2; exit 1; }
    rm -f "$WORK/pdl$i.bin" "$SHARE/par$i.bin"
  done
}

# server memory: transferd's RSS; for OpenSSH, the proportional set size (PSS) of the listener
# and every process it forked (two per session), so that shared pages count once.
descendants() { # PID -> PID and all its descendants
  ps -e -o pid=,ppid= | awk -v root="$1" '
    {parent[$1] = $2}
    END {for (p in parent) {q = p; while (q != "" && q != root && q != 1 && q != 0) q = parent[q]; if (q == root) print p}}'
}
memory() { # SERVER -> MiB
  case $1 in
    transferd) awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$tpid/status" ;;
    openssh)
      descendants "$opid" | while read -r p; do
        awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true
      done | awk '{s += $1} END {printf "%.1f", s / 1024}' ;;
  esac
}
# Idle sessions are measured on freshly started servers: what a long transfer left in the heap
# is not what sessions cost.
sessions() { # SERVER
  local s=$1 fifo=$WORK/hold out=$WORK/sessions.out
  [ "$s" != "${NAMES[0]}" ] || { stop_servers; start_servers; }
  rm -f "$fifo"; mkfifo "$fifo"
  "$WORK/sessions" -addr "127.0.0.1:${PORT[$s]}" -user "${LOGIN[$s]}" -key "$WORK/key" -n "$SESSIONS" <"$fifo" >"$out" &
  local sp=$!
  exec 7>"$fifo"
  for _ in $(seq 1 1200); do grep -q '^open=' "$out" && break; sleep 0.5; done
  sleep 2 # let the server settle
  local mem; mem=$(memory "$s")
  exec 7>&-
  wait "$sp" || { echo "compare: bench/sessions failed against $s" >&2; cat "$out" >&2; exit 1; }
  local open; open=$(sed -n 's/^open=\([0-9]*\).*/\1/p' "$out")
  grep -q "^alive=$open\$" "$out" || echo "compare: $s: $(grep '^alive=' "$out") of $open sessions still answered at the end" >&2
  grep '^first failure' "$out" >&2 || true
  echo "  $s: $open sessions open, $mem MiB" >&2
  add "idle sessions open" "$s" "$open"
  add "idle sessions memory" "$s" "$mem"
}

for r in $(seq 1 "$ROUNDS"); do
  for part in throughput handshakes parallel sessions; do
    want "$part" || continue
    for s in "${NAMES[@]}"; do
      echo "round $r/$ROUNDS: $part on $s" >&2
      "$part" "$s"
    done
  done
done

stats() { # values on stdin -> "median min max"
  sort -g | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s %s %s", m, v[1], v[NR]}'
}
fmt() { # median min max -> "M (min-max)"
  if [ "$ROUNDS" -gt 1 ]; then printf '%.1f (%.1f–%.1f)' "$1" "$2" "$3"; else printf '%.1f' "$1"; fi
}
TABLE=$WORK/table.md
{
  printf '| measure | unit | transferd | OpenSSH %s | transferd / OpenSSH | target |\n' "$(ssh -V 2>&1 | sed 's/^OpenSSH_\([^ ,]*\).*/\1/')"
  printf '|---|---|---|---|---|---|\n'
  for m in "${ORDER[@]}"; do
    read -r tm tl th <<<"$(printf '%s' "${R["$m|transferd"]}" | stats)"
    read -r om ol oh <<<"$(printf '%s' "${R["$m|openssh"]}" | stats)"
    ratio=$(echo "$tm / $om" | bc -l)
    case $m in "idle sessions open") ratio="" ;; *) ratio=$(printf '%.2f' "$ratio") ;; esac
    printf '| %s | %s | %s | %s | %s | %s |\n' "$m" "${UNIT[$m]}" "$(fmt "$tm" "$tl" "$th")" "$(fmt "$om" "$ol" "$oh")" "$ratio" "${TARGET[$m]}"
  done
} >"$TABLE"
cat "$TABLE"

[ "$WRITE" = 1 ] || exit 0
DOC=docs/BENCHMARKS.md
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
{
  echo "<!-- latest: written by bench/compare.sh -->"
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on commit $COMMIT: \`bench/compare.sh${ARGS:+ $ARGS}\`"
  echo
  echo "Machine: $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r), $(go version | cut -d' ' -f3), client $(ssh -V 2>&1)."
  echo "Rounds: $ROUNDS, interleaved transferd/OpenSSH; medians (min–max); $SIZE MiB files, $PSIZE MiB per parallel client, $SESSIONS idle sessions."
  echo
  cat "$TABLE"
  echo "<!-- end latest -->"
} >"$WORK/latest.md"
if [ -f "$DOC" ] && grep -q '^<!-- latest' "$DOC"; then
  awk -v f="$WORK/latest.md" '
    /^<!-- latest/ {while ((getline l < f) > 0) print l; skip = 1; next}
    /^<!-- end latest -->/ {skip = 0; next}
    !skip {print}' "$DOC" >"$WORK/doc.md"
  cp "$WORK/doc.md" "$DOC"
else
  mkdir -p docs
  { echo "# Benchmarks"; echo; cat "$WORK/latest.md"; } >"$DOC"
fi
echo "written into $DOC" >&2
