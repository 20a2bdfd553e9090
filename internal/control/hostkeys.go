package control

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/transfer"
)

// Host key limits: the size of the key every new server gets (as Transfer Family generates), and
// the API model's limits on HostKeyBody and Description.
const (
	hostKeyBits                 = 3072
	maxHostKeyBodyLength        = 4096
	maxHostKeyDescriptionLength = 200
	generatedHostKeyDescription = "generated when the server was created"
)

// newHostKey generates a server's first host key: RSA, 3072 bits.
func newHostKey(serverID string) (*transfer.HostKey, error) {
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
	hk := hostKeyOf(serverID, signer, pem.EncodeToMemory(block))
	hk.Description = generatedHostKeyDescription
	return hk, nil
}

// parseHostKey checks a private host key given in PEM or OpenSSH form: not encrypted, and RSA of
// at least 2048 bits, ECDSA (P-256, P-384 or P-521) or ED25519, as Transfer Family accepts. field
// names the request member (HostKey or HostKeyBody).
func parseHostKey(field, serverID, body string) (*transfer.HostKey, error) {
	body = strings.TrimSpace(body)
	switch {
	case body == "":
		return nil, transfer.Invalid(field, "is empty")
	case len(body) > maxHostKeyBodyLength:
		return nil, transfer.Invalid(field, "is %d characters long; at most %d are allowed", len(body), maxHostKeyBodyLength)
	}
	signer, err := ssh.ParsePrivateKey([]byte(body))
	if _, ok := errors.AsType[*ssh.PassphraseMissingError](err); ok {
		return nil, transfer.Invalid(field, "is encrypted with a passphrase; give the key without one (ssh-keygen -p -N '' -f KEYFILE removes it)")
	}
	if err != nil {
		return nil, transfer.Invalid(field, "is not a private key in PEM or OpenSSH form (%v); expected e.g. the contents of a file ssh-keygen -t ed25519 wrote", err)
	}
	pub := signer.PublicKey()
	switch pub.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
	case ssh.KeyAlgoRSA:
		if ck, ok := pub.(ssh.CryptoPublicKey); ok {
			if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < transfer.MinRSABits {
				return nil, transfer.Invalid(field, "RSA key has %d bits; at least %d are required", rk.N.BitLen(), transfer.MinRSABits)
			}
		}
	default:
		return nil, transfer.Invalid(field, "key type %s is not supported; use RSA (at least %d bits), ECDSA or ED25519", pub.Type(), transfer.MinRSABits)
	}
	return hostKeyOf(serverID, signer, []byte(body+"\n")), nil
}

func hostKeyOf(serverID string, signer ssh.Signer, private []byte) *transfer.HostKey {
	return &transfer.HostKey{
		ServerID:    serverID,
		HostKeyID:   transfer.NewHostKeyID(),
		Type:        signer.PublicKey().Type(),
		Fingerprint: ssh.FingerprintSHA256(signer.PublicKey()),
		PrivateKey:  private,
	}
}

// replaceHostKey adds hk to its server in place of the server's oldest host key of the same type,
// if it has one: it takes that key's import date, so it is the one served (the oldest of its type)
// rather than a staged newer key of that type. A key the server has already is left as it is.
func (s *Service) replaceHostKey(ctx context.Context, hk *transfer.HostKey) error {
	keys, err := s.store.ListHostKeys(ctx, hk.ServerID)
	if err != nil {
		return err
	}
	var old *transfer.HostKey
	for i := range keys {
		switch {
		case keys[i].Fingerprint == hk.Fingerprint:
			return nil
		case keys[i].Type == hk.Type && old == nil:
			old = &keys[i]
		}
	}
	hk.DateImported = s.stamp()
	if old != nil {
		hk.DateImported = old.DateImported
	}
	if err := s.store.AddHostKey(ctx, hk); err != nil {
		return err
	}
	if old == nil {
		return nil
	}
	s.log.Info("replaced host key", "server-id", hk.ServerID, "old", old.Fingerprint, "new", hk.Fingerprint)
	return s.store.DeleteHostKey(ctx, hk.ServerID, old.HostKeyID)
}

// ImportHostKey adds a private host key to a server, with a description of at most 200
// characters and tags, and returns its ID. The Notifier is told.
func (s *Service) ImportHostKey(ctx context.Context, serverID, body, description string, tags []transfer.Tag) (string, error) {
	if err := checkServerID(serverID); err != nil {
		return "", err
	}
	if err := checkHostKeyDescription(description); err != nil {
		return "", err
	}
	if err := transfer.ValidateTags("Tags", tags, 0); err != nil {
		return "", err
	}
	hk, err := parseHostKey("HostKeyBody", serverID, body)
	if err != nil {
		return "", err
	}
	hk.Description = description
	err = s.exclusive(ctx, func(ts *Service) error { return ts.importHostKey(ctx, hk, tags) })
	if err != nil {
		return "", err
	}
	s.changed(ctx, serverID)
	return hk.HostKeyID, nil
}

func (s *Service) importHostKey(ctx context.Context, hk *transfer.HostKey, tags []transfer.Tag) error {
	keys, err := s.store.ListHostKeys(ctx, hk.ServerID)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Fingerprint == hk.Fingerprint {
			return transfer.Exists(typeHostKey, k.HostKeyID, fmt.Sprintf("Host key already exists (%s)", k.Fingerprint))
		}
	}
	hk.DateImported = s.stamp()
	if err := s.store.AddHostKey(ctx, hk); err != nil {
		return err
	}
	if len(tags) > 0 {
		if err := s.store.TagResource(ctx, s.account.HostKeyARN(hk.ServerID, hk.HostKeyID), tags); err != nil {
			if derr := s.store.DeleteHostKey(ctx, hk.ServerID, hk.HostKeyID); derr != nil {
				s.log.Error("removing a host key whose tags could not be stored", "server-id", hk.ServerID, "host-key-id", hk.HostKeyID, "err", derr)
			}
			return err
		}
	}
	s.log.Info("imported host key", "server-id", hk.ServerID, "host-key-id", hk.HostKeyID, "fingerprint", hk.Fingerprint)
	return nil
}

