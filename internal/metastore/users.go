package metastore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/transferd/transferd/internal/transfer"
)

const userColumns = `server_id, user_name, role, home_directory_type, home_directory, mappings,
	policy, posix_profile, source`

// mappingJSON is how a home directory mapping is stored; its field names are part of the schema.
type mappingJSON struct {
	Entry  string `json:"entry"`
	Target string `json:"target"`
	Type   string `json:"type,omitempty"`
}

// posixJSON is how a POSIX profile is stored; its field names are part of the schema.
type posixJSON struct {
	UID           uint32   `json:"uid"`
	GID           uint32   `json:"gid"`
	SecondaryGIDs []uint32 `json:"secondary_gids,omitempty"`
}

// CreateUser stores a new user with its SSH public keys and tags, in one transaction. Each key
// needs its SSHPublicKeyID and Fingerprint; a zero DateImported is set to the current time. It
// fails with KindNotFound when the server does not exist and KindExists when the user exists or
// two of its keys have one fingerprint.
func (s *Store) CreateUser(ctx context.Context, u *transfer.User) error {
	if err := required("UserName", u.UserName); err != nil {
		return err
	}
	mappings, posix, err := encodeHome(u)
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.UserName, err)
	}
	var keys []transfer.SSHPublicKey
	if len(u.SSHPublicKeys) > 0 {
		keys = make([]transfer.SSHPublicKey, len(u.SSHPublicKeys))
	}
	seen := make(map[string]string, len(keys))
	for i, k := range u.SSHPublicKeys {
		if err := checkKey(fmt.Sprintf("SshPublicKeys[%d]", i), k); err != nil {
			return err
		}
		if other, ok := seen[k.Fingerprint]; ok {
			return transfer.Exists(typeKey, other, msgKeyExists)
		}
		seen[k.Fingerprint] = k.SSHPublicKeyID
		k.DateImported = s.stamp(k.DateImported)
		keys[i] = k
	}
	err = s.write(ctx, func(r runner) error {
		if err := requireServer(ctx, r, u.ServerID); err != nil {
			return err
		}
		var n int
		if err := r.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE server_id = ? AND user_name = ?`,
			u.ServerID, u.UserName).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return transfer.Exists(typeUser, u.UserName, msgUserExists)
		}
		_, err := r.exec(ctx, `INSERT INTO users (`+userColumns+`, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ServerID, u.UserName, u.Role, u.HomeDirectoryType, u.HomeDirectory, mappings,
			u.Policy, posix, u.Source, formatTime(s.now()))
		if s.d.isUniqueViolation(err) {
			return transfer.Exists(typeUser, u.UserName, msgUserExists)
		}
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := s.insertKey(ctx, r, u.ServerID, u.UserName, k); err != nil {
				return err
			}
		}
		return upsertTags(ctx, r, s.acct.UserARN(u.ServerID, u.UserName), u.Tags)
	})
	if err != nil {
		return wrapInternal(err, "create user %s on server %s", u.UserName, u.ServerID)
	}
	u.SSHPublicKeys = keys
	return nil
}

