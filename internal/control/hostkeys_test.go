package control

import (
	"crypto"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/transfer"
)

func TestImportHostKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.server(t)
	first, _, err := f.svc.ListHostKeys(f.ctx, id, Page{})
	if err != nil || len(first) != 1 {
		t.Fatalf("host keys of a new server: %v, %v", first, err)
	}
	ed := ed25519Key(t)
	encrypted, err := ssh.MarshalPrivateKeyWithPassphrase(ed25519Key(t), "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	rsaPKCS1 := rsaKey(t, 2048)
	for _, tc := range []struct {
		name, server, body, description string
		tags                            []transfer.Tag
		typ                             string // of the imported key
		want                            want
	}{
		{"ed25519", id, privatePEM(t, ed), "rotation", []transfer.Tag{{Key: "k", Value: "v"}}, ssh.KeyAlgoED25519, want{}},
		{"ecdsa p256", id, privatePEM(t, ecdsaKey(t, elliptic.P256())), "", nil, ssh.KeyAlgoECDSA256, want{}},
		{"ecdsa p384", id, privatePEM(t, ecdsaKey(t, elliptic.P384())), "", nil, ssh.KeyAlgoECDSA384, want{}},
		{"ecdsa p521", id, privatePEM(t, ecdsaKey(t, elliptic.P521())), "", nil, ssh.KeyAlgoECDSA521, want{}},
		{"rsa 2048 OpenSSH", id, privatePEM(t, rsaKey(t, 2048)), "", nil, ssh.KeyAlgoRSA, want{}},
		{"rsa 2048 PKCS#1 PEM", id, pemOf(t, rsaPKCS1), "", nil, ssh.KeyAlgoRSA, want{}},
		{"duplicate", id, privatePEM(t, ed), "", nil, "", want{kind: transfer.KindExists, resourceType: "HostKey", text: "Host key already exists"}},
		{"rsa 1024", id, privatePEM(t, rsaKey(t, 1024)), "", nil, "", invalid("HostKeyBody", "1024 bits; at least 2048")},
		{"encrypted", id, string(pem.EncodeToMemory(encrypted)), "", nil, "", invalid("HostKeyBody", "encrypted with a passphrase")},
		{"public key", id, authorizedKey(t, ed), "", nil, "", invalid("HostKeyBody", "not a private key")},
		{"empty", id, " ", "", nil, "", invalid("HostKeyBody", "is empty")},
		{"too long", id, strings.Repeat("k", 4097), "", nil, "", invalid("HostKeyBody", "at most 4096")},
		{"long description", id, privatePEM(t, ed25519Key(t)), strings.Repeat("d", 201), nil, "", invalid("Description", "at most 200")},
		{"control character", id, privatePEM(t, ed25519Key(t)), "a\x07b", nil, "", invalid("Description", "printable")},
		{"bad tag", id, privatePEM(t, ed25519Key(t)), "", []transfer.Tag{{Key: "aws:k"}}, "", invalid("Tags[0].Key", "")},
		{"unknown server", unknownServer, privatePEM(t, ed25519Key(t)), "", nil, "", notFound("Server", unknownServer)},
	} {
		hkID, err := f.svc.ImportHostKey(f.ctx, tc.server, tc.body, tc.description, tc.tags)
		check(t, tc.name, err, tc.want)
		notes := f.notes.take()
		if !tc.want.ok() {
			if len(notes) != 0 {
				t.Errorf("%s: failed, yet told the notifier %v", tc.name, notes)
			}
			continue
		}
		if !slices.Equal(notes, []string{id}) {
			t.Errorf("%s: notifier told %v", tc.name, notes)
		}
		d, err := f.svc.DescribeHostKey(f.ctx, id, hkID)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		hk := d.HostKey
		if d.ARN != "arn:aws:transfer:eu-west-1:123456789012:host-key/"+id+"/"+hkID || hk.Type != tc.typ ||
			hk.Description != tc.description || hk.PrivateKey != nil || !slices.Equal(d.Tags, tc.tags) || hk.DateImported.IsZero() {
			t.Errorf("%s: described %+v", tc.name, d)
		}
	}
	// The ED25519 key's duplicate names the key it duplicates.
	list, _, _ := f.svc.ListHostKeys(f.ctx, id, Page{})
	_, err = f.svc.ImportHostKey(f.ctx, id, privatePEM(t, ed), "", nil)
	check(t, "duplicate names the original", err, want{kind: transfer.KindExists, resource: list[1].HostKey.HostKeyID})
	if list[1].HostKey.Fingerprint != fingerprintOf(t, ed) {
		t.Errorf("the second key is %+v, want the ED25519 key imported first", list[1].HostKey)
	}
	// The server's fingerprint stays that of its oldest key.
	d, _ := f.svc.DescribeServer(f.ctx, id)
	if d.HostKeyFingerprint != first[0].HostKey.Fingerprint {
		t.Errorf("HostKeyFingerprint %s, want the first key's %s", d.HostKeyFingerprint, first[0].HostKey.Fingerprint)
	}
}

