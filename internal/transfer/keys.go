package transfer

import (
	"crypto/rsa"
	"strings"

	"golang.org/x/crypto/ssh"
)

// User public key types Transfer Family accepts.
var userKeyTypes = map[string]bool{
	ssh.KeyAlgoED25519:  true,
	ssh.KeyAlgoECDSA256: true,
	ssh.KeyAlgoECDSA384: true,
	ssh.KeyAlgoECDSA521: true,
	ssh.KeyAlgoRSA:      true,
}

// MinRSABits is the smallest RSA key accepted for users and host keys.
const MinRSABits = 2048

// optionNames lists authorized_keys options by name (from, command ...), without their values,
// which may be long or secret.
func optionNames(opts []string) string {
	names := make([]string, len(opts))
	for i, o := range opts {
		name, _, _ := strings.Cut(o, "=")
		names[i] = strings.TrimSpace(name)
		if len(names[i]) > 40 {
			names[i] = names[i][:40] + "..."
		}
	}
	return strings.Join(names, ", ")
}

// HasKeyOptions reports whether a stored key body carries authorized_keys options: keys stored
// before ParseSSHPublicKey refused them may. Such a key cannot log in.
func HasKeyOptions(body string) bool {
	_, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(body))
	return err == nil && len(opts) > 0
}

// ParseSSHPublicKey checks an authorized_keys line (type, base64 body, optional comment; no options) and
// returns it as an SSHPublicKey with its fingerprint, plus the parsed key. Only ssh-ed25519,
// ecdsa-sha2-nistp256/384/521 and ssh-rsa (at least 2048 bits; signing with rsa-sha2-256/512, or
// with ssh-rsa under the legacy security policies) are accepted, as in Transfer Family.
func ParseSSHPublicKey(field, body string) (SSHPublicKey, ssh.PublicKey, error) {
	body = strings.TrimSpace(body)
	if body == "" {
		return SSHPublicKey{}, nil, Invalid(field, "is empty")
	}
	if len(body) > MaxKeyBodyLength {
		return SSHPublicKey{}, nil, Invalid(field, "is %d characters long; at most %d are allowed", len(body), MaxKeyBodyLength)
	}
	if strings.ContainsAny(body, "\r\n") {
		return SSHPublicKey{}, nil, Invalid(field, "must be a single line: type, base64 key and an optional comment")
	}
	pub, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(body))
	if err != nil {
		return SSHPublicKey{}, nil, Invalid(field, "is not an SSH public key (%v); expected e.g. \"ssh-ed25519 AAAA... comment\"", err)
	}
	if len(opts) > 0 {
		return SSHPublicKey{}, nil, Invalid(field, "has authorized_keys options (%s); a Transfer Family key is only a type, a base64 key and an optional comment, and transferd does not enforce options: remove them", optionNames(opts))
	}
	if !userKeyTypes[pub.Type()] {
		return SSHPublicKey{}, nil, Invalid(field, "key type %s is not supported; use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa", pub.Type())
	}
	if ck, ok := pub.(ssh.CryptoPublicKey); ok {
		if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < MinRSABits {
			return SSHPublicKey{}, nil, Invalid(field, "RSA key has %d bits; at least %d are required", rk.N.BitLen(), MinRSABits)
		}
	}
	return SSHPublicKey{Body: body, Fingerprint: ssh.FingerprintSHA256(pub)}, pub, nil
}
