package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/activity"
)

// ---- the example identity provider (examples/idp) ----

var idpBuild struct {
	once sync.Once
	bin  string
	err  error
}

// idpBinary builds examples/idp once per test binary.
func idpBinary(t testing.TB) string {
	t.Helper()
	idpBuild.once.Do(func() {
		idpBuild.bin = filepath.Join(filepath.Dir(suite.bin), "idp")
		build := exec.Command("go", "build", "-o", idpBuild.bin, "./examples/idp")
		build.Dir = suite.root
		if out, err := build.CombinedOutput(); err != nil {
			idpBuild.err = fmt.Errorf("building examples/idp: %v\n%s", err, out)
		}
	})
	if idpBuild.err != nil {
		t.Fatal(idpBuild.err)
	}
	return idpBuild.bin
}

// idpUser is one user of the example provider's users file. An empty Home makes a LOGICAL chroot
// onto /bucket1/NAME.
type idpUser struct {
	Name, Password string
	Keys           []*sshKey
	Home           string
	Policy         string
}

// writeIDPUsers writes the example provider's users file, with bcrypt hashes of the passwords.
func writeIDPUsers(t *testing.T, users ...idpUser) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("Users:\n")
	for _, u := range users {
		fmt.Fprintf(&b, "  - UserName: %s\n    Role: %s\n", u.Name, testRole)
		if u.Password != "" {
			h, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "    PasswordHash: %q\n", h)
		}
		if len(u.Keys) > 0 {
			b.WriteString("    PublicKeys:\n")
			for _, k := range u.Keys {
				fmt.Fprintf(&b, "      - %q\n", k.Authorized)
			}
		}
		if u.Home != "" {
			fmt.Fprintf(&b, "    HomeDirectory: %s\n", u.Home)
		} else {
			fmt.Fprintf(&b, "    HomeDirectoryType: LOGICAL\n    HomeDirectoryMappings: [{Entry: /, Target: /bucket1/%s}]\n", u.Name)
		}
		if u.Policy != "" {
			fmt.Fprintf(&b, "    Policy: %s\n", strconv.Quote(u.Policy))
		}
	}
	f := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// startIDP runs the example provider as an API Gateway provider on loopback (HTTPS when cert and
// key are given) and returns its base URL.
func startIDP(t *testing.T, users, cert, key string) string {
	t.Helper()
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"serve", "--users", users, "--listen", addr}
	scheme := "http"
	if cert != "" {
		args = append(args, "--tls-cert", cert, "--tls-key", key)
		scheme = "https"
	}
	runBeside(t, "the example identity provider", exec.Command(idpBinary(t), args...), addr)
	return scheme + "://" + addr + "/prod"
}

// runBeside starts cmd for the length of the test, with its output kept and shown if the test
// fails, and waits until it accepts TCP on addr.
func runBeside(t *testing.T, what string, cmd *exec.Cmd, addr string) {
	t.Helper()
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s's log:\n%s", what, log.String())
		}
	})
	for deadline := time.Now().Add(startLimit); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s after %v", what, addr, startLimit)
		}
	}
}

// idpServer is the YAML of a server with a custom identity provider, for serverConf.Extra.
func idpServer(typ, detail, methods string) string {
	s := "IdentityProviderType: " + typ + "\nIdentityProviderDetails:\n  " + detail + "\n"
	if methods != "" {
		s += "  SftpAuthenticationMethods: " + methods + "\n"
	}
	return s
}

// ---- paramiko ----

// paramikoLogin runs testdata/paramiko_client.py as user: with key and then the password given
// (through the environment), and the SFTP operations ops. It returns the client's output and
// exit status (0 all worked, 1 an operation failed, 2 authentication failed).
//
// paramiko sends a new SSH_MSG_SERVICE_REQUEST before each authentication method, which
// x/crypto's server refuses after the first: one paramiko connection can use one method only
// (see asyncsshLogin for a key and a password on one connection).
func paramikoLogin(t *testing.T, port int, user string, key *sshKey, password string, interactive bool, ops ...string) (string, int) {
	t.Helper()
	return pythonClient(t, "paramiko", "testdata/paramiko_client.py", port, user, key, password, interactive, ops...)
}

