package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sshdBinary finds OpenSSH's sshd: TRANSFERD_TEST_SSHD or the system's /usr/sbin/sshd (which
// scripts/test installs). The system's sshd is only run, never
// configured or signalled: each test starts its own on loopback.
func sshdBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("TRANSFERD_TEST_SSHD"), "/usr/sbin/sshd"} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			abs, err := filepath.Abs(p) // sshd re-executes itself and wants an absolute path
			if err != nil {
				t.Fatal(err)
			}
			return abs
		}
	}
	t.Fatal("OpenSSH's sshd is not installed: run scripts/test, which installs Debian's openssh-server without starting its service (or set TRANSFERD_TEST_SSHD)")
	return ""
}

// privateSSHD is an OpenSSH sshd of the test's own, on loopback.
type privateSSHD struct {
	port  int
	lists map[string][]string // what sshd -T says: kexalgorithms, ciphers, macs, hostkeyalgorithms, compression
}

// startSSHD starts `sshd -D -e -f CONFIG` with a config of its own (port, 127.0.0.1, its own
// ed25519 and RSA host keys, pid file, no PAM, internal-sftp) plus extra lines, and reads its
// effective lists with `sshd -T`. Run as root, it runs as nobody, so that it needs no privilege
// separation user or directory and cannot touch the system. It is stopped when the test ends.
func startSSHD(t *testing.T, extra string) *privateSSHD {
	t.Helper()
	return startSSHDAs(t, extra, true)
}

