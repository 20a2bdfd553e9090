package metastore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/metastore/pgtest"
	"github.com/transferd/transferd/internal/metastore/storetest"
	"github.com/transferd/transferd/internal/transfer"
)

var _ storetest.Store = (*Store)(nil)

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := OpenSQLite(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("OpenSQLite(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return openTest(t, filepath.Join(t.TempDir(), "state.db"))
	})
}

func TestSQLiteReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenSQLite(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := &transfer.Server{ServerID: transfer.NewServerID(), Endpoint: "127.0.0.1:2222",
		Tags: []transfer.Tag{{Key: "k", Value: "v"}}}
	if err := s.CreateServer(ctx, srv); err != nil {
		t.Fatal(err)
	}
	u := &transfer.User{ServerID: srv.ServerID, UserName: "alice", HomeDirectoryType: transfer.HomePath,
		SSHPublicKeys: []transfer.SSHPublicKey{{SSHPublicKeyID: transfer.NewSSHPublicKeyID(), Body: "ssh-ed25519 AAAA", Fingerprint: "SHA256:x"}}}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	hk := &transfer.HostKey{ServerID: srv.ServerID, HostKeyID: transfer.NewHostKeyID(), Fingerprint: "SHA256:h", PrivateKey: []byte("PEM")}
	if err := s.AddHostKey(ctx, hk); err != nil {
		t.Fatal(err)
	}
	// While the database is open, the -wal and -shm files exist; all three are private.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		checkMode(t, p)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		s := openTest(t, path)
		got, err := s.GetServer(ctx, srv.ServerID)
		if err != nil {
			t.Fatalf("server after reopen: %v", err)
		}
		if got.Endpoint != srv.Endpoint || len(got.Tags) != 1 || !got.CreatedAt.Equal(srv.CreatedAt) {
			t.Errorf("server after reopen: got %+v, want %+v", got, srv)
		}
		gu, err := s.GetUser(ctx, srv.ServerID, "alice")
		if err != nil {
			t.Fatalf("user after reopen: %v", err)
		}
		if len(gu.SSHPublicKeys) != 1 || gu.SSHPublicKeys[0] != u.SSHPublicKeys[0] {
			t.Errorf("keys after reopen: got %+v, want %+v", gu.SSHPublicKeys, u.SSHPublicKeys)
		}
		if _, err := s.GetHostKey(ctx, srv.ServerID, hk.HostKeyID); err != nil {
			t.Errorf("host key after reopen: %v", err)
		}
		// Each migration is recorded once, however often the database is opened.
		var n, latest int
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &latest); err != nil {
			t.Fatal(err)
		}
		ms := migrations()
		if n != len(ms) || latest != ms[len(ms)-1].version {
			t.Errorf("schema_migrations: %d rows up to version %d, want %d up to %d", n, latest, len(ms), ms[len(ms)-1].version)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func checkMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("stat: %v", err)
		return
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode of %s: got %v, want 0600", filepath.Base(path), got)
	}
}

func TestSQLiteNarrowsExistingFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	openTest(t, path)
	checkMode(t, path)
}

func TestSQLiteSpecialPath(t *testing.T) {
	t.Parallel()
	// Characters that mean something in a file: URI must still name the file.
	path := filepath.Join(t.TempDir(), "a dir?x=1#frag%20", "state.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, path)
	if err := s.CreateServer(t.Context(), &transfer.Server{ServerID: transfer.NewServerID()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkMode(t, path)
	entries, _ := os.ReadDir(filepath.Dir(filepath.Dir(path)))
	if len(entries) != 1 {
		t.Errorf("files next to the database's directory: got %v, want only the directory", entries)
	}
}

func TestSQLiteNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	s := openTest(t, path)
	if _, err := s.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, '')`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenSQLite(ctx, path, Options{}); err == nil {
		s.Close()
		t.Fatal("OpenSQLite of a database from a newer transferd succeeded")
	}
}

func TestSQLiteOptions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	acct := transfer.Account{Region: "eu-west-3", AccountID: "123456789012"}
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "state.db"), Options{Account: acct, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := &transfer.Server{ServerID: transfer.NewServerID(), Tags: []transfer.Tag{{Key: "k", Value: "v"}}}
	if err := s.CreateServer(ctx, srv); err != nil {
		t.Fatal(err)
	}
	if !srv.CreatedAt.Equal(now) {
		t.Errorf("CreatedAt: got %v, want the injected clock's %v", srv.CreatedAt, now)
	}
	tags, err := s.ListTags(ctx, acct.ServerARN(srv.ServerID))
	if err != nil || len(tags) != 1 {
		t.Errorf("tags under the configured account's ARN: got %v, %v; want one", tags, err)
	}
}

func TestSQLiteCanceledContext(t *testing.T) {
	t.Parallel()
	s := openTest(t, filepath.Join(t.TempDir(), "state.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.GetServer(ctx, transfer.NewServerID()); transfer.KindOf(err) != transfer.KindInternal || err == nil {
		t.Errorf("GetServer with a canceled context: got %v, want an internal error", err)
	}
}

// TestTwoStores has two stores, as two processes would, write to one database at once: in
// SQLite, the busy timeout and BEGIN IMMEDIATE make them take turns.
func TestTwoStores(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "state.db")
		testTwoStores(t, openTest(t, path), openTest(t, path))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.Shared(t).NewDatabase(t)
		testTwoStores(t, openPostgresTest(t, url), openPostgresTest(t, url))
	})
}

func testTwoStores(t *testing.T, a, b *Store) {
	ctx := t.Context()
	srv := &transfer.Server{ServerID: transfer.NewServerID()}
	if err := a.CreateServer(ctx, srv); err != nil {
		t.Fatal(err)
	}
	const each = 30
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b} {
		wg.Go(func() {
			for j := range each {
				u := &transfer.User{ServerID: srv.ServerID, UserName: fmt.Sprintf("s%d-user%02d", i, j)}
				if err := s.CreateUser(ctx, u); err != nil {
					t.Errorf("store %d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	if n, err := b.CountUsers(ctx, srv.ServerID); err != nil || n != 2*each {
		t.Errorf("CountUsers: got %d, %v; want %d", n, err, 2*each)
	}
}

func TestRebindDollar(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"none", "SELECT 1", "SELECT 1"},
		{"one", "SELECT * FROM t WHERE a = ?", "SELECT * FROM t WHERE a = $1"},
		{"many", "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			"INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"},
	}
	for _, tt := range tests {
		if got := rebindDollar(tt.in); got != tt.want {
			t.Errorf("%s: rebindDollar(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestFormatTimeSorts(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	times := []time.Time{t0, t0.Add(time.Nanosecond), t0.Add(100 * time.Millisecond), t0.Add(time.Second)}
	for i := 1; i < len(times); i++ {
		a, b := formatTime(times[i-1]), formatTime(times[i])
		if a >= b {
			t.Errorf("formatTime(%v) = %q sorts at or after formatTime(%v) = %q", times[i-1], a, times[i], b)
		}
		if got, err := parseTime(b); err != nil || !got.Equal(times[i]) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", b, got, err, times[i])
		}
	}
	est := time.FixedZone("EST", -5*3600)
	if got := formatTime(t0.In(est)); got != "2025-01-01T00:00:00.000000000Z" {
		t.Errorf("formatTime in EST = %q, want UTC", got)
	}
}