// asyncsshLogin runs testdata/asyncssh_client.py as user with key and password, and the listings
// ops ("ls PATH").
func asyncsshLogin(t *testing.T, port int, user string, key *sshKey, password string, ops ...string) (string, int) {
	t.Helper()
	return pythonClient(t, "asyncssh", "testdata/asyncssh_client.py", port, user, key, password, false, ops...)
}

// pythonClient runs one of the Python client scripts with Debian's python3 and its packages.
func pythonClient(t *testing.T, module, script string, port int, user string, key *sshKey, password string, interactive bool, ops ...string) (string, int) {
	t.Helper()
	out, code, err := runPython(module, script, port, user, key, password, interactive, ops...)
	if err != nil {
		t.Fatal(err)
	}
	return out, code
}

// runPython is pythonClient for goroutines other than the test's: what keeps the client from
// running or finishing is returned as an error.
func runPython(module, script string, port int, user string, key *sshKey, password string, interactive bool, ops ...string) (string, int, error) {
	if err := exec.Command("/usr/bin/python3", "-c", "import "+module).Run(); err != nil {
		return "", 0, fmt.Errorf("python3-%s is not installed: run scripts/test, which installs it (%v)", module, err)
	}
	args := []string{script, "127.0.0.1", strconv.Itoa(port), user}
	if key != nil {
		args = append(args, "--key", key.Path)
	}
	env := os.Environ()
	if password != "" {
		args = append(args, "--password-env", "E2E_PASSWORD")
		env = append(env, "E2E_PASSWORD="+password)
	}
	if interactive {
		args = append(args, "--interactive")
	}
	for _, op := range ops {
		args = append(args, "--op", op)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), 0, fmt.Errorf("%s as %s did not finish within %v:\n%s", module, user, clientLimit, out)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode(), nil
	}
	if err != nil {
		return string(out), 0, fmt.Errorf("%s: %v", module, err)
	}
	return string(out), 0, nil
}

// dialPassword logs in with x/crypto's client and a password.
func dialPassword(port int, user, password string) (*ssh.Client, error) {
	return ssh.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port), &ssh.ClientConfig{User: user,
		Auth: []ssh.AuthMethod{ssh.Password(password)}, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: connLimit})
}

// connected waits for the CONNECTED record of user with method.
func (p *proc) connected(t *testing.T, user, method string) activity.Record {
	t.Helper()
	return p.waitRecord(t, "CONNECTED of "+user+" by "+method, func(r *activity.Record) bool {
		return r.ActivityType == activity.Connected && r.User == user && r.Method == method
	})
}

// authFailure waits for an AUTH_FAILURE record of user with method whose message holds want.
func (p *proc) authFailure(t *testing.T, user, method, want string) activity.Record {
	t.Helper()
	return p.waitRecord(t, "AUTH_FAILURE of "+user+" by "+method+" with "+want, func(r *activity.Record) bool {
		return r.ActivityType == activity.AuthFailure && r.User == user && r.Method == method && strings.Contains(r.Message, want)
	})
}

// noSecrets checks that no password reached the activity log or transferd's stderr.
func (p *proc) noSecrets(t *testing.T, passwords ...string) {
	t.Helper()
	acts, _ := os.ReadFile(p.actLog)
	for _, pw := range passwords {
		if bytes.Contains(acts, []byte(pw)) || strings.Contains(p.stderrText(), pw) {
			t.Errorf("the password %q is in the activity log or transferd's stderr", pw)
		}
	}
}

