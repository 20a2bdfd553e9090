package metastore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/transfer"
)

func testServer(id, endpoint string) *transfer.Server {
	return &transfer.Server{ServerID: id, Endpoint: endpoint, SecurityPolicyName: "TransferSecurityPolicy-2024-01",
		Domain: transfer.DomainS3, IdentityProviderType: transfer.IdentityServiceManaged, Protocols: []string{"SFTP"},
		State: transfer.StateOnline, Source: transfer.SourceConfig}
}

// TestAtomically checks that Atomically keeps all of fn's changes or none, that fn reads its own
// changes while others do not, and that a failed write inside leaves nothing (a savepoint).
func TestAtomically(t *testing.T) {
	t.Parallel()
	backends(t, testAtomically)
}

func testAtomically(t *testing.T, open func(t *testing.T) *Store) {
	s := open(t)
	ctx := t.Context()
	const a, b = "s-0000000000000000a", "s-0000000000000000b"
	boom := errors.New("boom")
	err := s.Atomically(ctx, func(tx *Store) error {
		if err := tx.CreateServer(ctx, testServer(a, "127.0.0.1:1")); err != nil {
			return err
		}
		if _, err := tx.GetServer(ctx, a); err != nil {
			t.Errorf("the transaction does not read its own server: %v", err)
		}
		if _, err := s.GetServer(ctx, a); transfer.KindOf(err) != transfer.KindNotFound {
			t.Errorf("outside the transaction, the uncommitted server: %v; want not found", err)
		}
		// A write that fails (the endpoint is taken) is left out and the transaction goes on.
		if err := tx.CreateServer(ctx, testServer(b, "127.0.0.1:1")); transfer.KindOf(err) != transfer.KindExists {
			t.Errorf("a second server on the same endpoint: %v; want exists", err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Atomically returned %v, want fn's error", err)
	}
	if _, err := s.GetServer(ctx, a); transfer.KindOf(err) != transfer.KindNotFound {
		t.Errorf("after a rollback, the server: %v; want not found", err)
	}
	err = s.Atomically(ctx, func(tx *Store) error {
		if err := tx.CreateServer(ctx, testServer(a, "127.0.0.1:1")); err != nil {
			return err
		}
		return tx.Atomically(ctx, func(inner *Store) error { return inner.CreateServer(ctx, testServer(b, "127.0.0.1:2")) })
	})
	if err != nil {
		t.Fatal(err)
	}
	servers, err := s.ListServers(ctx, "", 0)
	if err != nil || len(servers) != 2 {
		t.Errorf("after a commit: %d servers, %v; want 2", len(servers), err)
	}
}

// TestAtomicallyPanic checks that a panic inside Atomically rolls back and leaves the one writer
// connection free for the next write.
func TestAtomicallyPanic(t *testing.T) {
	t.Parallel()
	backends(t, testAtomicallyPanic)
}

func testAtomicallyPanic(t *testing.T, open func(t *testing.T) *Store) {
	s := open(t)
	ctx := t.Context()
	func() {
		defer func() { _ = recover() }()
		_ = s.Atomically(ctx, func(tx *Store) error {
			if err := tx.CreateServer(ctx, testServer("s-0000000000000000a", "127.0.0.1:1")); err != nil {
				t.Error(err)
			}
			panic("boom")
		})
	}()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.CreateServer(wctx, testServer("s-0000000000000000b", "127.0.0.1:2")); err != nil {
		t.Fatalf("a write after a panic inside Atomically: %v", err)
	}
	if _, err := s.GetServer(ctx, "s-0000000000000000a"); transfer.KindOf(err) != transfer.KindNotFound {
		t.Errorf("the panicked transaction's server: %v; want not found", err)
	}
}

// TestMigrationDropsDerivedTags checks migration 4: tags that transferd now derives, stored by
// an older version, are removed; others stay.
func TestMigrationDropsDerivedTags(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenSQLite(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := testServer("s-0000000000000000a", "127.0.0.1:1")
	srv.Tags = []transfer.Tag{{Key: "team", Value: "data"}, {Key: "transferd:Endpoint", Value: "127.0.0.1:9"}}
	if err := s.CreateServer(ctx, srv); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = 4`); err != nil { // as before version 4
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, path)
	got, err := s.ListTags(ctx, s.acct.ServerARN(srv.ServerID))
	if err != nil || len(got) != 1 || got[0].Key != "team" {
		t.Errorf("tags after migration 4: %v, %v; want team alone", got, err)
	}
}
