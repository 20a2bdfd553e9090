// Package metastore keeps transferd's state — servers, host keys, users, their SSH keys and tags —
// in SQLite (the embedded default) or PostgreSQL (shared by several transferd processes), with
// versioned migrations.
//
// The SQL is written once, in a subset both databases speak: TEXT, INTEGER and BIGINT columns,
// timestamps as fixed-width RFC 3339 text in UTC, ? placeholders that a dialect rebinds, and
// INSERT … ON CONFLICT for upserts. What differs between the databases (driver, DSN, placeholder
// syntax, how a unique violation looks) lives in a dialect value; see sqlite.go and postgres.go.
//
// Errors the caller acts on are *transfer.Error values: KindNotFound and KindExists with
// ResourceType (Server, User, HostKey, SshPublicKey), Resource (the ID or name) and an AWS-like
// message. Anything else is an internal error.
package metastore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/transferd/transferd/internal/transfer"
)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Account shapes the ARNs that tags are stored under (server, user and host key ARNs). Zero
	// fields take transfer's defaults. Changing it between runs orphans the tags stored under the
	// old ARNs.
	Account transfer.Account
	// Now returns the current time. It stamps CreatedAt and DateImported when a record arrives
	// without them, and applied_at of migrations. Nil means time.Now.
	Now func() time.Time
	// StateKey, when set (StateKeySize bytes, see ParseStateKey), encrypts the host private keys
	// the store keeps (AES-256-GCM); those stored in the clear before are encrypted when the store
	// opens. Without it, keys are stored as they are, and encrypted ones cannot be read.
	StateKey []byte
}

// Store is transferd's persistent state. It is safe for concurrent use.
type Store struct {
	// w takes every write, in transactions; r serves reads. In SQLite they are two pools over one
	// file (one writer connection, several readers, as WAL allows); other databases can use one
	// pool for both.
	w, r *sql.DB
	d    dialect
	acct transfer.Account
	now  func() time.Time
	seal *sealer // nil: host private keys stored in the clear
	// dsn is the PostgreSQL database's, for connections of its own (Watch); "" for SQLite.
	dsn string
	// sealedAtOpen counts the host keys found in the clear and encrypted when the store opened.
	sealedAtOpen int
	// tx, when set, is the transaction of Atomically that every read and write of this Store
	// joins.
	tx *sql.Tx
}

func newStore(w, r *sql.DB, d dialect, opts Options, seal *sealer) *Store {
	s := &Store{w: w, r: r, d: d, acct: opts.Account.WithDefaults(), now: opts.Now, seal: seal}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// ready brings a newly opened store's schema up to date and encrypts the host keys stored in
// the clear when it has a state key.
func (s *Store) ready(ctx context.Context) error {
	if err := s.migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	n, err := s.sealStored(ctx)
	if err != nil {
		return fmt.Errorf("encrypting the host keys stored in the clear: %w", err)
	}
	s.sealedAtOpen = n
	return nil
}

// SealedAtOpen returns how many host keys stored in the clear the store encrypted with its state
// key when it opened.
func (s *Store) SealedAtOpen() int { return s.sealedAtOpen }

// Close closes the database.
func (s *Store) Close() error {
	err := s.w.Close()
	if s.r != s.w {
		if rerr := s.r.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

// dialect holds what differs between the SQL databases the store runs on.
type dialect struct {
	// rebind rewrites the ? placeholders of a query into the database's own.
	rebind func(query string) string
	// isUniqueViolation reports whether err says a unique or primary key constraint was violated.
	isUniqueViolation func(err error) bool
	// schema adapts a statement of a migration to the database (nil: as written).
	schema func(stmt string) string
	// exclusive, run first in a transaction, makes it wait for and then keep out every other
	// transaction that runs it, in any process ("": the database's write transactions already
	// exclude each other, as SQLite's BEGIN IMMEDIATE does).
	exclusive string
}

// rebindDollar turns ? placeholders into $1, $2, …, as PostgreSQL wants them. The store's queries
// hold no ? inside string literals or identifiers, so no quoting is parsed.
func rebindDollar(query string) string {
	out := make([]byte, 0, len(query)+8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			out = append(out, query[i])
			continue
		}
		n++
		out = append(out, '$')
		out = strconv.AppendInt(out, int64(n), 10)
	}
	return string(out)
}

// querier is what *sql.Tx and *sql.DB have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// runner runs queries written with ? placeholders through a dialect.
type runner struct {
	q querier
	d *dialect
}

func (r runner) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.q.ExecContext(ctx, r.d.rebind(query), args...)
}

func (r runner) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.q.QueryContext(ctx, r.d.rebind(query), args...)
}

