package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/aws-sdk-go-v2/service/transfer/types"
)

// TestBackup copies the state store with `transferd backup` while transferd serves, then restores
// it under a new data directory: the user created through the API logs in there, with the same
// host key.
func TestBackup(t *testing.T) {
	t.Parallel()
	needTool(t, "sftp")
	alice, bob := keyFor(t, "ed25519"), keyFor(t, "ecdsa-256")
	port := freePort(t)
	const server = "s-00000000000000b0c"
	cfg := configYAML(t.TempDir(), serverConf{Port: port, ID: server, Users: []userConf{chrootUser("alice", alice)}})
	p, client, _ := apiClientFor(t, cfg)
	if _, err := client.CreateUser(t.Context(), &transfer.CreateUserInput{ServerId: aws.String(server), UserName: aws.String("bob"),
		Role: aws.String(testRole), HomeDirectoryType: types.HomeDirectoryTypeLogical,
		HomeDirectoryMappings: []types.HomeDirectoryMapEntry{{Entry: aws.String("/"), Target: aws.String("/bucket1/bob")}},
		SshPublicKeyBody:      aws.String(bob.Authorized)}); err != nil {
		t.Fatal(err)
	}
	hostKey := hostKeyOf(t, port)

	copyPath := filepath.Join(t.TempDir(), "state-backup.db")
	out, err := exec.Command(suite.bin, "backup", "--data-dir", p.dataDir, "--out", copyPath).CombinedOutput()
	if err != nil {
		t.Fatalf("transferd backup: %v\n%s", err, out)
	}
	if fi, err := os.Stat(copyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the copy: %v, %v; want mode 0600", fi, err)
	}
	out, err = exec.Command(suite.bin, "backup", "--data-dir", p.dataDir, "--out", copyPath).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "exists already") {
		t.Errorf("a backup onto an existing file: %v\n%s; want it refused", err, out)
	}
	p.stop(t)

	q := prepare(t, nil, cfg)
	if err := os.MkdirAll(q.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(q.dataDir, "state.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	q.launch(t)
	mustSFTP(t, port, "bob", bob, "ls\n")
	if got := hostKeyOf(t, port); got != hostKey {
		t.Errorf("host key after the restore: %s, want %s", got, hostKey)
	}
}