// TestAPIGatewayIdentityProvider runs the example identity provider (examples/idp) as an
// API_GATEWAY provider and logs in with real clients: OpenSSH with a key the provider returns,
// paramiko with a password and with keyboard-interactive, PUBLIC_KEY_AND_PASSWORD with both, and
// a PASSWORD-only server refusing keys. The session policy the provider returns is enforced;
// TestIdentityProvider answers through the AWS CLI; no password is written anywhere.
func TestAPIGatewayIdentityProvider(t *testing.T) {
	t.Parallel()
	alice, other := keyFor(t, "ed25519"), keyFor(t, "ed25519#other")
	const (
		alicePW = "alice-Secret-1"
		bobPW   = "bob-Secret-2"
		s1      = "s-1d0000000000000a1"
		s2      = "s-1d0000000000000a2"
		s3      = "s-1d0000000000000a3"
	)
	users := writeIDPUsers(t,
		idpUser{Name: "alice", Password: alicePW, Keys: []*sshKey{alice}},
		idpUser{Name: "bob", Password: bobPW, Home: "/bucket1/bob", Policy: readOnlyFor("bucket1")},
		idpUser{Name: "carol", Keys: []*sshKey{alice}},
	)
	url := startIDP(t, users, "", "")
	ports := []int{freePort(t), freePort(t), freePort(t)}
	detail := "Url: " + url
	root := t.TempDir()
	apiPort := freePort(t)
	p := start(t, configYAML(root,
		serverConf{ID: s1, Port: ports[0], Extra: idpServer("API_GATEWAY", detail, "")},
		serverConf{ID: s2, Port: ports[1], Extra: idpServer("API_GATEWAY", detail, "PUBLIC_KEY_AND_PASSWORD")},
		serverConf{ID: s3, Port: ports[2], Extra: idpServer("API_GATEWAY", detail, "PASSWORD")},
	), "--api-listen", "127.0.0.1:"+strconv.Itoa(apiPort))
	if err := os.MkdirAll(filepath.Join(root, "bucket1", "bob"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "bucket1", "bob", "report.csv"), []byte("1,2\n"), 0o644)
	local := t.TempDir()
	up := filepath.Join(local, "up.txt")
	os.WriteFile(up, []byte("hello"), 0o644)

	// OpenSSH with a key the provider returns.
	out := mustSFTP(t, ports[0], "alice", alice, fmt.Sprintf("put %s /up.txt\nls /\n", up))
	if !strings.Contains(out, "up.txt") {
		t.Errorf("alice's listing lacks up.txt:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(root, "bucket1", "alice", "up.txt")); err != nil || string(b) != "hello" {
		t.Errorf("alice's upload on disk: %q, %v", b, err)
	}
	r := p.connected(t, "alice", "publickey")
	if r.IdPLatencyMs == nil || *r.IdPLatencyMs <= 0 || r.SSHPublicKeyFingerprint != alice.Fingerprint || r.Role != testRole || r.HomeDir != "LOGICAL" {
		t.Errorf("alice's CONNECTED record: %+v", r)
	}

	// paramiko with a password: bob's session policy (read-only) comes from the provider.
	out, code := paramikoLogin(t, ports[0], "bob", nil, bobPW, false, "ls /bucket1/bob", "get /bucket1/bob/report.csv "+filepath.Join(local, "report"), "put "+up+" /bucket1/bob/new.txt")
	if code != 1 || !strings.Contains(out, "ok ls report.csv") || !strings.Contains(out, "ok get") || !strings.Contains(out, "error put") {
		t.Errorf("bob with a password (exit %d), want ls and get to work and put to be denied:\n%s", code, out)
	}
	if strings.Contains(out, "arn:aws:s3") || strings.Contains(out, "session policy") || !strings.Contains(out, "new.txt: [Errno 13] Permission denied") {
		t.Errorf("the client was told why its put was refused (bucket and policy details):\n%s", out)
	}
	r = p.connected(t, "bob", "password")
	if r.SSHPublicKey != "" || r.UserPolicy == "" || r.IdPLatencyMs == nil {
		t.Errorf("bob's CONNECTED record: %+v", r)
	}
	p.waitRecord(t, "ERROR of bob's put", func(r *activity.Record) bool {
		return r.ActivityType == activity.Error && r.User == "bob" && strings.Contains(r.Message, "access denied: s3:PutObject on arn:aws:s3:::bucket1/bob/new.txt")
	})

	// keyboard-interactive, as WinSCP and FileZilla log in.
	out, code = paramikoLogin(t, ports[0], "alice", nil, alicePW, true, "ls /")
	if code != 0 || !strings.Contains(out, "ok auth keyboard-interactive") {
		t.Errorf("alice with keyboard-interactive (exit %d):\n%s", code, out)
	}
	p.connected(t, "alice", "keyboard-interactive")

	// A wrong password and a key the provider does not list.
	out, code = paramikoLogin(t, ports[0], "alice", nil, "wrong-password", false)
	if code != 2 {
		t.Errorf("alice with a wrong password: exit %d, want 2:\n%s", code, out)
	}
	r = p.authFailure(t, "alice", "password", "Invalid user name or password: identity provider refused the user: the answer has no Role")
	if r.IdPLatencyMs == nil {
		t.Errorf("AUTH_FAILURE without the provider's latency: %+v", r)
	}
	// An empty password never reaches the provider: many take it for a key login.
	for _, pw := range []string{"", "   "} {
		if c, err := dialPassword(ports[0], "alice", pw); err == nil {
			c.Close()
			t.Errorf("alice logged in with the password %q", pw)
		}
	}
	p.authFailure(t, "alice", "password", "Invalid user name or password: empty passwords are refused")
	if out, err := sftpBatch(t, ports[0], "carol", other, "ls\n"); err == nil {
		t.Errorf("carol logged in with a key the provider does not list:\n%s", out)
	}
	p.authFailure(t, "carol", "publickey", "public key "+other.Fingerprint+" is not authorized for this user")
	if out, err := sftpBatch(t, ports[0], "dave", alice, "ls\n"); err == nil {
		t.Errorf("an unknown user logged in:\n%s", out)
	}
	p.authFailure(t, "dave", "publickey", "identity provider refused the user: the answer has no Role")

	// PUBLIC_KEY_AND_PASSWORD: the key, then the password (SSH's partial success), with asyncssh.
	out, code = asyncsshLogin(t, ports[1], "alice", alice, alicePW, "ls /")
	if code != 0 || !strings.Contains(out, "ok ls up.txt") {
		t.Errorf("alice with a key and a password (exit %d):\n%s", code, out)
	}
	r = p.waitRecord(t, "CONNECTED of alice with a key and a password", func(r *activity.Record) bool {
		return r.ActivityType == activity.Connected && r.User == "alice" && strings.HasPrefix(r.Method, "publickey,")
	})
	if r.SSHPublicKeyFingerprint != alice.Fingerprint || r.SSHSignatureAlgorithm != "ssh-ed25519" || !strings.HasSuffix(r.ResourceARN, s2) ||
		(r.Method != "publickey,password" && r.Method != "publickey,keyboard-interactive") {
		t.Errorf("CONNECTED of the key and the password: %+v", r)
	}
	if out, code := asyncsshLogin(t, ports[1], "alice", alice, "wrong-password", "ls /"); code != 2 {
		t.Errorf("alice with her key and a wrong password: exit %d, want 2:\n%s", code, out)
	}
	if out, err := sftpBatch(t, ports[1], "alice", alice, "ls\n"); err == nil || !strings.Contains(out, "Authenticated using \"publickey\" with partial success") {
		t.Errorf("OpenSSH with the key alone (no password in batch mode): %v\n%s", err, out)
	}
	if out, code := paramikoLogin(t, ports[1], "alice", nil, alicePW, false); code != 2 {
		t.Errorf("the password alone on a PUBLIC_KEY_AND_PASSWORD server: exit %d, want 2:\n%s", code, out)
	}

	// PASSWORD: keys are not offered.
	if out, err := sftpBatch(t, ports[2], "alice", alice, "ls\n"); err == nil || !strings.Contains(out, "Permission denied (password,keyboard-interactive)") {
		t.Errorf("a key on a PASSWORD server: %v\n%s", err, out)
	}
	if out, code := paramikoLogin(t, ports[2], "alice", nil, alicePW, false, "ls /"); code != 0 {
		t.Errorf("a password on a PASSWORD server: exit %d\n%s", code, out)
	}

	// TestIdentityProvider, through the AWS CLI.
	cli := awsCLI(t, p, apiPort)
	m, stderr, err := cli("test-identity-provider", "--server-id", s1, "--user-name", "bob", "--user-password", bobPW, "--source-ip", "192.0.2.7")
	if err != nil || m["StatusCode"] != float64(200) || m["Url"] != url+"/servers/"+s1+"/users/bob/config" ||
		!strings.Contains(fmt.Sprint(m["Response"]), testRole) || !strings.Contains(fmt.Sprint(m["Message"]), "authenticated bob") {
		t.Errorf("test-identity-provider for bob: %v %v %s", m, err, stderr)
	}
	m, stderr, err = cli("test-identity-provider", "--server-id", s1, "--user-name", "bob", "--user-password", "nope")
	if err != nil || m["Response"] != "{}\n" || !strings.Contains(fmt.Sprint(m["Message"]), "identity provider refused the user: the answer has no Role") {
		t.Errorf("test-identity-provider with a wrong password: %v %v %s", m, err, stderr)
	}
	_, stderr, err = cli("test-identity-provider", "--server-id", "s-00000000000000000", "--user-name", "bob")
	if err == nil || !strings.Contains(stderr, "(ResourceNotFoundException) when calling the TestIdentityProvider operation: Unknown server") {
		t.Errorf("test-identity-provider for an unknown server: %v %s", err, stderr)
	}
	p.noSecrets(t, alicePW, bobPW)
}

// TestIdentityProviderFailures points servers at providers that hang, answer garbage and answer
// without a Role: each login fails with an AUTH_FAILURE that says which, and the hanging one
// within the configured timeout.
func TestIdentityProviderFailures(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	serve := func(h http.HandlerFunc) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	hang := serve(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	garbage := serve(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>Internal error</html>")) })
	noRole := serve(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"HomeDirectory":"/bucket1/x","PublicKeys":["` + key.Authorized + `"]}`))
	})
	badHome := serve(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"Role":"` + testRole + `","HomeDirectory":"bucket1/x","PublicKeys":["` + key.Authorized + `"]}`))
	})
	ports := []int{freePort(t), freePort(t), freePort(t), freePort(t)}
	p := start(t, "IdentityProviders:\n  TimeoutSeconds: 1\n"+configYAML("",
		serverConf{Port: ports[0], Extra: idpServer("API_GATEWAY", "Url: "+hang, "")},
		serverConf{Port: ports[1], Extra: idpServer("API_GATEWAY", "Url: "+garbage, "")},
		serverConf{Port: ports[2], Extra: idpServer("API_GATEWAY", "Url: "+noRole, "")},
		serverConf{Port: ports[3], Extra: idpServer("API_GATEWAY", "Url: "+badHome, "")},
	))
	for i, want := range []string{
		"identity provider unreachable: no answer before the deadline",
		"bad response from the identity provider: not a JSON object",
		"identity provider refused the user: the answer has no Role",
		`bad response from the identity provider: HomeDirectory: "bucket1/x" must start with /`,
	} {
		user := fmt.Sprintf("user%d", i)
		if out, err := sftpBatch(t, ports[i], user, key, "ls\n"); err == nil {
			t.Errorf("%s logged in through a failing provider:\n%s", user, out)
		}
		r := p.authFailure(t, user, "publickey", "Invalid user name or public key: "+want)
		if r.IdPLatencyMs == nil {
			t.Errorf("AUTH_FAILURE without the provider's latency: %+v", r)
		}
		if i == 0 && *r.IdPLatencyMs > 30000 {
			t.Errorf("the hanging provider held the login for %.0f ms with a 1 s timeout", *r.IdPLatencyMs)
		}
	}
}

