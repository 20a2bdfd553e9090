package metastore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"modernc.org/sqlite" // registers the "sqlite" driver
)

// SQLite's extended result codes for constraint violations (sqlite3.h).
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// sqliteBusyTimeout is how long, in milliseconds, a connection waits for a lock another
// connection (or process) holds before giving up with SQLITE_BUSY.
const sqliteBusyTimeout = 5000

func sqliteDialect() dialect {
	return dialect{
		rebind:            func(q string) string { return q },
		isUniqueViolation: sqliteUniqueViolation,
	}
}

func sqliteUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() {
	case sqliteConstraintPrimaryKey, sqliteConstraintUnique:
		return true
	}
	return false
}

// sqliteDSN returns the file: URI that opens the database at the absolute path abs.
//
// Every connection gets busy_timeout and foreign_keys (SQLite's foreign keys are off unless each
// connection turns them on). The writer also sets WAL, which is persistent in the file and lets
// readers run while it writes, and begins its transactions with BEGIN IMMEDIATE: it takes the write
// lock up front, waiting up to busy_timeout, instead of failing with SQLITE_BUSY when a deferred
// transaction tries to upgrade from reading to writing. Readers are query_only.
func sqliteDSN(abs string, writer bool) string {
	// In a URI, %, ? and # would end or change the path.
	p := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(filepath.ToSlash(abs))
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	q := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", sqliteBusyTimeout)
	if writer {
		q += "&_pragma=journal_mode(WAL)&_txlock=immediate"
	} else {
		q += "&_pragma=query_only(1)"
	}
	return "file:" + p + "?" + q
}

// OpenSQLite opens the SQLite database at path, creating it if needed, and brings its schema up
// to date. The file, which holds host private keys, is made readable by its owner only (0600), as
// are its -wal and -shm companions.
func OpenSQLite(ctx context.Context, path string, opts Options) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	// Create the file ourselves so that it never exists with a wider mode, and narrow an
	// existing one. SQLite gives the -wal and -shm files the mode of the database file.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open state database: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open state database: %w", err)
	}
	if err := chmodPrivate(abs); err != nil {
		return nil, err
	}

	seal, err := newSealer(opts.StateKey)
	if err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", sqliteDSN(abs, true))
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	// One writer connection: writes queue in database/sql (honouring ctx) rather than contend
	// for SQLite's lock, which busy_timeout still covers for other processes.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	r, err := sql.Open("sqlite", sqliteDSN(abs, false))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)

	s := newStore(w, r, sqliteDialect(), opts, seal)
	if err := w.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	if err := s.ready(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("state database %s: %w", path, err)
	}
	for _, p := range []string{abs, abs + "-wal", abs + "-shm"} {
		if err := chmodPrivate(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

// chmodPrivate makes a file readable and writable by its owner only, unless it already is.
func chmodPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm() == 0o600 {
		return nil
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("restrict state database: %w", err)
	}
	return nil
}

// BackupSQLite writes a consistent copy of the SQLite database at path to out (which must not
// exist), while other processes may be using it: SQLite's VACUUM INTO reads one snapshot. The copy
// is made with mode 0600, as it holds host private keys.
func BackupSQLite(ctx context.Context, path, out string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("no state database: %w", err)
	}
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("%s exists already: give a new file", out)
	}
	// Not query_only, which would refuse VACUUM INTO; it only reads the database.
	dsn, _, _ := strings.Cut(sqliteDSN(abs, false), "&_pragma=query_only(1)")
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	// The copy is created by SQLite; a umask of 077 keeps it private from the start.
	old := umask(0o077)
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", out)
	umask(old)
	if err != nil {
		return fmt.Errorf("backup of %s: %w", path, err)
	}
	return chmodPrivate(out)
}
