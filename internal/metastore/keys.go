package metastore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/transferd/transferd/internal/transfer"
)

const keyColumns = `user_name, ssh_public_key_id, body, fingerprint, date_imported`

// AddSSHPublicKey stores one more public key of a user. The key needs its SSHPublicKeyID and
// Fingerprint (transfer.ParseSSHPublicKey computes it); a zero DateImported is set to the current
// time. It fails with KindNotFound when the server or user does not exist and KindExists when the
// user already has a key with that fingerprint.
func (s *Store) AddSSHPublicKey(ctx context.Context, serverID, userName string, key transfer.SSHPublicKey) error {
	if err := checkKey("SshPublicKey", key); err != nil {
		return err
	}
	key.DateImported = s.stamp(key.DateImported)
	err := s.write(ctx, func(r runner) error {
		var n int
		if err := r.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE server_id = ? AND user_name = ?`,
			serverID, userName).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return userNotFound(ctx, r, serverID, userName)
		}
		return s.insertKey(ctx, r, serverID, userName, key)
	})
	return wrapInternal(err, "add SSH public key %s to user %s of server %s", key.SSHPublicKeyID, userName, serverID)
}

// DeleteSSHPublicKey deletes one public key of a user.
func (s *Store) DeleteSSHPublicKey(ctx context.Context, serverID, userName, keyID string) error {
	err := s.write(ctx, func(r runner) error {
		n, err := affected(r.exec(ctx, `DELETE FROM ssh_public_keys
			WHERE server_id = ? AND user_name = ? AND ssh_public_key_id = ?`, serverID, userName, keyID))
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		var users int
		if err := r.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE server_id = ? AND user_name = ?`,
			serverID, userName).Scan(&users); err != nil {
			return err
		}
		if users == 0 {
			return userNotFound(ctx, r, serverID, userName)
		}
		return transfer.NotFound(typeKey, keyID, msgUnknownKey)
	})
	return wrapInternal(err, "delete SSH public key %s of user %s of server %s", keyID, userName, serverID)
}

// insertKey inserts a key of an existing user, refusing a fingerprint the user already has.
func (s *Store) insertKey(ctx context.Context, r runner, serverID, userName string, k transfer.SSHPublicKey) error {
	var other string
	err := r.queryRow(ctx, `SELECT ssh_public_key_id FROM ssh_public_keys
		WHERE (server_id = ? AND user_name = ? AND fingerprint = ?) OR ssh_public_key_id = ?`,
		serverID, userName, k.Fingerprint, k.SSHPublicKeyID).Scan(&other)
	switch {
	case err == nil:
		return transfer.Exists(typeKey, other, msgKeyExists)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	_, err = r.exec(ctx, `INSERT INTO ssh_public_keys (server_id, `+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		serverID, userName, k.SSHPublicKeyID, k.Body, k.Fingerprint, formatTime(k.DateImported))
	if s.d.isUniqueViolation(err) {
		return transfer.Exists(typeKey, k.SSHPublicKeyID, msgKeyExists)
	}
	return err
}

// checkKey checks that a key has what the store needs of it.
func checkKey(field string, k transfer.SSHPublicKey) error {
	if err := required(field+".SshPublicKeyId", k.SSHPublicKeyID); err != nil {
		return err
	}
	if err := required(field+".SshPublicKeyBody", k.Body); err != nil {
		return err
	}
	return required(field+".Fingerprint", k.Fingerprint)
}

// scanKeys reads rows of keyColumns and hands each key with its user's name to add.
func scanKeys(rows *sql.Rows, add func(userName string, k transfer.SSHPublicKey)) error {
	defer rows.Close()
	for rows.Next() {
		var userName, imported string
		var k transfer.SSHPublicKey
		if err := rows.Scan(&userName, &k.SSHPublicKeyID, &k.Body, &k.Fingerprint, &imported); err != nil {
			return err
		}
		var err error
		if k.DateImported, err = parseTime(imported); err != nil {
			return fmt.Errorf("SSH public key %s: %w", k.SSHPublicKeyID, err)
		}
		add(userName, k)
	}
	return rows.Err()
}
