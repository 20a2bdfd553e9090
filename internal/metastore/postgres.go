package metastore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

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
