package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/activity"
)

// Generous limits that only keep a broken run from hanging; nothing asserts on durations.
const (
	startLimit  = 30 * time.Second // until every endpoint of a new process accepts TCP
	stopLimit   = 60 * time.Second // from SIGTERM to exit
	clientLimit = 60 * time.Second // one OpenSSH sftp or ssh invocation
	recordLimit = 10 * time.Second // until an activity record shows up
	connLimit   = 2 * time.Minute  // one connection's handshake, and other single exchanges
)

// suite is what TestMain prepares once for every test: the transferd binary and a directory for
// client keys.
var suite struct {
	root   string // the module's root directory
	bin    string
	keyDir string
	keys   sync.Map // kind -> *keyEntry
	ports  sync.Map // port -> true, every port freePort handed out
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "transferd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		fmt.Fprintf(os.Stderr, "e2e: finding the module root with go env GOMOD: %q, %v\n", out, err)
		return 1
	}
	suite.root = filepath.Dir(gomod)
	suite.bin = filepath.Join(dir, "transferd")
	build := exec.Command("go", "build", "-o", suite.bin, "./cmd/transferd")
	build.Dir = suite.root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building transferd: %v\n%s", err, out)
		return 1
	}
	suite.keyDir = filepath.Join(dir, "keys")
	if err := os.Mkdir(suite.keyDir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer stopS3()       // the S3 server the first S3 test started, if any (s3_test.go)
	defer stopPostgres() // likewise PostgreSQL (postgres_test.go)
	return m.Run()
}

// needTool fails the test when an OpenSSH client program is missing.
func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed: run scripts/test, which installs the clients the tests use (%v)", name, err)
	}
}

// freePort returns a loopback TCP port that was free a moment ago and that no other test of this
// binary was given. It is drawn below Linux's ephemeral range (32768-60999), so the many client
// connections the tests make cannot take it between now and transferd binding it.
func freePort(t testing.TB) int {
	t.Helper()
	for range 1000 {
		port := 20000 + mrand.IntN(12000)
		if _, taken := suite.ports.LoadOrStore(port, true); taken {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		return port
	}
	t.Fatal("no free loopback port")
	return 0
}

// heldPort returns a loopback port that the test holds with a listener (closed when the test
// ends, or earlier by the caller): a port that something is known to be using. Another process
// may take a free port between freePort and Listen, so it tries again.
func heldPort(t testing.TB) (int, net.Listener) {
	t.Helper()
	for range 100 {
		port := freePort(t)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			t.Cleanup(func() { ln.Close() })
			return port, ln
		}
	}
	t.Fatal("no loopback port could be held")
	return 0, nil
}

// ---- client keys ----

// sshKey is a client key pair made by ssh-keygen.
type sshKey struct {
	Kind        string // ed25519, ecdsa-256, ..., rsa-3072; a suffix after "#" makes another key
	Path        string // private key file; Path+".pub" is the public key
	Authorized  string // the public key line, as in authorized_keys
	Type        string // ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa ...
	Fingerprint string // SHA256:... as ssh-keygen -l prints it
	Signer      ssh.Signer
}

type keyEntry struct {
	once sync.Once
	key  *sshKey
	err  error
}

// keyFor returns the client key of a kind, generating it once per test binary. Kinds are ed25519,
// ecdsa-256, ecdsa-384, ecdsa-521 and rsa-3072; "ed25519#other" is a second, different ed25519 key.
func keyFor(t testing.TB, kind string) *sshKey {
	t.Helper()
	needTool(t, "ssh-keygen")
	e, _ := suite.keys.LoadOrStore(kind, &keyEntry{})
	ke := e.(*keyEntry)
	ke.once.Do(func() { ke.key, ke.err = generateKey(kind) })
	if ke.err != nil {
		t.Fatalf("generating a %s key: %v", kind, ke.err)
	}
	return ke.key
}

