package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/activity"
)

// The client matrix: every driver in testdata/clients (one per SFTP client, see its README)
// against transferd on local storage and on S3, under the policies 2024-01 and 2018-11. What
// each client does is compared with the table in docs/CLIENTS.md, so a client that stops
// working fails the test; TRANSFERD_CLIENTS_DOC=write (scripts/clients-doc) writes the table,
// the versions and the algorithms of the run there instead.

const (
	clientsDoc      = "../../docs/CLIENTS.md"
	clientsDriverTO = 120 * time.Second
	matrixBegin     = "<!-- matrix: written by scripts/clients-doc from TestClientMatrix; do not edit -->"
	matrixEnd       = "<!-- end of matrix -->"
)

// The operations, in the table's order.
var matrixOps = []string{"put/get", "ls", "mkdir/rmdir", "rename", "rename over", "overwrite", "delete", "safe upload", "resume up", "resume down", "times"}

// The outcomes of an operation.
const (
	works    = "works"
	refused  = "refused, as Transfer Family"
	fails    = "fails"
	failsToo = "fails on OpenSSH too" // the same client fails the same way against OpenSSH's sftp-server
	none     = "—"                    // the client has no such operation
)

// matrixSizes are the files moved both ways; -short leaves out 64 MiB.
func matrixSizes() []int {
	s := []int{0, 1, 1<<20 + 1, 64 << 20}
	if testing.Short() {
		s = s[:3]
	}
	return s
}

// clientRun is one client on one storage: its outcomes and what explains them.
type clientRun struct {
	version  string
	connect  map[string]string // policy → works / fails
	algos    map[string]string // policy → negotiated kex, cipher, MAC, host key, signature
	outcomes map[string]string // op → outcome
	notes    []string          // why an operation did not work
}

// matrixSite is one storage's transferd with a server per policy, or the reference: OpenSSH's
// sftp-server in a private sshd, whose files are under prefix.
type matrixSite struct {
	name    string // local, s3 or openssh
	p       *proc
	ports   map[string]int    // policy → port (the reference: its one port, as dataPolicy)
	ids     map[string]string // policy → server ID
	prepare func(t *testing.T, user string)
	prefix  string // of the paths the client uses (the reference has no chroot)
	user    string // the login, when it is not the client's own user
}

func (s *matrixSite) reference() bool { return s.p == nil }

var matrixPolicies = []string{"TransferSecurityPolicy-2024-01", "TransferSecurityPolicy-2018-11"}

// matrixPenalties keeps loopback from being penalised for the clients' failed key exchanges.
const matrixPenalties = "Penalties:\n  ExemptNetworks: [127.0.0.0/8]\n"

// dataPolicy is the policy of the server the data operations run on: 2018-11 accepts the
// oldest clients (SHA-1 RSA signatures, which curl's libssh2 and JSch make).
const dataPolicy = "TransferSecurityPolicy-2018-11"

