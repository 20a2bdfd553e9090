package metastore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// sealPrefix starts a host private key stored encrypted with the state key: the rest is the
// base64 of a 12-byte nonce and the AES-256-GCM ciphertext of the key, sealed with the server and
// host key IDs as additional data (a sealed key copied to another row does not open).
const sealPrefix = "transferd-sealed:v1:"

// StateKeySize is the length of a state key: AES-256.
const StateKeySize = 32

// ParseStateKey reads a state key: 32 bytes written as 64 hexadecimal digits or in base64
// (openssl rand -hex 32; head -c 32 /dev/urandom | base64), surrounding white space ignored.
func ParseStateKey(text []byte) ([]byte, error) {
	s := strings.TrimSpace(string(text))
	if k, err := hex.DecodeString(s); err == nil && len(k) == StateKeySize {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && len(k) == StateKeySize {
		return k, nil
	}
	return nil, fmt.Errorf("a state key is %d bytes written as 64 hexadecimal digits or in base64 (make one with: openssl rand -hex 32)", StateKeySize)
}

// sealer encrypts host private keys with the state key. A nil sealer stores them as they are.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if key == nil {
		return nil, nil
	}
	if len(key) != StateKeySize {
		return nil, fmt.Errorf("state key: %d bytes, want %d", len(key), StateKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead}, nil
}

func sealAAD(serverID, hostKeyID string) []byte { return []byte(serverID + "/" + hostKeyID) }

// seal returns what the store keeps of a host private key.
func (k *sealer) seal(serverID, hostKeyID string, private []byte) string {
	if k == nil {
		return string(private)
	}
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(private)+k.aead.Overhead())
	rand.Read(nonce)
	out := k.aead.Seal(nonce, nonce, private, sealAAD(serverID, hostKeyID))
	return sealPrefix + base64.StdEncoding.EncodeToString(out)
}

// open returns the host private key the store keeps as stored.
func (k *sealer) open(serverID, hostKeyID, stored string) ([]byte, error) {
	b64, sealed := strings.CutPrefix(stored, sealPrefix)
	if !sealed {
		return []byte(stored), nil
	}
	if k == nil {
		return nil, fmt.Errorf("host key %s of server %s is encrypted with a state key, and transferd was not given one (--state-key-file or TRANSFERD_STATE_KEY)", hostKeyID, serverID)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < k.aead.NonceSize() {
		return nil, fmt.Errorf("host key %s of server %s: the encrypted key is damaged", hostKeyID, serverID)
	}
	private, err := k.aead.Open(nil, raw[:k.aead.NonceSize()], raw[k.aead.NonceSize():], sealAAD(serverID, hostKeyID))
	if err != nil {
		return nil, fmt.Errorf("host key %s of server %s does not open with the state key transferd was given: another key encrypted it, or it was altered", hostKeyID, serverID)
	}
	return private, nil
}

// sealStored encrypts, with the state key, the host private keys stored in the clear (by a
// transferd that had no state key), so that a copy of the database no longer holds them.
func (s *Store) sealStored(ctx context.Context) (int, error) {
	if s.seal == nil {
		return 0, nil
	}
	n := 0
	err := s.Exclusive(ctx, func(tx *Store) error {
		r := runner{tx.tx, &tx.d}
		rows, err := r.query(ctx, `SELECT server_id, host_key_id, private_key FROM host_keys`)
		if err != nil {
			return err
		}
		type clear struct{ server, id, private string }
		var todo []clear
		for rows.Next() {
			var c clear
			if err := rows.Scan(&c.server, &c.id, &c.private); err != nil {
				rows.Close()
				return err
			}
			if !strings.HasPrefix(c.private, sealPrefix) {
				todo = append(todo, c)
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, c := range todo {
			if _, err := r.exec(ctx, `UPDATE host_keys SET private_key = ? WHERE server_id = ? AND host_key_id = ?`,
				s.seal.seal(c.server, c.id, []byte(c.private)), c.server, c.id); err != nil {
				return err
			}
		}
		n = len(todo)
		return nil
	})
	return n, err
}