func generateKey(kind string) (*sshKey, error) {
	base, _, _ := strings.Cut(kind, "#")
	var args []string
	switch base {
	case "ed25519":
		args = []string{"-t", "ed25519"}
	case "ecdsa-256", "ecdsa-384", "ecdsa-521":
		args = []string{"-t", "ecdsa", "-b", strings.TrimPrefix(base, "ecdsa-")}
	case "rsa-3072":
		args = []string{"-t", "rsa", "-b", "3072"}
	default:
		return nil, fmt.Errorf("unknown key kind %q", kind)
	}
	path := filepath.Join(suite.keyDir, strings.NewReplacer("#", "-").Replace(kind))
	args = append(args, "-q", "-N", "", "-C", "e2e-"+kind, "-f", path)
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ssh-keygen %s: %v: %s", strings.Join(args, " "), err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		return nil, err
	}
	priv, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(priv)
	if err != nil {
		return nil, err
	}
	lf, err := exec.Command("ssh-keygen", "-lf", path+".pub").Output()
	if err != nil {
		return nil, fmt.Errorf("ssh-keygen -lf: %v", err)
	}
	fields := strings.Fields(string(lf))
	if len(fields) < 2 || !strings.HasPrefix(fields[1], "SHA256:") {
		return nil, fmt.Errorf("ssh-keygen -lf printed %q", lf)
	}
	return &sshKey{
		Kind:        kind,
		Path:        path,
		Authorized:  strings.TrimSpace(string(pub)),
		Type:        signer.PublicKey().Type(),
		Fingerprint: fields[1],
		Signer:      signer,
	}, nil
}

// ---- config files ----

// serverConf is one entry of Servers in a config file; empty fields are left out.
type serverConf struct {
	ID      string
	Port    int
	Policy  string
	Banner  string
	SetStat string
	Domain  string
	Users   []userConf
	// Extra is more of the server's YAML, e.g. its identity provider, indented as at the top.
	Extra string
}

type userConf struct {
	Name     string
	Role     string
	Type     string // LOGICAL or PATH
	Home     string
	Mappings []mappingConf
	Keys     []*sshKey
	Policy   string // session policy JSON
	Posix    string // PosixProfile as a YAML flow mapping, e.g. "{Uid: 1001, Gid: 1001}"
}

type mappingConf struct{ Entry, Target, Type string }

const testRole = "arn:aws:iam::123456789012:role/transfer-user"

// chrootUser is a LOGICAL user whose "/" is /bucket1/NAME.
func chrootUser(name string, keys ...*sshKey) userConf {
	return userConf{Name: name, Role: testRole, Type: "LOGICAL",
		Mappings: []mappingConf{{Entry: "/", Target: "/bucket1/${transfer:UserName}"}}, Keys: keys}
}

// pathUser is a PATH user at /bucket1/shared.
func pathUser(name string, keys ...*sshKey) userConf {
	return userConf{Name: name, Role: testRole, Type: "PATH", Home: "/bucket1/shared", Keys: keys}
}

// treeUser is a LOGICAL user with a virtual tree: /pics, /docs/reports and the file /readme.txt.
func treeUser(name string, keys ...*sshKey) userConf {
	return userConf{Name: name, Role: testRole, Type: "LOGICAL", Keys: keys, Mappings: []mappingConf{
		{Entry: "/pics", Target: "/bucket1/pics"},
		{Entry: "/docs/reports", Target: "/bucket2/reports"},
		{Entry: "/readme.txt", Target: "/bucket1/README.txt", Type: "FILE"},
	}}
}

