#!/usr/bin/env bash
# A private OpenSSH sshd on loopback, for benchmarks and differential tests: its own config, host
# key, authorized_keys and pid file in a state directory, `internal-sftp` as the SFTP server. It
# never touches the system's sshd (no system config, no service started).
#
#   scripts/openssh-server.sh path                       print the sshd binary, installing it if needed
#   scripts/openssh-server.sh start STATE PORT KEYS DIR  start sshd on 127.0.0.1:PORT; KEYS is an
#                                                        authorized_keys file for the current user,
#                                                        DIR the SFTP start directory
#   scripts/openssh-server.sh stop STATE                 stop it
#
# env: SSHD_HOSTKEY_TYPE (ed25519, ecdsa or rsa; default rsa, 3072 bits, like transferd's own key),
#      SSHD_EXTRA (more sshd_config lines)
# If openssh-server is missing it is installed with apt-get; a policy-rc.d guard keeps the
# package from starting the system's sshd.
set -euo pipefail

die() { echo "openssh-server: $*" >&2; exit 1; }

sshd_path() {
  local p
  for p in /usr/sbin/sshd "$(command -v sshd 2>/dev/null || true)"; do
    [ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return; }
  done
  echo "openssh-server: installing openssh-server (its service is not started)" >&2
  local sudo="" guard=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=1
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
  fi
  local rc=0
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends openssh-server >/dev/null; } || rc=$?
  [ -z "$guard" ] || $sudo rm -f /usr/sbin/policy-rc.d
  [ $rc -eq 0 ] && [ -x /usr/sbin/sshd ] || die "could not install openssh-server"
  echo /usr/sbin/sshd
}

start() {
  local state=$1 port=$2 keys=$3 dir=$4
  local sshd; sshd=$(sshd_path)
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null && die "already running in $state"
  [ -r "$keys" ] || die "authorized_keys file $keys is not readable"
  local type=${SSHD_HOSTKEY_TYPE:-rsa} bits=()
  [ "$type" = rsa ] && bits=(-b 3072)
  [ -f "$state/host_key" ] || ssh-keygen -q -t "$type" "${bits[@]}" -N '' -f "$state/host_key"
  cp "$keys" "$state/authorized_keys"
  chmod 600 "$state/authorized_keys"
  cat >"$state/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $state/host_key
PidFile $state/pid
AuthorizedKeysFile $state/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
UseDNS no
PrintMotd no
MaxStartups 1000
MaxSessions 10
Subsystem sftp internal-sftp -d $dir
${SSHD_EXTRA:-}
EOF
  # sshd insists on its privilege separation directory when started as root.
  [ "$(id -u)" -ne 0 ] || mkdir -p /run/sshd
  "$sshd" -t -f "$state/sshd_config" || die "sshd rejected $state/sshd_config"
  "$sshd" -D -e -f "$state/sshd_config" 2>"$state/sshd.log" &
  echo $! >"$state/pid"
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    kill -0 "$(cat "$state/pid")" 2>/dev/null || break
    sleep 0.1
  done
  cat "$state/sshd.log" >&2
  die "sshd did not start on 127.0.0.1:$port"
}

stop() {
  local state=$1 pid
  [ -f "$state/pid" ] || return 0
  pid=$(cat "$state/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$state/pid"
}

case "${1:-}" in
  path) sshd_path ;;
  start) [ $# -eq 5 ] || die "usage: start STATE PORT AUTHORIZED_KEYS DIR"; start "$2" "$3" "$4" "$5" ;;
  stop) [ $# -eq 2 ] || die "usage: stop STATE"; stop "$2" ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
