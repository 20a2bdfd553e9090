package explain

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/transferd/transferd/internal/negotiate"
	"github.com/transferd/transferd/internal/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

type fixtures struct {
	cat      *policy.Catalog
	profiles *negotiate.Profiles
}

func load(t *testing.T) fixtures {
	t.Helper()
	cat, err := policy.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := negotiate.NewProfiles()
	if err != nil {
		t.Fatal(err)
	}
	return fixtures{cat, profiles}
}

func (f fixtures) server(t *testing.T, name string, keys ...string) *Server {
	t.Helper()
	p, err := f.cat.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		keys = DefaultHostKeyTypes
	}
	return PolicyServer(p, keys)
}

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// writeBoth renders v as text (with text) and as JSON and compares both with
// testdata/NAME.txt.golden and NAME.json.golden.
func writeBoth(t *testing.T, name string, text func(*bytes.Buffer) error, v any) {
	t.Helper()
	var b bytes.Buffer
	if err := text(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, name+".txt.golden", b.Bytes())
	b.Reset()
	if err := WriteJSON(&b, v); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b.Bytes()) {
		t.Fatalf("invalid JSON:\n%s", b.Bytes())
	}
	golden(t, name+".json.golden", b.Bytes())
}

func TestExplainGolden(t *testing.T) {
	t.Parallel()
	f := load(t)
	profile := func(id string) *Client {
		p, err := f.profiles.Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		return ProfileClient(p)
	}
	recorded := func(file string) *Client {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		version, o, err := ReadOffer(data)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return RecordedClient(file, version, o)
	}
	for _, tc := range []struct {
		name     string
		client   *Client
		server   *Server
		connects bool
		tf       bool // Transfer Family's full policy gives another result
	}{
		{"openssh-9.2-debian12_2024-01", profile("openssh-9.2-debian12"), f.server(t, "TransferSecurityPolicy-2024-01"), true, false},
		// AES-CTR first and umac first: Transfer Family would pick umac-64-etm.
		{"openssh-8.7_Restricted-2018-11", profile("openssh-8.7"), f.server(t, "TransferSecurityPolicy-Restricted-2018-11"), true, true},
		{"putty-0.84_FIPS-2024-01_ecdsa", profile("putty-0.84"), f.server(t, "TransferSecurityPolicy-FIPS-2024-01", "ssh-rsa", "ecdsa-sha2-nistp384"), true, false},
		{"go-xcrypto-0.31_FIPS-2023-05", profile("go-xcrypto-0.31"), f.server(t, "TransferSecurityPolicy-FIPS-2023-05"), false, false},
		{"offer-chacha-only_2024-01", recorded("offer-chacha-only.json"), f.server(t, "TransferSecurityPolicy-2024-01"), false, false},
		// group18 first: Transfer Family would pick it; this build offers only group16.
		{"record-dh18_FIPS-2023-05", recorded("record-dh18.json"), f.server(t, "TransferSecurityPolicy-FIPS-2023-05"), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Explain(tc.client, tc.server)
			if e.Connects != tc.connects || (e.TransferFamily != nil) != tc.tf {
				t.Errorf("connects %v, Transfer Family differs %v; want %v, %v", e.Connects, e.TransferFamily != nil, tc.connects, tc.tf)
			}
			if !e.Connects && !strings.HasPrefix(e.Failure.OpenSSHMessage, e.Failure.Message+". Their offer: ") {
				t.Errorf("failure message %q", e.Failure.OpenSSHMessage)
			}
			writeBoth(t, "explain-"+tc.name, func(b *bytes.Buffer) error { return e.WriteText(b) }, e)
		})
	}
}

func TestSummaryGolden(t *testing.T) {
	t.Parallel()
	f := load(t)
	p, err := f.profiles.Lookup("openssh-8.7")
	if err != nil {
		t.Fatal(err)
	}
	var es []*Explanation
	for _, pol := range f.cat.Policies() {
		if pol.IsServer() {
			es = append(es, Explain(ProfileClient(p), PolicyServer(pol, DefaultHostKeyTypes)))
		}
	}
	var b bytes.Buffer
	if err := WriteSummary(&b, es); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\nTransferSecurityPolicy-"); n != len(es) {
		t.Errorf("%d policy lines for %d explanations", n, len(es))
	}
	golden(t, "summary-openssh-8.7.txt.golden", b.Bytes())
}

func TestProbeGolden(t *testing.T) {
	t.Parallel()
	f := load(t)
	data, err := os.ReadFile("testdata/hello-openssh-9.2.json")
	if err != nil {
		t.Fatal(err)
	}
	var h negotiate.Hello
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	transferd := f.server(t, "TransferSecurityPolicy-2024-01", "ssh-rsa", "ssh-ed25519")
	for _, tc := range []struct {
		name  string
		hello *negotiate.Hello
		match string // "" when no policy should match exactly
	}{
		{"openssh-9.2", &h, ""},
		{"transferd-2024-01", &negotiate.Hello{Address: "127.0.0.1:2222", Version: "SSH-2.0-transferd", Offer: transferd.Offer}, "TransferSecurityPolicy-2024-01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Probe(tc.hello, f.cat, f.profiles)
			found := false
			for _, m := range r.Matches {
				found = found || m.Policy == tc.match && m.As == "transferd"
			}
			if tc.match != "" && !found || tc.match == "" && len(r.Matches) > 0 {
				t.Errorf("matches %+v, want %q as transferd offers it", r.Matches, tc.match)
			}
			if len(r.Clients) != len(f.profiles.All()) {
				t.Errorf("%d client outcomes, want one per profile (%d)", len(r.Clients), len(f.profiles.All()))
			}
			writeBoth(t, "probe-"+tc.name, func(b *bytes.Buffer) error { return r.WriteText(b) }, r)
		})
	}
}

