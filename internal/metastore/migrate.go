package metastore

import (
	"context"
	"database/sql"
	"fmt"
)

// migration is one step of the schema. Applied steps are recorded in schema_migrations and never
// run again, so a released migration must not change: add a new one instead.
type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations returns the schema's steps in order. The SQL is shared by every dialect: TEXT,
// INTEGER and BIGINT columns, no AUTOINCREMENT, timestamps as text (see timeLayout), JSON as text.
func migrations() []migration {
	return []migration{{
		version: 1,
		name:    "servers, host keys, users, SSH public keys and tags",
		stmts: []string{
			`CREATE TABLE servers (
				server_id TEXT NOT NULL PRIMARY KEY,
				endpoint TEXT NOT NULL DEFAULT '',
				security_policy_name TEXT NOT NULL DEFAULT '',
				pre_auth_banner TEXT NOT NULL DEFAULT '',
				post_auth_banner TEXT NOT NULL DEFAULT '',
				domain TEXT NOT NULL DEFAULT '',
				identity_provider_type TEXT NOT NULL DEFAULT '',
				protocols TEXT NOT NULL DEFAULT '[]',
				set_stat_option TEXT NOT NULL DEFAULT '',
				logging_role TEXT NOT NULL DEFAULT '',
				state TEXT NOT NULL DEFAULT '',
				source TEXT NOT NULL DEFAULT '',
				created_at TEXT NOT NULL
			)`,
			// An endpoint is a listen address: two servers cannot share one. Servers without an
			// endpoint do not conflict.
			`CREATE UNIQUE INDEX servers_endpoint_key ON servers (endpoint) WHERE endpoint <> ''`,
			`CREATE TABLE host_keys (
				host_key_id TEXT NOT NULL PRIMARY KEY,
				server_id TEXT NOT NULL REFERENCES servers (server_id) ON DELETE CASCADE,
				description TEXT NOT NULL DEFAULT '',
				type TEXT NOT NULL DEFAULT '',
				fingerprint TEXT NOT NULL,
				private_key TEXT NOT NULL,
				date_imported TEXT NOT NULL,
				UNIQUE (server_id, fingerprint)
			)`,
			`CREATE TABLE users (
				server_id TEXT NOT NULL REFERENCES servers (server_id) ON DELETE CASCADE,
				user_name TEXT NOT NULL,
				role TEXT NOT NULL DEFAULT '',
				home_directory_type TEXT NOT NULL DEFAULT '',
				home_directory TEXT NOT NULL DEFAULT '',
				mappings TEXT NOT NULL DEFAULT '[]',
				policy TEXT NOT NULL DEFAULT '',
				posix_profile TEXT,
				source TEXT NOT NULL DEFAULT '',
				created_at TEXT NOT NULL,
				PRIMARY KEY (server_id, user_name)
			)`,
			`CREATE TABLE ssh_public_keys (
				ssh_public_key_id TEXT NOT NULL PRIMARY KEY,
				server_id TEXT NOT NULL,
				user_name TEXT NOT NULL,
				body TEXT NOT NULL,
				fingerprint TEXT NOT NULL,
				date_imported TEXT NOT NULL,
				FOREIGN KEY (server_id, user_name) REFERENCES users (server_id, user_name) ON DELETE CASCADE,
				UNIQUE (server_id, user_name, fingerprint)
			)`,
			`CREATE TABLE tags (
				arn TEXT NOT NULL,
				key TEXT NOT NULL,
				value TEXT NOT NULL,
				PRIMARY KEY (arn, key)
			)`,
		},
	}, {
		version: 2,
		name:    "identity provider details of servers",
		stmts: []string{
			`ALTER TABLE servers ADD COLUMN identity_provider_details TEXT NOT NULL DEFAULT '{}'`,
		},
	}, {
		version: 3,
		name:    "why a server is in its state",
		stmts: []string{
			`ALTER TABLE servers ADD COLUMN state_reason TEXT NOT NULL DEFAULT ''`,
		},
	}, {
		version: 4,
		name:    "no stored copies of the tags transferd derives",
		stmts: []string{
			// TagResource once stored any key; these are now derived (transfer.DerivedTag), shown
			// from the state, and could neither be seen nor removed.
			`DELETE FROM tags WHERE key IN ('transferd:Endpoint', 'transferd:ManagedBy', 'transferd:StateReason')`,
		},
	}, {
		version: 5,
		name:    "the processes sharing the store, and the multipart uploads they have in progress",
		stmts: []string{
			`CREATE TABLE nodes (
				instance TEXT NOT NULL PRIMARY KEY,
				name TEXT NOT NULL DEFAULT '',
				started_at TEXT NOT NULL,
				seen_at TEXT NOT NULL
			)`,
			// An upload is recorded (by its token) before S3 creates it, and its upload_id is
			// filled in after: a process may die between the two.
			`CREATE TABLE uploads (
				token TEXT NOT NULL PRIMARY KEY,
				upload_id TEXT NOT NULL DEFAULT '',
				bucket TEXT NOT NULL,
				object_key TEXT NOT NULL,
				instance TEXT NOT NULL,
				started_at TEXT NOT NULL
			)`,
			`CREATE INDEX uploads_instance ON uploads (instance)`,
		},
	}, {
		version: 6,
		name:    "managed workflows",
		stmts: []string{
			// Steps and OnExceptionSteps are JSON with the API model's member names.
			`CREATE TABLE workflows (
				workflow_id TEXT NOT NULL PRIMARY KEY,
				description TEXT NOT NULL DEFAULT '',
				steps TEXT NOT NULL DEFAULT '[]',
				on_exception_steps TEXT NOT NULL DEFAULT '[]',
				source TEXT NOT NULL DEFAULT '',
				created_at TEXT NOT NULL
			)`,
		},
	}, {
		version: 7,
		name:    "the workflows servers run, and their executions",
		stmts: []string{
			`ALTER TABLE servers ADD COLUMN workflow_details TEXT NOT NULL DEFAULT '{}'`,
			// An execution is recorded before the client hears its upload closed, and updated
			// after each step; instance is the process running it ('' when none does).
			`CREATE TABLE executions (
				execution_id TEXT NOT NULL PRIMARY KEY,
				workflow_id TEXT NOT NULL,
				trigger_name TEXT NOT NULL,
				execution_role TEXT NOT NULL DEFAULT '',
				server_id TEXT NOT NULL,
				user_name TEXT NOT NULL DEFAULT '',
				session_id TEXT NOT NULL DEFAULT '',
				domain TEXT NOT NULL DEFAULT '',
				file TEXT NOT NULL,
				status TEXT NOT NULL,
				results TEXT NOT NULL DEFAULT '{}',
				custom TEXT NOT NULL DEFAULT '',
				definition TEXT NOT NULL DEFAULT '',
				instance TEXT NOT NULL DEFAULT '',
				created_at TEXT NOT NULL,
				updated_at TEXT NOT NULL
			)`,
			`CREATE INDEX executions_workflow ON executions (workflow_id, status)`,
			`CREATE INDEX executions_instance ON executions (instance, status)`,
			// The tags TAG steps set on files of storage without object tags (a local directory
			// serving S3-domain servers).
			`CREATE TABLE file_tags (
				bucket TEXT NOT NULL,
				object_key TEXT NOT NULL,
				key TEXT NOT NULL,
				value TEXT NOT NULL,
				PRIMARY KEY (bucket, object_key, key)
			)`,
		},
	}}
}

