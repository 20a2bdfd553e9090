#!/usr/bin/env bash
# SFTP-to-S3 benchmark: uploads and downloads one file (default 2048 MiB) through transferd onto a
# local versitygw with the OpenSSH sftp client, and the same file straight to the same server with
# the AWS SDK for Go (bench/s3direct), interleaved over ROUNDS rounds. Prints MiB/s of each, the
# SFTP/direct ratios, and transferd's peak RSS (VmHWM). Targets (issue 4): ratio >= 0.8, RSS < 200 MiB.
#   usage: bench/s3.sh [SIZE_MIB] [ROUNDS] [CIPHER]
# With PROFILE_DIR=DIR set, a 5-second CPU profile of transferd is taken during round 1's SFTP upload
# and download (DIR/upload.pprof, DIR/download.pprof; read them with `go tool pprof -top`).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-2048} ROUNDS=${2:-3} CIPHER=${3:-aes128-gcm@openssh.com}
WORK=$(mktemp -d)
export TRANSFERD_S3_STATE=$WORK/s3
pid=""
cleanup() {
  [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true
  scripts/s3server.sh stop >/dev/null 2>&1 || true
  [ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

go build -o "$WORK/transferd" ./cmd/transferd
go build -o "$WORK/s3direct" ./bench/s3direct
scripts/s3server.sh start >/dev/null
eval "$(scripts/s3server.sh env)"
"$WORK/s3direct" mb s3://bench >/dev/null

ssh-keygen -q -t ed25519 -N '' -f "$WORK/key"
port=$((20000 + RANDOM % 12000))
cat >"$WORK/transferd.yaml" <<YAML
Storage:
  S3: {Endpoint: "$TRANSFERD_TEST_S3_ENDPOINT", ForcePathStyle: true, AccessKeyId: "$TRANSFERD_TEST_S3_ACCESS_KEY", SecretAccessKey: "$TRANSFERD_TEST_S3_SECRET_KEY"}
Servers:
  - Endpoint: 127.0.0.1:$port
    Users:
      - UserName: bench
        HomeDirectoryType: LOGICAL
        HomeDirectoryMappings: [{Entry: /, Target: /bench/home}]
        SshPublicKeyFiles: [$WORK/key.pub]
YAML
: >"$WORK/empty"
"$WORK/s3direct" put "$WORK/empty" s3://bench/home/ >/dev/null # the LOGICAL root must exist
debug=() dport=$((port + 1))
[ -z "${PROFILE_DIR:-}" ] || { mkdir -p "$PROFILE_DIR"; debug=(--debug-listen "127.0.0.1:$dport"); }
"$WORK/transferd" serve --data-dir "$WORK/data" --config "$WORK/transferd.yaml" --api-listen off \
  --activity-log /dev/null "${debug[@]}" 2>"$WORK/transferd.log" &
pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

head -c $((SIZE * 1048576)) /dev/urandom >"$WORK/src.bin"
sftp_time() { # batch -> seconds
  local t0 t1; t0=$(date +%s.%N)
  printf '%s\n' "$1" | sftp -q -b - -P "$port" -i "$WORK/key" -o Ciphers="$CIPHER" -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR bench@127.0.0.1 >/dev/null
  t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l
}
rate() { printf '%.1f' "$(echo "$SIZE / $1" | bc -l)"; }
cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; } # user+system seconds (USER_HZ 100)
gw=$(cat "$TRANSFERD_S3_STATE/pid")
# measure CMD...: runs CMD, which prints seconds, and prints those seconds and the CPU seconds
# (user+system) spent meanwhile by versitygw, by transferd and by CMD's own processes (the sftp
# client and its ssh, or s3direct). `times` is a builtin: it counts this shell's finished children.
measure() {
  sync # each transfer starts with no dirty page cache left by the one before
  local g0 d0 t; g0=$(cpu "$gw") d0=$(cpu "$pid"); times >"$WORK/t0"
  t=$("$@")
  times >"$WORK/t1"
  echo "$t $(echo "$(cpu "$gw") - $g0" | bc -l) $(echo "$(cpu "$pid") - $d0" | bc -l)" \
    "$(awk 'FNR == 2 {gsub(/[ms]/, " "); v = $1 * 60 + $2 + $3 * 60 + $4; if (NR == FNR) a = v; else b = v} END {print b - a}' "$WORK/t0" "$WORK/t1")"
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
profile() { # NAME ROUND: in the background, a CPU profile of the transfer about to start
  [ -n "${PROFILE_DIR:-}" ] && [ "$2" = 1 ] || return 0
  (sleep 0.5; curl -sf -o "$PROFILE_DIR/$1.pprof" "http://127.0.0.1:$dport/debug/pprof/profile?seconds=5") &
}
setup=$(sftp_time "pwd")
declare -A t # t[kind] = newline-separated values: su (sftp upload seconds), suc (its CPU seconds of all processes), ...
record() { # KIND SECONDS GW TRANSFERD CLIENT: keeps the seconds and the CPU of the processes involved
  t[$1]+="$2"$'\n'
  t[$1c]+="$(echo "$3 + $4 + $5" | bc -l)"$'\n'
}
cpuline() { # LABEL SECONDS GW TRANSFERD CLIENT [CLIENTNAME]
  printf '    %-17s %7s MiB/s  CPU s: versitygw %5.1f  transferd %5.1f  %s %5.1f\n' "$1" "$(rate "$2")" "$3" "$4" "${6:-client}" "$5"
}
for r in $(seq 1 "$ROUNDS"); do
  read -r mu mug mud muc <<<"$(measure "$WORK/s3direct" put "$WORK/src.bin" s3://bench/direct.bin)"
  read -r pu pug pud puc <<<"$(measure "$WORK/s3direct" putobject "$WORK/src.bin" s3://bench/direct1.bin)"
  profile upload "$r"
  echo 5 >"/proc/$pid/clear_refs" # resets VmHWM: the peak of this upload alone
  read -r su sug sud suc <<<"$(measure sftp_time "put $WORK/src.bin sftp.bin")"
  su=$(echo "$su - $setup" | bc -l)
  uprss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
  read -r md mdg mdd mdc <<<"$(measure "$WORK/s3direct" get "$WORK/direct.out" s3://bench/direct.bin)"
  cmp -s "$WORK/src.bin" "$WORK/direct.out" || { echo "round $r: direct download differs from the source" >&2; exit 1; }
  read -r pd pdg pdd pdc <<<"$(measure "$WORK/s3direct" getobject "$WORK/direct.out" s3://bench/direct1.bin)"
  cmp -s "$WORK/src.bin" "$WORK/direct.out" || { echo "round $r: direct download differs from the source" >&2; exit 1; }
  profile download "$r"
  echo 5 >"/proc/$pid/clear_refs"
  read -r sd sdg sdd sdc <<<"$(measure sftp_time "get sftp.bin $WORK/sftp.out")"
  sd=$(echo "$sd - $setup" | bc -l)
  cmp -s "$WORK/src.bin" "$WORK/sftp.out" || { echo "round $r: SFTP download differs from the source" >&2; exit 1; }
  downrss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
  rm -f "$WORK/sftp.out" "$WORK/direct.out"
  echo "round $r"
  echo "  upload"
  cpuline "sftp" "$su" "$sug" "$sud" "$suc" "sftp client"
  cpuline "transfer manager" "$mu" "$mug" "$mud" "$muc" "s3direct"
  cpuline "PutObject" "$pu" "$pug" "$pud" "$puc" "s3direct"
  echo "  download"
  cpuline "sftp" "$sd" "$sdg" "$sdd" "$sdc" "sftp client"
  cpuline "transfer manager" "$md" "$mdg" "$mdd" "$mdc" "s3direct"
  cpuline "GetObject" "$pd" "$pdg" "$pdd" "$pdc" "s3direct"
  printf '  transferd peak RSS (VmHWM): upload %s MiB, download %s MiB\n' "$uprss" "$downrss"
  for k in su mu pu sd md pd; do g=${k}g d=${k}d c=${k}c; record "$k" "${!k}" "${!g}" "${!d}" "${!c}"; done
done
m() { printf '%s' "${t[$1]}" | median; }
ratio() { printf '%.2f' "$(echo "$(m "$2") / $(m "$1")" | bc -l)"; }
printf 'medians of %d rounds, MiB/s\n' "$ROUNDS"
printf '  upload:   sftp %s  transfer manager %s  PutObject %s  ratio sftp/manager %s (target 0.8), sftp/PutObject %s\n' \
  "$(rate "$(m su)")" "$(rate "$(m mu)")" "$(rate "$(m pu)")" "$(ratio su mu)" "$(ratio su pu)"
printf '  download: sftp %s  transfer manager %s  GetObject %s  ratio sftp/manager %s (target 0.8), sftp/GetObject %s\n' \
  "$(rate "$(m sd)")" "$(rate "$(m md)")" "$(rate "$(m pd)")" "$(ratio sd md)" "$(ratio sd pd)"
# The processes share the machine's cores: when all are busy, a transfer can go no faster than
# its total CPU time spread over them, so the ratio of total CPU times is a ceiling of the ratio.
printf 'medians of CPU seconds of all processes per transfer (client, transferd, versitygw)\n'
printf '  upload:   sftp %.1f  transfer manager %.1f  PutObject %.1f  ceiling of sftp/manager when CPU-bound %.2f\n' \
  "$(m suc)" "$(m muc)" "$(m puc)" "$(ratio suc muc)"
printf '  download: sftp %.1f  transfer manager %.1f  GetObject %.1f  ceiling of sftp/manager when CPU-bound %.2f\n' \
  "$(m sdc)" "$(m mdc)" "$(m pdc)" "$(ratio sdc mdc)"
printf '%d MiB file, cipher %s, session setup %.0f ms subtracted\n' "$SIZE" "$CIPHER" "$(echo "1000 * $setup" | bc -l)"
