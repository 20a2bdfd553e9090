package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/activity"
)

var clientKinds = []string{"ed25519", "ecdsa-256", "ecdsa-384", "ecdsa-521", "rsa-3072"}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	var keys []*sshKey
	for _, kind := range clientKinds {
		keys = append(keys, keyFor(t, kind))
	}
	rsa := keyFor(t, "rsa-3072")
	other := keyFor(t, "ed25519#other")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{
		chrootUser("sftp_user", keys...),
		chrootUser("rsa_user", rsa),
	}}))

	t.Run("accepted", func(t *testing.T) {
		for _, k := range keys {
			t.Run(k.Kind, func(t *testing.T) {
				t.Parallel()
				dir := "key-" + k.Kind
				mustSFTP(t, port, "sftp_user", k, "mkdir "+dir+"\n")
				r := p.session(t, "MKDIR by the "+k.Kind+" key", func(r *activity.Record) bool {
					return r.ActivityType == activity.Mkdir && r.Path == "/bucket1/sftp_user/"+dir
				})[0]
				sig := k.Type // OpenSSH signs with SHA-512 when the server offers it
				if sig == ssh.KeyAlgoRSA {
					sig = ssh.KeyAlgoRSASHA512
				}
				if r.SSHPublicKeyType != k.Type || r.SSHPublicKeyFingerprint != k.Fingerprint || r.SSHSignatureAlgorithm != sig {
					t.Errorf("CONNECTED with the %s key: ssh-public-key-type %q fingerprint %q ssh-signature-algorithm %q, want %q %q %q",
						k.Kind, r.SSHPublicKeyType, r.SSHPublicKeyFingerprint, r.SSHSignatureAlgorithm, k.Type, k.Fingerprint, sig)
				}
			})
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			user string
			key  *sshKey
			opts []string
			// logged is whether an AUTH_FAILURE record must show the attempt.
			logged bool
		}{
			{"RSA key with SHA-1 signatures", "rsa_user", rsa, opt("PubkeyAcceptedAlgorithms=ssh-rsa"), false},
			{"unknown user", "nobody_here", keys[0], nil, true},
			{"wrong key", "sftp_user", other, nil, true},
			{"root", "root", keys[0], nil, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				out, err := sftpBatch(t, port, tc.user, tc.key, "pwd\n", tc.opts...)
				if err == nil || !strings.Contains(out, "Permission denied (publickey)") {
					t.Errorf("sftp as %s with the %s key and %q: err %v; output lacks %q:\n%s", tc.user, tc.key.Kind, tc.opts, err, "Permission denied (publickey)", out)
				}
				if tc.logged {
					r := p.waitRecord(t, "AUTH_FAILURE of "+tc.user, func(r *activity.Record) bool {
						return r.ActivityType == activity.AuthFailure && r.User == tc.user
					})
					if r.SourceIP != "127.0.0.1" || r.Method != "publickey" || r.Message == "" || !strings.HasPrefix(r.Client, "SSH-2.0-OpenSSH_") {
						t.Errorf("AUTH_FAILURE of %s: source-ip %q method %q message %q client %q, want 127.0.0.1, publickey, a message, SSH-2.0-OpenSSH_...",
							tc.user, r.SourceIP, r.Method, r.Message, r.Client)
					}
				}
				for _, r := range p.records(t) {
					if r.ActivityType == activity.Connected && r.User == tc.user && r.SSHPublicKeyFingerprint == tc.key.Fingerprint {
						t.Errorf("CONNECTED record for %s with the %s key, which must not log in: %+v", tc.user, tc.key.Kind, r)
					}
				}
			})
		}
		// OpenSSH does not even offer an ssh-rsa (SHA-1) signature to a server whose
		// server-sig-algs lacks it; x/crypto sends one when told to.
		t.Run("RSA SHA-1 signature from x/crypto", func(t *testing.T) {
			t.Parallel()
			sha1, err := ssh.NewSignerWithAlgorithms(rsa.Signer.(ssh.AlgorithmSigner), []string{ssh.KeyAlgoRSA})
			if err != nil {
				t.Fatal(err)
			}
			nc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(connLimit))
			cfg := &ssh.ClientConfig{User: "rsa_user", Auth: []ssh.AuthMethod{ssh.PublicKeys(sha1)}, HostKeyCallback: ssh.InsecureIgnoreHostKey()}
			if c, _, _, err := ssh.NewClientConn(nc, nc.RemoteAddr().String(), cfg); err == nil {
				c.Close()
				t.Fatalf("login as rsa_user with an ssh-rsa (SHA-1) signature succeeded, want it refused")
			}
			r := p.waitRecord(t, "AUTH_FAILURE of rsa_user", func(r *activity.Record) bool {
				return r.ActivityType == activity.AuthFailure && r.User == "rsa_user"
			})
			if r.Method != "publickey" || r.SourceIP != "127.0.0.1" || !strings.Contains(r.Message, "the client signed with ssh-rsa (RSA with SHA-1), which the server's security policy TransferSecurityPolicy-2024-01 does not accept") {
				t.Errorf("AUTH_FAILURE of rsa_user: method %q source-ip %q message %q", r.Method, r.SourceIP, r.Message)
			}
		})
	})
}

const sftpOnly = "This service allows sftp connections only."

