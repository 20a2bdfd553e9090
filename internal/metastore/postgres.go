package metastore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// PostgreSQL's SQLSTATE for a unique or primary key violation.
const pgUniqueViolation = "23505"

// exclusiveLockKey is the advisory lock that serializes schema migrations and Exclusive transactions
// across every process sharing a PostgreSQL database ("transfer" in ASCII, as a bigint).
const exclusiveLockKey = 0x7472616e73666572

func postgresDialect() dialect {
	return dialect{
		rebind:            rebindDollar,
		isUniqueViolation: pgUniqueViolationErr,
		schema:            pgSchema,
		exclusive:         fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", int64(exclusiveLockKey)),
	}
}

func pgUniqueViolationErr(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == pgUniqueViolation
}

// pgSchema gives every text column of a schema statement the "C" collation: names and IDs then
// compare and sort byte by byte, as in SQLite and as the API's paging (WHERE id > ? ORDER BY id)
// expects, whatever locale the database was created with.
func pgSchema(stmt string) string {
	return strings.ReplaceAll(stmt, " TEXT NOT NULL", ` TEXT COLLATE "C" NOT NULL`)
}

// unreachable reports whether err says the database could not be reached or the connection to
// it was lost (rather than that a statement failed).
func unreachable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	if e, ok := errors.AsType[*pgconn.PgError](err); ok {
		// Class 08: connection exception; 57P01-57P03: the server is shutting down or starting.
		return strings.HasPrefix(e.Code, "08") || e.Code == "57P01" || e.Code == "57P02" || e.Code == "57P03"
	}
	return false
}

// changesChannel is the PostgreSQL notification channel that Publish and Watch use.
const changesChannel = "transferd_changes"

// Shared reports whether other processes may use the store at the same time (PostgreSQL), and
// so whether Publish and Watch mean anything.
func (s *Store) Shared() bool { return s.dsn != "" }

// Publish tells every process that Watches the store that payload (at most 7,999 bytes) changed.
// A store that is not shared does nothing.
func (s *Store) Publish(ctx context.Context, payload string) error {
	if s.dsn == "" {
		return nil
	}
	_, err := s.w.ExecContext(ctx, `SELECT pg_notify($1, $2)`, changesChannel, payload)
	return wrapInternal(err, "publish a change")
}

// Watch calls changed with each payload published (by any process, this one included) until ctx
// ends, on a connection of its own to the database. When it cannot connect or loses the
// connection, it calls lost with the error and tries again every retry; connected is called at
// each connection, after which changes published while it was not connected are not told: the
// caller should read the state again then. A store that is not shared returns at once.
func (s *Store) Watch(ctx context.Context, retry time.Duration, connected func(), lost func(error), changed func(payload string)) {
	if s.dsn == "" {
		return
	}
	for {
		err := s.watch(ctx, connected, changed)
		if ctx.Err() != nil {
			return
		}
		lost(redactErr(err, s.dsn))
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

func (s *Store) watch(ctx context.Context, connected func(), changed func(payload string)) error {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return err
	}
	connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		changed(n.Payload)
	}
}

// IsPostgresURL reports whether state names a PostgreSQL database (a postgres:// or postgresql://
// URL) rather than a file.
func IsPostgresURL(state string) bool {
	return strings.HasPrefix(state, "postgres://") || strings.HasPrefix(state, "postgresql://")
}

// RedactURL returns a PostgreSQL URL with its password replaced by "xxxxx", for logs and errors.
func RedactURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(an unparsable URL)"
	}
	return u.Redacted()
}

// OpenPostgres opens the PostgreSQL database that dsn (a postgres:// URL, or key=value pairs, as
// libpq takes them; PG* environment variables fill in what it leaves out) names and brings its
// schema up to date. Several processes may open the same database at once: migrations take an
// advisory lock, so one applies each step and the others find it applied.
func OpenPostgres(ctx context.Context, dsn string, opts Options) (*Store, error) {
	name := RedactURL(dsn)
	if _, err := pgconn.ParseConfig(dsn); err != nil {
		// sql.Open would only say so at the first query.
		return nil, fmt.Errorf("open state database %s: %w", name, redactErr(err, dsn))
	}
	seal, err := newSealer(opts.StateKey)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", name, redactErr(err, dsn))
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	s := newStore(db, db, postgresDialect(), opts, seal)
	s.dsn = dsn
	if err := db.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open state database %s: %w", name, redactErr(err, dsn))
	}
	if err := s.ready(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("state database %s: %w", name, err)
	}
	return s, nil
}

// redactErr keeps a password in dsn out of an error's text.
func redactErr(err error, dsn string) error {
	u, perr := url.Parse(dsn)
	if perr != nil || u.User == nil {
		return err
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
}