// DescribeHostKey returns a host key, without its private part, with its ARN and tags.
func (s *Service) DescribeHostKey(ctx context.Context, serverID, hostKeyID string) (*HostKeyDescription, error) {
	if err := checkHostKeyIDs(serverID, hostKeyID); err != nil {
		return nil, err
	}
	hk, err := s.store.GetHostKey(ctx, serverID, hostKeyID)
	if err != nil {
		return nil, err
	}
	arn := s.account.HostKeyARN(serverID, hostKeyID)
	tags, err := s.store.ListTags(ctx, arn)
	if err != nil {
		return nil, err
	}
	hk.PrivateKey = nil
	return &HostKeyDescription{HostKey: *hk, ARN: arn, Tags: tags}, nil
}

// UpdateHostKey sets a host key's description.
func (s *Service) UpdateHostKey(ctx context.Context, serverID, hostKeyID, description string) error {
	if err := checkHostKeyIDs(serverID, hostKeyID); err != nil {
		return err
	}
	if err := checkHostKeyDescription(description); err != nil {
		return err
	}
	return s.store.UpdateHostKeyDescription(ctx, serverID, hostKeyID, description)
}

// DeleteHostKey deletes a host key and its tags. A server's last host key cannot be deleted: a
// server needs one to accept connections. The Notifier is told.
func (s *Service) DeleteHostKey(ctx context.Context, serverID, hostKeyID string) error {
	if err := checkHostKeyIDs(serverID, hostKeyID); err != nil {
		return err
	}
	err := s.exclusive(ctx, func(ts *Service) error { return ts.deleteHostKey(ctx, serverID, hostKeyID) })
	if err != nil {
		return err
	}
	s.changed(ctx, serverID)
	return nil
}

func (s *Service) deleteHostKey(ctx context.Context, serverID, hostKeyID string) error {
	keys, err := s.store.ListHostKeys(ctx, serverID)
	if err != nil {
		return err
	}
	found := false
	for _, k := range keys {
		found = found || k.HostKeyID == hostKeyID
	}
	switch {
	case !found:
		return transfer.NotFound(typeHostKey, hostKeyID, "Unknown host key")
	case len(keys) == 1:
		return transfer.Invalid("HostKeyId", "%s is the last host key of server %s, and a server must have a host key; import another first", hostKeyID, serverID)
	}
	if err := s.store.DeleteHostKey(ctx, serverID, hostKeyID); err != nil {
		return err
	}
	s.log.Info("deleted host key", "server-id", serverID, "host-key-id", hostKeyID)
	return nil
}

// ListHostKeys returns one page of a server's host keys, oldest first, without their private
// parts or tags, and the token of the next page ("" on the last).
func (s *Service) ListHostKeys(ctx context.Context, serverID string, p Page) ([]HostKeyDescription, string, error) {
	if err := checkServerID(serverID); err != nil {
		return nil, "", err
	}
	size, err := pageSize(p)
	if err != nil {
		return nil, "", err
	}
	list := hostKeysList(serverID)
	cursor, err := pageCursor(p, list)
	if err != nil {
		return nil, "", err
	}
	// The store lists host keys by (DateImported, HostKeyID); the cursor is the last one's pair.
	var afterTime time.Time
	var afterID string
	if cursor != "" {
		t, id, ok := strings.Cut(cursor, " ")
		if afterTime, err = time.Parse(time.RFC3339Nano, t); !ok || err != nil || !transfer.ValidHostKeyID(id) {
			return nil, "", errInvalidToken()
		}
		afterID = id
	}
	keys, err := s.store.ListHostKeys(ctx, serverID)
	if err != nil {
		return nil, "", err
	}
	var out []HostKeyDescription
	next := ""
	for _, k := range keys {
		if cursor != "" && (k.DateImported.Before(afterTime) || k.DateImported.Equal(afterTime) && k.HostKeyID <= afterID) {
			continue
		}
		if len(out) == size {
			last := out[size-1].HostKey
			next = nextToken(list, last.DateImported.UTC().Format(time.RFC3339Nano)+" "+last.HostKeyID)
			break
		}
		k.PrivateKey = nil
		out = append(out, HostKeyDescription{HostKey: k, ARN: s.account.HostKeyARN(serverID, k.HostKeyID)})
	}
	return out, next, nil
}

// checkHostKeyIDs checks the forms of a server ID and a host key ID.
func checkHostKeyIDs(serverID, hostKeyID string) error {
	if err := checkServerID(serverID); err != nil {
		return err
	}
	if hostKeyID == "" {
		return transfer.Invalid("HostKeyId", "is required")
	}
	if !transfer.ValidHostKeyID(hostKeyID) {
		return transfer.Invalid("HostKeyId", "%q is not a host key ID: hostkey- and 17 lowercase hex digits", hostKeyID)
	}
	return nil
}

// checkHostKeyDescription checks the API model's rule: at most 200 printable characters.
func checkHostKeyDescription(d string) error {
	if n := utf8.RuneCountInString(d); n > maxHostKeyDescriptionLength {
		return transfer.Invalid("Description", "is %d characters long; at most %d are allowed", n, maxHostKeyDescriptionLength)
	}
	for _, r := range d {
		if !unicode.IsPrint(r) {
			return transfer.Invalid("Description", "may hold only printable characters")
		}
	}
	return nil
}