// migrate creates schema_migrations if needed and applies, in order, each migration it does not
// list, each in its own transaction together with its row in schema_migrations.
func (s *Store) migrate(ctx context.Context) error {
	ms := migrations()
	known := ms[len(ms)-1].version
	err := s.write(ctx, func(r runner) error {
		if err := s.lockExclusive(ctx, r); err != nil {
			return err
		}
		if _, err := r.exec(ctx, s.schemaStmt(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER NOT NULL PRIMARY KEY,
			applied_at TEXT NOT NULL
		)`)); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var latest sql.NullInt64
		if err := r.queryRow(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&latest); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if latest.Valid && latest.Int64 > int64(known) {
			return fmt.Errorf("schema version %d is newer than this transferd knows (%d): upgrade transferd", latest.Int64, known)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range ms {
		err := s.write(ctx, func(r runner) error {
			// Checked inside the transaction, under its lock: another process may have applied it
			// meanwhile.
			if err := s.lockExclusive(ctx, r); err != nil {
				return err
			}
			var n int
			if err := r.queryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range m.stmts {
				if _, err := r.exec(ctx, s.schemaStmt(stmt)); err != nil {
					return err
				}
			}
			_, err := r.exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				m.version, formatTime(s.now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

// schemaStmt adapts a schema statement to the store's database.
func (s *Store) schemaStmt(stmt string) string {
	if s.d.schema == nil {
		return stmt
	}
	return s.d.schema(stmt)
}

// lockExclusive makes the transaction r runs in exclusive (see dialect.exclusive).
func (s *Store) lockExclusive(ctx context.Context, r runner) error {
	if s.d.exclusive == "" {
		return nil
	}
	_, err := r.exec(ctx, s.d.exclusive)
	return err
}
