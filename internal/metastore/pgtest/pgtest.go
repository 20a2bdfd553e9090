// Package pgtest gives tests PostgreSQL databases: on the server TRANSFERD_TEST_POSTGRES names (a
// postgres:// URL of a database whose user may create databases), or on a private cluster that
// scripts/pgserver.sh installs (the first time, with apt-get) and starts on loopback.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/transferd/transferd/internal/testsrv"
)

// EnvURL names the PostgreSQL database the tests may use to create their own.
const EnvURL = "TRANSFERD_TEST_POSTGRES"

// Server is a PostgreSQL server tests may create databases on.
type Server struct {
	// URL is a database on it whose user may create databases.
	URL string
	// Server is the cluster's script, when Start started it: it can Pause and Resume it.
	*testsrv.Server
}

// FromEnv returns the server the environment names, if it names one.
func FromEnv() (Server, bool) {
	u := os.Getenv(EnvURL)
	return Server{URL: u}, u != ""
}

// Start starts a private cluster with scripts/pgserver.sh; stop stops it and removes its data.
func Start() (srv Server, stop func(), err error) {
	ts, err := testsrv.Start("pgserver.sh", "TRANSFERD_PG_STATE")
	if err != nil {
		return Server{}, nil, err
	}
	if ts.Vars[EnvURL] == "" {
		ts.Stop()
		return Server{}, nil, fmt.Errorf("scripts/pgserver.sh env exported no %s", EnvURL)
	}
	return Server{URL: ts.Vars[EnvURL], Server: ts}, ts.Stop, nil
}

// Main runs a test binary's tests with a server: the environment's, else a private cluster
// started for the run (and stopped after). Use it from TestMain; Shared then returns the server.
func Main(m *testing.M) int {
	srv, ok := FromEnv()
	if !ok {
		var stop func()
		var err error
		srv, stop, err = Start()
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: starting PostgreSQL:", err)
			return 1
		}
		defer stop()
	}
	shared.Lock()
	shared.srv = &srv
	shared.Unlock()
	return m.Run()
}

var shared struct {
	sync.Mutex
	srv *Server
}

// Shared returns the server Main started or found.
func Shared(t testing.TB) Server {
	shared.Lock()
	defer shared.Unlock()
	if shared.srv == nil {
		t.Fatal("pgtest: no server: call pgtest.Main from TestMain")
	}
	return *shared.srv
}

// NewDatabase creates an empty database on s for the test and returns its URL; it is dropped
// when the test ends.
func (s Server) NewDatabase(t testing.TB) string {
	t.Helper()
	return s.newDatabase(t, "")
}

// NewDatabaseICU is NewDatabase with the ICU collation of locale (e.g. "en-US") as the
// database's default, whatever locales the machine has: text then sorts as people expect, not
// byte by byte.
func (s Server) NewDatabaseICU(t testing.TB, locale string) string {
	t.Helper()
	return s.newDatabase(t, " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '"+locale+"' LOCALE 'C.UTF-8'")
}

func (s Server) newDatabase(t testing.TB, options string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatalf("pgtest: connecting to %s: %v", s.URL, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+options); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, s.URL)
		if err != nil {
			t.Errorf("pgtest: connecting to drop %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", s.URL, err)
	}
	u.Path = "/" + name
	return u.String()
}