// pemOf returns an RSA key in the PKCS#1 PEM form older tools (ssh-keygen -m PEM) write.
func pemOf(t *testing.T, k crypto.Signer) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))}))
}

func TestHostKeyLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.server(t)
	keys, _, err := f.svc.ListHostKeys(f.ctx, id, Page{})
	if err != nil {
		t.Fatal(err)
	}
	original := keys[0].HostKey.HostKeyID

	// The last host key cannot go.
	check(t, "delete the last key", f.svc.DeleteHostKey(f.ctx, id, original), invalid("HostKeyId", "must have a host key"))
	second, err := f.svc.ImportHostKey(f.ctx, id, privatePEM(t, ed25519Key(t)), "second", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.notes.take()
	for _, tc := range []struct {
		name, server, key, description string
		want                           want
	}{
		{"update", id, second, "renamed", want{}},
		{"update to empty", id, original, "", want{}},
		{"update unknown key", id, "hostkey-00000000000000000", "x", want{kind: transfer.KindNotFound, resourceType: "HostKey", text: "Unknown host key"}},
		{"update on unknown server", unknownServer, second, "x", notFound("Server", unknownServer)},
		{"update malformed key", id, "key-1", "x", invalid("HostKeyId", "hostkey- and 17")},
		{"update long", id, second, strings.Repeat("x", 201), invalid("Description", "")},
	} {
		check(t, tc.name, f.svc.UpdateHostKey(f.ctx, tc.server, tc.key, tc.description), tc.want)
	}
	d, err := f.svc.DescribeHostKey(f.ctx, id, second)
	if err != nil || d.HostKey.Description != "renamed" {
		t.Errorf("after update: %+v, %v", d, err)
	}
	_, err = f.svc.DescribeHostKey(f.ctx, id, "hostkey-00000000000000000")
	check(t, "describe unknown", err, notFound("HostKey", "hostkey-00000000000000000"))

	if err := f.svc.DeleteHostKey(f.ctx, id, original); err != nil {
		t.Fatalf("delete one of two keys: %v", err)
	}
	if notes := f.notes.take(); !slices.Equal(notes, []string{id}) {
		t.Errorf("delete told the notifier %v", notes)
	}
	check(t, "delete it again", f.svc.DeleteHostKey(f.ctx, id, original), notFound("HostKey", original))
	check(t, "delete the last key again", f.svc.DeleteHostKey(f.ctx, id, second), invalid("HostKeyId", "must have a host key"))
	check(t, "delete on unknown server", f.svc.DeleteHostKey(f.ctx, unknownServer, second), notFound("Server", unknownServer))
	d2, _ := f.svc.DescribeServer(f.ctx, id)
	if d2.HostKeyFingerprint != d.HostKey.Fingerprint {
		t.Errorf("server fingerprint %s, want the remaining key's %s", d2.HostKeyFingerprint, d.HostKey.Fingerprint)
	}
	if notes := f.notes.take(); len(notes) != 0 {
		t.Errorf("failed deletes told the notifier %v", notes)
	}
}

func TestListHostKeysPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.server(t)
	for range 6 {
		if _, err := f.svc.ImportHostKey(f.ctx, id, privatePEM(t, ed25519Key(t)), "", nil); err != nil {
			t.Fatal(err)
		}
	}
	all, next, err := f.svc.ListHostKeys(f.ctx, id, Page{})
	if err != nil || len(all) != 7 || next != "" {
		t.Fatalf("all host keys: %d, %q, %v", len(all), next, err)
	}
	var got []HostKeyDescription
	p := Page{MaxResults: 3}
	for {
		page, next, err := f.svc.ListHostKeys(f.ctx, id, p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		p.NextToken = next
	}
	if !slices.EqualFunc(got, all, func(a, b HostKeyDescription) bool { return a.HostKey.HostKeyID == b.HostKey.HostKeyID }) {
		t.Errorf("paged %v, want %v", got, all)
	}
	for _, k := range all {
		if k.HostKey.PrivateKey != nil || k.ARN != testAccount().HostKeyARN(id, k.HostKey.HostKeyID) {
			t.Errorf("listed %+v", k)
		}
	}
	_, _, err = f.svc.ListHostKeys(f.ctx, id, Page{NextToken: nextToken(hostKeysList(id), "yesterday")})
	check(t, "forged token", err, invalidToken())
	_, _, err = f.svc.ListHostKeys(f.ctx, id, Page{MaxResults: 5000})
	check(t, "MaxResults", err, invalid("MaxResults", ""))
	_, _, err = f.svc.ListHostKeys(f.ctx, unknownServer, Page{})
	check(t, "unknown server", err, notFound("Server", unknownServer))
}
