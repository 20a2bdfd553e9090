package metastore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/transferd/transferd/internal/transfer"
)

const hostKeyColumns = `server_id, host_key_id, description, type, fingerprint, private_key, date_imported`

// AddHostKey stores a server's host key. A zero DateImported is set to the current time. It fails
// with KindNotFound when the server does not exist and KindExists when the server already has a
// key with the same fingerprint (or the ID is taken).
func (s *Store) AddHostKey(ctx context.Context, hk *transfer.HostKey) error {
	if err := required("HostKeyId", hk.HostKeyID); err != nil {
		return err
	}
	if err := required("HostKeyFingerprint", hk.Fingerprint); err != nil {
		return err
	}
	imported := s.stamp(hk.DateImported)
	err := s.write(ctx, func(r runner) error {
		if err := requireServer(ctx, r, hk.ServerID); err != nil {
			return err
		}
		var other string
		err := r.queryRow(ctx, `SELECT host_key_id FROM host_keys WHERE (server_id = ? AND fingerprint = ?) OR host_key_id = ?`,
			hk.ServerID, hk.Fingerprint, hk.HostKeyID).Scan(&other)
		switch {
		case err == nil:
			return transfer.Exists(typeHostKey, other, msgHostKeyExists)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = r.exec(ctx, `INSERT INTO host_keys (`+hostKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			hk.ServerID, hk.HostKeyID, hk.Description, hk.Type, hk.Fingerprint, s.seal.seal(hk.ServerID, hk.HostKeyID, hk.PrivateKey), formatTime(imported))
		if s.d.isUniqueViolation(err) {
			return transfer.Exists(typeHostKey, hk.HostKeyID, msgHostKeyExists)
		}
		return err
	})
	if err != nil {
		return wrapInternal(err, "add host key %s to server %s", hk.HostKeyID, hk.ServerID)
	}
	hk.DateImported = imported
	return nil
}

// ListHostKeys returns a server's host keys, private keys included, oldest first.
func (s *Store) ListHostKeys(ctx context.Context, serverID string) ([]transfer.HostKey, error) {
	var out []transfer.HostKey
	err := s.read(ctx, func(r runner) error {
		if err := requireServer(ctx, r, serverID); err != nil {
			return err
		}
		rows, err := r.query(ctx, `SELECT `+hostKeyColumns+` FROM host_keys WHERE server_id = ?
			ORDER BY date_imported, host_key_id`, serverID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			hk, err := s.scanHostKey(rows)
			if err != nil {
				return err
			}
			out = append(out, *hk)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrapInternal(err, "list host keys of server %s", serverID)
	}
	return out, nil
}

// GetHostKey returns one host key of a server.
func (s *Store) GetHostKey(ctx context.Context, serverID, hostKeyID string) (*transfer.HostKey, error) {
	var hk *transfer.HostKey
	err := s.read(ctx, func(r runner) error {
		var err error
		hk, err = s.scanHostKey(r.queryRow(ctx, `SELECT `+hostKeyColumns+` FROM host_keys
			WHERE server_id = ? AND host_key_id = ?`, serverID, hostKeyID))
		if errors.Is(err, sql.ErrNoRows) {
			return hostKeyNotFound(ctx, r, serverID, hostKeyID)
		}
		return err
	})
	if err != nil {
		return nil, wrapInternal(err, "get host key %s of server %s", hostKeyID, serverID)
	}
	return hk, nil
}

// UpdateHostKeyDescription sets a host key's description.
func (s *Store) UpdateHostKeyDescription(ctx context.Context, serverID, hostKeyID, description string) error {
	err := s.write(ctx, func(r runner) error {
		n, err := affected(r.exec(ctx, `UPDATE host_keys SET description = ? WHERE server_id = ? AND host_key_id = ?`,
			description, serverID, hostKeyID))
		if err != nil {
			return err
		}
		if n == 0 {
			return hostKeyNotFound(ctx, r, serverID, hostKeyID)
		}
		return nil
	})
	return wrapInternal(err, "update host key %s of server %s", hostKeyID, serverID)
}

// DeleteHostKey deletes a host key and its tags.
func (s *Store) DeleteHostKey(ctx context.Context, serverID, hostKeyID string) error {
	err := s.write(ctx, func(r runner) error {
		n, err := affected(r.exec(ctx, `DELETE FROM host_keys WHERE server_id = ? AND host_key_id = ?`, serverID, hostKeyID))
		if err != nil {
			return err
		}
		if n == 0 {
			return hostKeyNotFound(ctx, r, serverID, hostKeyID)
		}
		_, err = r.exec(ctx, `DELETE FROM tags WHERE arn = ?`, s.acct.HostKeyARN(serverID, hostKeyID))
		return err
	})
	return wrapInternal(err, "delete host key %s of server %s", hostKeyID, serverID)
}

// hostKeyNotFound returns the KindNotFound error for a host key that is missing: about the
// server when that is missing too.
func hostKeyNotFound(ctx context.Context, r runner, serverID, hostKeyID string) error {
	if err := requireServer(ctx, r, serverID); err != nil {
		return err
	}
	return transfer.NotFound(typeHostKey, hostKeyID, msgUnknownHostKey)
}

func (s *Store) scanHostKey(sc scanner) (*transfer.HostKey, error) {
	var hk transfer.HostKey
	var private, imported string
	if err := sc.Scan(&hk.ServerID, &hk.HostKeyID, &hk.Description, &hk.Type, &hk.Fingerprint, &private, &imported); err != nil {
		return nil, err
	}
	var err error
	if hk.PrivateKey, err = s.seal.open(hk.ServerID, hk.HostKeyID, private); err != nil {
		return nil, err
	}
	if hk.DateImported, err = parseTime(imported); err != nil {
		return nil, fmt.Errorf("host key %s: %w", hk.HostKeyID, err)
	}
	return &hk, nil
}
