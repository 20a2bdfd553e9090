package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/transferd/transferd/internal/activity"
)

// The OpenSSH settings the matrix runs against every server policy: each changes what the
// client offers (-o Ciphers=, MACs=, KexAlgorithms=, HostKeyAlgorithms=, Compression=), some so
// that no policy or only some accept it.
var matrixSettings = [][]string{
	nil, // OpenSSH's defaults
	{"Ciphers=aes128-gcm@openssh.com"},
	{"Ciphers=aes256-gcm@openssh.com"},
	{"Ciphers=chacha20-poly1305@openssh.com"},
	{"Ciphers=aes128-ctr"},
	{"Ciphers=aes192-ctr"},
	{"Ciphers=aes256-ctr"},
	{"Ciphers=aes256-ctr,aes128-gcm@openssh.com"},
	{"Ciphers=aes128-cbc"},
	{"Ciphers=^aes256-ctr"},
	{"Ciphers=aes128-ctr", "MACs=hmac-sha2-256"},
	{"Ciphers=aes128-ctr", "MACs=hmac-sha2-512"},
	{"Ciphers=aes128-ctr", "MACs=hmac-sha1"},
	{"Ciphers=aes128-ctr", "MACs=hmac-sha1-etm@openssh.com"},
	{"Ciphers=aes128-ctr", "MACs=umac-64-etm@openssh.com"},
	{"Ciphers=aes256-ctr", "MACs=umac-128-etm@openssh.com,hmac-sha2-512-etm@openssh.com"},
	{"Ciphers=aes192-ctr", "MACs=hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com"},
	{"Ciphers=chacha20-poly1305@openssh.com,aes128-ctr", "MACs=hmac-sha2-256-etm@openssh.com"},
	{"KexAlgorithms=curve25519-sha256"},
	{"KexAlgorithms=curve25519-sha256@libssh.org"},
	{"KexAlgorithms=ecdh-sha2-nistp256"},
	{"KexAlgorithms=ecdh-sha2-nistp384"},
	{"KexAlgorithms=ecdh-sha2-nistp521,ecdh-sha2-nistp256"},
	{"KexAlgorithms=diffie-hellman-group-exchange-sha256"},
	{"KexAlgorithms=diffie-hellman-group16-sha512"},
	{"KexAlgorithms=diffie-hellman-group18-sha512"},
	{"KexAlgorithms=diffie-hellman-group14-sha256"},
	{"KexAlgorithms=diffie-hellman-group14-sha1"},
	{"KexAlgorithms=sntrup761x25519-sha512@openssh.com"},
	{"KexAlgorithms=-curve25519-sha256,curve25519-sha256@libssh.org,sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com"},
	{"HostKeyAlgorithms=rsa-sha2-256"},
	{"HostKeyAlgorithms=rsa-sha2-512"},
	{"HostKeyAlgorithms=ssh-rsa"},
	{"HostKeyAlgorithms=ssh-ed25519"},
	{"HostKeyAlgorithms=ecdsa-sha2-nistp256,rsa-sha2-256,rsa-sha2-512"},
	{"Ciphers=aes256-gcm@openssh.com", "MACs=hmac-sha1", "KexAlgorithms=ecdh-sha2-nistp384,curve25519-sha256", "HostKeyAlgorithms=rsa-sha2-256,rsa-sha2-512"},
	{"Compression=yes"},
}

