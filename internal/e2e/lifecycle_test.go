package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/aws-sdk-go-v2/service/transfer/types"

	"github.com/transferd/transferd/internal/activity"
)

func TestHostKeyStableAcrossRestarts(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser("sftp_user", key)}}))
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")

	connect := func(t *testing.T, dir, strict string) activity.Record {
		t.Helper()
		mustSFTP(t, port, "sftp_user", key, "mkdir "+dir+"\n",
			"-o", "UserKnownHostsFile="+knownHosts, "-o", "StrictHostKeyChecking="+strict)
		return p.session(t, "MKDIR of "+dir, func(r *activity.Record) bool {
			return r.ActivityType == activity.Mkdir && r.Path == "/bucket1/sftp_user/"+dir
		})[0]
	}
	first := connect(t, "first", "accept-new")
	if !serverARNRE.MatchString(first.ResourceARN) {
		t.Errorf("CONNECTED resource-arn %q, want %s", first.ResourceARN, serverARNRE)
	}
	kh, err := os.ReadFile(knownHosts)
	if err != nil || !strings.Contains(string(kh), fmt.Sprintf("[127.0.0.1]:%d ssh-rsa ", port)) {
		t.Fatalf("known_hosts after the first connection: %q, %v; want the server's ssh-rsa key", kh, err)
	}

	p.restart(t)

	second := connect(t, "second", "yes")
	if second.ResourceARN != first.ResourceARN {
		t.Errorf("resource-arn after the restart %q, want %q as before", second.ResourceARN, first.ResourceARN)
	}
	if kh2, _ := os.ReadFile(knownHosts); !bytes.Equal(kh, kh2) {
		t.Errorf("known_hosts changed by the second connection:\n%s\nwas:\n%s", kh2, kh)
	}
	for _, c := range []struct {
		path string
		want fs.FileMode
	}{{p.dataDir, 0o700}, {filepath.Join(p.dataDir, "state.db"), 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		if fi.Mode().Perm() != c.want {
			t.Errorf("%s has mode %v, want %v", c.path, fi.Mode().Perm(), c.want)
		}
	}
}

