package negotiate

import "slices"

// Host key types, as ssh.PublicKey.Type returns them.
const (
	KeyTypeRSA = "ssh-rsa"
)

// strictKexServer is the marker golang.org/x/crypto/ssh's server appends to its first key
// exchange list (OpenSSH's strict key exchange, the Terrapin fix).
const strictKexServer = "kex-strict-s-v00@openssh.com"

// ServerAlgorithms are the lists a transferd server is configured with, each in order of
// preference and holding only algorithms this build implements (policy.Support's Offered).
type ServerAlgorithms struct {
	KeyExchanges []string
	Ciphers      []string
	MACs         []string
	// HostKeyAlgorithms are the host key signature algorithms allowed; each host key is offered
	// with those that fit its type.
	HostKeyAlgorithms []string
}

// HostKeyAlgorithms returns the allowed signature algorithms that a host key of keyType makes,
// in the order golang.org/x/crypto/ssh puts them on the wire (for RSA keys rsa-sha2-256,
// rsa-sha2-512, ssh-rsa, whatever the order of allowed; other key types sign with their type's
// one algorithm).
func HostKeyAlgorithms(keyType string, allowed []string) []string {
	var fits []string
	formats := []string{keyType}
	if keyType == KeyTypeRSA {
		formats = []string{"rsa-sha2-256", "rsa-sha2-512", KeyTypeRSA}
	}
	for _, alg := range formats {
		if slices.Contains(allowed, alg) {
			fits = append(fits, alg)
		}
	}
	return fits
}

// ServerOffer returns the first KEXINIT a transferd server sends when configured with a and host
// keys of keyTypes (in the order they are added; a later key of a type already present replaces
// it, and a key none of whose algorithms is allowed is not offered). It mirrors what
// golang.org/x/crypto/ssh does: curve25519-sha256@libssh.org is added after curve25519-sha256
// when missing, the strict key exchange marker ends the key exchange list, the cipher and MAC
// lists serve both directions, and compression is only "none".
func ServerOffer(a ServerAlgorithms, keyTypes []string) *Offer {
	var kexs []string
	for _, k := range a.KeyExchanges {
		kexs = append(kexs, k)
		if k == "curve25519-sha256" && !slices.Contains(a.KeyExchanges, "curve25519-sha256@libssh.org") {
			kexs = append(kexs, "curve25519-sha256@libssh.org")
		}
	}
	kexs = append(kexs, strictKexServer)
	var types []string
	for _, t := range keyTypes {
		if !slices.Contains(types, t) && len(HostKeyAlgorithms(t, a.HostKeyAlgorithms)) > 0 {
			types = append(types, t)
		}
	}
	hostKeys := []string{}
	for _, t := range types {
		hostKeys = append(hostKeys, HostKeyAlgorithms(t, a.HostKeyAlgorithms)...)
	}
	return &Offer{
		KexAlgorithms:                       kexs,
		ServerHostKeyAlgorithms:             hostKeys,
		EncryptionAlgorithmsClientToServer:  slices.Clone(a.Ciphers),
		EncryptionAlgorithmsServerToClient:  slices.Clone(a.Ciphers),
		MACAlgorithmsClientToServer:         slices.Clone(a.MACs),
		MACAlgorithmsServerToClient:         slices.Clone(a.MACs),
		CompressionAlgorithmsClientToServer: []string{"none"},
		CompressionAlgorithmsServerToClient: []string{"none"},
		LanguagesClientToServer:             []string{},
		LanguagesServerToClient:             []string{},
	}
}
