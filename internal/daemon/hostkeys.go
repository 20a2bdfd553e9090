package daemon

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/transfer"
)

// hostKeyBits is the size of the RSA host key every new server gets, as Transfer Family does.
const hostKeyBits = 3072

// newHostKey generates a server's first host key.
func newHostKey(serverID string, now time.Time) (*transfer.HostKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, hostKeyBits)
	if err != nil {
		return nil, fmt.Errorf("generating an RSA-%d host key: %w", hostKeyBits, err)
	}
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		return nil, fmt.Errorf("encoding the host key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the host key: %w", err)
	}
	return &transfer.HostKey{
		ServerID:     serverID,
		HostKeyID:    transfer.NewHostKeyID(),
		Description:  "generated when the server was created",
		Type:         signer.PublicKey().Type(),
		Fingerprint:  ssh.FingerprintSHA256(signer.PublicKey()),
		PrivateKey:   pem.EncodeToMemory(block),
		DateImported: now,
	}, nil
}

// hostSigners parses a server's stored host keys.
func hostSigners(keys []transfer.HostKey) ([]ssh.Signer, error) {
	signers := make([]ssh.Signer, 0, len(keys))
	for _, k := range keys {
		s, err := ssh.ParsePrivateKey(k.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("host key %s of server %s: %w", k.HostKeyID, k.ServerID, err)
		}
		signers = append(signers, s)
	}
	return signers, nil
}

// fingerprint is a host key's SHA256 fingerprint, as ssh-keygen -l prints it.
func fingerprint(s ssh.Signer) string { return ssh.FingerprintSHA256(s.PublicKey()) }