// configYAML writes a config file; storageRoot may be empty for the default DATA_DIR/storage.
func configYAML(storageRoot string, servers ...serverConf) string {
	var b strings.Builder
	q := strconv.Quote
	if storageRoot != "" {
		fmt.Fprintf(&b, "Storage:\n  Local:\n    Root: %s\n", q(storageRoot))
	}
	b.WriteString("Servers:\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "  - Endpoint: %s\n", q(fmt.Sprintf("127.0.0.1:%d", s.Port)))
		field := func(name, v string) {
			if v != "" {
				fmt.Fprintf(&b, "    %s: %s\n", name, q(v))
			}
		}
		field("ServerId", s.ID)
		field("SecurityPolicyName", s.Policy)
		field("PreAuthenticationLoginBanner", s.Banner)
		field("Domain", s.Domain)
		if s.SetStat != "" {
			fmt.Fprintf(&b, "    ProtocolDetails:\n      SetStatOption: %s\n", s.SetStat)
		}
		for line := range strings.Lines(s.Extra) {
			b.WriteString("    " + line)
		}
		if len(s.Users) > 0 {
			b.WriteString("    Users:\n")
		}
		for _, u := range s.Users {
			fmt.Fprintf(&b, "      - UserName: %s\n", q(u.Name))
			ufield := func(name, v string) {
				if v != "" {
					fmt.Fprintf(&b, "        %s: %s\n", name, q(v))
				}
			}
			ufield("Role", u.Role)
			ufield("HomeDirectoryType", u.Type)
			ufield("HomeDirectory", u.Home)
			ufield("Policy", u.Policy)
			if u.Posix != "" {
				fmt.Fprintf(&b, "        PosixProfile: %s\n", u.Posix)
			}
			if len(u.Mappings) > 0 {
				b.WriteString("        HomeDirectoryMappings:\n")
			}
			for _, m := range u.Mappings {
				fmt.Fprintf(&b, "          - Entry: %s\n            Target: %s\n", q(m.Entry), q(m.Target))
				if m.Type != "" {
					fmt.Fprintf(&b, "            Type: %s\n", m.Type)
				}
			}
			if len(u.Keys) > 0 {
				b.WriteString("        SshPublicKeys:\n")
			}
			for _, k := range u.Keys {
				fmt.Fprintf(&b, "          - %s\n", q(k.Authorized))
			}
		}
	}
	return b.String()
}

// ---- transferd processes ----

// proc is one transferd process.
type proc struct {
	dir       string // holds the config and the logs
	dataDir   string
	root      string // the storage root
	cfgPath   string
	actLog    string
	stderr    string
	args      []string
	wrap      []string // runs transferd (nil: none)
	endpoints []string
	// startedBefore counts the "started" lines in stderr before the last spawn.
	startedBefore int
	// opsLog is the --log-file, if any.
	opsLog string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	code    int
	sigterm bool // sent to cmd
}

var (
	// A server's Endpoint is its list item's first key ("  - Endpoint: ..."), unlike Storage.S3's.
	endpointRE = regexp.MustCompile(`(?m)^\s*- Endpoint:\s*"?([^"\s,}]+)`)
	rootRE     = regexp.MustCompile(`(?m)Root:\s*"?([^"\s,}]+)`)
)

// startedLine is what transferd logs once it serves.
const startedLine = "msg=started"

// loopbackExempt exempts 127.0.0.1 from brute-force penalties.
const loopbackExempt = "Penalties:\n  ExemptNetworks: [\"127.0.0.1\"]\n"

// start writes cfg to a temporary directory, starts transferd on it (data directory DIR/data,
// activity log DIR/activity.log, shutdown grace 10s unless flags say otherwise) and waits until
// every Endpoint of cfg accepts TCP. The process is stopped when the test ends.
func start(t *testing.T, cfg string, flags ...string) *proc {
	t.Helper()
	return startWrapped(t, nil, cfg, flags...)
}

// startWrapped is start with the command wrap (e.g. prlimit and its options) running transferd.
func startWrapped(t *testing.T, wrap []string, cfg string, flags ...string) *proc {
	t.Helper()
	p := prepare(t, wrap, cfg, flags...)
	p.launch(t)
	return p
}