// openSSHOffer builds the KEXINIT the OpenSSH client sends with opts: the lists `ssh -G` prints,
// the markers OpenSSH 9.2p1 of Debian 12 appends to its key exchanges (ext-info-c, and
// kex-strict-c-v00@openssh.com from the Terrapin fix) and its compression lists. The matrix
// checks the result against what the server records.
func openSSHOffer(t *testing.T, opts []string) map[string]any {
	t.Helper()
	args := append([]string{"-G", "-F", os.DevNull}, opts...)
	out, err := exec.Command("ssh", append(args, "127.0.0.1")...).Output()
	if err != nil {
		t.Fatalf("ssh %q: %v", args, err)
	}
	lists := map[string][]string{}
	compression := ""
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		switch k {
		case "kexalgorithms", "hostkeyalgorithms", "ciphers", "macs":
			lists[k] = strings.Split(v, ",")
		case "compression":
			compression = v
		}
	}
	comp := []string{"none", "zlib@openssh.com", "zlib"}
	if compression == "yes" {
		comp = []string{"zlib@openssh.com", "zlib", "none"}
	}
	for _, k := range []string{"kexalgorithms", "hostkeyalgorithms", "ciphers", "macs"} {
		if len(lists[k]) == 0 || compression == "" {
			t.Fatalf("ssh -G %q printed no %s or compression:\n%s", opts, k, out)
		}
	}
	return map[string]any{
		"kex-algorithms":                          append(lists["kexalgorithms"], "ext-info-c", "kex-strict-c-v00@openssh.com"),
		"server-host-key-algorithms":              lists["hostkeyalgorithms"],
		"encryption-algorithms-client-to-server":  lists["ciphers"],
		"encryption-algorithms-server-to-client":  lists["ciphers"],
		"mac-algorithms-client-to-server":         lists["macs"],
		"mac-algorithms-server-to-client":         lists["macs"],
		"compression-algorithms-client-to-server": comp,
		"compression-algorithms-server-to-client": comp,
		"languages-client-to-server":              []string{},
		"languages-server-to-client":              []string{},
		"first-kex-packet-follows":                false,
	}
}