// TestHTTPSIdentityProvider serves the example provider over HTTPS with a private CA: transferd
// trusts it through IdentityProviders.CABundle, and refuses a provider whose certificate another
// CA signed.
func TestHTTPSIdentityProvider(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	dir := t.TempDir()
	trusted := newCA(t, dir, "trusted")
	untrusted := newCA(t, dir, "untrusted")
	users := writeIDPUsers(t, idpUser{Name: "alice", Keys: []*sshKey{key}})
	good := startIDP(t, users, trusted.leaf(t, dir, "good"), filepath.Join(dir, "good-key.pem"))
	bad := startIDP(t, users, untrusted.leaf(t, dir, "bad"), filepath.Join(dir, "bad-key.pem"))
	ports := []int{freePort(t), freePort(t)}
	p := start(t, "IdentityProviders:\n  CABundle: "+trusted.certFile+"\n"+configYAML("",
		serverConf{Port: ports[0], Extra: idpServer("API_GATEWAY", "Url: "+good, "PUBLIC_KEY")},
		serverConf{Port: ports[1], Extra: idpServer("API_GATEWAY", "Url: "+bad, "PUBLIC_KEY")},
	))
	mustSFTP(t, ports[0], "alice", key, "ls /\n")
	p.connected(t, "alice", "publickey")
	if out, err := sftpBatch(t, ports[1], "alice", key, "ls /\n"); err == nil {
		t.Errorf("a login through a provider with an untrusted certificate worked:\n%s", out)
	}
	p.authFailure(t, "alice", "publickey", "identity provider unreachable: tls: failed to verify certificate: x509: certificate signed by unknown authority")
}