// waitLog waits until transferd's stderr holds s.
func (p *proc) waitLog(t testing.TB, s string) {
	t.Helper()
	for deadline := time.Now().Add(recordLimit); !strings.Contains(p.stderrText(), s); {
		if time.Now().After(deadline) {
			t.Fatalf("transferd's log lacks %q after %v:\n%s", s, recordLimit, p.stderrText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	const exitLimit = 30 * time.Second // well inside the 60s grace

	t.Run("an upload in flight finishes", func(t *testing.T) {
		t.Parallel()
		port := freePort(t)
		p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser("sftp_user", key)}}), "--shutdown-grace", "60s")
		c := dialSFTP(t, port, "sftp_user", key)
		data := make([]byte, 2<<20)
		rand.Read(data)
		f, err := c.OpenFile("inflight", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(data[:1<<20]); err != nil {
			t.Fatalf("writing the first MiB: %v", err)
		}
		p.signal(syscall.SIGTERM)
		p.waitLog(t, "shutting down")
		// New connections are refused once the listener is closed.
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		for deadline := time.Now().Add(recordLimit); ; {
			nc, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				break
			}
			nc.Close()
			if time.Now().After(deadline) {
				t.Fatalf("%s still accepts connections %v after SIGTERM", addr, recordLimit)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := sftpBatch(t, port, "sftp_user", key, "pwd\n"); err == nil {
			t.Errorf("a new sftp session after SIGTERM succeeded, want it refused")
		}
		if _, err := f.Write(data[1<<20:]); err != nil {
			t.Fatalf("writing the second MiB after SIGTERM: %v", err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("Close after SIGTERM: %v", err)
		}
		if !p.wait(exitLimit) {
			t.Fatalf("transferd did not exit within %v of the last file closing (grace 60s)", exitLimit)
		}
		if code := p.exitCode(); code != 0 {
			t.Errorf("transferd exited with code %d after SIGTERM, want 0", code)
		}
		got, err := os.ReadFile(filepath.Join(p.userDir("sftp_user"), "inflight"))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("the file written across SIGTERM: %d bytes, %v; want the %d written", len(got), err, len(data))
		}
		r := p.waitRecord(t, "CLOSE of inflight", func(r *activity.Record) bool {
			return r.ActivityType == activity.Close && r.Path == "/bucket1/sftp_user/inflight"
		})
		if r.BytesIn != strconv.Itoa(len(data)) {
			t.Errorf("CLOSE of inflight: bytes-in %q, want %d", r.BytesIn, len(data))
		}
	})

	t.Run("an OpenSSH upload in flight finishes", func(t *testing.T) {
		t.Parallel()
		port := freePort(t)
		p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser("sftp_user", key)}}), "--shutdown-grace", "60s")
		src := filepath.Join(t.TempDir(), "slow")
		sum := writeRandom(t, src, 3<<20)
		type result struct {
			out string
			err error
		}
		needTool(t, "sftp")
		done := make(chan result, 1)
		go func() {
			// -l 8000 (Kbit/s) makes the upload last about 3 seconds, so that SIGTERM comes
			// in the middle of it on any machine.
			out, err := runSFTP(port, "sftp_user", key, "put "+src+" slow\n", "-l", "8000")
			done <- result{out, err}
		}()
		p.waitRecord(t, "OPEN of slow", func(r *activity.Record) bool {
			return r.ActivityType == activity.Open && r.Path == "/bucket1/sftp_user/slow"
		})
		p.signal(syscall.SIGTERM)
		res := <-done
		if res.err != nil {
			t.Errorf("sftp put across SIGTERM failed: %v; output:\n%s", res.err, res.out)
		}
		if !p.wait(exitLimit) {
			t.Fatalf("transferd did not exit within %v of the upload ending (grace 60s)", exitLimit)
		}
		if code := p.exitCode(); code != 0 {
			t.Errorf("transferd exited with code %d after SIGTERM, want 0", code)
		}
		if got := fileSHA256(t, filepath.Join(p.userDir("sftp_user"), "slow")); got != sum {
			t.Errorf("the file uploaded across SIGTERM has sha256 %s, want %s", got, sum)
		}
		if !strings.Contains(p.stderrText(), "shutting down") {
			t.Errorf("transferd's log lacks \"shutting down\": SIGTERM came too late to test anything")
		}
	})

	t.Run("an idle session does not delay exit", func(t *testing.T) {
		t.Parallel()
		port := freePort(t)
		p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser("sftp_user", key)}}), "--shutdown-grace", "60s")
		c := dialSFTP(t, port, "sftp_user", key)
		if _, err := c.Getwd(); err != nil {
			t.Fatal(err)
		}
		// A finished transfer leaves the session idle.
		f, err := c.Create("done")
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("done"))
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		p.signal(syscall.SIGTERM)
		if !p.wait(exitLimit) {
			t.Fatalf("transferd with an idle session did not exit within %v of SIGTERM (grace 60s)", exitLimit)
		}
		if code := p.exitCode(); code != 0 {
			t.Errorf("transferd exited with code %d, want 0", code)
		}
		if _, err := c.Stat("done"); err == nil {
			t.Errorf("the idle session still works after transferd exited")
		}
		p.waitRecord(t, "DISCONNECTED", func(r *activity.Record) bool { return r.ActivityType == activity.Disconnected })
	})
}

func TestInterruptedUpload(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser("sftp_user", key)}}))

	partial := func(t *testing.T, path string) activity.Record {
		t.Helper()
		r := p.waitRecord(t, "PARTIAL_CLOSE of "+path, func(r *activity.Record) bool {
			return r.ActivityType == activity.PartialClose && r.Path == path
		})
		if r.SessionID == "" || r.User != "sftp_user" || r.BytesIn == "" {
			t.Errorf("PARTIAL_CLOSE: session-id %q user %q bytes-in %q, want a session, sftp_user, a count", r.SessionID, r.User, r.BytesIn)
		}
		p.waitRecord(t, "DISCONNECTED of the interrupted session", func(x *activity.Record) bool {
			return x.ActivityType == activity.Disconnected && x.SessionID == r.SessionID
		})
		for _, x := range p.records(t) {
			if x.ActivityType == activity.Close && x.Path == path {
				t.Errorf("a CLOSE record for the interrupted upload: %+v", x)
			}
		}
		return r
	}

	t.Run("pkg/sftp connection dropped", func(t *testing.T) {
		t.Parallel()
		c := dialSFTP(t, port, "sftp_user", key)
		f, err := c.OpenFile("partial", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 256<<10)
		rand.Read(data)
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		c.nc.Close() // the client vanishes without CLOSE
		r := partial(t, "/bucket1/sftp_user/partial")
		if r.BytesIn != strconv.Itoa(len(data)) {
			t.Errorf("PARTIAL_CLOSE: bytes-in %q, want the %d bytes written", r.BytesIn, len(data))
		}
	})

	t.Run("OpenSSH sftp killed", func(t *testing.T) {
		t.Parallel()
		needTool(t, "sftp")
		src := filepath.Join(t.TempDir(), "killed")
		writeRandom(t, src, 4<<20)
		ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
		defer cancel()
		// -l 8000 (Kbit/s) keeps the upload going for seconds.
		cmd := sftpCommand(ctx, port, "sftp_user", key, "-l", "8000")
		cmd.Stdin = strings.NewReader("put " + src + " killed\n")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p.waitRecord(t, "OPEN of killed", func(r *activity.Record) bool {
			return r.ActivityType == activity.Open && r.Path == "/bucket1/sftp_user/killed"
		})
		cmd.Process.Kill()
		cmd.Wait()
		partial(t, "/bucket1/sftp_user/killed")
	})

	t.Run("the server still serves", func(t *testing.T) {
		t.Parallel()
		mustSFTP(t, port, "sftp_user", key, "ls\n")
	})
}