// serverPolicies are the names of the server security policies, from `transferd policies list`.
func serverPolicies(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command(suite.bin, "policies", "list").Output()
	if err != nil {
		t.Fatalf("transferd policies list: %v", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "SERVER" {
			names = append(names, f[0])
		}
	}
	return names
}

// recordingOffers makes every server of a config record client offers.
func recordingOffers(cfg string) string {
	return regexp.MustCompile(`(?m)^(  - Endpoint: .*)$`).ReplaceAllString(cfg, "$1\n    RecordClientOffer: true")
}

// prediction is the part of `transferd explain --json` the matrix checks.
type prediction struct {
	Connects   bool
	Negotiated *struct {
		Kex            string    `json:"kex"`
		HostKey        string    `json:"host-key-algorithm"`
		ClientToServer direction `json:"client-to-server"`
		ServerToClient direction `json:"server-to-client"`
	}
	Failure *struct {
		OpenSSHMessage string `json:"openssh-message"`
	}
	Record struct {
		ActivityType        string   `json:"activity-type"`
		Kex                 string   `json:"kex"`
		HostKeyAlgorithm    string   `json:"host-key-algorithm"`
		Ciphers             string   `json:"ciphers"`
		Macs                string   `json:"macs"`
		Message             string   `json:"message"`
		NegotiationCategory string   `json:"negotiation-category"`
		ClientOffered       []string `json:"client-offered"`
		ServerOffered       []string `json:"server-offered"`
	}
}

type direction struct {
	Cipher      string `json:"cipher"`
	MAC         string `json:"mac"`
	Compression string `json:"compression"`
}

// explainAll runs `transferd explain --policy all --json` for a recorded offer: one prediction
// per server policy.
func explainAll(t testing.TB, offerFile string) map[string]prediction {
	t.Helper()
	args := []string{"explain", "--policy", "all", "--client-offer", offerFile, "--json"}
	out, err := exec.Command(suite.bin, args...).Output()
	if err != nil {
		t.Fatalf("transferd %q: %v", args, err)
	}
	var ps []struct {
		prediction
		Server struct{ Policy string }
	}
	if err := json.Unmarshal(out, &ps); err != nil {
		t.Fatalf("transferd %q: %v in\n%s", args, err, out)
	}
	byPolicy := map[string]prediction{}
	for _, p := range ps {
		byPolicy[p.Server.Policy] = p.prediction
	}
	return byPolicy
}

var (
	kexLineRE  = regexp.MustCompile(`(?m)^debug1: kex: algorithm: (\S+)`)
	hostLineRE = regexp.MustCompile(`(?m)^debug1: kex: host key algorithm: (\S+)`)
	dirLineRE  = regexp.MustCompile(`(?m)^debug1: kex: (client->server|server->client) cipher: (\S+) MAC: (\S+) compression: (\S+)`)
	unableRE   = regexp.MustCompile(`(?m)^Unable to negotiate with 127\.0\.0\.1 port \d+: ([^\r\n]*)`)
)

// TestNegotiationMatrix runs the OpenSSH client with each of matrixSettings against a transferd
// server of every server security policy (one process, one server per policy, recording
// offers) and checks that `transferd explain`, given the offer the client sends, predicted
// exactly what `ssh -v` reports (the "kex:" lines, or "Unable to negotiate ... Their offer: ...")
// and what the CONNECTED or KEX_FAILURE record says, and that the record holds that offer.
func TestNegotiationMatrix(t *testing.T) {
	t.Parallel()
	needTool(t, "ssh")
	key := keyFor(t, "ed25519")
	policies := serverPolicies(t)
	if len(policies) < 10 {
		t.Fatalf("transferd policies list names %d server policies: %q", len(policies), policies)
	}
	servers := make([]serverConf, len(policies))
	for i, pol := range policies {
		servers[i] = serverConf{ID: fmt.Sprintf("s-%017x", 0xe2e0+i), Port: freePort(t), Policy: pol, Users: []userConf{chrootUser("sftp_user", key)}}
	}
	p := start(t, recordingOffers(configYAML("", servers...)))

	// Each setting's offer, in a file for explain.
	dir := t.TempDir()
	offers := make([]map[string]any, len(matrixSettings))
	predictions := make([]map[string]prediction, len(matrixSettings))
	seen := map[string]int{}
	for i, s := range matrixSettings {
		offers[i] = openSSHOffer(t, opt(s...))
		b, _ := json.Marshal(offers[i])
		if j, dup := seen[string(b)]; dup {
			t.Fatalf("settings %q and %q make the same offer; the matrix tells records apart by offer", s, matrixSettings[j])
		}
		seen[string(b)] = i
		file := filepath.Join(dir, fmt.Sprintf("offer-%02d.json", i))
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		predictions[i] = explainAll(t, file)
	}

	type job struct {
		setting, server int
		want            prediction
		out             string
	}
	var jobs []*job
	for i := range matrixSettings {
		for j, s := range servers {
			want, ok := predictions[i][s.Policy]
			if !ok {
				t.Fatalf("transferd explain --policy all predicted nothing for %s", s.Policy)
			}
			jobs = append(jobs, &job{setting: i, server: j, want: want})
		}
	}
	work := make(chan *job)
	var wg sync.WaitGroup
	// An ssh run spends most of its ~100 ms waiting (strace shows two pauses of ~40 ms in each
	// handshake), so more run at once than there are cores.
	for range 12 {
		wg.Go(func() {
			for jb := range work {
				jb.out = sshV(t, servers[jb.server].Port, key, opt(matrixSettings[jb.setting]...))
			}
		})
	}
	for _, jb := range jobs {
		work <- jb
	}
	close(work)
	wg.Wait()

	// Every connection has written its CONNECTED or KEX_FAILURE record by the time ssh exits,
	// but the log is read only once all are there.
	p.waitRecord(t, fmt.Sprintf("number %d of CONNECTED or KEX_FAILURE", len(jobs)), func() func(*activity.Record) bool {
		n := 0
		return func(r *activity.Record) bool {
			if r.ActivityType == activity.Connected || r.ActivityType == activity.KexFailure {
				n++
			}
			return n == len(jobs)
		}
	}())
	recs := p.records(t)
	connected, failed := 0, 0
	for _, jb := range jobs {
		s, setting := servers[jb.server], matrixSettings[jb.setting]
		name := fmt.Sprintf("%s with %q", s.Policy, setting)
		want := jb.want
		// What ssh -v says.
		if want.Connects {
			connected++
			got := [][2]string{{"kex", match(kexLineRE, jb.out, 1)}, {"host key", match(hostLineRE, jb.out, 1)}}
			for _, m := range dirLineRE.FindAllStringSubmatch(jb.out, -1) {
				got = append(got, [2]string{m[1], m[2] + " " + m[3] + " " + m[4]})
			}
			n := want.Negotiated
			wantLines := [][2]string{{"kex", n.Kex}, {"host key", n.HostKey},
				{"server->client", n.ServerToClient.Cipher + " " + n.ServerToClient.MAC + " " + n.ServerToClient.Compression},
				{"client->server", n.ClientToServer.Cipher + " " + n.ClientToServer.MAC + " " + n.ClientToServer.Compression}}
			if !reflect.DeepEqual(got, wantLines) {
				t.Errorf("%s: ssh -v negotiated %q; explain predicted %q\n%s", name, got, wantLines, jb.out)
			}
		} else {
			failed++
			if got := match(unableRE, jb.out, 1); got != want.Failure.OpenSSHMessage {
				t.Errorf("%s: ssh -v says %q; explain predicted %q\n%s", name, got, want.Failure.OpenSSHMessage, jb.out)
			}
		}
		// What the server recorded: the record holding this setting's offer on this server.
		var rec *activity.Record
		for i := range recs {
			r := &recs[i]
			if r.ResourceARN == serverARN(s.ID) && (r.ActivityType == activity.Connected || r.ActivityType == activity.KexFailure) && sameOffer(r, offers[jb.setting]) {
				rec = r
				break
			}
		}
		if rec == nil {
			t.Errorf("%s: no record on %s holds the offer built from ssh -G:\n%v\nrecords of the server:\n%s", name, s.ID, offers[jb.setting], dumpRecords(recordsOf(recs, serverARN(s.ID))))
			continue
		}
		w := want.Record
		got := prediction{}.Record
		got.ActivityType, got.Kex, got.HostKeyAlgorithm, got.Ciphers, got.Macs = rec.ActivityType, rec.Kex, rec.HostKeyAlgorithm, rec.Ciphers, rec.Macs
		got.Message, got.NegotiationCategory, got.ClientOffered, got.ServerOffered = rec.Message, rec.NegotiationCategory, rec.ClientOffered, rec.ServerOffered
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s: record\n%+v\nexplain predicted\n%+v", name, got, w)
		}
	}
	t.Logf("%d settings x %d policies: %d connections negotiated, %d refused, all as predicted", len(matrixSettings), len(servers), connected, failed)
	if connected == 0 || failed == 0 {
		t.Errorf("the matrix should hold both successes and failures: %d and %d", connected, failed)
	}
}

