package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/aws-sdk-go-v2/service/transfer/types"
	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/activity"
)

// curlSFTP runs curl (libssh2) against the server at port as user with key: an upload of
// local to remote when upload is set, else a download of remote to local. The host key is
// checked against hostKey (base64, as ssh-keyscan prints it).
func curlSFTP(t *testing.T, port int, user string, key *sshKey, hostKey string, upload bool, local, remote string) (string, error) {
	t.Helper()
	needTool(t, "curl")
	blob, err := base64.StdEncoding.DecodeString(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(blob)
	args := []string{"-sS", "--connect-timeout", "30", "--max-time", "60",
		"-u", user + ":", "--key", key.Path, "--pubkey", key.Path + ".pub",
		"--hostpubsha256", base64.StdEncoding.EncodeToString(sum[:])}
	if upload {
		args = append(args, "-T", local)
	} else {
		args = append(args, "-o", local)
	}
	args = append(args, fmt.Sprintf("sftp://127.0.0.1:%d%s", port, remote))
	ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", args...).CombinedOutput()
	return string(out), err
}

// TestLegacyRSASignatures checks that a server whose security policy accepts ssh-rsa accepts
// SHA-1 signatures from users' RSA keys too, for curl (libssh2 1.10 signs no other way) and for
// OpenSSH told to sign so, while a server under a current policy refuses them and its
// AUTH_FAILURE record says why. CONNECTED records how the client signed.
func TestLegacyRSASignatures(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	if out, err := exec.Command("curl", "-V").Output(); err != nil || !strings.Contains(string(out), "libssh2") {
		t.Fatalf("this curl is not built with libssh2 (Debian's is; scripts/test installs it): %v %s", err, out)
	}
	rsa := keyFor(t, "rsa-3072")
	p, client := apiClient(t)
	ctx := context.Background()
	// libssh2 1.10 verifies RSA host keys with SHA-1 only, so both servers get an Ed25519 key.
	hostKey, hostPub := hostKeyPEM(t, "ed25519")
	hk := strings.Fields(string(ssh.MarshalAuthorizedKey(hostPub)))[1]
	server := func(policy, user string) int {
		t.Helper()
		port := freePort(t)
		cs, err := client.CreateServer(ctx, &transfer.CreateServerInput{HostKey: aws.String(hostKey), SecurityPolicyName: aws.String(policy),
			Tags: []types.Tag{{Key: aws.String("transferd:Endpoint"), Value: aws.String(fmt.Sprintf("127.0.0.1:%d", port))}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.CreateUser(ctx, &transfer.CreateUserInput{ServerId: cs.ServerId, UserName: aws.String(user), Role: aws.String(testRole),
			HomeDirectoryType: types.HomeDirectoryTypeLogical, SshPublicKeyBody: aws.String(rsa.Authorized),
			HomeDirectoryMappings: []types.HomeDirectoryMapEntry{{Entry: aws.String("/"), Target: aws.String("/bucket1/" + user)}}}); err != nil {
			t.Fatal(err)
		}
		return port
	}
	// libssh2 1.10 has neither AES-GCM nor the -etm MACs that 2024-01 leaves it, so it cannot get
	// as far as logging in there: 2022-03 is the newest policy it negotiates with.
	const legacyPolicy, currentPolicy, newestPolicy = "TransferSecurityPolicy-2018-11", "TransferSecurityPolicy-2022-03", "TransferSecurityPolicy-2024-01"
	legacy, current, newest := server(legacyPolicy, "legacy_user"), server(currentPolicy, "current_user"), server(newestPolicy, "newest_user")
	local := filepath.Join(t.TempDir(), "report.csv")
	content := strings.Repeat("id,amount\n1,100\n", 4096)
	if err := os.WriteFile(local, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("curl under "+legacyPolicy, func(t *testing.T) {
		if out, err := curlSFTP(t, legacy, "legacy_user", rsa, hk, true, local, "/report.csv"); err != nil {
			t.Fatalf("curl upload: %v\n%s", err, out)
		}
		r := p.session(t, "CLOSE of the curl upload", func(r *activity.Record) bool {
			return r.ActivityType == activity.Close && r.User == "legacy_user" && r.Path == "/bucket1/legacy_user/report.csv"
		})[0]
		if !strings.HasPrefix(r.Client, "SSH-2.0-libssh2_") || r.SSHPublicKeyType != "ssh-rsa" || r.SSHSignatureAlgorithm != "ssh-rsa" {
			t.Errorf("CONNECTED of curl: client %q ssh-public-key-type %q ssh-signature-algorithm %q; want libssh2, ssh-rsa, ssh-rsa",
				r.Client, r.SSHPublicKeyType, r.SSHSignatureAlgorithm)
		}
		back := filepath.Join(t.TempDir(), "back.csv")
		if out, err := curlSFTP(t, legacy, "legacy_user", rsa, hk, false, back, "/report.csv"); err != nil {
			t.Fatalf("curl download: %v\n%s", err, out)
		}
		if got, _ := os.ReadFile(back); string(got) != content {
			t.Errorf("curl downloaded %d bytes that differ from the %d uploaded", len(got), len(content))
		}
	})

	t.Run("OpenSSH under "+legacyPolicy, func(t *testing.T) {
		for _, tc := range []struct {
			opts []string
			sig  string
		}{
			{opt("PubkeyAcceptedAlgorithms=ssh-rsa"), "ssh-rsa"},
			{nil, "rsa-sha2-512"},
		} {
			dir := "by-" + tc.sig
			mustSFTP(t, legacy, "legacy_user", rsa, "mkdir "+dir+"\n", tc.opts...)
			r := p.session(t, "MKDIR "+dir, func(r *activity.Record) bool {
				return r.ActivityType == activity.Mkdir && r.Path == "/bucket1/legacy_user/"+dir
			})[0]
			if r.SSHSignatureAlgorithm != tc.sig {
				t.Errorf("OpenSSH with %q: ssh-signature-algorithm %q, want %q", tc.opts, r.SSHSignatureAlgorithm, tc.sig)
			}
		}
	})

	t.Run("curl under "+currentPolicy, func(t *testing.T) {
		out, err := curlSFTP(t, current, "current_user", rsa, hk, true, local, "/report.csv")
		if err == nil {
			t.Fatalf("curl signing with ssh-rsa logged in under %s, want it refused; output:\n%s", currentPolicy, out)
		}
		r := p.authFailure(t, "current_user", "publickey", "signed with ssh-rsa")
		if !strings.Contains(r.Message, currentPolicy) || !strings.HasPrefix(r.Client, "SSH-2.0-libssh2_") {
			t.Errorf("AUTH_FAILURE of curl: message %q client %q; want the policy named and libssh2", r.Message, r.Client)
		}
		if _, err := os.Stat(filepath.Join(p.userDir("current_user"), "report.csv")); err == nil {
			t.Errorf("the refused upload was stored")
		}
	})

	t.Run("curl under "+newestPolicy, func(t *testing.T) {
		out, err := curlSFTP(t, newest, "newest_user", rsa, hk, true, local, "/report.csv")
		if err == nil {
			t.Fatalf("curl logged in under %s, want the key exchange refused; output:\n%s", newestPolicy, out)
		}
		p.waitRecord(t, "KEX_FAILURE of libssh2 for want of a MAC", func(r *activity.Record) bool {
			return r.ActivityType == activity.KexFailure && strings.HasPrefix(r.Client, "SSH-2.0-libssh2_") &&
				r.NegotiationCategory == "client to server MAC"
		})
	})
}