// GetUser returns a user with its SSH public keys (oldest first) and tags.
func (s *Store) GetUser(ctx context.Context, serverID, userName string) (*transfer.User, error) {
	var u *transfer.User
	err := s.read(ctx, func(r runner) error {
		var err error
		u, err = scanUser(r.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE server_id = ? AND user_name = ?`,
			serverID, userName))
		if errors.Is(err, sql.ErrNoRows) {
			return userNotFound(ctx, r, serverID, userName)
		}
		if err != nil {
			return err
		}
		rows, err := r.query(ctx, `SELECT `+keyColumns+` FROM ssh_public_keys WHERE server_id = ? AND user_name = ?
			ORDER BY date_imported, ssh_public_key_id`, serverID, userName)
		if err != nil {
			return err
		}
		err = scanKeys(rows, func(_ string, k transfer.SSHPublicKey) { u.SSHPublicKeys = append(u.SSHPublicKeys, k) })
		if err != nil {
			return err
		}
		u.Tags, err = listTags(ctx, r, s.acct.UserARN(serverID, userName))
		return err
	})
	if err != nil {
		return nil, wrapInternal(err, "get user %s of server %s", userName, serverID)
	}
	return u, nil
}

// UpdateUser replaces a user's role, home directory type, home directory, mappings, policy and
// POSIX profile. Keys, tags and source stay as they are.
func (s *Store) UpdateUser(ctx context.Context, u *transfer.User) error {
	mappings, posix, err := encodeHome(u)
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.UserName, err)
	}
	err = s.write(ctx, func(r runner) error {
		n, err := affected(r.exec(ctx, `UPDATE users SET role = ?, home_directory_type = ?, home_directory = ?,
			mappings = ?, policy = ?, posix_profile = ? WHERE server_id = ? AND user_name = ?`,
			u.Role, u.HomeDirectoryType, u.HomeDirectory, mappings, u.Policy, posix, u.ServerID, u.UserName))
		if err != nil {
			return err
		}
		if n == 0 {
			return userNotFound(ctx, r, u.ServerID, u.UserName)
		}
		return nil
	})
	return wrapInternal(err, "update user %s of server %s", u.UserName, u.ServerID)
}

// DeleteUser deletes a user with its SSH public keys and tags.
func (s *Store) DeleteUser(ctx context.Context, serverID, userName string) error {
	err := s.write(ctx, func(r runner) error {
		n, err := affected(r.exec(ctx, `DELETE FROM users WHERE server_id = ? AND user_name = ?`, serverID, userName))
		if err != nil {
			return err
		}
		if n == 0 {
			return userNotFound(ctx, r, serverID, userName)
		}
		_, err = r.exec(ctx, `DELETE FROM tags WHERE arn = ?`, s.acct.UserARN(serverID, userName))
		return err
	})
	return wrapInternal(err, "delete user %s of server %s", userName, serverID)
}

// ListUsers returns up to limit users of a server whose names sort after afterName, in name
// order, each with its SSH public keys; a limit of zero or less returns them all. Tags are not
// filled in: ListUsers does not show them.
func (s *Store) ListUsers(ctx context.Context, serverID, afterName string, limit int) ([]transfer.User, error) {
	var out []transfer.User
	err := s.read(ctx, func(r runner) error {
		if err := requireServer(ctx, r, serverID); err != nil {
			return err
		}
		lim, args := limitClause(limit, []any{serverID, afterName})
		rows, err := r.query(ctx, `SELECT `+userColumns+` FROM users WHERE server_id = ? AND user_name > ?
			ORDER BY user_name`+lim, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			out = append(out, *u)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		// The keys of the whole page in one query: the page is the name range (afterName, last].
		index := make(map[string]int, len(out))
		for i, u := range out {
			index[u.UserName] = i
		}
		keyRows, err := r.query(ctx, `SELECT `+keyColumns+` FROM ssh_public_keys
			WHERE server_id = ? AND user_name > ? AND user_name <= ?
			ORDER BY user_name, date_imported, ssh_public_key_id`,
			serverID, afterName, out[len(out)-1].UserName)
		if err != nil {
			return err
		}
		return scanKeys(keyRows, func(userName string, k transfer.SSHPublicKey) {
			if i, ok := index[userName]; ok {
				out[i].SSHPublicKeys = append(out[i].SSHPublicKeys, k)
			}
		})
	})
	if err != nil {
		return nil, wrapInternal(err, "list users of server %s", serverID)
	}
	return out, nil
}

// userNotFound returns the KindNotFound error for a user that is missing: about the server when
// that is missing too.
func userNotFound(ctx context.Context, r runner, serverID, userName string) error {
	if err := requireServer(ctx, r, serverID); err != nil {
		return err
	}
	return transfer.NotFound(typeUser, userName, msgUnknownUser)
}

// encodeHome returns the stored forms of a user's mappings and POSIX profile (NULL when absent).
func encodeHome(u *transfer.User) (mappings string, posix sql.NullString, err error) {
	ms := make([]mappingJSON, len(u.HomeDirectoryMappings))
	for i, m := range u.HomeDirectoryMappings {
		ms[i] = mappingJSON(m)
	}
	if mappings, err = marshalList(ms); err != nil {
		return "", posix, err
	}
	if p := u.PosixProfile; p != nil {
		b, err := json.Marshal(posixJSON{UID: p.UID, GID: p.GID, SecondaryGIDs: p.SecondaryGIDs})
		if err != nil {
			return "", posix, err
		}
		posix = sql.NullString{String: string(b), Valid: true}
	}
	return mappings, posix, nil
}

func scanUser(sc scanner) (*transfer.User, error) {
	var u transfer.User
	var mappings string
	var posix sql.NullString
	if err := sc.Scan(&u.ServerID, &u.UserName, &u.Role, &u.HomeDirectoryType, &u.HomeDirectory, &mappings,
		&u.Policy, &posix, &u.Source); err != nil {
		return nil, err
	}
	ms, err := unmarshalList[mappingJSON](mappings)
	if err != nil {
		return nil, fmt.Errorf("user %s mappings: %w", u.UserName, err)
	}
	for _, m := range ms {
		u.HomeDirectoryMappings = append(u.HomeDirectoryMappings, transfer.Mapping(m))
	}
	if posix.Valid {
		var p posixJSON
		if err := json.Unmarshal([]byte(posix.String), &p); err != nil {
			return nil, fmt.Errorf("user %s POSIX profile: %w", u.UserName, err)
		}
		u.PosixProfile = &transfer.PosixProfile{UID: p.UID, GID: p.GID, SecondaryGIDs: p.SecondaryGIDs}
	}
	return &u, nil
}