func match(re *regexp.Regexp, s string, group int) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return m[group]
	}
	return ""
}

// sameOffer reports whether a record holds the offer want (as JSON values).
func sameOffer(r *activity.Record, want map[string]any) bool {
	if r.ClientOffer == nil {
		return false
	}
	a, _ := json.Marshal(r.ClientOffer)
	b, _ := json.Marshal(want)
	var x, y any
	json.Unmarshal(a, &x)
	json.Unmarshal(b, &y)
	return reflect.DeepEqual(x, y)
}

func recordsOf(recs []activity.Record, arn string) []activity.Record {
	return slices.DeleteFunc(slices.Clone(recs), func(r activity.Record) bool { return r.ResourceARN != arn })
}

// sshV runs `ssh -v` as sftp_user with opts, asking for a shell transferd refuses, and returns its
// output.
func sshV(t testing.TB, port int, key *sshKey, opts []string) string {
	ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
	defer cancel()
	args := append([]string{"-v", "-p", strconv.Itoa(port)}, opts...)
	args = append(args, clientOpts(key)...)
	args = append(args, "sftp_user@127.0.0.1")
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Stdin = strings.NewReader("")
	out, _ := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Errorf("ssh %q did not finish within %v", args, clientLimit)
	}
	return string(out)
}