// prepare is startWrapped without the start: launch, or spawn and await, start the process.
// With --listen-host H among flags, the servers are awaited at H.
func prepare(t *testing.T, wrap []string, cfg string, flags ...string) *proc {
	t.Helper()
	dir := t.TempDir()
	p := &proc{
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		cfgPath: filepath.Join(dir, "transferd.yaml"),
		actLog:  filepath.Join(dir, "activity.log"),
		stderr:  filepath.Join(dir, "stderr.log"),
		wrap:    wrap,
	}
	p.root = filepath.Join(p.dataDir, "storage")
	if m := rootRE.FindStringSubmatch(cfg); m != nil {
		p.root = m[1]
	}
	listenHost := ""
	for i, f := range flags {
		switch {
		case f == "--listen-host" && i+1 < len(flags):
			listenHost = flags[i+1]
		case f == "--log-file" && i+1 < len(flags):
			p.opsLog = flags[i+1] // the operational log is there: stderrText reads it too
		}
	}
	for _, m := range endpointRE.FindAllStringSubmatch(cfg, -1) {
		ep := m[1]
		if _, port, err := net.SplitHostPort(ep); err == nil && listenHost != "" {
			ep = net.JoinHostPort(listenHost, port)
		}
		p.endpoints = append(p.endpoints, ep)
	}
	if !strings.Contains(cfg, "Penalties:") {
		// Tests connect from 127.0.0.1 and fail logins on purpose; penalties are tested from
		// other loopback addresses.
		cfg = loopbackExempt + cfg
	}
	if err := os.WriteFile(p.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p.args = append([]string{"serve", "--data-dir", p.dataDir, "--config", p.cfgPath,
		"--activity-log", p.actLog, "--shutdown-grace", "10s", "--log-level", "debug", "--api-listen", "off"}, flags...)
	t.Cleanup(func() {
		if p.running() {
			if !p.terminated() {
				p.signal(syscall.SIGTERM) // a second one would end it at once
			}
			if !p.wait(stopLimit) {
				p.signal(syscall.SIGKILL)
				p.wait(stopLimit)
				t.Errorf("transferd did not exit within %v of SIGTERM; killed it", stopLimit)
			} else if code := p.exitCode(); code != 0 {
				t.Errorf("transferd exited with code %d on SIGTERM at the end of the test, want 0", code)
			}
		}
		for _, bad := range []string{"panic", "DATA RACE", "level=ERROR"} {
			if strings.Contains(p.stderrText(), bad) {
				t.Errorf("transferd's stderr holds %q", bad)
			}
		}
		if t.Failed() {
			t.Logf("transferd stderr (%s):\n%s", p.stderr, p.stderrText())
		}
	})
	return p
}

// launch starts the process and waits until it serves.
func (p *proc) launch(t *testing.T) {
	t.Helper()
	p.spawn(t)
	p.await(t)
}

// spawn starts the process; await waits until it serves. Several processes spawned before any is
// awaited start at the same time.
func (p *proc) spawn(t *testing.T) {
	t.Helper()
	errf, err := os.OpenFile(p.stderr, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	outf, err := os.OpenFile(filepath.Join(p.dir, "stdout.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer outf.Close()
	p.startedBefore = strings.Count(p.stderrText(), startedLine)
	cmd := exec.Command(suite.bin, p.args...)
	if len(p.wrap) > 0 {
		cmd = exec.Command(p.wrap[0], append(append(p.wrap[1:len(p.wrap):len(p.wrap)], suite.bin), p.args...)...)
	}
	cmd.Stdout, cmd.Stderr = outf, errf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.code, p.sigterm = cmd, done, -1, false
	p.mu.Unlock()
	go func() {
		cmd.Wait()
		p.mu.Lock()
		p.code = cmd.ProcessState.ExitCode()
		p.mu.Unlock()
		close(done)
	}()
}

func (p *proc) await(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	deadline := time.Now().Add(startLimit)
	// The ports are bound before the config is applied: "started" says the servers are up.
	for strings.Count(p.stderrText(), startedLine) == p.startedBefore {
		select {
		case <-done:
			t.Fatalf("transferd exited with code %d before serving; stderr:\n%s", p.exitCode(), p.stderrText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("transferd did not start within %v; stderr:\n%s", startLimit, p.stderrText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, ep := range p.endpoints {
		for {
			select {
			case <-done:
				t.Fatalf("transferd exited with code %d before serving; stderr:\n%s", p.exitCode(), p.stderrText())
			default:
			}
			c, err := net.DialTimeout("tcp", ep, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("transferd does not accept connections on %s after %v: %v; stderr:\n%s", ep, startLimit, err, p.stderrText())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (p *proc) running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

func (p *proc) signal(sig os.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sig == syscall.SIGTERM {
		p.sigterm = true
	}
	p.cmd.Process.Signal(sig)
}

// terminated reports whether the running process was sent SIGTERM.
// reload sends SIGHUP and waits until transferd has applied the config file again.
func (p *proc) reload(t *testing.T) {
	t.Helper()
	const done = "SIGHUP: config applied"
	before := strings.Count(p.stderrText(), done)
	p.signal(syscall.SIGHUP)
	deadline := time.Now().Add(startLimit)
	for strings.Count(p.stderrText(), done) == before {
		if time.Now().After(deadline) {
			t.Fatalf("transferd did not apply its config file within %v of SIGHUP; stderr:\n%s", startLimit, p.stderrText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) terminated() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sigterm
}

// wait waits up to limit for the process to exit and reports whether it did.
func (p *proc) wait(limit time.Duration) bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		return false
	}
}

func (p *proc) exitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	p.signal(syscall.SIGTERM)
	if !p.wait(stopLimit) {
		t.Fatalf("transferd did not exit within %v of SIGTERM", stopLimit)
	}
	return p.exitCode()
}

// restart stops the process (which must exit 0) and starts it again with the same data
// directory, config and flags.
func (p *proc) restart(t *testing.T) {
	t.Helper()
	if code := p.stop(t); code != 0 {
		t.Fatalf("transferd exited with code %d on SIGTERM, want 0; stderr:\n%s", code, p.stderrText())
	}
	p.launch(t)
}

func (p *proc) stderrText() string {
	b, _ := os.ReadFile(p.stderr)
	if p.opsLog != "" {
		ops, _ := os.ReadFile(p.opsLog)
		b = append(b, ops...)
	}
	return string(b)
}

// userDir is where a chroot user's files are on disk.
func (p *proc) userDir(user string) string { return filepath.Join(p.root, "bucket1", user) }

// records reads every complete record of the activity log.
func (p *proc) records(t testing.TB) []activity.Record {
	t.Helper()
	b, err := os.ReadFile(p.actLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var recs []activity.Record
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var r activity.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			if !bytes.HasSuffix(b, []byte("\n")) && bytes.HasSuffix(b, sc.Bytes()) {
				break // a line still being written
			}
			t.Fatalf("activity log line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// waitRecord waits for a record matching pred and returns the first one.
func (p *proc) waitRecord(t testing.TB, what string, pred func(r *activity.Record) bool) activity.Record {
	t.Helper()
	deadline := time.Now().Add(recordLimit)
	for {
		recs := p.records(t)
		for i := range recs {
			if pred(&recs[i]) {
				return recs[i]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no activity record %s after %v; the log has:\n%s", what, recordLimit, dumpRecords(recs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// session waits until the session that wrote a record matching pred has ended and returns its
// records, CONNECTED first and DISCONNECTED last.
func (p *proc) session(t testing.TB, what string, pred func(r *activity.Record) bool) []activity.Record {
	t.Helper()
	id := p.waitRecord(t, what, pred).SessionID
	if id == "" {
		t.Fatalf("record %s has no session-id", what)
	}
	p.waitRecord(t, "DISCONNECTED of session "+id, func(r *activity.Record) bool {
		return r.ActivityType == activity.Disconnected && r.SessionID == id
	})
	var out []activity.Record
	for _, r := range p.records(t) {
		if r.SessionID == id {
			out = append(out, r)
		}
	}
	if len(out) < 2 || out[0].ActivityType != activity.Connected || out[len(out)-1].ActivityType != activity.Disconnected {
		t.Fatalf("session %s: records do not start with CONNECTED and end with DISCONNECTED:\n%s", id, dumpRecords(out))
	}
	return out
}

func dumpRecords(recs []activity.Record) string {
	const keep = 60
	var b strings.Builder
	if len(recs) > keep {
		fmt.Fprintf(&b, "  (%d earlier records not shown)\n", len(recs)-keep)
		recs = recs[len(recs)-keep:]
	}
	for _, r := range recs {
		j, _ := json.Marshal(r)
		b.WriteString("  ")
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// ---- OpenSSH clients ----

// clientOpts are the options every OpenSSH client invocation uses.
func clientOpts(key *sshKey) []string {
	return []string{
		"-F", os.DevNull,
		"-i", key.Path,
		"-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=" + os.DevNull,
		"-o", "ConnectTimeout=30",
	}
}

// sftpBatch runs `sftp -v -b -` with batch on stdin and returns its combined output. opts come
// before the defaults of clientOpts, and ssh takes the first value of an option, so opts may
// override them.
func sftpBatch(t testing.TB, port int, user string, key *sshKey, batch string, opts ...string) (string, error) {
	t.Helper()
	needTool(t, "sftp")
	out, err := runSFTP(port, user, key, batch, opts...)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sftp %q did not finish within %v; output:\n%s", opts, clientLimit, out)
	}
	return out, err
}

// sftpCommand is the OpenSSH sftp client in batch mode (`sftp -b -`, commands on its standard
// input) for user on the server at port, with opts before the defaults of clientOpts.
func sftpCommand(ctx context.Context, port int, user string, key *sshKey, opts ...string) *exec.Cmd {
	args := append([]string{"-b", "-", "-P", strconv.Itoa(port)}, opts...)
	args = append(args, clientOpts(key)...)
	return exec.CommandContext(ctx, "sftp", append(args, user+"@127.0.0.1")...)
}

// runSFTP is sftpBatch for goroutines other than the test's: a timeout is returned as
// context.DeadlineExceeded.
func runSFTP(port int, user string, key *sshKey, batch string, opts ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
	defer cancel()
	cmd := sftpCommand(ctx, port, user, key, append([]string{"-v"}, opts...)...)
	cmd.Stdin = strings.NewReader(batch)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), ctx.Err()
	}
	return string(out), err
}

// mustSFTP is sftpBatch for a batch that must succeed.
func mustSFTP(t testing.TB, port int, user string, key *sshKey, batch string, opts ...string) string {
	t.Helper()
	out, err := sftpBatch(t, port, user, key, batch, opts...)
	if err != nil {
		t.Fatalf("sftp as %s with options %q and batch:\n%s\nfailed: %v; output:\n%s", user, opts, batch, err, out)
	}
	return out
}

// sshRun runs the OpenSSH ssh client with opts, then the remote command if any, and returns its
// combined output and exit code.
func sshRun(t testing.TB, port int, user string, key *sshKey, opts []string, command ...string) (string, int) {
	t.Helper()
	needTool(t, "ssh")
	ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
	defer cancel()
	args := append([]string{"-p", strconv.Itoa(port)}, opts...)
	args = append(args, clientOpts(key)...)
	args = append(args, user+"@127.0.0.1")
	args = append(args, command...)
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("ssh %s did not finish within %v; output:\n%s", strings.Join(args, " "), clientLimit, out)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("ssh %s: %v", strings.Join(args, " "), err)
	return "", 0
}

// negotiated is what `sftp -v` reports of the key exchange.
type negotiated struct {
	Kex, HostKey                         string
	C2SCipher, C2SMAC, S2CCipher, S2CMAC string
	HostKeyType, HostKeyFingerprint      string
}

var (
	kexRE     = regexp.MustCompile(`(?m)^debug1: kex: algorithm: (\S+)`)
	hostKeyRE = regexp.MustCompile(`(?m)^debug1: kex: host key algorithm: (\S+)`)
	c2sRE     = regexp.MustCompile(`(?m)^debug1: kex: client->server cipher: (\S+) MAC: (\S+)`)
	s2cRE     = regexp.MustCompile(`(?m)^debug1: kex: server->client cipher: (\S+) MAC: (\S+)`)
	serverKey = regexp.MustCompile(`(?m)^debug1: Server host key: (\S+) (SHA256:\S+)`)
)

func parseSftpV(out string) negotiated {
	var n negotiated
	if m := kexRE.FindStringSubmatch(out); m != nil {
		n.Kex = m[1]
	}
	if m := hostKeyRE.FindStringSubmatch(out); m != nil {
		n.HostKey = m[1]
	}
	if m := c2sRE.FindStringSubmatch(out); m != nil {
		n.C2SCipher, n.C2SMAC = m[1], m[2]
	}
	if m := s2cRE.FindStringSubmatch(out); m != nil {
		n.S2CCipher, n.S2CMAC = m[1], m[2]
	}
	if m := serverKey.FindStringSubmatch(out); m != nil {
		n.HostKeyType, n.HostKeyFingerprint = m[1], m[2]
	}
	return n
}

// ---- pkg/sftp clients ----

// sftpConn is a pkg/sftp client over an x/crypto SSH connection whose net.Conn the test holds.
type sftpConn struct {
	*sftp.Client
	nc  net.Conn
	ssh *ssh.Client
}

// dialSSH opens an SSH connection as user with key. Every I/O fails after connLimit, so that a
// broken server cannot hang the test.
func dialSSH(t testing.TB, port int, user string, key *sshKey) (*ssh.Client, net.Conn, error) {
	t.Helper()
	return dialSSHFrom(t, "", port, user, key)
}

// dialSSHFrom is dialSSH from the local address from ("" for any), such as 127.0.0.2.
func dialSSHFrom(t testing.TB, from string, port int, user string, key *sshKey) (*ssh.Client, net.Conn, error) {
	t.Helper()
	return dialSSHAt(from, fmt.Sprintf("127.0.0.1:%d", port), user, key)
}

// dialSSHAt is dialSSHFrom to the address addr. It may be called from any goroutine.
func dialSSHAt(from, addr string, user string, key *sshKey) (*ssh.Client, net.Conn, error) {
	nc, err := dialFrom(from, addr)
	if err != nil {
		return nil, nil, err
	}
	nc.SetDeadline(time.Now().Add(connLimit))
	cfg := &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key.Signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
	}
	c, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	// Only the handshake is bounded: a test's parallel subtests may wait their turn longer than
	// connLimit and then use the connection (go test's -timeout bounds a hung server).
	nc.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nc, nil
}

// dialFrom opens a TCP connection to addr from the local address from ("" for any).
func dialFrom(from, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 30 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	return d.Dial("tcp", addr)
}

// dialSFTP opens a pkg/sftp session, closed when the test ends.
func dialSFTP(t testing.TB, port int, user string, key *sshKey) *sftpConn {
	t.Helper()
	sc, nc, err := dialSSH(t, port, user, key)
	if err != nil {
		t.Fatalf("ssh connection to port %d as %s: %v", port, user, err)
	}
	c, err := sftp.NewClient(sc)
	if err != nil {
		sc.Close()
		t.Fatalf("sftp session on port %d as %s: %v", port, user, err)
	}
	t.Cleanup(func() {
		c.Close()
		sc.Close()
	})
	return &sftpConn{Client: c, nc: nc, ssh: sc}
}

// ---- policies ----

// algorithms is a policy's algorithm lists.
type algorithms struct {
	SshKexs, SshCiphers, SshMacs, SshHostKeyAlgorithms []string
}

// negotiable is what `transferd policies describe NAME` says transferd offers for a policy.
func negotiable(t testing.TB, policy string) algorithms {
	t.Helper()
	out, err := exec.Command(suite.bin, "policies", "describe", policy).Output()
	if err != nil {
		t.Fatalf("transferd policies describe %s: %v", policy, err)
	}
	var d struct {
		SecurityPolicy algorithms
		Transferd      struct{ Negotiable algorithms }
	}
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("transferd policies describe %s: %v in %s", policy, err, out)
	}
	return d.Transferd.Negotiable
}

// syncBuffer collects the output of a process that the test reads while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