// testCA is a certificate authority made for one test.
type testCA struct {
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	certFile string
}

func newCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	f := filepath.Join(dir, name+"-ca.pem")
	os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return &testCA{cert: cert, key: key, certFile: f}
}

// leaf issues a certificate for 127.0.0.1 and writes it and its key (DIR/NAME-key.pem); it returns
// the certificate's file.
func (ca *testCA) leaf(t *testing.T, dir, name string) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile := filepath.Join(dir, name+"-cert.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile
}

// TestLambdaIdentityProvider runs the example provider as a Go Lambda function (aws-lambda-go)
// under the AWS Lambda Runtime Interface Emulator, and transferd invokes it through the Lambda
// Invoke API (aws-sdk-go-v2's client) at the emulator's endpoint: OpenSSH logs in with a key,
// paramiko with a password, a wrong password is refused, and `transferd test-idp` asks it the
// same questions.
func TestLambdaIdentityProvider(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	const bobPW = "lambda-Secret-3"
	users := writeIDPUsers(t,
		idpUser{Name: "alice", Keys: []*sshKey{key}},
		idpUser{Name: "bob", Password: bobPW, Home: "/bucket1/bob"},
	)
	endpoint := startLambda(t, users)
	port := freePort(t)
	const id = "s-1d00000000000b001"
	p := start(t, "IdentityProviders:\n  LambdaEndpoint: "+endpoint+"\n  AccessKeyId: AKIAEXAMPLE\n  SecretAccessKey: lambda-test\n"+configYAML("",
		serverConf{ID: id, Port: port, Extra: idpServer("AWS_LAMBDA", "Function: arn:aws:lambda:us-east-1:000000000000:function:function", "")},
	))
	// The emulator runs one invocation at a time: the logins take turns.
	mustSFTP(t, port, "alice", key, "ls /\n")
	r := p.connected(t, "alice", "publickey")
	if r.IdPLatencyMs == nil || *r.IdPLatencyMs <= 0 {
		t.Errorf("CONNECTED without the function's latency: %+v", r)
	}
	if out, code := paramikoLogin(t, port, "bob", nil, bobPW, false, "ls /bucket1"); code != 0 {
		t.Errorf("bob with a password through the Lambda provider: exit %d\n%s", code, out)
	}
	p.connected(t, "bob", "password")
	if out, code := paramikoLogin(t, port, "bob", nil, "wrong", false); code != 2 {
		t.Errorf("bob with a wrong password: exit %d\n%s", code, out)
	}
	p.authFailure(t, "bob", "password", "identity provider refused the user: the answer has no Role")

	testIDP := func(stdin string, args ...string) (map[string]any, int) {
		t.Helper()
		cmd := exec.Command(suite.bin, append([]string{"test-idp", "--data-dir", p.dataDir, "--config", p.cfgPath, "--server-id", id, "--json"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
			t.Fatalf("transferd test-idp %q printed %q (%v), stderr %s", args, stdout.String(), err, stderr.String())
		}
		return m, code
	}
	m, code := testIDP(bobPW+"\n", "--user-name", "bob", "--password-stdin")
	if code != 0 || m["Outcome"] != "authenticated" || m["URL"] != "arn:aws:lambda:us-east-1:000000000000:function:function" ||
		fmt.Sprint(m["User"]) == "<nil>" || !strings.Contains(fmt.Sprint(m["User"]), "/bucket1/bob") {
		t.Errorf("test-idp for bob: exit %d, %v", code, m)
	}
	m, code = testIDP("wrong\n", "--user-name", "bob", "--password-stdin")
	if code != 1 || m["Outcome"] != "refused" {
		t.Errorf("test-idp with a wrong password: exit %d, %v", code, m)
	}
	m, code = testIDP("", "--user-name", "alice", "--public-key", key.Path+".pub")
	if code != 0 || m["KeyAccepted"] != true {
		t.Errorf("test-idp with alice's key: exit %d, %v", code, m)
	}
	p.noSecrets(t, bobPW)
}

// startLambda runs the example provider under the Runtime Interface Emulator (installed by
// scripts/lambda-rie.sh) and returns the emulator's endpoint.
func startLambda(t *testing.T, users string) string {
	t.Helper()
	script := filepath.Join(suite.root, "scripts", "lambda-rie.sh")
	rieOut, err := exec.Command("bash", script, "path").Output()
	if err != nil {
		t.Fatalf("%s path: %v", script, err)
	}
	rie := strings.TrimSpace(string(rieOut))
	invoke, runtime := "127.0.0.1:"+strconv.Itoa(freePort(t)), "127.0.0.1:"+strconv.Itoa(freePort(t))
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", invoke, "--runtime-api-address", runtime, idpBinary(t))
	cmd.Env = append(os.Environ(), "IDP_USERS_FILE="+users, "AWS_LAMBDA_FUNCTION_TIMEOUT=30")
	runBeside(t, "the Lambda Runtime Interface Emulator", cmd, invoke)
	return "http://" + invoke
}

// TestExampleIdentityProvider runs the walk-through of examples/idp as written (its users file
// and transferd config, on free ports): the partner logs in with the documented password, works
// in its folder, and its session policy keeps it there.
func TestExampleIdentityProvider(t *testing.T) {
	t.Parallel()
	url := startIDP(t, filepath.Join(suite.root, "examples", "idp", "users.yaml"), "", "")
	cfg, err := os.ReadFile(filepath.Join(suite.root, "examples", "idp", "transferd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	yaml := strings.NewReplacer("127.0.0.1:2224", "127.0.0.1:"+strconv.Itoa(port), "http://127.0.0.1:9470", url).Replace(string(cfg))
	if !strings.Contains(yaml, url) {
		t.Fatalf("examples/idp/transferd.yaml does not name the provider at http://127.0.0.1:9470:\n%s", cfg)
	}
	p := start(t, yaml)
	local := t.TempDir()
	up := filepath.Join(local, "report.csv")
	os.WriteFile(up, []byte("a,b\n"), 0o644)
	out, code := paramikoLogin(t, port, "partner", nil, "demo-password", false, "put "+up+" /report.csv", "ls /")
	if code != 0 || !strings.Contains(out, "ok ls report.csv") {
		t.Fatalf("the example's partner (exit %d):\n%s", code, out)
	}
	if b, err := os.ReadFile(filepath.Join(p.root, "demo-bucket", "partners", "partner", "report.csv")); err != nil || string(b) != "a,b\n" {
		t.Errorf("the partner's upload on disk: %q, %v", b, err)
	}
	r := p.connected(t, "partner", "password")
	if !strings.Contains(r.UserPolicy, "partners/${transfer:UserName}/*") {
		t.Errorf("the example's session policy is not in the CONNECTED record: %+v", r)
	}
	if out, code := paramikoLogin(t, port, "partner", nil, "not-the-password", false); code != 2 {
		t.Errorf("a wrong password for the example's partner: exit %d\n%s", code, out)
	}
}
