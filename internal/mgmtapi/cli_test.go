package mgmtapi_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// awsCLIs returns the AWS CLIs installed here: Debian's /usr/bin/aws (version 2) and the one
// first on PATH, which may be another.
func awsCLIs() []string {
	var found []string
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		found = append(found, "/usr/bin/aws")
	}
	if p, err := exec.LookPath("aws"); err == nil && !slices.Contains(found, p) {
		found = append(found, p)
	}
	return found
}

// TestAWSCLI drives the API with the official AWS CLI, when one is installed.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("slow: every CLI command starts Python")
	}
	clis := awsCLIs()
	if len(clis) == 0 {
		t.Skip("no AWS CLI installed")
	}
	for _, cli := range clis {
		t.Run(cli, func(t *testing.T) {
			t.Parallel()
			version, err := exec.Command(cli, "--version").CombinedOutput()
			if err != nil {
				t.Skipf("%s --version: %v: %s", cli, err, version)
			}
			t.Logf("%s: %s", cli, bytes.TrimSpace(version))
			testCLI(t, cli)
		})
	}
}

func testCLI(t *testing.T, cli string) {
	e := newEnv(t)
	dir := t.TempDir()
	hostKey := filepath.Join(dir, "host_key")
	if err := os.WriteFile(hostKey, []byte(hostKeyPEM(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"AWS_ACCESS_KEY_ID=" + e.creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + e.creds.SecretAccessKey,
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	run := func(wantOK bool, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(cli, append([]string{"--endpoint-url", e.url, "--output", "json", "transfer"}, args...)...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		t.Logf("aws transfer %s (%v): %s%s", args[0], time.Since(start).Round(time.Millisecond), stdout.Bytes(), stderr.Bytes())
		if wantOK && err != nil {
			t.Fatalf("aws transfer %s: %v", strings.Join(args, " "), err)
		}
		if !wantOK {
			if err == nil {
				t.Fatalf("aws transfer %s succeeded", strings.Join(args, " "))
			}
			return stderr.Bytes()
		}
		return stdout.Bytes()
	}
	decode := func(data []byte, v any) {
		t.Helper()
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
	}

	var created struct{ ServerId string }
	decode(run(true, "create-server", "--protocols", "SFTP", "--domain", "S3", "--identity-provider-type", "SERVICE_MANAGED",
		"--security-policy-name", "TransferSecurityPolicy-2024-01", "--host-key", "file://"+hostKey,
		"--tags", "Key=transferd:Endpoint,Value=127.0.0.1:2399", "Key=env,Value=cli"), &created)
	id := created.ServerId

	var ds struct {
		Server struct {
			EndpointType, State, ServerId string
			Tags                          []struct{ Key, Value string }
		}
	}
	decode(run(true, "describe-server", "--server-id", id), &ds)
	// The CLI prints the listen address as the transferd:Endpoint tag.
	if s := ds.Server; s.ServerId != id || s.EndpointType != "PUBLIC" || s.State != "ONLINE" ||
		len(s.Tags) != 2 || s.Tags[0].Key != "env" || s.Tags[1].Key != "transferd:Endpoint" || s.Tags[1].Value != "127.0.0.1:2399" {
		t.Errorf("describe-server: %+v; want the tags transferd:Endpoint=127.0.0.1:2399 and env", s)
	}

	key := userKey(t, "dave@cli")
	run(true, "create-user", "--server-id", id, "--user-name", "dave", "--role", "arn:aws:iam::000000000000:role/transfer-dave",
		"--home-directory", "/bucket/dave", "--ssh-public-key-body", key)
	var du struct {
		User struct {
			UserName      string
			SshPublicKeys []struct {
				SshPublicKeyBody, SshPublicKeyId string
				DateImported                     json.RawMessage
			}
		}
	}
	decode(run(true, "describe-user", "--server-id", id, "--user-name", "dave"), &du)
	// Version 2 prints timestamps in ISO 8601, version 1 as the epoch seconds it received.
	dateForm := regexp.MustCompile(`^("\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d)"|\d{10}(\.\d{1,3})?)$`)
	if len(du.User.SshPublicKeys) != 1 || du.User.SshPublicKeys[0].SshPublicKeyBody != key ||
		!dateForm.Match(du.User.SshPublicKeys[0].DateImported) {
		t.Errorf("describe-user: %+v", du.User)
	}

	var lp struct{ SecurityPolicyNames []string }
	decode(run(true, "list-security-policies", "--page-size", "10"), &lp) // the CLI follows NextToken
	if !slices.Equal(lp.SecurityPolicyNames, e.catalog.Names()) {
		t.Errorf("list-security-policies: %v", lp.SecurityPolicyNames)
	}

	stderr := run(false, "describe-server", "--server-id", "s-0123456789abcdef0")
	if !bytes.Contains(stderr, []byte("An error occurred (ResourceNotFoundException) when calling the DescribeServer operation: Unknown server")) {
		t.Errorf("describe-server of an unknown server: %s", stderr)
	}
	stderr = run(false, "create-server", "--endpoint-type", "VPC")
	if !bytes.Contains(stderr, []byte("(InvalidRequestException)")) || !bytes.Contains(stderr, []byte("not supported by transferd")) {
		t.Errorf("create-server --endpoint-type VPC: %s", stderr)
	}

	run(true, "delete-user", "--server-id", id, "--user-name", "dave")
	run(true, "delete-server", "--server-id", id)
}