func TestNoShellNoForwarding(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	port := freePort(t)
	start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser("sftp_user", key)}}))

	t.Run("ssh", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			opts    []string
			command []string
		}{
			{"shell", []string{"-T"}, nil},
			{"command", nil, []string{"ls"}},
			{"command with arguments", nil, []string{"cat", "/etc/passwd"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				out, code := sshRun(t, port, "sftp_user", key, tc.opts, tc.command...)
				if code != 1 || !strings.Contains(out, sftpOnly) {
					t.Errorf("ssh %q %q: exit code %d, want 1, and output must hold %q:\n%s", tc.opts, tc.command, code, sftpOnly, out)
				}
			})
		}
	})

	t.Run("ssh remote forwarding", func(t *testing.T) {
		t.Parallel()
		out, code := sshRun(t, port, "sftp_user", key, []string{"-N", "-R", "0:127.0.0.1:1", "-o", "ExitOnForwardFailure=yes"})
		if code == 0 || !strings.Contains(out, "remote port forwarding failed") {
			t.Errorf("ssh -N -R 0:127.0.0.1:1 -o ExitOnForwardFailure=yes: exit code %d, want non-zero with \"remote port forwarding failed\":\n%s", code, out)
		}
	})

	t.Run("ssh local forwarding", func(t *testing.T) {
		t.Parallel()
		sshLocalForward(t, port, key)
	})

	t.Run("at most 10 sessions per connection", func(t *testing.T) {
		t.Parallel()
		c, _, err := dialSSH(t, port, "sftp_user", key)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var sessions []*ssh.Session
		for i := range 10 {
			s, err := c.NewSession()
			if err != nil {
				t.Fatalf("session %d of 10: %v", i+1, err)
			}
			defer s.Close()
			if err := s.RequestSubsystem("sftp"); err != nil {
				t.Fatalf("sftp subsystem on session %d of 10: %v", i+1, err)
			}
			sessions = append(sessions, s)
		}
		var oce *ssh.OpenChannelError
		if s, err := c.NewSession(); !errors.As(err, &oce) || oce.Reason != ssh.ResourceShortage {
			if s != nil {
				s.Close()
			}
			t.Errorf("an 11th session: error %v, want an open failure with reason %v", err, ssh.ResourceShortage)
		}
		// A closed session frees its place (once the server has seen the close).
		sessions[0].Close()
		for deadline := time.Now().Add(recordLimit); ; {
			s, err := c.NewSession()
			if err == nil {
				s.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a new session after closing one of 10: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("x/crypto client", func(t *testing.T) {
		t.Parallel()
		c, _, err := dialSSH(t, port, "sftp_user", key)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var oce *ssh.OpenChannelError
		if nc, err := c.Dial("tcp", "127.0.0.1:1"); !errors.As(err, &oce) || oce.Reason != ssh.Prohibited {
			if nc != nil {
				nc.Close()
			}
			t.Errorf("direct-tcpip to 127.0.0.1:1: error %v, want an open failure with reason %v", err, ssh.Prohibited)
		}
		if ln, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
			ln.Close()
			t.Errorf("tcpip-forward request accepted, want it refused")
		}
		for _, typ := range []string{"x11", "auth-agent@openssh.com", "forwarded-tcpip"} {
			if ch, _, err := c.OpenChannel(typ, nil); !errors.As(err, &oce) {
				if ch != nil {
					ch.Close()
				}
				t.Errorf("opening a %s channel: error %v, want it refused", typ, err)
			}
		}
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		s.Stderr = &stderr
		var ee *ssh.ExitError
		if err := s.Run("id"); !errors.As(err, &ee) || ee.ExitStatus() != 1 || !strings.Contains(stderr.String(), sftpOnly) {
			t.Errorf("exec \"id\": error %v stderr %q, want exit status 1 and %q", err, stderr.String(), sftpOnly)
		}
		// The connection still serves SFTP after all of that.
		s2, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		if err := s2.RequestSubsystem("sftp"); err != nil {
			t.Errorf("sftp subsystem after the refused requests: %v", err)
		}
	})
}

// sshLocalForward runs `ssh -N -L` and checks that a connection through the forward is refused
// by the server.
func sshLocalForward(t *testing.T, port int, key *sshKey) {
	t.Helper()
	needTool(t, "ssh")
	lport := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
	defer cancel()
	args := append([]string{"-N", "-p", strconv.Itoa(port), "-L", fmt.Sprintf("127.0.0.1:%d:127.0.0.1:%d", lport, port),
		"-o", "ExitOnForwardFailure=yes"}, clientOpts(key)...)
	args = append(args, "sftp_user@127.0.0.1")
	cmd := exec.CommandContext(ctx, "ssh", args...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
	}()
	var conn net.Conn
	for deadline := time.Now().Add(clientLimit); ; {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", lport), time.Second)
		if err == nil {
			conn = c
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("ssh -L never listened on %d: %v; output:\n%s", lport, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(clientLimit))
	// Through a working forward the server's SSH banner would arrive; a refused channel closes.
	b, err := io.ReadAll(conn)
	if len(b) > 0 {
		t.Errorf("a connection through ssh -L received %q: the forward was served, want it refused (err %v)", b, err)
	}
	for deadline := time.Now().Add(recordLimit); !strings.Contains(out.String(), "administratively prohibited") && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "administratively prohibited") {
		t.Errorf("ssh -L: output lacks \"administratively prohibited\":\n%s", out.String())
	}
}
