package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicies(t *testing.T) {
	t.Parallel()
	runCases(t, []cliCase{
		{"list", []string{"policies", "list"}, 0, []string{"TransferSecurityPolicy-2024-01", "TransferSecurityPolicy-2018-11", "diffie-hellman-group18-sha512"}, "", false},
		{"describe", []string{"policies", "describe", "TransferSecurityPolicy-2018-11"}, 0, []string{`"SecurityPolicyName": "TransferSecurityPolicy-2018-11"`, `"diffie-hellman-group14-sha1"`, "umac-64-etm@openssh.com"}, "", true},
		{"unknown", []string{"policies", "describe", "TransferSecurityPolicy-2024-1"}, 1, nil, `unknown security policy "TransferSecurityPolicy-2024-1"`, false},
		{"bad usage", []string{"policies"}, 1, nil, "transferd policies list", false},
		{"no command", nil, 2, nil, "Usage:", false},
		{"unknown command", []string{"frobnicate"}, 2, nil, `unknown command "frobnicate"`, false},
		{"help", []string{"help"}, 0, []string{"transferd serve"}, "", false},
		{"serve without flags", []string{"serve"}, 1, nil, "--data-dir and --config are required", false},
		{"serve bad flag", []string{"serve", "--nope"}, 2, nil, "flag provided but not defined: -nope", false},
		{"serve help", []string{"serve", "--help"}, 0, nil, "SIGHUP reopens the log files", false},
		{"test-idp help", []string{"test-idp", "--help"}, 0, nil, "Asks the custom identity provider", false},
		{"console-password help", []string{"help", "console-password"}, 0, nil, "Sets the password with which console user NAME signs in", false},
		{"test-idp without flags", []string{"test-idp"}, 1, nil, "--data-dir, --config, --server-id and --user-name are required", false},
		{"test-idp without a state store", []string{"test-idp", "--data-dir", t.TempDir(), "--config", "../../examples/transferd.yaml",
			"--server-id", "s-0123456789abcdef0", "--user-name", "alice"}, 1, nil, "no state store in", false},
	})
}

// cliCase is one run of the command line: its arguments, the exit code, text stdout must hold,
// text stderr must hold, and whether stdout must be JSON.
type cliCase struct {
	name   string
	args   []string
	code   int
	stdout []string
	stderr string
	json   bool
}

// runCases runs each case in parallel and checks its exit code and output, and that no stack trace
// reaches the user.
func runCases(t *testing.T, cases []cliCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			code := run(tc.args, &out, &errOut)
			if code != tc.code {
				t.Errorf("run(%q) = %d, want %d; stderr: %s", tc.args, code, tc.code, errOut.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("run(%q) stdout lacks %q:\n%s", tc.args, s, out.String())
				}
			}
			if !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("run(%q) stderr = %q, want it to contain %q", tc.args, errOut.String(), tc.stderr)
			}
			if tc.json && !json.Valid(out.Bytes()) {
				t.Errorf("run(%q) printed invalid JSON:\n%s", tc.args, out.String())
			}
			if strings.Contains(errOut.String(), "panic") || strings.Contains(errOut.String(), "goroutine ") {
				t.Errorf("run(%q) shows a stack trace:\n%s", tc.args, errOut.String())
			}
		})
	}
}

func TestServeBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(cfg, []byte("Servers:\n  - Endpoint: 127.0.0.1:2222\n    SecurityPolicyName: TransferSecurityPolicy-2099-01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"serve", "--data-dir", filepath.Join(dir, "data"), "--config", cfg}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{cfg + ":3:", "Servers[0].SecurityPolicyName", "TransferSecurityPolicy-2099-01"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr %q lacks %q", errOut.String(), want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("the data directory was created before the config was checked: %v", err)
	}
}