func TestPolicyImpactGolden(t *testing.T) {
	t.Parallel()
	f := load(t)
	open := func() []Log {
		fh, err := os.Open("testdata/activity.log")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fh.Close() })
		return []Log{{Name: "testdata/activity.log", R: fh}}
	}
	im, err := PolicyImpact(f.server(t, "TransferSecurityPolicy-FIPS-2024-01"), f.profiles, open())
	if err != nil {
		t.Fatal(err)
	}
	want := Totals{Clients: 7, Same: 0, Changes: 4, Breaks: 1, Fixed: 1, Unknown: 1, Assumed: 4, Records: 11, Skipped: 3}
	if im.Totals != want {
		t.Errorf("totals\ngot  %+v\nwant %+v", im.Totals, want)
	}
	writeBoth(t, "impact-FIPS-2024-01", func(b *bytes.Buffer) error { return im.WriteText(b) }, im)
	var text bytes.Buffer
	if err := im.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(text.String()) {
		if n := utf8.RuneCountInString(strings.TrimSuffix(line, "\n")); n > 120 {
			t.Errorf("a line of %d columns, want at most 120: %q", n, line)
		}
	}
	servers := map[string]bool{}
	for _, r := range im.Clients {
		servers[r.Server] = true
	}
	if !servers["s-0123456789abcdef0"] || !servers["s-1234567890abcdef0"] || len(servers) != 2 {
		t.Errorf("rows name the servers %v, want the log's two", servers)
	}
	only, err := PolicyImpact(f.server(t, "TransferSecurityPolicy-FIPS-2024-01"), f.profiles, open(), "s-1234567890abcdef0")
	if err != nil {
		t.Fatal(err)
	}
	if len(only.Clients) != 1 || only.Clients[0].User != "erin" || only.Totals.Clients != 1 {
		t.Errorf("with the server filter: %d clients (%+v), want erin's alone", len(only.Clients), only.Clients)
	}

	// Under the policy the log was written with, every client with a recorded offer keeps what
	// it negotiated, and so does the client of the record Transfer Family wrote (without a
	// host-key-algorithm), predicted from its profile.
	im, err = PolicyImpact(f.server(t, "TransferSecurityPolicy-2024-01"), f.profiles, open())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range im.Clients {
		if (r.Basis == "recorded offer" || r.User == "erin") && r.Change != "same" {
			t.Errorf("%s %s under the policy it connected with: %s (%+v)", r.Client, r.User, r.Change, r.Predicted)
		}
	}
}

func TestReadOffer(t *testing.T) {
	t.Parallel()
	rec, err := os.ReadFile("testdata/record-dh18.json")
	if err != nil {
		t.Fatal(err)
	}
	version, o, err := ReadOffer(rec)
	if err != nil || version != "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10" || o.KexAlgorithms[0] != "diffie-hellman-group18-sha512" {
		t.Errorf("ReadOffer(record) = %q, %+v, %v", version, o, err)
	}
	for _, tc := range []struct{ name, input, want string }{
		{"not JSON", "kex-algorithms: x", "not a JSON object"},
		{"two values", `{"activity-type":"CONNECTED"} {}`, "more than one JSON value"},
		{"record without offer", `{"activity-type":"CONNECTED","client":"SSH-2.0-x"}`, "the CONNECTED record has no client-offer: its server did not record offers"},
		{"bad offer in record", `{"activity-type":"KEX_FAILURE","client-offer":{"kex-algorithms":[]}}`, `client-offer: member "server-host-key-algorithms" is missing`},
		{"bad offer", `{"kex-algorithms":["a b"]}`, "algorithm name"},
	} {
		if _, _, err := ReadOffer([]byte(tc.input)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ReadOffer(%s) = %v, want an error containing %q", tc.name, tc.input, err, tc.want)
		}
	}
}

func TestParseHostKeyTypes(t *testing.T) {
	t.Parallel()
	got, err := ParseHostKeyTypes("ssh-rsa, ssh-ed25519,ssh-rsa")
	if err != nil || strings.Join(got, ",") != "ssh-rsa,ssh-ed25519" {
		t.Errorf("ParseHostKeyTypes = %q, %v", got, err)
	}
	if _, err := ParseHostKeyTypes("ssh-dss"); err == nil || !strings.Contains(err.Error(), `"ssh-dss" is not a host key type`) {
		t.Errorf("ParseHostKeyTypes(ssh-dss) = %v", err)
	}
}