func TestBadConfigs(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	ep := fmt.Sprintf("127.0.0.1:%d", port)
	for _, tc := range []struct {
		name    string
		yaml    string
		field   string // "" when the problem is not in a field
		problem string
	}{
		{"misspelled field", "Servers:\n  - Endpoint: " + ep + "\n    Users:\n      - HomeDirectory: /bucket1/alice\n        UserNam: alice\n",
			"Servers[0].Users[0]", `unknown field "UserNam" (did you mean "UserName"?)`},
		{"unknown field", "Servers:\n  - Endpoint: " + ep + "\n    Users:\n      - UserName: alice\n        HomeDirectory: /bucket1/alice\n        Homedir: /x\n",
			"Servers[0].Users[0]", `unknown field "Homedir"`},
		{"bad user name", "Servers:\n  - Endpoint: " + ep + "\n    Users:\n      - UserName: has space\n        HomeDirectory: /bucket1/x\n",
			"Servers[0].Users[0].UserName", `"has space" must be 3 to 100 characters`},
		{"root user", "Servers:\n  - Endpoint: " + ep + "\n    Users:\n      - UserName: root\n        HomeDirectory: /bucket1/x\n",
			"Servers[0].Users[0].UserName", `"root" is not allowed`},
		{"unknown security policy", "Servers:\n  - Endpoint: " + ep + "\n    SecurityPolicyName: TransferSecurityPolicy-1999-01\n",
			"Servers[0].SecurityPolicyName", `unknown security policy "TransferSecurityPolicy-1999-01"`},
		{"target with a trailing slash", "Servers:\n  - Endpoint: " + ep + "\n    Users:\n      - UserName: alice\n        HomeDirectoryType: LOGICAL\n        HomeDirectoryMappings:\n          - Entry: /\n            Target: /bucket1/alice/\n",
			"Servers[0].Users[0].HomeDirectoryMappings[0].Target", "must not end with /"},
		{"duplicate endpoint", "Servers:\n  - Endpoint: " + ep + "\n  - Endpoint: " + ep + "\n",
			"Servers[1].Endpoint", "is also the Endpoint of Servers[0]"},
		{"invalid YAML", "Servers:\n  - Endpoint: " + ep + "\n    Users: [\n      - UserName: alice\n",
			"", "YAML syntax error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := filepath.Join(dir, "bad.yaml")
			if err := os.WriteFile(cfg, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			dataDir := filepath.Join(dir, "data")
			stderr, code := runServe(t, "--data-dir", dataDir, "--config", cfg, "--activity-log", filepath.Join(dir, "activity.log"))
			if code == 0 {
				t.Errorf("transferd serve with %s exited 0, want non-zero", tc.name)
			}
			want := regexp.QuoteMeta(cfg) + `:\d+: `
			if tc.field != "" {
				want += regexp.QuoteMeta(tc.field) + ": "
			}
			want += ".*" + regexp.QuoteMeta(tc.problem)
			if !regexp.MustCompile(want).MatchString(stderr) {
				t.Errorf("config:\n%s\nstderr:\n%s\nwant a line matching %q (file:line: field: problem)", tc.yaml, stderr, want)
			}
			// The cause, not its consequence.
			if absent := map[string]string{"misspelled field": "UserName"}[tc.name]; absent != "" && strings.Contains(stderr, absent+":") {
				t.Errorf("stderr reports %s, a consequence of %s:\n%s", absent, tc.problem, stderr)
			}
			if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
				t.Errorf("stderr holds a stack trace:\n%s", stderr)
			}
			if nc, err := net.DialTimeout("tcp", ep, time.Second); err == nil {
				nc.Close()
				t.Errorf("something listens on %s after transferd refused its config", ep)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the data directory exists after the config was refused (%v): validation must come before anything starts", err)
			}
		})
	}

	t.Run("usage errors", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		missing := filepath.Join(dir, "missing.yaml")
		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{"no --config", []string{"--data-dir", filepath.Join(dir, "data")}, "--config"},
			{"no flags", nil, "--config"},
			{"missing config file", []string{"--data-dir", filepath.Join(dir, "data"), "--config", missing}, "config file " + missing + " does not exist"},
			{"unknown flag", []string{"--data-dir", filepath.Join(dir, "data"), "--confgi", missing}, "confgi"},
		} {
			stderr, code := runServe(t, tc.args...)
			if code == 0 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "goroutine") {
				t.Errorf("transferd serve %q: exit code %d, stderr:\n%s\nwant non-zero and a message naming %q", tc.args, code, stderr, tc.want)
			}
		}
	})
}

