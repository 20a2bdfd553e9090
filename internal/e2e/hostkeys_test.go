package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/aws-sdk-go-v2/service/transfer/types"
	"golang.org/x/crypto/ssh"
)

// hostKeyPEM makes a host private key of a kind (rsa or ed25519) in OpenSSH's PEM form, and
// returns it with its public key.
func hostKeyPEM(t *testing.T, kind string) (string, ssh.PublicKey) {
	t.Helper()
	var priv any
	switch kind {
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		priv = k
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv = k
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block)), signer.PublicKey()
}

// keyscan returns the host keys ssh-keyscan reads from port, by type.
func keyscan(t *testing.T, port int) map[string]string {
	t.Helper()
	needTool(t, "ssh-keyscan")
	out, err := exec.Command("ssh-keyscan", "-T", "30", "-t", "rsa,ed25519", "-p", strconv.Itoa(port), "127.0.0.1").Output()
	if err != nil {
		t.Fatalf("ssh-keyscan: %v", err)
	}
	keys := map[string]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 3 && !strings.HasPrefix(f[0], "#") {
			keys[f[1]] = f[2]
		}
	}
	return keys
}

// TestHostKeyRotation imports a second RSA and a second Ed25519 host key and checks, with
// ssh-keyscan and with OpenSSH under StrictHostKeyChecking=yes, that the server keeps presenting
// the oldest key of each type, as Transfer Family does, while DescribeServer reports the same key;
// deleting the old keys makes the new ones served at once.
func TestHostKeyRotation(t *testing.T) {
	t.Parallel()
	_, client := apiClient(t)
	ctx := context.Background()
	user := keyFor(t, "ed25519")
	port := freePort(t)
	rsa1, rsa1Pub := hostKeyPEM(t, "rsa")
	ed1, ed1Pub := hostKeyPEM(t, "ed25519")
	rsa2, rsa2Pub := hostKeyPEM(t, "rsa")
	ed2, ed2Pub := hostKeyPEM(t, "ed25519")

	cs, err := client.CreateServer(ctx, &transfer.CreateServerInput{HostKey: aws.String(rsa1),
		Tags: []types.Tag{{Key: aws.String("transferd:Endpoint"), Value: aws.String(fmt.Sprintf("127.0.0.1:%d", port))}}})
	if err != nil {
		t.Fatal(err)
	}
	id := cs.ServerId
	if _, err := client.CreateUser(ctx, &transfer.CreateUserInput{ServerId: id, UserName: aws.String("alice"), Role: aws.String(testRole),
		HomeDirectoryType: types.HomeDirectoryTypeLogical, SshPublicKeyBody: aws.String(user.Authorized),
		HomeDirectoryMappings: []types.HomeDirectoryMapEntry{{Entry: aws.String("/"), Target: aws.String("/bucket1/alice")}}}); err != nil {
		t.Fatal(err)
	}
	importKey := func(body string) *string {
		t.Helper()
		out, err := client.ImportHostKey(ctx, &transfer.ImportHostKeyInput{ServerId: id, HostKeyBody: aws.String(body)})
		if err != nil {
			t.Fatalf("ImportHostKey: %v", err)
		}
		return out.HostKeyId
	}
	ed1ID := importKey(ed1)
	rsa2ID := importKey(rsa2)
	importKey(ed2)

	b64 := func(k ssh.PublicKey) string { return strings.Fields(string(ssh.MarshalAuthorizedKey(k)))[1] }
	check := func(when string, rsaKey, edKey ssh.PublicKey) {
		t.Helper()
		got := keyscan(t, port)
		if got["ssh-rsa"] != b64(rsaKey) || got["ssh-ed25519"] != b64(edKey) {
			t.Errorf("%s: ssh-keyscan read %v; want RSA %s and Ed25519 %s", when, got,
				ssh.FingerprintSHA256(rsaKey), ssh.FingerprintSHA256(edKey))
		}
		knownHosts := filepath.Join(t.TempDir(), "known_hosts")
		line := func(k ssh.PublicKey) string {
			return fmt.Sprintf("[127.0.0.1]:%d %s", port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))))
		}
		os.WriteFile(knownHosts, []byte(line(rsaKey)+"\n"+line(edKey)+"\n"), 0o600)
		for _, alg := range []string{"rsa-sha2-512", "ssh-ed25519"} {
			mustSFTP(t, port, "alice", user, "ls\n", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts,
				"-o", "HostKeyAlgorithms="+alg)
		}
		ds, err := client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: id})
		if err != nil {
			t.Fatal(err)
		}
		if fp := aws.ToString(ds.Server.HostKeyFingerprint); fp != ssh.FingerprintSHA256(rsaKey) {
			t.Errorf("%s: DescribeServer HostKeyFingerprint %s; the served RSA key is %s", when, fp, ssh.FingerprintSHA256(rsaKey))
		}
	}
	check("after importing second keys", rsa1Pub, ed1Pub)

	keys, err := client.ListHostKeys(ctx, &transfer.ListHostKeysInput{ServerId: id})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.HostKeys {
		if aws.ToString(k.Fingerprint) == ssh.FingerprintSHA256(rsa1Pub) {
			if _, err := client.DeleteHostKey(ctx, &transfer.DeleteHostKeyInput{ServerId: id, HostKeyId: k.HostKeyId}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := client.DeleteHostKey(ctx, &transfer.DeleteHostKeyInput{ServerId: id, HostKeyId: ed1ID}); err != nil {
		t.Fatal(err)
	}
	check("after deleting the old keys", rsa2Pub, ed2Pub)
	if dh, err := client.DescribeHostKey(ctx, &transfer.DescribeHostKeyInput{ServerId: id, HostKeyId: rsa2ID}); err != nil ||
		aws.ToString(dh.HostKey.HostKeyFingerprint) != ssh.FingerprintSHA256(rsa2Pub) {
		t.Errorf("DescribeHostKey of the served RSA key: %v", err)
	}
}
