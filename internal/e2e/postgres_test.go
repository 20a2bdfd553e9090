package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/metastore/pgtest"
)

// pgSuite is the PostgreSQL server shared by the tests of this binary, started on first use.
var pgSuite struct {
	once sync.Once
	srv  pgtest.Server
	err  error
	stop func() // nil unless the tests started the server
}

// needPostgres returns the PostgreSQL server, starting a private cluster the first time when the
// environment names none (TRANSFERD_TEST_POSTGRES).
func needPostgres(t testing.TB) pgtest.Server {
	t.Helper()
	pgSuite.once.Do(func() {
		if srv, ok := pgtest.FromEnv(); ok {
			pgSuite.srv = srv
			return
		}
		pgSuite.srv, pgSuite.stop, pgSuite.err = pgtest.Start()
	})
	if pgSuite.err != nil {
		t.Fatalf("the PostgreSQL tests need a server: %v", pgSuite.err)
	}
	return pgSuite.srv
}

// stopPostgres stops the cluster needPostgres started, if any. TestMain calls it on its way out.
func stopPostgres() {
	if pgSuite.stop != nil {
		pgSuite.stop()
	}
}

// hostKeyOf returns the SHA256 fingerprint of the host key the server on port shows.
func hostKeyOf(t *testing.T, port int) string {
	t.Helper()
	var fp string
	cfg := &ssh.ClientConfig{User: "nobody", Timeout: connLimit,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			fp = ssh.FingerprintSHA256(key)
			return fmt.Errorf("seen")
		}}
	_, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), cfg)
	if fp == "" {
		t.Fatalf("no host key from port %d: %v", port, err)
	}
	return fp
}

// TestPostgresState runs transferd on a PostgreSQL state store with a state key: the config
// file's server and a user the API creates serve OpenSSH's sftp; nothing is written to
// DATA_DIR/state.db; host keys are stored encrypted and come back the same after a restart; and
// without the key transferd refuses to start, saying why.
func TestPostgresState(t *testing.T) {
	t.Parallel()
	needTool(t, "sftp")
	db := needPostgres(t).NewDatabase(t)
	keyFile := filepath.Join(t.TempDir(), "state.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	alice, bob := keyFor(t, "ed25519"), keyFor(t, "ecdsa-256")
	port := freePort(t)
	cfg := configYAML("", serverConf{Port: port, ID: "s-00000000000000a01", Users: []userConf{chrootUser("alice", alice)}})
	p, client, _ := apiClientFor(t, cfg, "--state", db, "--state-key-file", keyFile)

	ctx := t.Context()
	_, err := client.CreateUser(ctx, &transfer.CreateUserInput{ServerId: aws.String("s-00000000000000a01"), UserName: aws.String("bob"),
		Role: aws.String("arn:aws:iam::123456789012:role/r"), HomeDirectory: aws.String("/bucket1/bob"),
		SshPublicKeyBody: aws.String(bob.Authorized)})
	if err != nil {
		t.Fatal(err)
	}
	mustSFTP(t, port, "alice", alice, "put /etc/hostname a.txt\n")
	mustSFTP(t, port, "bob", bob, "put /etc/hostname b.txt\n")
	if _, err := os.Stat(filepath.Join(p.dataDir, "state.db")); !os.IsNotExist(err) {
		t.Errorf("DATA_DIR/state.db with --state postgres://: %v; want none", err)
	}

	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var users, keys, sealed int
	if err := conn.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM host_keys),
		(SELECT COUNT(*) FROM host_keys WHERE private_key LIKE 'transferd-sealed:v1:%' AND private_key NOT LIKE '%PRIVATE KEY%')`).Scan(&users, &keys, &sealed); err != nil {
		t.Fatal(err)
	}
	if users != 2 || keys != 1 || sealed != 1 {
		t.Errorf("in PostgreSQL: %d users, %d host keys of which %d encrypted; want 2, 1, 1", users, keys, sealed)
	}

	before := hostKeyOf(t, port)
	p.restart(t)
	if after := hostKeyOf(t, port); after != before {
		t.Errorf("host key after a restart: %s, want %s (from the state store)", after, before)
	}
	mustSFTP(t, port, "bob", bob, "ls\n")
	p.stop(t)

	// Without the state key the host key cannot be read: transferd says so and exits.
	cmdCtx, cancel := context.WithTimeout(ctx, startLimit)
	defer cancel()
	out, err := exec.CommandContext(cmdCtx, suite.bin, "serve", "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--config", p.cfgPath, "--api-listen", "off", "--state", db).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "encrypted with a state key") || !strings.Contains(string(out), "--state-key-file") {
		t.Errorf("serve without the state key: %v\n%s\nwant a refusal that names --state-key-file", err, out)
	}
	if strings.Contains(string(out), "panic") || strings.Contains(string(out), "goroutine ") {
		t.Errorf("serve without the state key shows a stack trace:\n%s", out)
	}
}
