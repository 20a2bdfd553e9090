package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
)

// rcloneS3Exceptions are the tests of rclone's sftp suite that do not pass against transferd on
// S3, each with the reason (docs/CLIENTS.md lists them too; TestRcloneFstests checks it does).
// On local storage the whole suite passes.
var rcloneS3Exceptions = map[string]string{
	"FsMkdir/FsEncoding/control_chars": "the test S3 server (versitygw) lists keys with control characters as U+FFFD, " +
		"so they cannot be found again; S3 itself keeps them",
	"FsMkdir/FsEncoding/leading_VT":  "as control_chars: a vertical tab in the key",
	"FsMkdir/FsEncoding/trailing_VT": "as control_chars: a vertical tab in the key",
	"FsMkdir/FsEncoding/invalid_UTF-8": "S3 keys are UTF-8 (Transfer Family requires UTF-8 names too); " +
		"versitygw answers the listing with HTTP 500",
}

// TestRcloneFstests runs rclone's own integration suite for its sftp backend (scripts/rclone-fstests
// builds it from the Go module proxy) against transferd on local storage, where all of it must
// pass, and on S3 with SetStatOption STORE_METADATA, where all but rcloneS3Exceptions must.
func TestRcloneFstests(t *testing.T) {
	if testing.Short() {
		t.Skip("rclone's suite takes a minute to build and run; -short leaves it out")
	}
	t.Parallel()
	out, err := exec.Command("../../scripts/rclone-fstests").Output()
	if err != nil {
		t.Fatalf("scripts/rclone-fstests: %v", err)
	}
	bin := strings.TrimSpace(string(out))
	key := keyFor(t, "ed25519")
	const user = "rclone"

	doc, err := os.ReadFile(clientsDoc)
	if err != nil {
		t.Fatal(err)
	}
	for name := range rcloneS3Exceptions {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/CLIENTS.md does not list the exception %s", name)
		}
	}

	// rclone's HostKeyPinning test pins an ed25519 host key: each server gets one through the
	// API besides its RSA key.
	local := freePort(t)
	p, client, _ := apiClientFor(t, configYAML("", serverConf{Port: local, Users: []userConf{chrootUser(user, key)}}))
	if err := os.MkdirAll(p.userDir(user), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newS3Env(t)
	e.put(t, "home/", nil)
	s3 := freePort(t)
	_, s3client, _ := apiClientFor(t, s3ConfigYAML(e.srv, serverConf{Port: s3, SetStat: "STORE_METADATA", Users: []userConf{s3User(user, e.bucket, key)}}))
	for _, c := range []*transfer.Client{client, s3client} {
		importEd25519HostKey(t, c)
	}

	conf := filepath.Join(t.TempDir(), "rclone.conf")
	var b strings.Builder
	for name, port := range map[string]int{"TransferdLocal": local, "TransferdS3": s3} {
		fmt.Fprintf(&b, "[%s]\ntype = sftp\nhost = 127.0.0.1\nport = %d\nuser = %s\nkey_file = %s\nshell_type = none\nmd5sum_command = none\nsha1sum_command = none\n\n",
			name, port, user, key.Path)
	}
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// The suite looks for rclone's test server scripts up to five directories up, and refuses to
	// run without a fstest/testserver/init.d; an empty one starts none.
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "fstest", "testserver", "init.d"), 0o755); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		remote     string
		exceptions map[string]string
	}{{"TransferdLocal", nil}, {"TransferdS3", rcloneS3Exceptions}} {
		t.Run(tc.remote, func(t *testing.T) {
			args := []string{"-test.v", "-test.run", "^TestIntegration$", "-test.timeout", "10m", "-remote", tc.remote + ":"}
			if len(tc.exceptions) > 0 {
				var skip []string
				for name := range tc.exceptions {
					dir, leaf := filepath.Split(name)
					skip = append(skip, "TestIntegration/"+strings.TrimSuffix(dir, "/")+"/^"+regexp.QuoteMeta(leaf)+"$")
				}
				args = append(args, "-test.skip", strings.Join(skip, "|"))
			}
			ctx, cancel := context.WithTimeout(t.Context(), 12*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Dir = work
			cmd.Env = append(os.Environ(), "RCLONE_CONFIG="+conf)
			out, err := cmd.CombinedOutput()
			pass, fail, skip := strings.Count(string(out), "--- PASS"), strings.Count(string(out), "--- FAIL"), strings.Count(string(out), "--- SKIP")
			t.Logf("rclone %s: %d passed, %d failed, %d skipped by the suite", tc.remote, pass, fail, skip)
			if err != nil || fail > 0 || pass < 50 {
				t.Errorf("rclone's sftp suite against %s: %v, %d passed, %d failed:\n%s", tc.remote, err, pass, fail, failures(string(out)))
			}
		})
	}
}

// importEd25519HostKey gives the one server c manages a new ed25519 host key.
func importEd25519HostKey(t *testing.T, c *transfer.Client) {
	t.Helper()
	ctx := t.Context()
	list, err := c.ListServers(ctx, &transfer.ListServersInput{})
	if err != nil || len(list.Servers) != 1 {
		t.Fatalf("ListServers: %v, %v", list, err)
	}
	body, _ := hostKeyPEM(t, "ed25519")
	if _, err := c.ImportHostKey(ctx, &transfer.ImportHostKeyInput{ServerId: list.Servers[0].ServerId,
		HostKeyBody: aws.String(body)}); err != nil {
		t.Fatalf("ImportHostKey: %v", err)
	}
}

// failures picks the failed tests and their error lines out of a go test -v output.
func failures(out string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "--- FAIL") || strings.HasPrefix(l, "Error:") {
			b.WriteString(l + "\n")
		}
	}
	if b.Len() == 0 {
		tail := out
		if len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		}
		return tail
	}
	return b.String()
}