func (r runner) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return r.q.QueryRowContext(ctx, r.d.rebind(query), args...)
}

// affected returns how many rows a statement changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Atomically runs fn with a Store whose reads and writes all belong to one transaction, which is
// committed when fn returns nil and rolled back otherwise: either every change fn makes is kept,
// or none (a panic in fn rolls back too). Reads through the Store fn gets see its own changes;
// other users of s see none of them before the commit, and their writes wait for it. fn must not
// use s itself for writes, which would wait for fn. Atomically on the Store fn gets just runs its
// argument as part of the same transaction: it is all or nothing with the whole.
func (s *Store) Atomically(ctx context.Context, fn func(tx *Store) error) error {
	if s.tx != nil {
		return fn(s)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback() // fn panicked: the one writer connection must not stay taken
		}
	}()
	ts := *s
	ts.tx = tx
	err = fn(&ts)
	done = true
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Exclusive is Atomically in a transaction that also excludes every other Exclusive one, in this
// process or in another sharing the database: a check of the state and the change it allows
// happen with no other such change between them. (SQLite's write transactions exclude each other
// already; PostgreSQL's take an advisory lock.)
func (s *Store) Exclusive(ctx context.Context, fn func(tx *Store) error) error {
	return s.Atomically(ctx, func(tx *Store) error {
		if err := tx.lockExclusive(ctx, runner{tx.tx, &tx.d}); err != nil {
			return err
		}
		return fn(tx)
	})
}

// write runs fn in a read-write transaction and commits it when fn returns nil. Within
// Atomically's transaction it runs fn in a savepoint, so that a write that fails leaves nothing
// behind there either (the caller may go on after the error).
func (s *Store) write(ctx context.Context, fn func(r runner) error) error {
	if s.tx != nil {
		if _, err := s.tx.ExecContext(ctx, "SAVEPOINT store_write"); err != nil {
			return err
		}
		if err := fn(runner{s.tx, &s.d}); err != nil {
			_, _ = s.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT store_write")
			_, _ = s.tx.ExecContext(ctx, "RELEASE SAVEPOINT store_write")
			return err
		}
		_, err := s.tx.ExecContext(ctx, "RELEASE SAVEPOINT store_write")
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(runner{tx, &s.d}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// read runs fn in a read-only transaction, so that the queries fn runs see one snapshot.
func (s *Store) read(ctx context.Context, fn func(r runner) error) error {
	if s.tx != nil {
		return fn(runner{s.tx, &s.d})
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	return fn(runner{tx, &s.d})
}

// timeLayout is RFC 3339 with a fixed nine-digit fraction. time.RFC3339Nano drops trailing zeros,
// which would make the text sort out of time order ("…:05Z" after "…:05.1Z"); fixed width in UTC
// sorts as time does, so ORDER BY date_imported works on the text.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q in database: %w", s, err)
	}
	return t.UTC(), nil
}

// stamp returns t, or the store's current time when t is zero.
func (s *Store) stamp(t time.Time) time.Time {
	if t.IsZero() {
		return s.now().UTC().Round(0)
	}
	return t
}

// limitClause returns " LIMIT ?" and appends limit to args when limit is positive; a limit of
// zero or less means no limit.
func limitClause(limit int, args []any) (string, []any) {
	if limit <= 0 {
		return "", args
	}
	return " LIMIT ?", append(args, limit)
}

// Messages of the errors the store returns, as close to Transfer Family's as is known.
const (
	msgUnknownServer  = "Unknown server"
	msgUnknownUser    = "Unknown user"
	msgUnknownHostKey = "Unknown host key"
	msgUnknownKey     = "Unknown SSH public key"
	msgServerExists   = "Server already exists"
	msgUserExists     = "User already exists"
	msgHostKeyExists  = "Host key already exists"
	msgKeyExists      = "SSH public key already exists"
	msgUnknownWflow   = "Unknown workflow"
	msgWorkflowExists = "Workflow already exists"
)

// Resource types of the errors the store returns.
const (
	typeServer  = "Server"
	typeUser    = "User"
	typeHostKey = "HostKey"
	typeKey     = "SshPublicKey"
	typeWflow   = "Workflow"
)

// required returns an invalid-input error when v is empty.
func required(field, v string) error {
	if v == "" {
		return transfer.Invalid(field, "is required")
	}
	return nil
}