// TestCredentials checks that the admin key pair is made once, kept with mode 0600, and printed
// the same every time.
func TestCredentials(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	var first, second, export, errOut bytes.Buffer
	if code := run([]string{"credentials", "--data-dir", dir}, &first, &errOut); code != 0 {
		t.Fatalf("credentials: exit %d: %s", code, errOut.String())
	}
	if code := run([]string{"credentials", "--data-dir", dir}, &second, &errOut); code != 0 || second.String() != first.String() {
		t.Fatalf("credentials again: exit %d, %q; want %q", code, second.String(), first.String())
	}
	if !strings.Contains(first.String(), "AccessKeyId:     AKIA") || !strings.Contains(first.String(), "SecretAccessKey: ") {
		t.Errorf("credentials printed %q", first.String())
	}
	fi, err := os.Stat(filepath.Join(dir, "credentials.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials.json: %v, %v; want mode 0600", fi, err)
	}
	if code := run([]string{"credentials", "--data-dir", dir, "--export"}, &export, &errOut); code != 0 ||
		!strings.Contains(export.String(), "export AWS_ACCESS_KEY_ID=AKIA") || !strings.Contains(export.String(), "export AWS_SECRET_ACCESS_KEY=") ||
		!strings.Contains(export.String(), "export AWS_ENDPOINT_URL_TRANSFER=http://127.0.0.1:9460\n") {
		t.Errorf("credentials --export: exit %d, %q", code, export.String())
	}
	if code := run([]string{"credentials"}, &export, &errOut); code != 1 || !strings.Contains(errOut.String(), "--data-dir is required") {
		t.Errorf("credentials without --data-dir: exit %d, %q", code, errOut.String())
	}
}

// TestStateFlags checks that a state store that is not PostgreSQL's, a state key file others can
// read and a bad state key in the environment are refused, each named, before anything starts.
func TestStateFlags(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.key")
	if err := os.WriteFile(loose, []byte(strings.Repeat("ab", 32)), 0o644); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("abcd"), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--config", "../../examples/transferd.yaml"}
	with := func(args ...string) []string { return append(append([]string(nil), serve...), args...) }
	runCases(t, []cliCase{
		{"not postgres", with("--state", "mysql://u:hunter2@db/x"), 1, nil, "--state \"mysql://u:xxxxx@db/x\": give a postgres:// or postgresql:// URL", false},
		{"key file others read", with("--state-key-file", loose), 1, nil, "can be read by others (mode 0644): chmod 600", false},
		{"short key", with("--state-key-file", short), 1, nil, "a state key is 32 bytes", false},
		{"missing key file", with("--state-key-file", filepath.Join(dir, "none")), 1, nil, "--state-key-file: state key file:", false},
	})
	t.Run("environment", func(t *testing.T) {
		t.Setenv("TRANSFERD_STATE_KEY", "not a key")
		var out, errOut bytes.Buffer
		if code := run(serve, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "$TRANSFERD_STATE_KEY: a state key is") {
			t.Errorf("with a bad TRANSFERD_STATE_KEY: exit %d, stderr %q", code, errOut.String())
		}
		t.Setenv("TRANSFERD_STATE_KEY", "")
		t.Setenv("TRANSFERD_STATE", "sqlite:///tmp/x")
		errOut.Reset()
		if code := run(serve, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "give a postgres://") {
			t.Errorf("with TRANSFERD_STATE=sqlite:///tmp/x: exit %d, stderr %q", code, errOut.String())
		}
	})
	t.Cleanup(func() { // after the parallel cases
		if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
			t.Errorf("the data directory was created before the state flags were checked: %v", err)
		}
	})
}

// console-password reads the password from standard input when it is not a terminal, keeps only
// its hash, and removes it with --delete.
func TestConsolePasswordCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "console-passwords")
	runPW := func(stdin string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := consolePassword(args, strings.NewReader(stdin), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"a long enough password\n", []string{"ops"}, "give --data-dir DIR and one console user NAME"},
		{"a long enough password\n", []string{"--data-dir", dir}, "give --data-dir DIR and one console user NAME"},
		{"a long enough password\n", []string{"--data-dir", dir, "bad name"}, `console user name "bad name"`},
		{"short\n", []string{"--data-dir", dir, "ops"}, "use at least 12"},
		{"", []string{"--data-dir", dir, "ops"}, "no password on standard input"},
		{"", []string{"--data-dir", dir, "--delete", "ops"}, `console user "ops" has no password`},
	} {
		if _, err := runPW(c.stdin, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("refused commands wrote the file: %v", err)
	}
	out, err := runPW("a long enough password\r\n", "--data-dir", dir, "ops")
	if err != nil || !strings.Contains(out, "Console user ops has a new password") {
		t.Fatalf("setting a password: %v\n%s", err, out)
	}
	data, err := os.ReadFile(file)
	if err != nil || !strings.HasPrefix(string(data), "ops:$2a$12$") || strings.Contains(string(data), "long enough") {
		t.Fatalf("the file: %v\n%s", err, data)
	}
	if out, err := runPW("", "--delete", "ops", "--data-dir", dir); err != nil || !strings.Contains(out, "can no longer sign in") {
		t.Errorf("--delete: %v\n%s", err, out)
	}
	if data, _ := os.ReadFile(file); len(data) != 0 {
		t.Errorf("after --delete the file holds %q", data)
	}
}
