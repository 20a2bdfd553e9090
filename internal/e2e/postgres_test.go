package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/jackc/pgx/v5"

	"github.com/transferd/transferd/internal/activity"
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
	return hostKeyAt(t, "", fmt.Sprintf("127.0.0.1:%d", port))
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
	p, client, _ := apiClientFor(t, cfg, "--state", db, "--state-key-file", keyFile, "--resync-interval", "1s")

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

	// A change no notice announces (made in the database by hand) is picked up by the periodic
	// resync: the server stops, then starts again.
	for _, state := range []string{"OFFLINE", "ONLINE"} {
		if _, err := conn.Exec(ctx, `UPDATE servers SET state = $1`, state); err != nil {
			t.Fatal(err)
		}
		took := waitListeningWithin(t, "", fmt.Sprintf("127.0.0.1:%d", port), state == "ONLINE", 10*time.Second)
		t.Logf("%s in the database: the node followed %v later (--resync-interval 1s)", state, took.Round(time.Millisecond))
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

// TestStateStoreLost stops the PostgreSQL server under a running transferd: the session already
// open goes on working; new logins are refused, their AUTH_FAILURE saying the state store is
// unreachable; the API answers ServiceUnavailableException; once the database is back, logins
// work again without a restart.
func TestStateStoreLost(t *testing.T) {
	t.Parallel()
	pg, stopPG, err := pgtest.Start() // a cluster of its own: this test stops it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopPG)
	db := pg.NewDatabase(t)
	alice := keyFor(t, "ed25519")
	port := freePort(t)
	p, client, _ := apiClientFor(t, configYAML(t.TempDir(), serverConf{Port: port, ID: "s-00000000000000e01", Users: []userConf{chrootUser("alice", alice)}}),
		"--state", db)
	open := dialSFTP(t, port, "alice", alice)
	write := func(name string) error {
		f, err := open.Create(name)
		if err != nil {
			return err
		}
		if _, err := f.Write([]byte("kept serving")); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := write("before.txt"); err != nil {
		t.Fatal(err)
	}

	if err := pg.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := write("during.txt"); err != nil {
		t.Errorf("the session open before the database went away: %v", err)
	}
	if _, err := open.ReadDir("."); err != nil {
		t.Errorf("the session open before the database went away: ReadDir: %v", err)
	}
	if c, _, err := dialSSH(t, port, "alice", alice); err == nil {
		c.Close()
		t.Error("a new login succeeded with the state store unreachable")
	}
	r := p.waitRecord(t, "AUTH_FAILURE while the database is away", func(r *activity.Record) bool {
		return r.ActivityType == activity.AuthFailure && r.User == "alice"
	})
	if !strings.Contains(r.Message, "state store is unreachable") {
		t.Errorf("AUTH_FAILURE message %q: want it to say the state store is unreachable", r.Message)
	}
	_, err = client.ListUsers(t.Context(), &transfer.ListUsersInput{ServerId: aws.String("s-00000000000000e01")})
	if err == nil || !strings.Contains(err.Error(), "ServiceUnavailableException") {
		t.Errorf("ListUsers with the state store unreachable: %v; want ServiceUnavailableException", err)
	}

	if err := pg.Resume(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, _, err := dialSSH(t, port, "alice", alice)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no login 30 s after the database came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := write("after.txt"); err != nil {
		t.Errorf("the session open since before the outage, after it: %v", err)
	}
}