// runServe runs `transferd serve args...`, which must exit by itself, and returns its stderr and
// exit code.
func runServe(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.bin, append([]string{"serve", "--api-listen", "off"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("transferd serve %q still ran after %v, want it to exit; stderr:\n%s", args, startLimit, stderr.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return stderr.String(), cmd.ProcessState.ExitCode()
}

// TestStartAllOrNothing checks that serve binds every listener before anything else: a port that
// is taken (a server's of the config file, or the API's) stops the start with the flag or field
// that names it, before any server is online and before the state store is created; and that an
// error found while applying the file changes nothing in the store.
func TestStartAllOrNothing(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	first, api := freePort(t), freePort(t)
	second, _ := heldPort(t)
	free := func(port int) {
		t.Helper()
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Errorf("port %d is still in use after transferd failed to start: %v", port, err)
			return
		}
		ln.Close()
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "transferd.yaml")
	if err := os.WriteFile(cfg, []byte(configYAML("",
		serverConf{Port: first, Users: []userConf{chrootUser("alice", key)}},
		serverConf{Port: second})), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	stderr, code := runServe(t, "--data-dir", dataDir, "--config", cfg, "--api-listen", fmt.Sprintf("127.0.0.1:%d", api))
	if want := fmt.Sprintf("%s: Servers[1].Endpoint 127.0.0.1:%d: address already in use", cfg, second); code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("a server's port taken: exit %d, stderr:\n%s\nwant non-zero and %q", code, stderr, want)
	}
	if strings.Contains(stderr, "server online") || strings.Contains(stderr, "created server") {
		t.Errorf("transferd reported servers before it failed:\n%s", stderr)
	}
	free(first)
	free(api)
	if _, err := os.Stat(filepath.Join(dataDir, "state.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the state store exists after a failed start (%v)", err)
	}

	taken, _ := heldPort(t)
	stderr, code = runServe(t, "--data-dir", dataDir, "--config", cfg, "--api-listen", fmt.Sprintf("127.0.0.1:%d", taken))
	if want := fmt.Sprintf("--api-listen 127.0.0.1:%d: address already in use", taken); code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("the API's port taken: exit %d, stderr:\n%s\nwant non-zero and %q", code, stderr, want)
	}
	free(first)
	stderr, code = runServe(t, "--data-dir", dataDir, "--config", cfg, "--debug-listen", fmt.Sprintf("127.0.0.1:%d", taken))
	if want := fmt.Sprintf("--debug-listen 127.0.0.1:%d: address already in use", taken); code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("the debug port taken: exit %d, stderr:\n%s\nwant non-zero and %q", code, stderr, want)
	}
	free(first)

	// An error found while the file is applied (it names a server the API created) changes
	// nothing: its first server is not created either.
	p, client, _ := apiClientFor(t, "Servers: []\n")
	ctx := context.Background()
	cs, err := client.CreateServer(ctx, &transfer.CreateServerInput{Tags: []types.Tag{{Key: aws.String("transferd:Endpoint"),
		Value: aws.String(fmt.Sprintf("127.0.0.1:%d", freePort(t)))}}})
	if err != nil {
		t.Fatal(err)
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("transferd exited %d on SIGTERM", code)
	}
	bad := configYAML("", serverConf{Port: first, Users: []userConf{chrootUser("alice", key)}}, serverConf{Port: freePort(t), ID: aws.ToString(cs.ServerId)})
	if err := os.WriteFile(p.cfgPath, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr, code = runServe(t, p.args[1:]...)
	if want := p.cfgPath + ": Servers[1].ServerId: server " + aws.ToString(cs.ServerId) + " was created through the management API"; code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("a file naming the API's server: exit %d, stderr:\n%s\nwant non-zero and %q", code, stderr, want)
	}
	free(first)
	if err := os.WriteFile(p.cfgPath, []byte("Servers: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.launch(t)
	ls, err := client.ListServers(ctx, &transfer.ListServersInput{})
	if err != nil || len(ls.Servers) != 1 || aws.ToString(ls.Servers[0].ServerId) != aws.ToString(cs.ServerId) {
		t.Errorf("servers after the failed start: %+v, %v; want only the API's %s", ls, err, aws.ToString(cs.ServerId))
	}
}

// TestOneProcessPerDataDir checks that a second serve on a data directory in use exits at once,
// naming the process that has it, and that the pid file lets SIGHUP reach the right process.
func TestOneProcessPerDataDir(t *testing.T) {
	t.Parallel()
	p := start(t, configYAML("", serverConf{Port: freePort(t)}))
	pid, err := os.ReadFile(filepath.Join(p.dataDir, "transferd.pid"))
	if err != nil || strings.TrimSpace(string(pid)) != strconv.Itoa(p.cmd.Process.Pid) {
		t.Fatalf("transferd.pid holds %q (%v), want the process ID %d", pid, err, p.cmd.Process.Pid)
	}
	other := filepath.Join(t.TempDir(), "other.yaml")
	if err := os.WriteFile(other, []byte(configYAML("", serverConf{Port: freePort(t)})), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr, code := runServe(t, "--data-dir", p.dataDir, "--config", other)
	want := fmt.Sprintf("data directory %s is in use by another transferd (pid %d)", p.dataDir, p.cmd.Process.Pid)
	if code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("a second serve on the same data directory: exit %d, stderr:\n%s\nwant non-zero and %q", code, stderr, want)
	}
	if !p.running() {
		t.Fatalf("the first transferd stopped")
	}
	p.reload(t)
	// What the file changed, in one line, at start and on SIGHUP.
	for _, want := range []string{`msg="config applied"`, `changes="servers: 1 added"`, `msg="SIGHUP: config applied"`, `changes="no changes"`} {
		if !strings.Contains(p.stderrText(), want) {
			t.Errorf("the operational log lacks %s:\n%s", want, p.stderrText())
		}
	}
	// The policy's warning (an algorithm this build lacks) once, not at every start step or reload.
	if n := strings.Count(p.stderrText(), "diffie-hellman-group18-sha512 is not implemented"); n != 1 {
		t.Errorf("the group18 warning appears %d times, want once:\n%s", n, p.stderrText())
	}

	// --pid-file writes another, removed at exit.
	extra := filepath.Join(t.TempDir(), "run", "transferd.pid")
	os.MkdirAll(filepath.Dir(extra), 0o755)
	debug := freePort(t)
	q := start(t, configYAML("", serverConf{Port: freePort(t)}), "--pid-file", extra, "--debug-listen", fmt.Sprintf("127.0.0.1:%d", debug))
	if b, err := os.ReadFile(extra); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(q.cmd.Process.Pid) {
		t.Errorf("--pid-file holds %q (%v), want %d", b, err, q.cmd.Process.Pid)
	}
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", debug)); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("--debug-listen serves no profiles: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// A second serve on the same data directory is stopped by the lock, not by the debug port.
	stderr, code = runServe(t, "--data-dir", q.dataDir, "--config", other, "--debug-listen", fmt.Sprintf("127.0.0.1:%d", debug))
	if want := "data directory " + q.dataDir + " is in use by another transferd"; code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("a second serve with the same --debug-listen: exit %d, stderr:\n%s\nwant %q", code, stderr, want)
	}
	if code := q.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Stat(extra); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("--pid-file after exit: %v, want it removed", err)
	}
}