func TestClientMatrix(t *testing.T) {
	t.Parallel()
	drivers, err := filepath.Glob(filepath.Join("testdata", "clients", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var clients []string
	for _, d := range drivers {
		if fi, err := os.Stat(d); err == nil && fi.Mode()&0o111 != 0 {
			clients = append(clients, filepath.Base(d))
		}
	}
	key := keyFor(t, "rsa-3072")
	user := func(client string) string { return "m-" + client }

	var sites []*matrixSite
	serversFor := func(site string, mk func(policy string, port int) serverConf) ([]serverConf, map[string]int, map[string]string) {
		var out []serverConf
		ports, ids := map[string]int{}, map[string]string{}
		for i, pol := range matrixPolicies {
			port := freePort(t)
			c := mk(pol, port)
			c.ID = fmt.Sprintf("s-%s%015x", map[string]string{"local": "0a", "s3": "0b"}[site], i)
			c.Policy = pol
			// Times survive on S3 only with transferd's STORE_METADATA; local files keep them.
			c.SetStat = map[string]string{"local": "DEFAULT", "s3": "STORE_METADATA"}[site]
			out = append(out, c)
			ports[pol], ids[pol] = port, c.ID
		}
		return out, ports, ids
	}

	// The reference: the same clients against OpenSSH's sftp-server, on a local directory.
	{
		ref := startLoginSSHD(t, key)
		sites = append(sites, &matrixSite{name: "openssh", ports: map[string]int{dataPolicy: ref.port}, user: ref.user,
			prefix: ref.dir, prepare: func(t *testing.T, u string) {
				if err := os.MkdirAll(filepath.Join(ref.dir, u), 0o755); err != nil {
					t.Fatal(err)
				}
			}})
	}
	// Local storage, the embedded default.
	{
		var users []userConf
		for _, c := range clients {
			users = append(users, chrootUser(user(c), key))
		}
		confs, ports, ids := serversFor("local", func(string, int) serverConf { return serverConf{Users: users} })
		for i := range confs {
			confs[i].Port = ports[confs[i].Policy]
		}
		p := start(t, matrixPenalties+configYAML("", confs...))
		sites = append(sites, &matrixSite{name: "local", p: p, ports: ports, ids: ids,
			prepare: func(t *testing.T, u string) {
				if err := os.MkdirAll(p.userDir(u), 0o755); err != nil {
					t.Fatal(err)
				}
			}})
	}
	// S3.
	{
		e := newS3Env(t)
		var users []userConf
		for _, c := range clients {
			u := user(c)
			users = append(users, userConf{Name: u, Role: testRole, Type: "LOGICAL",
				Mappings: []mappingConf{{Entry: "/", Target: "/" + e.bucket + "/" + u}}, Keys: []*sshKey{key}})
		}
		confs, ports, ids := serversFor("s3", func(string, int) serverConf { return serverConf{Users: users} })
		for i := range confs {
			confs[i].Port = ports[confs[i].Policy]
		}
		p := start(t, matrixPenalties+s3ConfigYAML(e.srv, confs...))
		sites = append(sites, &matrixSite{name: "s3", p: p, ports: ports, ids: ids,
			prepare: func(t *testing.T, u string) { e.put(t, u+"/", nil) }})
	}

	// The files every client moves, made once.
	src := t.TempDir()
	sums := map[int]string{}
	for _, n := range matrixSizes() {
		sums[n] = writeRandom(t, filepath.Join(src, fmt.Sprint(n)), n)
	}
	cache := filepath.Join(cacheHome(), "transferd-test", "clients")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}

	var (
		mu      sync.Mutex
		results = map[string]map[string]*clientRun{} // client → site → run
	)
	t.Run("clients", func(t *testing.T) {
		for _, c := range clients {
			t.Run(c, func(t *testing.T) {
				t.Parallel()
				for _, site := range sites {
					site.prepare(t, user(c))
					r := runClient(t, site, c, user(c), key, cache, src, sums)
					mu.Lock()
					if results[c] == nil {
						results[c] = map[string]*clientRun{}
					}
					results[c][site.name] = r
					mu.Unlock()
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	ran := slices.DeleteFunc(slices.Clone(clients), func(c string) bool { return results[c] == nil })
	// A failure the reference shares is the client's (or the protocol's), not transferd's.
	for _, runs := range results {
		ref := runs["openssh"]
		for _, s := range sites {
			if s.reference() {
				continue
			}
			for op, o := range runs[s.name].outcomes {
				if o == fails && ref.outcomes[op] == fails {
					runs[s.name].outcomes[op] = failsToo
				}
			}
		}
	}
	table := renderMatrix(ran, sites, results)
	doc, err := os.ReadFile(clientsDoc)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("TRANSFERD_CLIENTS_DOC") == "write" {
		if len(ran) != len(clients) {
			t.Fatalf("only %d of %d clients ran: the document is written from a run of all", len(ran), len(clients))
		}
		head, _, tail, err := splitAt(string(doc), matrixBegin, matrixEnd)
		if err != nil {
			t.Fatal(err)
		}
		out := head + matrixBegin + "\n" + table + renderDetails(clients, sites, results) + tail
		if err := os.WriteFile(clientsDoc, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	_, written, _, err := splitAt(string(doc), matrixBegin, matrixEnd)
	if err != nil {
		t.Fatal(err)
	}
	// Each row of this run must be in the document (only the rows of the clients that ran, when
	// -run picked some; all of its rows, when all ran).
	want := map[string]bool{}
	for _, line := range strings.Split(withoutVersions(written), "\n") {
		want[line] = true
	}
	var differ []string
	for _, line := range strings.Split(withoutVersions(table), "\n") {
		if !want[line] {
			differ = append(differ, line)
		}
	}
	if len(ran) == len(clients) && !strings.HasPrefix(withoutVersions(written), withoutVersions(table)) && len(differ) == 0 {
		differ = append(differ, "(the document has rows this run does not)")
	}
	if len(differ) > 0 {
		t.Errorf("the clients do not do what docs/CLIENTS.md says (run scripts/clients-doc after a change on purpose).\nThese rows of this run are not in it:\n%s\nThis run:\n%s\nThe document:\n%s\nWhy operations failed in this run:\n%s",
			strings.Join(differ, "\n"), table, written, renderDetails(ran, sites, results))
	}
}

func cacheHome() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache")
}

// driver runs a client's driver command against port and returns its exit code (0 done, 1
// failed, 3 not installed, 4 no such operation) and output.
func driver(t *testing.T, client string, port int, u string, key *sshKey, cache string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientsDriverTO)
	defer cancel()
	bin, err := filepath.Abs(filepath.Join("testdata", "clients", client))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "SFTP_HOST=127.0.0.1", fmt.Sprintf("SFTP_PORT=%d", port), "SFTP_USER="+u,
		"SFTP_KEY="+key.Path, "CLIENT_CACHE="+cache, "TMPDIR="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	code := 0
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = 1
		stderr.WriteString(err.Error())
	}
	if ctx.Err() != nil {
		code = 1
		stderr.WriteString("\n(the driver did not finish in " + clientsDriverTO.String() + ")")
	}
	return code, stdout.String(), stderr.String()
}

// runClient runs one client's operations on one site.
func runClient(t *testing.T, site *matrixSite, client, u string, key *sshKey, cache, src string, sums map[int]string) *clientRun {
	t.Helper()
	r := &clientRun{connect: map[string]string{}, algos: map[string]string{}, outcomes: map[string]string{}}
	port := site.ports[dataPolicy]
	if site.user != "" {
		u = site.user
	}
	run := func(args ...string) (int, string, string) { return driver(t, client, port, u, key, cache, args...) }
	// The reference has no chroot: each client works in a directory of its own.
	rp := func(p string) string { return site.prefix + p }
	if site.reference() {
		rp = func(p string) string { return path.Join(site.prefix, "m-"+client) + p }
	}
	code, out, errOut := run("version")
	switch code {
	case 0:
		r.version = strings.TrimSpace(out)
	case 3:
		t.Fatalf("%s is not installed (%s): scripts/install-clients installs it", client, strings.TrimSpace(out+errOut))
	default:
		t.Fatalf("%s version: exit %d: %s", client, code, out+errOut)
	}
	note := func(op, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if site.reference() { // its paths, as the client shows them, without the run's directory
			msg = strings.ReplaceAll(msg, path.Join(site.prefix, "m-"+client), "")
		}
		r.notes = append(r.notes, fmt.Sprintf("%s on %s, %s: %s", client, site.name, op, msg))
	}
	firstLine := func(s string) string {
		s = strings.TrimSpace(s)
		if i := strings.LastIndexByte(s, '\n'); i >= 0 {
			s = strings.TrimSpace(s[i+1:])
		}
		return s
	}

	// The client's own algorithms under each policy, as the CONNECTED record names them.
	for _, pol := range matrixPolicies {
		if site.reference() {
			break
		}
		code, out, errOut := driver(t, client, site.ports[pol], u, key, cache, "connect")
		if code != 0 {
			r.connect[pol] = fails
			note("connect under "+pol, "%s", firstLine(out+errOut))
			continue
		}
		r.connect[pol] = works
		arn := site.ids[pol]
		rec := lastRecord(t, site.p, func(x *activity.Record) bool {
			return x.ActivityType == activity.Connected && x.User == u && strings.HasSuffix(x.ResourceARN, arn)
		})
		r.algos[pol] = fmt.Sprintf("%s, %s, %s, host key %s, signature %s", rec.Kex, rec.Ciphers, rec.Macs, rec.HostKeyAlgorithm, rec.SSHSignatureAlgorithm)
	}
	if !site.reference() && r.connect[dataPolicy] != works {
		for _, op := range matrixOps {
			r.outcomes[op] = fails
		}
		return r
	}

	v := dialSFTP(t, port, u, key) // checks what the client did, with pkg/sftp
	remoteSum := func(p string) (string, error) {
		f, err := v.Open(p)
		if err != nil {
			return "", err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return "", err
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	putRemote := func(p string, b []byte) {
		t.Helper()
		f, err := v.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	local := t.TempDir()
	outcome := func(op string, code int, out, errOut string, check func() error) {
		switch {
		case code == 4:
			r.outcomes[op] = none
		case code != 0:
			r.outcomes[op] = fails
			note(op, "%s", firstLine(out+errOut))
		default:
			if err := check(); err != nil {
				r.outcomes[op] = fails
				note(op, "%v", err)
			} else {
				r.outcomes[op] = works
			}
		}
	}

	// put and get of each size.
	func() {
		for _, n := range matrixSizes() {
			name := rp(fmt.Sprintf("/size-%d", n))
			code, out, errOut := run("put", filepath.Join(src, fmt.Sprint(n)), name)
			if code != 0 {
				outcome("put/get", code, out, errOut, nil)
				return
			}
			if sum, err := remoteSum(name); err != nil || sum != sums[n] {
				outcome("put/get", 0, "", "", func() error { return fmt.Errorf("upload of %d bytes: stored file %v, sha256 %s", n, err, sum) })
				return
			}
			back := filepath.Join(local, fmt.Sprintf("back-%d", n))
			code, out, errOut = run("get", name, back)
			outcome("put/get", code, out, errOut, func() error {
				if sum := fileSHA256(t, back); sum != sums[n] {
					return fmt.Errorf("download of %d bytes has sha256 %s", n, sum)
				}
				return nil
			})
			if r.outcomes["put/get"] != works {
				return
			}
		}
	}()

	code, out, errOut = run("ls", rp("/"))
	outcome("ls", code, out, errOut, func() error {
		names := strings.Fields(out)
		for _, n := range matrixSizes() {
			if !slices.Contains(names, fmt.Sprintf("size-%d", n)) {
				return fmt.Errorf("ls / does not list size-%d: %q", n, names)
			}
		}
		return nil
	})

	code, out, errOut = run("mkdir", rp("/newdir"))
	outcome("mkdir/rmdir", code, out, errOut, func() error {
		if fi, err := v.Stat(rp("/newdir")); err != nil || !fi.IsDir() {
			return fmt.Errorf("after mkdir: %v", err)
		}
		code, out, errOut := run("rmdir", rp("/newdir"))
		if code != 0 {
			return fmt.Errorf("rmdir: %s", firstLine(out+errOut))
		}
		if _, err := v.Stat(rp("/newdir")); err == nil {
			return errors.New("the directory is still there after rmdir")
		}
		return nil
	})

	// rename onto a new name, then onto an existing file (of another size: rclone skips a
	// move onto a file that looks the same).
	putRemote(rp("/ren-a"), []byte("first"))
	putRemote(rp("/ren-c"), []byte("the third file"))
	code, out, errOut = run("rename", rp("/ren-a"), rp("/ren-b"))
	outcome("rename", code, out, errOut, func() error {
		if sum, err := remoteSum(rp("/ren-b")); err != nil || sum != sha256Hex([]byte("first")) {
			return fmt.Errorf("the renamed file: %v", err)
		}
		if _, err := v.Stat(rp("/ren-a")); err == nil {
			return errors.New("the old name is still there")
		}
		return nil
	})
	if r.outcomes["rename"] != works {
		putRemote(rp("/ren-b"), []byte("first"))
	}
	code, out, errOut = run("rename", rp("/ren-b"), rp("/ren-c"))
	outcome("rename over", code, out, errOut, func() error {
		if sum, err := remoteSum(rp("/ren-c")); err != nil || sum != sha256Hex([]byte("first")) {
			return fmt.Errorf("the file renamed onto another: %v, or its content is not the renamed file's", err)
		}
		return nil
	})

	// overwrite a larger file with a smaller one.
	code, out, errOut = run("put", filepath.Join(src, "1"), rp(fmt.Sprintf("/size-%d", 1<<20+1)))
	outcome("overwrite", code, out, errOut, func() error {
		if sum, err := remoteSum(rp(fmt.Sprintf("/size-%d", 1<<20+1))); err != nil || sum != sums[1] {
			return fmt.Errorf("the overwritten file is not the 1-byte upload: %v", err)
		}
		return nil
	})

	code, out, errOut = run("rm", rp("/size-1"))
	outcome("delete", code, out, errOut, func() error {
		if _, err := v.Stat(rp("/size-1")); err == nil {
			return errors.New("the file is still there")
		}
		return nil
	})

	// safe upload over an existing file: the new content, and no temporary file left.
	if err := v.Mkdir(rp("/safe")); err != nil {
		t.Fatal(err)
	}
	putRemote(rp("/safe/target"), []byte("old content"))
	code, out, errOut = run("safeput", filepath.Join(src, fmt.Sprint(1<<20+1)), rp("/safe/target"))
	outcome("safe upload", code, out, errOut, func() error {
		if sum, err := remoteSum(rp("/safe/target")); err != nil || sum != sums[1<<20+1] {
			return fmt.Errorf("the target after the safe upload: %v", err)
		}
		entries, err := v.ReadDir(rp("/safe"))
		if err != nil {
			return err
		}
		if len(entries) != 1 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return fmt.Errorf("left in the directory: %q", names)
		}
		return nil
	})

	// resume an upload: the server holds the first half.
	whole, err := os.ReadFile(filepath.Join(src, fmt.Sprint(1<<20+1)))
	if err != nil {
		t.Fatal(err)
	}
	half := whole[:len(whole)/2]
	putRemote(rp("/resumed"), half)
	code, out, errOut = run("reput", filepath.Join(src, fmt.Sprint(1<<20+1)), rp("/resumed"))
	sum, sumErr := remoteSum(rp("/resumed"))
	switch {
	case code != 0 && code != 4 && site.name == "s3" && sumErr == nil && sum == sha256Hex(half):
		r.outcomes["resume up"] = refused // and the object is as it was
	default:
		outcome("resume up", code, out, errOut, func() error {
			if sumErr != nil || sum != sums[1<<20+1] {
				return fmt.Errorf("the resumed file: %v, sha256 %s", sumErr, sum)
			}
			return nil
		})
	}

	// resume a download: the local file holds the first half.
	part := filepath.Join(local, "partial")
	if err := os.WriteFile(part, half, 0o644); err != nil {
		t.Fatal(err)
	}
	putRemote(rp("/to-get"), whole)
	code, out, errOut = run("reget", rp("/to-get"), part)
	outcome("resume down", code, out, errOut, func() error {
		if sum := fileSHA256(t, part); sum != sums[1<<20+1] {
			return fmt.Errorf("the resumed download has sha256 %s", sum)
		}
		return nil
	})

	// an upload that keeps the file's time, seen by STAT and by the client.
	stamped := filepath.Join(local, "stamped")
	if err := os.WriteFile(stamped, []byte("stamped"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2019, 7, 1, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(stamped, old, old); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run("putp", stamped, rp("/stamped"))
	outcome("times", code, out, errOut, func() error {
		fi, err := v.Stat(rp("/stamped"))
		if err != nil {
			return err
		}
		if !fi.ModTime().Equal(old) {
			return fmt.Errorf("the server shows %v, want %v", fi.ModTime().UTC(), old)
		}
		code, out, errOut := run("mtime", rp("/stamped"))
		switch {
		case code == 4:
		case code != 0:
			return fmt.Errorf("mtime: %s", firstLine(out+errOut))
		case strings.TrimSpace(out) != fmt.Sprint(old.Unix()):
			return fmt.Errorf("the client reads the time as %q, want %d", strings.TrimSpace(out), old.Unix())
		}
		return nil
	})
	return r
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// lastRecord waits for a record matching pred and returns the last one.
func lastRecord(t *testing.T, p *proc, pred func(r *activity.Record) bool) activity.Record {
	t.Helper()
	p.waitRecord(t, "of the client's connection", pred)
	recs := p.records(t)
	for i := len(recs) - 1; i >= 0; i-- {
		if pred(&recs[i]) {
			return recs[i]
		}
	}
	panic("unreachable")
}

// renderMatrix is the table of outcomes: a row per client and storage.
func renderMatrix(clients []string, sites []*matrixSite, results map[string]map[string]*clientRun) string {
	var b strings.Builder
	b.WriteString("| client | version | storage | connects under 2024-01 | connects under 2018-11 | " + strings.Join(matrixOps, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat(" --- |", 5+len(matrixOps)) + "\n")
	for _, c := range clients {
		for _, s := range sites {
			r := results[c][s.name]
			cells := []string{c, r.version, s.name, r.connect[matrixPolicies[0]], r.connect[matrixPolicies[1]]}
			if s.reference() {
				cells = []string{c, r.version, "OpenSSH sftp-server (reference)", none, none}
			}
			for _, op := range matrixOps {
				cells = append(cells, r.outcomes[op])
			}
			b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
		}
	}
	return b.String()
}

// withoutVersions drops the version column of a table renderMatrix wrote: the comparison with
// the document is of what the clients do, and a client updated by its distribution that does
// the same still agrees.
func withoutVersions(table string) string {
	var b strings.Builder
	for line := range strings.Lines(table) {
		cells := strings.Split(line, " | ")
		if len(cells) > 2 && strings.HasPrefix(line, "| ") {
			cells = append(cells[:1], cells[2:]...)
		}
		b.WriteString(strings.Join(cells, " | "))
	}
	return b.String()
}

// renderDetails is what the comparison leaves out: algorithms, and why operations did not work.
func renderDetails(clients []string, sites []*matrixSite, results map[string]map[string]*clientRun) string {
	var b strings.Builder
	b.WriteString("\nThe algorithms each client negotiated with its own defaults (from the CONNECTED records):\n\n")
	b.WriteString("| client | version | under 2024-01 | under 2018-11 |\n| --- | --- | --- | --- |\n")
	for _, c := range clients {
		r := results[c]["local"]
		cell := func(pol string) string {
			if a := r.algos[pol]; a != "" {
				return a
			}
			return "no connection"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c, r.version, cell(matrixPolicies[0]), cell(matrixPolicies[1]))
	}
	var notes []string
	for _, c := range clients {
		for _, s := range sites {
			notes = append(notes, results[c][s.name].notes...)
		}
	}
	if len(notes) > 0 {
		b.WriteString("\nWhy the operations marked \"fails\" failed, in the client's words:\n\n")
		for _, n := range notes {
			b.WriteString("- " + strings.ReplaceAll(n, "\n", " ") + "\n")
		}
	}
	return b.String()
}

// splitAt cuts doc around the lines begin and end: what precedes begin's line, what is between
// the two, and end with what follows.
func splitAt(doc, begin, end string) (head, in, tail string, err error) {
	head, rest, ok := strings.Cut(doc, begin+"\n")
	if !ok {
		return "", "", "", fmt.Errorf("%s has no line %q", clientsDoc, begin)
	}
	in, tail, ok = strings.Cut(rest, end)
	if !ok {
		return "", "", "", fmt.Errorf("%s has no line %q", clientsDoc, end)
	}
	return head, in, end + tail, nil
}
