#!/usr/bin/env bash
# Drives transferd's management API with the official AWS CLI, as a user would: creates a server
# and a user with `aws transfer ... --endpoint-url`, logs in with OpenSSH sftp, changes keys,
# policy and state, and checks that every change takes effect on the live server.
# Installs awscli (Debian's package) when no aws is on PATH, and the OpenSSH client when missing. Run by scripts/test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v aws >/dev/null 2>&1 || need+=(awscli)
command -v sftp >/dev/null 2>&1 || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
  echo "awscli-e2e: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
AWSCLI=$(command -v aws) # the one on PATH; Debian's awscli when there was none

WORK=$(mktemp -d)
pid=""
cleanup() {
  [ -z "$pid" ] || { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
# expect NAME WANT GOT
expect() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got [$3], want [$2]"; fi; }

# free_port prints a loopback port nothing listens on.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000)) # below the ephemeral range
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

go build -o "$WORK/transferd" ./cmd/transferd
API_PORT=$(free_port); SFTP_PORT=$(free_port)
printf 'Servers: []\n' >"$WORK/transferd.yaml"
export TRANSFERD_ACCESS_KEY_ID=AKIAIOSFODNN7TESTKEY TRANSFERD_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYTESTSECRET
"$WORK/transferd" serve --data-dir "$WORK/data" --config "$WORK/transferd.yaml" \
  --api-listen "127.0.0.1:$API_PORT" --activity-log "$WORK/activity.log" --audit-log "$WORK/audit.log" 2>"$WORK/transferd.log" &
pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$API_PORT") 2>/dev/null && break
  sleep 0.1
done

export AWS_ACCESS_KEY_ID=$TRANSFERD_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$TRANSFERD_SECRET_ACCESS_KEY
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
# aws runs the AWS CLI against transferd, noting each operation for the audit trail's check.
aws() { echo "$2" >>"$WORK/calls"; "$AWSCLI" --endpoint-url "http://127.0.0.1:$API_PORT" --output text "$@"; }

ssh-keygen -q -t ed25519 -N '' -f "$WORK/key1"
ssh-keygen -q -t ecdsa -b 384 -N '' -f "$WORK/key2"
# try_sftp KEY BATCH [OPTS...]: runs an sftp batch as alice; exit status as sftp's
try_sftp() {
  local key=$1 batch=$2; shift 2
  printf '%s\n' "$batch" | sftp -q -b - -P "$SFTP_PORT" -i "$key" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 "$@" alice@127.0.0.1 >"$WORK/sftp.out" 2>&1
}

sid=$(aws transfer create-server --protocols SFTP --identity-provider-type SERVICE_MANAGED \
  --tags "Key=transferd:Endpoint,Value=127.0.0.1:$SFTP_PORT" Key=team,Value=data --query ServerId)
[[ $sid =~ ^s-[0-9a-f]{17}$ ]] && ok "create-server returned $sid" || bad "create-server returned [$sid]"
expect "describe-server State" ONLINE "$(aws transfer describe-server --server-id "$sid" --query Server.State)"
expect "describe-server SecurityPolicyName" TransferSecurityPolicy-2024-01 "$(aws transfer describe-server --server-id "$sid" --query Server.SecurityPolicyName)"
expect "describe-server shows the listen address" "127.0.0.1:$SFTP_PORT" \
  "$(aws transfer describe-server --server-id "$sid" --query "Server.Tags[?Key=='transferd:Endpoint'].Value")"
fp=$(aws transfer describe-server --server-id "$sid" --query Server.HostKeyFingerprint)
[[ $fp == SHA256:* ]] && ok "describe-server HostKeyFingerprint $fp" || bad "HostKeyFingerprint [$fp]"
expect "list-servers" "$sid" "$(aws transfer list-servers --query 'Servers[].ServerId')"
# As describe-server, with the listen address as the tag transferd:Endpoint.
expect "list-tags-for-resource" "team	transferd:Endpoint" "$(aws transfer list-tags-for-resource --arn "arn:aws:transfer:us-east-1:000000000000:server/$sid" --query 'Tags[].Key')"

aws transfer create-user --server-id "$sid" --user-name alice --role arn:aws:iam::123456789012:role/transfer-user \
  --home-directory-type LOGICAL --home-directory-mappings '[{"Entry":"/","Target":"/bucket1/alice"}]' \
  --ssh-public-key-body "$(cat "$WORK/key1.pub")" >/dev/null && ok "create-user alice" || bad "create-user alice"
head -c 3000000 /dev/urandom >"$WORK/up.bin"
if try_sftp "$WORK/key1" "put $WORK/up.bin up.bin
get up.bin $WORK/down.bin"; then ok "sftp as a user created through the API"; else bad "sftp as alice: $(cat "$WORK/sftp.out")"; fi
expect "sha256 of the round trip" "$(sha256sum <"$WORK/up.bin")" "$(sha256sum <"$WORK/down.bin" 2>/dev/null)"
expect "describe-user HomeDirectoryType" LOGICAL "$(aws transfer describe-user --server-id "$sid" --user-name alice --query User.HomeDirectoryType)"

try_sftp "$WORK/key2" "ls" && bad "key2 logged in before it was imported" || ok "key2 refused before import"
kid=$(aws transfer import-ssh-public-key --server-id "$sid" --user-name alice --ssh-public-key-body "$(cat "$WORK/key2.pub")" --query SshPublicKeyId)
[[ $kid =~ ^key-[0-9a-f]{17}$ ]] && ok "import-ssh-public-key returned $kid" || bad "import-ssh-public-key returned [$kid]"
try_sftp "$WORK/key2" "ls" && ok "key2 logs in after import" || bad "key2 after import: $(cat "$WORK/sftp.out")"
aws transfer delete-ssh-public-key --server-id "$sid" --user-name alice --ssh-public-key-id "$kid" >/dev/null
try_sftp "$WORK/key2" "ls" && bad "key2 still logs in after delete-ssh-public-key" || ok "key2 refused after delete-ssh-public-key"

aws transfer update-server --server-id "$sid" --security-policy-name TransferSecurityPolicy-FIPS-2024-01 >/dev/null
# transferd's own SetStatOption: the CLI passes an enum value its model does not list.
aws transfer update-server --server-id "$sid" --protocol-details SetStatOption=STORE_METADATA >/dev/null
expect "update-server SetStatOption STORE_METADATA" STORE_METADATA "$(aws transfer describe-server --server-id "$sid" --query Server.ProtocolDetails.SetStatOption)"
try_sftp "$WORK/key1" "ls" -o KexAlgorithms=curve25519-sha256 && bad "curve25519 accepted under FIPS-2024-01" || ok "update-server policy applies to new connections"
try_sftp "$WORK/key1" "ls" -o KexAlgorithms=ecdh-sha2-nistp256 && ok "FIPS policy still lets ecdh-sha2-nistp256 in" || bad "ecdh-sha2-nistp256 under FIPS: $(cat "$WORK/sftp.out")"

aws transfer stop-server --server-id "$sid" >/dev/null
expect "state after stop-server" OFFLINE "$(aws transfer describe-server --server-id "$sid" --query Server.State)"
try_sftp "$WORK/key1" "ls" && bad "sftp works on a stopped server" || ok "stop-server closes the listener"
aws transfer start-server --server-id "$sid" >/dev/null
expect "state after start-server" ONLINE "$(aws transfer describe-server --server-id "$sid" --query Server.State)"
try_sftp "$WORK/key1" "ls" && ok "start-server opens the listener" || bad "sftp after start-server: $(cat "$WORK/sftp.out")"

expect "describe-security-policy" "aes128-gcm@openssh.com" "$(aws transfer describe-security-policy --security-policy-name TransferSecurityPolicy-2024-01 --query 'SecurityPolicy.SshCiphers[0]')"
if out=$(aws transfer describe-server --server-id s-00000000000000000 2>&1); then
  bad "describe-server of an unknown server succeeded"
else
  [[ $out == *ResourceNotFoundException* ]] && ok "unknown server: ResourceNotFoundException" || bad "unknown server: $out"
fi
ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey"
hk=$(aws transfer import-host-key --server-id "$sid" --host-key-body "file://$WORK/hostkey" --description second --query HostKeyId)
[[ $hk == hostkey-* ]] && ok "import-host-key returned $hk" || bad "import-host-key returned [$hk]"
echo list-servers >>"$WORK/calls"
if out=$(AWS_SECRET_ACCESS_KEY=wrong "$AWSCLI" --endpoint-url "http://127.0.0.1:$API_PORT" transfer list-servers 2>&1); then
  bad "a wrong secret was accepted"
else
  [[ $out == *InvalidSignatureException* ]] && ok "wrong secret: InvalidSignatureException" || bad "wrong secret: $out"
fi

# Managed workflows: created from the JSON a user would write for AWS, described, listed, deleted.
cat >"$WORK/steps.json" <<'JSON'
[{"Type": "COPY", "CopyStepDetails": {"Name": "archive", "OverwriteExisting": "TRUE",
   "DestinationFileLocation": {"S3FileLocation": {"Bucket": "archive", "Key": "${transfer:UserName}/"}}}},
 {"Type": "TAG", "TagStepDetails": {"Name": "mark", "Tags": [{"Key": "state", "Value": "archived"}]}},
 {"Type": "DELETE", "DeleteStepDetails": {"Name": "remove", "SourceFileLocation": "${original.file}"}}]
JSON
wid=$(aws transfer create-workflow --description "archive then delete" --steps "file://$WORK/steps.json" \
  --on-exception-steps '[{"Type":"DELETE","DeleteStepDetails":{"Name":"cleanup"}}]' --tags Key=team,Value=ops --query WorkflowId)
[[ $wid =~ ^w-[a-z0-9]{17}$ ]] && ok "create-workflow returned $wid" || bad "create-workflow returned [$wid]"
expect "describe-workflow steps" "COPY	TAG	DELETE" "$(aws transfer describe-workflow --workflow-id "$wid" --query 'Workflow.Steps[].Type')"
expect "describe-workflow copy destination" "archive" "$(aws transfer describe-workflow --workflow-id "$wid" --query 'Workflow.Steps[0].CopyStepDetails.DestinationFileLocation.S3FileLocation.Bucket')"
expect "describe-workflow tags" "team" "$(aws transfer describe-workflow --workflow-id "$wid" --query 'Workflow.Tags[].Key')"
expect "list-workflows" "$wid	archive then delete" "$(aws transfer list-workflows --query 'Workflows[].[WorkflowId,Description]')"
if out=$(aws transfer create-workflow --steps '[{"Type":"COPY"}]' 2>&1); then
  bad "create-workflow of a COPY step without details succeeded"
else
  [[ $out == *InvalidRequestException*CopyStepDetails* ]] && ok "a COPY step without details: InvalidRequestException naming CopyStepDetails" || bad "a COPY step without details: $out"
fi
aws transfer update-server --server-id "$sid" --workflow-details \
  "{\"OnUpload\":[{\"WorkflowId\":\"$wid\",\"ExecutionRole\":\"arn:aws:iam::123456789012:role/workflow\"}]}" >/dev/null
expect "describe-server WorkflowDetails" "$wid" "$(aws transfer describe-server --server-id "$sid" --query 'Server.WorkflowDetails.OnUpload[0].WorkflowId')"
expect "list-executions" "" "$(aws transfer list-executions --workflow-id "$wid" --query 'Executions[].ExecutionId')"
if out=$(aws transfer delete-workflow --workflow-id "$wid" 2>&1); then
  bad "delete-workflow of a workflow in use succeeded"
else
  [[ $out == *InvalidRequestException*"in use by server $sid"* ]] && ok "delete-workflow of a workflow in use: refused" || bad "delete-workflow of a workflow in use: $out"
fi
aws transfer update-server --server-id "$sid" --workflow-details '{"OnUpload":[]}' >/dev/null
expect "describe-server after removing the workflow" "None" "$(aws transfer describe-server --server-id "$sid" --query 'Server.WorkflowDetails')"
aws transfer delete-workflow --workflow-id "$wid" >/dev/null
expect "list-workflows after delete-workflow" "" "$(aws transfer list-workflows --query 'Workflows[].WorkflowId')"

aws transfer delete-user --server-id "$sid" --user-name alice >/dev/null
try_sftp "$WORK/key1" "ls" && bad "alice logs in after delete-user" || ok "delete-user refuses new logins"
aws transfer delete-server --server-id "$sid" >/dev/null
expect "list-servers after delete-server" "" "$(aws transfer list-servers --query 'Servers[].ServerId')"
(exec 3<>"/dev/tcp/127.0.0.1/$SFTP_PORT") 2>/dev/null && bad "the deleted server still listens" || ok "delete-server closes the listener"

# The audit trail: one event per call above, in order, with its operation's name, the refused ones
# with their error code, and no secret (the secret key, a private key) anywhere in it.
if /usr/bin/python3 - "$WORK/calls" "$WORK/audit.log" <<'PY'
import json, sys
calls = ["".join(w.capitalize() for w in line.split("-")) for line in open(sys.argv[1]).read().split()]
events = [json.loads(l) for l in open(sys.argv[2])]
api = [e for e in events if e["userIdentity"]["type"] != "transferd:config"]
names = [e["eventName"] for e in api]
if names != calls:
    sys.exit("audit events %s\n  calls      %s" % (names, calls))
for e in api:
    for k in ("eventTime", "eventSource", "awsRegion", "sourceIPAddress", "userAgent", "requestID", "eventID"):
        if not e.get(k):
            sys.exit("%s: no %s" % (e["eventName"], k))
errors = [(e["eventName"], e.get("errorCode")) for e in api if e.get("errorCode")]
if ("DescribeServer", "ResourceNotFoundException") not in errors or ("ListServers", "InvalidSignatureException") not in errors:
    sys.exit("refused calls not recorded with their error codes: %s" % errors)
create = next(e for e in api if e["eventName"] == "CreateServer")
if not create["responseElements"] or not create["responseElements"].get("ServerId"):
    sys.exit("CreateServer without its ServerId in responseElements")
hk = next(e for e in api if e["eventName"] == "ImportHostKey")
if hk["requestParameters"].get("HostKeyBody") != "HIDDEN_DUE_TO_SECURITY_REASONS":
    sys.exit("ImportHostKey's HostKeyBody is not redacted: %r" % hk["requestParameters"].get("HostKeyBody"))
PY
then ok "audit trail: one event per CLI call, named as the call"; else bad "audit trail"; fi
if grep -qE "PRIVATE KEY|$TRANSFERD_SECRET_ACCESS_KEY" "$WORK/audit.log"; then bad "a secret in the audit trail"; else ok "no secret in the audit trail"; fi

if grep -q "$TRANSFERD_SECRET_ACCESS_KEY" "$WORK/transferd.log" "$WORK/activity.log"; then
  bad "the secret access key appears in a log"
else
  ok "no secret in the logs"
fi
echo "awscli-e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
