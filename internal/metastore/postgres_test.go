package metastore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/metastore/pgtest"
	"github.com/transferd/transferd/internal/metastore/storetest"
	"github.com/transferd/transferd/internal/transfer"
)

// TestMain gives the tests a PostgreSQL server: TRANSFERD_TEST_POSTGRES's, or a private cluster
// (scripts/pgserver.sh).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openPostgresTest opens a store on the database at url, closed when the test ends.
func openPostgresTest(t *testing.T, url string) *Store {
	t.Helper()
	s, err := OpenPostgres(t.Context(), url, Options{})
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// openPostgres opens a store on a new, empty database.
func openPostgres(t *testing.T) *Store {
	return openPostgresTest(t, pgtest.Shared(t).NewDatabase(t))
}

// backends runs fn once for each database the store runs on, with a function that opens a
// fresh, empty store.
func backends(t *testing.T, fn func(t *testing.T, open func(t *testing.T) *Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, func(t *testing.T) *Store { return openTest(t, filepath.Join(t.TempDir(), "state.db")) })
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, openPostgres)
	})
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Store { return openPostgres(t) })
}

// TestPostgresOpenedAtOnce has several processes' stores open one new database at the same time:
// one applies each migration, the others find it applied, and all of them work.
func TestPostgresOpenedAtOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.Shared(t).NewDatabase(t)
	const n = 5
	stores := make([]*Store, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := OpenPostgres(t.Context(), url, Options{})
			if err != nil {
				t.Errorf("store %d: %v", i, err)
				return
			}
			t.Cleanup(func() { s.Close() })
			stores[i] = s
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var applied int
	if err := stores[0].r.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if want := len(migrations()); applied != want {
		t.Errorf("schema_migrations has %d rows, want %d (each migration once)", applied, want)
	}
	for i, s := range stores {
		srv := &transfer.Server{ServerID: fmt.Sprintf("s-%017d", i)}
		if err := s.CreateServer(t.Context(), srv); err != nil {
			t.Errorf("store %d: %v", i, err)
		}
	}
}

// TestPostgresExclusive checks that Exclusive transactions of two stores (as of two processes)
// take turns: the second waits until the first has committed, and then sees its change.
func TestPostgresExclusive(t *testing.T) {
	t.Parallel()
	url := pgtest.Shared(t).NewDatabase(t)
	a, b := openPostgresTest(t, url), openPostgresTest(t, url)
	ctx := t.Context()
	const id = "s-0000000000000000a"
	inside := make(chan struct{})
	var committed time.Time
	done := make(chan error, 1)
	go func() {
		done <- a.Exclusive(ctx, func(tx *Store) error {
			close(inside)
			time.Sleep(300 * time.Millisecond)
			if err := tx.CreateServer(ctx, testServer(id, "127.0.0.1:1")); err != nil {
				return err
			}
			committed = time.Now()
			return nil
		})
	}()
	<-inside
	var found bool
	err := b.Exclusive(ctx, func(tx *Store) error {
		_, err := tx.GetServer(ctx, id)
		found = err == nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Errorf("the second Exclusive transaction ran before the first committed (committed %v)", committed)
	}
}

// TestPostgresByteOrder checks that names sort and page byte by byte, as in SQLite, in a database
// whose own collation would sort them otherwise (ICU en-US: "_x" first, "a" before "B").
func TestPostgresByteOrder(t *testing.T) {
	t.Parallel()
	s := openPostgresTest(t, pgtest.Shared(t).NewDatabaseICU(t, "en-US"))
	ctx := t.Context()
	srv := testServer("s-0000000000000000a", "")
	if err := s.CreateServer(ctx, srv); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"b", "B", "a", "_x", "A-1", "a.b"} {
		if err := s.CreateUser(ctx, &transfer.User{ServerID: srv.ServerID, UserName: name}); err != nil {
			t.Fatal(err)
		}
	}
	users, err := s.ListUsers(ctx, srv.ServerID, "B", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range users {
		got = append(got, u.UserName)
	}
	if want := "_x a a.b b"; strings.Join(got, " ") != want {
		t.Errorf("users after B: %q, want %q (byte order)", got, want)
	}
}

// TestPostgresBadURL checks that a database that cannot be reached is named in the error, with
// its password left out.
func TestPostgresBadURL(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := OpenPostgres(ctx, "postgres://bob:s3cret-pw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", Options{})
	if err == nil {
		t.Fatal("OpenPostgres of a closed port succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "s3cret-pw") || !strings.Contains(msg, "127.0.0.1:1") {
		t.Errorf("error %q: want the address named and the password left out", msg)
	}
	if _, err := OpenPostgres(ctx, "postgres://a b:1/x y", Options{}); err == nil || strings.Contains(err.Error(), "panic") {
		t.Errorf("OpenPostgres of an unparsable URL: %v, want an error", err)
	}
}

// TestPostgresNewerSchema checks that a database a newer transferd migrated is refused.
func TestPostgresNewerSchema(t *testing.T) {
	t.Parallel()
	url := pgtest.Shared(t).NewDatabase(t)
	s := openPostgresTest(t, url)
	if _, err := s.w.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, '')`); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenPostgres(t.Context(), url, Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("OpenPostgres of a database from a newer transferd: %v, want refused", err)
	}
}
