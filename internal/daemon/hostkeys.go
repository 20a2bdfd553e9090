package daemon

import (
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/transfer"
)

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
