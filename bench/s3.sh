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
  rm -rf "$WORK"
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
  # CPU seconds (user+system) of the client processes (sftp and the ssh it runs), for the report
  times >"$WORK/times" # a builtin in this shell: a pipe would run it in a subshell without children
  awk 'NR == 2 {gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4}' "$WORK/times" >"$WORK/client.cpu"
}
rate() { printf '%.1f' "$(echo "$SIZE / $1" | bc -l)"; }
cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; } # user+system seconds (USER_HZ 100)
gw=$(cat "$TRANSFERD_S3_STATE/pid")
gwcpu() { local c0 t; c0=$(cpu "$gw"); t=$("$@"); echo "$t $(echo "$(cpu "$gw") - $c0" | bc -l)"; } # CMD -> seconds, versitygw CPU
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
profile() { # NAME ROUND: in the background, a CPU profile of the transfer about to start
  [ -n "${PROFILE_DIR:-}" ] && [ "$2" = 1 ] || return 0
  (sleep 0.5; curl -sf -o "$PROFILE_DIR/$1.pprof" "http://127.0.0.1:$dport/debug/pprof/profile?seconds=5") &
}
setup=$(sftp_time "pwd")
declare -A t # t[kind] = newline-separated seconds
for r in $(seq 1 "$ROUNDS"); do
  read -r mu mug <<<"$(gwcpu "$WORK/s3direct" put "$WORK/src.bin" s3://bench/direct.bin)"
  read -r pu pug <<<"$(gwcpu "$WORK/s3direct" putobject "$WORK/src.bin" s3://bench/direct1.bin)"
  c0=$(cpu "$pid") g0=$(cpu "$gw")
  profile upload "$r"
  echo 5 >"/proc/$pid/clear_refs" # resets VmHWM: the peak of this upload alone
  su=$(echo "$(sftp_time "put $WORK/src.bin sftp.bin") - $setup" | bc -l)
  sut=$(echo "$(cpu "$pid") - $c0" | bc -l) sug=$(echo "$(cpu "$gw") - $g0" | bc -l) suc=$(cat "$WORK/client.cpu")
  uprss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
  md=$("$WORK/s3direct" get "$WORK/direct.out" s3://bench/direct.bin)
  cmp -s "$WORK/src.bin" "$WORK/direct.out" || { echo "round $r: direct download differs from the source" >&2; exit 1; }
  pd=$("$WORK/s3direct" getobject "$WORK/direct.out" s3://bench/direct1.bin)
  cmp -s "$WORK/src.bin" "$WORK/direct.out" || { echo "round $r: direct download differs from the source" >&2; exit 1; }
  profile download "$r"
  echo 5 >"/proc/$pid/clear_refs"
  c0=$(cpu "$pid") g0=$(cpu "$gw")
  sd=$(echo "$(sftp_time "get sftp.bin $WORK/sftp.out") - $setup" | bc -l)
  sdt=$(echo "$(cpu "$pid") - $c0" | bc -l) sdg=$(echo "$(cpu "$gw") - $g0" | bc -l) sdc=$(cat "$WORK/client.cpu")
  cmp -s "$WORK/src.bin" "$WORK/sftp.out" || { echo "round $r: SFTP download differs from the source" >&2; exit 1; }
  downrss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
  rm -f "$WORK/sftp.out" "$WORK/direct.out"
  printf 'round %d upload MiB/s: sftp %s, SDK transfer manager %s, one PutObject %s | download: sftp %s, transfer manager %s, one GetObject %s\n' \
    "$r" "$(rate "$su")" "$(rate "$mu")" "$(rate "$pu")" "$(rate "$sd")" "$(rate "$md")" "$(rate "$pd")"
  printf '  upload CPU seconds of versitygw: sftp %.1f, transfer manager %.1f, PutObject %.1f; of transferd %.1f, of the sftp client %.1f\n' "$sug" "$mug" "$pug" "$sut" "$suc"
  printf '  download CPU seconds of versitygw: sftp %.1f; of transferd %.1f, of the sftp client %.1f\n' "$sdg" "$sdt" "$sdc"
  printf '  transferd peak RSS (VmHWM): upload %s MiB, download %s MiB\n' "$uprss" "$downrss"
  for k in su mu pu sd md pd; do t[$k]+="${!k}"$'\n'; done
done
m() { printf '%s' "${t[$1]}" | median; }
ratio() { printf '%.2f' "$(echo "$(m "$2") / $(m "$1")" | bc -l)"; }
printf 'medians of %d rounds, MiB/s\n' "$ROUNDS"
printf '  upload:   sftp %s  transfer manager %s  PutObject %s  ratio sftp/manager %s (target 0.8), sftp/PutObject %s\n' \
  "$(rate "$(m su)")" "$(rate "$(m mu)")" "$(rate "$(m pu)")" "$(ratio su mu)" "$(ratio su pu)"
printf '  download: sftp %s  transfer manager %s  GetObject %s  ratio sftp/manager %s (target 0.8), sftp/GetObject %s\n' \
  "$(rate "$(m sd)")" "$(rate "$(m md)")" "$(rate "$(m pd)")" "$(ratio sd md)" "$(ratio sd pd)"
printf '%d MiB file, cipher %s, session setup %.0f ms subtracted\n' "$SIZE" "$CIPHER" "$(echo "1000 * $setup" | bc -l)"