// startSSHDAs is startSSHD; when the test runs as root, sshd runs as nobody only with
// asNobody, and otherwise as root (privilege separation then needs Debian's installed
// openssh-server, whose sshd user it runs its unprivileged half as).
func startSSHDAs(t *testing.T, extra string, asNobody bool) *privateSSHD {
	t.Helper()
	bin := sshdBinary(t)
	// Not t.TempDir(): its parent is private to this user, and sshd may run as nobody.
	dir, err := os.MkdirTemp("", "transferd-e2e-sshd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ed25519", "rsa"} {
		args := []string{"-q", "-t", k, "-N", "", "-f", filepath.Join(dir, "host_"+k)}
		if k == "rsa" {
			args = append(args, "-b", "2048")
		}
		if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen %q: %v\n%s", args, err, out)
		}
	}
	s := &privateSSHD{port: freePort(t)}
	cfg := filepath.Join(dir, "sshd_config")
	subsystem := "Subsystem sftp internal-sftp\n"
	if strings.Contains(extra, "Subsystem ") {
		subsystem = ""
	}
	conf := fmt.Sprintf("Port %d\nListenAddress 127.0.0.1\nHostKey %s\nHostKey %s\nPidFile %s\nUsePAM no\n%sCompression no\n%s",
		s.port, filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "host_rsa"), filepath.Join(dir, "sshd.pid"), subsystem, extra)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	command := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		if root := filepath.Dir(filepath.Dir(filepath.Dir(bin))); strings.HasSuffix(bin, "/usr/sbin/sshd") && root != "/" {
			// Fetched with its libraries by scripts/test (dpkg-deb -x into ROOT).
			libs, _ := filepath.Glob(filepath.Join(root, "*lib", "*-linux-gnu"))
			more, _ := filepath.Glob(filepath.Join(root, "usr", "lib", "*-linux-gnu"))
			cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+strings.Join(append(libs, more...), ":"))
		}
		if os.Geteuid() == 0 && asNobody {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		return cmd
	}
	if os.Geteuid() == 0 && !asNobody {
		if _, err := user.Lookup("sshd"); err != nil {
			t.Fatalf("sshd as root needs its privilege separation user sshd, which Debian's openssh-server package creates (scripts/test installs it): %v", err)
		}
		os.MkdirAll("/run/sshd", 0o755)
	}
	if os.Geteuid() == 0 && asNobody {
		filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	}
	out, err := command("-T", "-f", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("%s -T -f %s: %v\n%s", bin, cfg, err, out)
	}
	s.lists = map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		switch k {
		case "kexalgorithms", "ciphers", "macs", "hostkeyalgorithms", "compression":
			s.lists[k] = strings.Split(v, ",")
		}
	}
	var log syncBuffer
	cmd := command("-D", "-e", "-f", cfg)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("sshd log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(startLimit)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.port), time.Second)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd does not listen on %d: %v\n%s", s.port, err, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// loginSSHD is a private sshd that a test's key logs in to as the user the test runs as, for
// SFTP in dir (internal-sftp's start directory).
type loginSSHD struct {
	*privateSSHD
	user, dir string
}

func startLoginSSHD(t *testing.T, key *sshKey) *loginSSHD {
	t.Helper()
	base, err := os.MkdirTemp("", "transferd-e2e-sftp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	dir := filepath.Join(base, "files")
	for _, d := range []string{base, dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755)
	}
	keys := filepath.Join(base, "authorized_keys")
	if err := os.WriteFile(keys, []byte(key.Authorized+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// SHA-1 RSA too, as Transfer Family's older policies take it: the reference is for what
	// sftp-server answers, and the oldest clients (curl's libssh2, JSch) know no other RSA.
	s := startSSHDAs(t, fmt.Sprintf("AuthorizedKeysFile %s\nStrictModes no\nPubkeyAuthentication yes\nPasswordAuthentication no\n"+
		"KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nHostKeyAlgorithms +ssh-rsa\nPubkeyAcceptedAlgorithms +ssh-rsa\n"+
		"Subsystem sftp internal-sftp -d %s\n", keys, dir), false)
	return &loginSSHD{privateSSHD: s, user: u.Username, dir: dir}
}

// probeReport is the part of `transferd probe --json` the tests check.
type probeReport struct {
	Version string
	// Offer holds the ten lists (and first-kex-packet-follows, which is left out here).
	Offer   map[string][]string
	Matches []struct{ Policy, As string }
	Closest []struct {
		Policy, As  string
		Differences []string
	}
	Clients []struct {
		Client   string
		Connects bool
	}
}

func runProbe(t *testing.T, addr string) probeReport {
	t.Helper()
	out, err := exec.Command(suite.bin, "probe", "--json", addr).Output()
	if err != nil {
		t.Fatalf("transferd probe %s: %v\n%s", addr, err, out)
	}
	var r struct {
		probeReport
		Offer map[string]json.RawMessage
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("transferd probe %s: %v\n%s", addr, err, out)
	}
	r.probeReport.Offer = map[string][]string{}
	for k, v := range r.Offer {
		var l []string
		if json.Unmarshal(v, &l) == nil {
			r.probeReport.Offer[k] = l
		}
	}
	return r.probeReport
}

func withoutMarkers(l []string) []string { return withoutExtensions(l) }

// TestProbeOpenSSH probes private OpenSSH servers, one with its defaults and one configured with
// a Transfer Family policy's lists, and checks what probe reads against what `sshd -T` says they
// offer; then that `transferd explain --server` predicts what the OpenSSH client negotiates with
// them.
func TestProbeOpenSSH(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	policyLines := func(pol string) string {
		out, err := exec.Command(suite.bin, "policies", "describe", pol).Output()
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			SecurityPolicy struct{ SshKexs, SshCiphers, SshMacs []string }
		}
		if err := json.Unmarshal(out, &d); err != nil {
			t.Fatal(err)
		}
		p := d.SecurityPolicy
		return fmt.Sprintf("KexAlgorithms %s\nCiphers %s\nMACs %s\nHostKeyAlgorithms rsa-sha2-256,rsa-sha2-512\n",
			strings.Join(p.SshKexs, ","), strings.Join(p.SshCiphers, ","), strings.Join(p.SshMacs, ","))
	}
	for _, tc := range []struct {
		name, extra, matches string
	}{
		{"defaults", "", ""},
		{"configured as TransferSecurityPolicy-2024-01", policyLines(policy2024), policy2024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startSSHD(t, tc.extra)
			addr := "127.0.0.1:" + strconv.Itoa(s.port)
			r := runProbe(t, addr)
			if !strings.HasPrefix(r.Version, "SSH-2.0-OpenSSH_") {
				t.Errorf("version %q", r.Version)
			}
			// sshd offers, key by key in HostKey order (ed25519, then RSA as rsa-sha2-512,
			// rsa-sha2-256, ssh-rsa), the algorithms its HostKeyAlgorithms allows.
			var hostKeys []string
			for _, a := range []string{"ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"} {
				if slices.Contains(s.lists["hostkeyalgorithms"], a) {
					hostKeys = append(hostKeys, a)
				}
			}
			for _, c := range []struct {
				what      string
				got, want []string
			}{
				{"key exchange (without markers)", withoutMarkers(r.Offer["kex-algorithms"]), s.lists["kexalgorithms"]},
				{"host key", r.Offer["server-host-key-algorithms"], hostKeys},
				{"ciphers c->s", r.Offer["encryption-algorithms-client-to-server"], s.lists["ciphers"]},
				{"ciphers s->c", r.Offer["encryption-algorithms-server-to-client"], s.lists["ciphers"]},
				{"MACs c->s", r.Offer["mac-algorithms-client-to-server"], s.lists["macs"]},
				{"MACs s->c", r.Offer["mac-algorithms-server-to-client"], s.lists["macs"]},
				{"compression", r.Offer["compression-algorithms-client-to-server"], []string{"none"}},
			} {
				if !slices.Equal(c.got, c.want) {
					t.Errorf("probe read %s %q; sshd -T says %q", c.what, c.got, c.want)
				}
			}
			found := false
			for _, m := range r.Matches {
				found = found || m.Policy == tc.matches && m.As == "transfer-family"
			}
			switch {
			case tc.matches != "" && !found:
				t.Errorf("probe matches %+v, want %s as Transfer Family offers it", r.Matches, tc.matches)
			case tc.matches == "" && (len(r.Matches) > 0 || len(r.Closest) == 0):
				t.Errorf("probe of OpenSSH's defaults: matches %+v, closest %+v; want no match and the closest", r.Matches, r.Closest)
			}
			if len(r.Clients) < 15 {
				t.Errorf("probe predicted for %d clients, want every built-in profile", len(r.Clients))
			}

			// explain --server predicts what the OpenSSH client negotiates with it.
			offer := openSSHOffer(t, nil)
			b, _ := json.Marshal(offer)
			file := filepath.Join(t.TempDir(), "offer.json")
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(suite.bin, "explain", "--server", addr, "--client-offer", file, "--json").Output()
			if err != nil {
				t.Fatalf("explain --server %s: %v", addr, err)
			}
			var p prediction
			if err := json.Unmarshal(out, &p); err != nil || !p.Connects {
				t.Fatalf("explain --server %s: %v, %s", addr, err, out)
			}
			v := sshV(t, s.port, key, nil) // authentication fails; the key exchange is done by then
			n := p.Negotiated
			for _, c := range [][2]string{
				{match(kexLineRE, v, 1), n.Kex},
				{match(hostLineRE, v, 1), n.HostKey},
			} {
				if c[0] != c[1] {
					t.Errorf("ssh -v negotiated %q; explain --server predicted %q\n%s", c[0], c[1], v)
				}
			}
			for _, m := range dirLineRE.FindAllStringSubmatch(v, -1) {
				d := n.ClientToServer
				if m[1] == "server->client" {
					d = n.ServerToClient
				}
				if got, want := m[2]+" "+m[3]+" "+m[4], d.Cipher+" "+d.MAC+" "+d.Compression; got != want {
					t.Errorf("ssh -v %s: %q; explain --server predicted %q", m[1], got, want)
				}
			}
		})
	}
}

// TestProbeTransferd probes transferd servers of several policies: each matches its policy as
// this transferd offers it, and the offer is the one `transferd explain --policy` works with.
func TestProbeTransferd(t *testing.T) {
	t.Parallel()
	policies := []string{policy2018, policy2024, policyFIPS, "TransferSecurityPolicy-2025-03"}
	var servers []serverConf
	for i, pol := range policies {
		servers = append(servers, serverConf{ID: fmt.Sprintf("s-%017x", 0xb0be0+i), Port: freePort(t), Policy: pol})
	}
	start(t, configYAML("", servers...))
	for _, s := range servers {
		t.Run(s.Policy, func(t *testing.T) {
			t.Parallel()
			r := runProbe(t, "127.0.0.1:"+strconv.Itoa(s.Port))
			if r.Version != "SSH-2.0-transferd" {
				t.Errorf("version %q, want SSH-2.0-transferd", r.Version)
			}
			found := false
			for _, m := range r.Matches {
				found = found || m.Policy == s.Policy && m.As == "transferd"
			}
			if !found {
				t.Errorf("matches %+v, want %s as transferd offers it", r.Matches, s.Policy)
			}
			out, err := exec.Command(suite.bin, "explain", "--policy", s.Policy, "--client", "openssh-9.2", "--json").Output()
			if err != nil {
				t.Fatal(err)
			}
			var e struct {
				Server struct{ Offer map[string]any }
			}
			if err := json.Unmarshal(out, &e); err != nil {
				t.Fatal(err)
			}
			for k, v := range e.Server.Offer {
				l, ok := v.([]any)
				if !ok {
					continue
				}
				var want []string
				for _, n := range l {
					want = append(want, n.(string))
				}
				if got := r.Offer[k]; !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Errorf("%s: probe read %q; explain --policy works with %q", k, got, want)
				}
			}
		})
	}
}