// TestStartFailedSaysWhy checks that a server created through the API on a port that is taken is
// START_FAILED with the reason shown as the tag transferd:StateReason (DescribeServer and
// ListTagsForResource) and in the operational log, and that StartServer retries it.
func TestStartFailedSaysWhy(t *testing.T) {
	t.Parallel()
	p, client := apiClient(t)
	ctx := context.Background()
	key := keyFor(t, "ed25519")
	port, taken := heldPort(t)
	ep := fmt.Sprintf("127.0.0.1:%d", port)
	cs, err := client.CreateServer(ctx, &transfer.CreateServerInput{Tags: []types.Tag{{Key: aws.String("transferd:Endpoint"), Value: aws.String(ep)}}})
	if err != nil {
		taken.Close()
		t.Fatal(err)
	}
	id := cs.ServerId
	reason := func() (string, types.State) {
		t.Helper()
		ds, err := client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: id})
		if err != nil {
			t.Fatal(err)
		}
		lt, err := client.ListTagsForResource(ctx, &transfer.ListTagsForResourceInput{Arn: ds.Server.Arn})
		if err != nil {
			t.Fatal(err)
		}
		described, listed := "", ""
		for _, tag := range ds.Server.Tags {
			if aws.ToString(tag.Key) == "transferd:StateReason" {
				described = aws.ToString(tag.Value)
			}
		}
		for _, tag := range lt.Tags {
			if aws.ToString(tag.Key) == "transferd:StateReason" {
				listed = aws.ToString(tag.Value)
			}
		}
		if described != listed {
			t.Errorf("transferd:StateReason: DescribeServer %q, ListTagsForResource %q", described, listed)
		}
		return described, ds.Server.State
	}
	if why, state := reason(); state != types.StateStartFailed || !strings.Contains(why, "listening on "+ep+": address already in use") {
		t.Errorf("a server on a taken port: %s, transferd:StateReason %q; want START_FAILED and why", state, why)
	}
	if !strings.Contains(p.stderrText(), "server could not start") {
		t.Errorf("the operational log does not say the server could not start:\n%s", p.stderrText())
	}
	// Still taken: StartServer tries again and fails again.
	if _, err := client.StartServer(ctx, &transfer.StartServerInput{ServerId: id}); err != nil {
		t.Fatal(err)
	}
	if why, state := reason(); state != types.StateStartFailed || why == "" {
		t.Errorf("StartServer on a port still taken: %s %q; want START_FAILED and why", state, why)
	}
	taken.Close()
	if _, err := client.StartServer(ctx, &transfer.StartServerInput{ServerId: id}); err != nil {
		t.Fatal(err)
	}
	if why, state := reason(); state != types.StateOnline || why != "" {
		t.Errorf("StartServer once the port is free: %s, transferd:StateReason %q; want ONLINE and none", state, why)
	}
	if _, err := client.CreateUser(ctx, &transfer.CreateUserInput{ServerId: id, UserName: aws.String("alice"), Role: aws.String(testRole),
		HomeDirectory: aws.String("/bucket1/alice"), SshPublicKeyBody: aws.String(key.Authorized)}); err != nil {
		t.Fatal(err)
	}
	mustSFTP(t, port, "alice", key, "pwd\n")
}

// TestReloadMovesBeforeStarting checks that one SIGHUP can move a server to another port and
// give its old port to a new server (whose ID sorts first): servers leave their ports before
// others take them.
func TestReloadMovesBeforeStarting(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	e1, e2 := freePort(t), freePort(t)
	const moving, newcomer = "s-00000000000000f02", "s-00000000000000f01"
	p := start(t, configYAML("", serverConf{ID: moving, Port: e1, Users: []userConf{chrootUser("mover", key)}}))
	mustSFTP(t, e1, "mover", key, "pwd\n")
	cfg := configYAML("",
		serverConf{ID: newcomer, Port: e1, Users: []userConf{chrootUser("newcomer", key)}},
		serverConf{ID: moving, Port: e2, Users: []userConf{chrootUser("mover", key)}})
	if err := os.WriteFile(p.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p.reload(t)
	if strings.Contains(p.stderrText(), "could not start") {
		t.Fatalf("a server could not start after the move:\n%s", p.stderrText())
	}
	mustSFTP(t, e2, "mover", key, "pwd\n")
	mustSFTP(t, e1, "newcomer", key, "pwd\n")
}
