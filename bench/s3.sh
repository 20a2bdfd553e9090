#!/usr/bin/env bash
# SFTP-to-S3 benchmark: uploads and downloads one file (default 2048 MiB) through transferd onto a
# local versitygw with the OpenSSH sftp client, and the same file straight to the same server with
# the AWS SDK for Go (bench/s3direct), interleaved over ROUNDS rounds. Prints MiB/s of each, the
# SFTP/direct ratios, and transferd's peak RSS (VmHWM). Targets (issue 4): ratio >= 0.8, RSS < 200 MiB.
#   usage: bench/s3.sh [SIZE_MIB] [ROUNDS] [CIPHER]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-2048} ROUNDS=${2:-1} CIPHER=${3:-aes128-gcm@openssh.com}
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
"$WORK/transferd" serve --data-dir "$WORK/data" --config "$WORK/transferd.yaml" --api-listen off \
  --activity-log /dev/null 2>"$WORK/transferd.log" &
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
setup=$(sftp_time "pwd")
for r in $(seq 1 "$ROUNDS"); do
  du=$("$WORK/s3direct" put "$WORK/src.bin" s3://bench/direct.bin)
  dd=$("$WORK/s3direct" get "$WORK/direct.out" s3://bench/direct.bin)
  su=$(echo "$(sftp_time "put $WORK/src.bin sftp.bin") - $setup" | bc -l)
  sd=$(echo "$(sftp_time "get sftp.bin $WORK/sftp.out") - $setup" | bc -l)
  cmp -s "$WORK/src.bin" "$WORK/sftp.out" || { echo "round $r: SFTP download differs from the source" >&2; exit 1; }
  cmp -s "$WORK/src.bin" "$WORK/direct.out" || { echo "round $r: direct download differs from the source" >&2; exit 1; }
  printf 'round %d: upload sftp %s MiB/s direct %s MiB/s (%.2fx) | download sftp %s MiB/s direct %s MiB/s (%.2fx)\n' "$r" \
    "$(rate "$su")" "$(rate "$du")" "$(echo "$du / $su" | bc -l)" "$(rate "$sd")" "$(rate "$dd")" "$(echo "$dd / $sd" | bc -l)"
  rm -f "$WORK/sftp.out" "$WORK/direct.out"
done
printf 'transferd peak RSS: %s MiB (VmHWM), %d MiB file, cipher %s, session setup %.0f ms subtracted\n' \
  "$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")" "$SIZE" "$CIPHER" "$(echo "1000 * $setup" | bc -l)"
