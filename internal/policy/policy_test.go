package policy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// The gaps of golang.org/x/crypto/ssh v0.59.0 against Transfer Family's lists
// (shared/reference/libraries.md, section 1.5). Support computes them; these tests pin them.
var (
	wantUnsupportedKexs = []string{
		"diffie-hellman-group18-sha512",
		"mlkem768nistp256-sha256",
		"mlkem1024nistp384-sha384",
		"x25519-kyber-512r3-sha256-d00@amazon.com",
		"ecdh-nistp384-kyber-768r3-sha384-d00@openquantumsafe.org",
		"ecdh-nistp521-kyber-1024r3-sha512-d00@openquantumsafe.org",
	}
	wantUnsupportedMacs = []string{
		"hmac-sha1-etm@openssh.com",
		"umac-64-etm@openssh.com",
		"umac-128-etm@openssh.com",
		"umac-64@openssh.com",
		"umac-128@openssh.com",
	}
	wantSSHRSA = []string{
		"TransferSecurityPolicy-2018-11",
		"TransferSecurityPolicy-2020-06",
		"TransferSecurityPolicy-FIPS-2020-06",
		"TransferSecurityPolicy-FIPS-2023-05",
		"TransferSecurityPolicy-FIPS-2024-01",
		"TransferSecurityPolicy-PQ-SSH-FIPS-Experimental-2023-04",
	}
)

func newTestCatalog(t *testing.T) *Catalog {
	t.Helper()
	c, err := NewCatalog()
	if err != nil {
		t.Fatalf("NewCatalog() error = %v", err)
	}
	return c
}

func lookup(t *testing.T, c *Catalog, name string) *Policy {
	t.Helper()
	p, err := c.Lookup(name)
	if err != nil {
		t.Fatalf("Lookup(%q) error = %v", name, err)
	}
	return p
}

// rawPolicies decodes the embedded file without the Policy type, to compare against.
func rawPolicies(t *testing.T) []map[string]any {
	t.Helper()
	var raw []map[string]any
	if err := json.Unmarshal(catalogJSON, &raw); err != nil {
		t.Fatalf("decode embedded file: %v", err)
	}
	return raw
}

func TestCatalogHasEveryPolicyInFileOrder(t *testing.T) {
	t.Parallel()
	c := newTestCatalog(t)
	raw := rawPolicies(t)
	var want []string
	for _, r := range raw {
		want = append(want, r["SecurityPolicyName"].(string))
	}
	if got := c.Names(); !slices.Equal(got, want) || len(got) != 21 {
		t.Fatalf("Names() = %d names %q, want the file's 21 %q", len(got), got, want)
	}
	for i, p := range c.Policies() {
		if p.SecurityPolicyName != want[i] {
			t.Errorf("Policies()[%d] = %q, want %q", i, p.SecurityPolicyName, want[i])
		}
		if got := lookup(t, c, want[i]); got.SecurityPolicyName != want[i] {
			t.Errorf("Lookup(%q).SecurityPolicyName = %q", want[i], got.SecurityPolicyName)
		}
	}
}

// TestPolicyKeepsFileContent round-trips every policy: same members, same values, same list order.
func TestPolicyKeepsFileContent(t *testing.T) {
	t.Parallel()
	c := newTestCatalog(t)
	for i, r := range rawPolicies(t) {
		name := r["SecurityPolicyName"].(string)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(c.Policies()[i])
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("policy re-encoded\n got %v\nwant %v", got, r)
			}
		})
	}
}

func TestListOrderSpotChecks(t *testing.T) {
	t.Parallel()
	c := newTestCatalog(t)
	tests := []struct {
		name   string
		get    func(*Policy) []string
		policy string
		want   []string
	}{
		{"2024-01 ciphers (seed fact)", func(p *Policy) []string { return p.SshCiphers }, "TransferSecurityPolicy-2024-01",
			[]string{"aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr", "aes192-ctr"}},
		{"2022-03 lists aes256-gcm first", func(p *Policy) []string { return p.SshCiphers[:1] }, "TransferSecurityPolicy-2022-03",
			[]string{"aes256-gcm@openssh.com"}},
		{"connector host keys from file", func(p *Policy) []string { return p.HostKeyAlgorithms() }, "TransferSFTPConnectorSecurityPolicy-FIPS-2024-10",
			[]string{"rsa-sha2-256", "rsa-sha2-512", "ecdsa-sha2-nistp256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.get(lookup(t, c, tt.policy)); !slices.Equal(got, tt.want) {
				t.Errorf("%s: got %q, want %q", tt.policy, got, tt.want)
			}
		})
	}
}

func TestLookupReturnsCopies(t *testing.T) {
	t.Parallel()
	c := newTestCatalog(t)
	const name = "TransferSecurityPolicy-2024-01"
	p := lookup(t, c, name)
	p.SshKexs[0] = "changed"
	c.Policies()[6].SshCiphers[0] = "changed"
	if got := lookup(t, c, name); got.SshKexs[0] == "changed" || got.SshCiphers[0] == "changed" {
		t.Errorf("changing a policy from Lookup or Policies changed the catalog: %q %q", got.SshKexs, got.SshCiphers)
	}
}

func TestLookupUnknown(t *testing.T) {
	t.Parallel()
	c := newTestCatalog(t)
	tests := []struct {
		name, suggestion string
	}{
		{"TransferSecurityPolicy-2024-1", "TransferSecurityPolicy-2024-01"},
		{"transfersecuritypolicy-2024-01", "TransferSecurityPolicy-2024-01"},
		{"FIPS-2024-05", "TransferSecurityPolicy-FIPS-2024-05"},
		{"TransferSecurityPolicy-2099-01", "TransferSecurityPolicy-2024-01"},
		{"", ""},
		{"nonsense", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := c.Lookup(tt.name)
			var unknown *UnknownPolicyError
			if !errors.As(err, &unknown) {
				t.Fatalf("Lookup(%q) = %v, %v; want *UnknownPolicyError", tt.name, p, err)
			}
			if p != nil || unknown.Name != tt.name || unknown.Suggestion != tt.suggestion {
				t.Errorf("Lookup(%q) = %v, %+v; want nil, Name %q Suggestion %q", tt.name, p, unknown, tt.name, tt.suggestion)
			}
			if want := fmt.Sprintf("unknown security policy %q", tt.name); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
			if tt.suggestion != "" && !strings.Contains(err.Error(), tt.suggestion) {
				t.Errorf("error %q does not suggest %q", err, tt.suggestion)
			}
		})
	}
}

func TestParseCatalogRejects(t *testing.T) {
	t.Parallel()
	mutated := func(t *testing.T, mutate func([]map[string]any) []map[string]any) []byte {
		b, err := json.Marshal(mutate(rawPolicies(t)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		data    func(t *testing.T) []byte
		wantErr string
	}{
		{"not JSON", func(*testing.T) []byte { return []byte("{") }, "decode"},
		{"empty list", func(*testing.T) []byte { return []byte("[]") }, "no policies"},
		{"unknown member", func(t *testing.T) []byte {
			return mutated(t, func(r []map[string]any) []map[string]any { r[3]["HashAlgorithms"] = []string{"sha1"}; return r })
		}, `unknown field "HashAlgorithms"`},
		{"duplicate name", func(t *testing.T) []byte {
			return mutated(t, func(r []map[string]any) []map[string]any { return append(r, r[0]) })
		}, `policy 21 ("TransferSecurityPolicy-2018-11"): field SecurityPolicyName: duplicate`},
		{"bad name", func(t *testing.T) []byte {
			return mutated(t, func(r []map[string]any) []map[string]any { r[1]["SecurityPolicyName"] = "Policy 1"; return r })
		}, "field SecurityPolicyName: does not match"},
		{"bad type", func(t *testing.T) []byte {
			return mutated(t, func(r []map[string]any) []map[string]any { r[2]["Type"] = "AS2"; return r })
		}, `field Type: "AS2"`},
		{"server with host keys", func(t *testing.T) []byte {
			return mutated(t, func(r []map[string]any) []map[string]any {
				r[0]["SshHostKeyAlgorithms"] = []string{"ssh-rsa"}
				return r
			})
		}, "field SshHostKeyAlgorithms: set on a SERVER policy"},
		{"connector without host keys", func(t *testing.T) []byte {
			return mutated(t, func(r []map[string]any) []map[string]any { delete(r[20], "SshHostKeyAlgorithms"); return r })
		}, "field SshHostKeyAlgorithms: empty on a CONNECTOR policy"},
		{"empty kexs", func(t *testing.T) []byte {
			return mutated(t, func(r []map[string]any) []map[string]any { r[5]["SshKexs"] = []string{}; return r })
		}, "field SshKexs: empty"},
		{"ssh-rsa rule names a missing policy", func(t *testing.T) []byte {
			return mutated(t, func(r []map[string]any) []map[string]any { return r[1:] })
		}, `ssh-rsa host-key rule names "TransferSecurityPolicy-2018-11"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := parseCatalog(tt.data(t))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseCatalog() = %v, %v; want error containing %q", c, err, tt.wantErr)
			}
		})
	}
}

// TestSupportEveryPolicy checks every category of every policy against the known gaps:
// Offered and Unsupported partition the policy's list, in its order, and are never nil.
func TestSupportEveryPolicy(t *testing.T) {
	t.Parallel()
	c := newTestCatalog(t)
	partition := func(list, unsupported []string) Category {
		want := Category{Offered: []string{}, Unsupported: []string{}}
		for _, a := range list {
			if slices.Contains(unsupported, a) {
				want.Unsupported = append(want.Unsupported, a)
			} else {
				want.Offered = append(want.Offered, a)
			}
		}
		return want
	}
	for _, p := range c.Policies() {
		t.Run(p.SecurityPolicyName, func(t *testing.T) {
			t.Parallel()
			s := p.Support()
			for _, tt := range []struct {
				category string
				got      Category
				want     Category
			}{
				{"Kexs", s.Kexs, partition(p.SshKexs, wantUnsupportedKexs)},
				{"Ciphers", s.Ciphers, partition(p.SshCiphers, nil)},
				{"Macs", s.Macs, partition(p.SshMacs, wantUnsupportedMacs)},
				{"HostKeyAlgorithms", s.HostKeyAlgorithms, partition(p.HostKeyAlgorithms(), nil)},
			} {
				if !reflect.DeepEqual(tt.got, tt.want) {
					t.Errorf("Support().%s\n got %+v\nwant %+v", tt.category, tt.got, tt.want)
				}
				if p.IsServer() && len(tt.got.Offered) == 0 {
					t.Errorf("Support().%s.Offered is empty; a server cannot be built", tt.category)
				}
				b, err := json.Marshal(tt.got)
				if err != nil || bytes.Contains(b, []byte("null")) {
					t.Errorf("Support().%s marshals to %s, %v; want arrays, never null", tt.category, b, err)
				}
			}
		})
	}
}

func TestSupportNamedCases(t *testing.T) {
	t.Parallel()
	c := newTestCatalog(t)
	tests := []struct {
		name   string
		policy string
		get    func(Support) []string
		want   string
		in     bool
	}{
		{"insecure group14-sha1 is offered", "TransferSecurityPolicy-2018-11", func(s Support) []string { return s.Kexs.Offered }, "diffie-hellman-group14-sha1", true},
		{"group18 is unsupported", "TransferSecurityPolicy-2018-11", func(s Support) []string { return s.Kexs.Unsupported }, "diffie-hellman-group18-sha512", true},
		{"libssh curve25519 alias is offered", "TransferSecurityPolicy-2018-11", func(s Support) []string { return s.Kexs.Offered }, "curve25519-sha256@libssh.org", true},
		{"mlkem768x25519 is offered", "TransferSecurityPolicy-2025-03", func(s Support) []string { return s.Kexs.Offered }, "mlkem768x25519-sha256", true},
		{"mlkem768nistp256 is unsupported", "TransferSecurityPolicy-2025-03", func(s Support) []string { return s.Kexs.Unsupported }, "mlkem768nistp256-sha256", true},
		{"mlkem1024nistp384 is unsupported", "TransferSecurityPolicy-FIPS-2025-03", func(s Support) []string { return s.Kexs.Unsupported }, "mlkem1024nistp384-sha384", true},
		{"kyber is unsupported", "TransferSecurityPolicy-PQ-SSH-Experimental-2023-04", func(s Support) []string { return s.Kexs.Unsupported }, "x25519-kyber-512r3-sha256-d00@amazon.com", true},
		{"hmac-sha1-etm is unsupported", "TransferSecurityPolicy-2018-11", func(s Support) []string { return s.Macs.Unsupported }, "hmac-sha1-etm@openssh.com", true},
		{"umac-128-etm is unsupported", "TransferSecurityPolicy-2020-06", func(s Support) []string { return s.Macs.Unsupported }, "umac-128-etm@openssh.com", true},
		{"umac-64 is unsupported", "TransferSecurityPolicy-2018-11", func(s Support) []string { return s.Macs.Unsupported }, "umac-64@openssh.com", true},
		{"hmac-sha1 is offered", "TransferSecurityPolicy-2018-11", func(s Support) []string { return s.Macs.Offered }, "hmac-sha1", true},
		{"2024-01 has no unsupported cipher", "TransferSecurityPolicy-2024-01", func(s Support) []string { return s.Ciphers.Unsupported }, "", false},
		{"ssh-rsa host key is offered where allowed", "TransferSecurityPolicy-FIPS-2024-01", func(s Support) []string { return s.HostKeyAlgorithms.Offered }, "ssh-rsa", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.get(lookup(t, c, tt.policy).Support())
			if tt.in != slices.Contains(got, tt.want) || (!tt.in && tt.want == "" && len(got) != 0) {
				t.Errorf("%s: got %q, want %q in it = %v", tt.policy, got, tt.want, tt.in)
			}
		})
	}
}

// TestImplementationChecksAgree shows why Support also asks Config.SetDefaults: every name in
// SupportedAlgorithms or InsecureAlgorithms survives SetDefaults, and SetDefaults knows one name
// (the curve25519 libssh alias) that neither list has.
func TestImplementationChecksAgree(t *testing.T) {
	t.Parallel()
	sup, insecure := ssh.SupportedAlgorithms(), ssh.InsecureAlgorithms()
	impl := currentImplementation()
	for _, tt := range []struct {
		kind  string
		names []string
		check func(string) bool
	}{
		{"kex", slices.Concat(sup.KeyExchanges, insecure.KeyExchanges), impl.kexs},
		{"cipher", slices.Concat(sup.Ciphers, insecure.Ciphers), impl.ciphers},
		{"mac", slices.Concat(sup.MACs, insecure.MACs), impl.macs},
		{"host key", slices.Concat(sup.HostKeys, insecure.HostKeys), impl.hostKeys},
	} {
		for _, name := range tt.names {
			if !tt.check(name) {
				t.Errorf("%s %q is listed by x/crypto/ssh but not implemented by our check", tt.kind, name)
			}
		}
		for _, name := range []string{"no-such-algorithm", ""} {
			if tt.check(name) {
				t.Errorf("%s %q reported implemented", tt.kind, name)
			}
		}
	}
	const alias = "curve25519-sha256@libssh.org"
	if slices.Contains(sup.KeyExchanges, alias) || slices.Contains(insecure.KeyExchanges, alias) {
		t.Logf("%s is now listed by x/crypto/ssh; the SetDefaults probe may no longer be needed", alias)
	}
	if !impl.kexs(alias) {
		t.Errorf("%s not reported implemented", alias)
	}
}

func TestHostKeyAlgorithms(t *testing.T) {
	t.Parallel()
	c := newTestCatalog(t)
	base := []string{"rsa-sha2-256", "rsa-sha2-512", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-ed25519"}
	var withSSHRSA []string
	for _, p := range c.Policies() {
		got := p.HostKeyAlgorithms()
		if !p.IsServer() {
			if !slices.Equal(got, p.SshHostKeyAlgorithms) {
				t.Errorf("%s: HostKeyAlgorithms() = %q, want the file's %q", p.SecurityPolicyName, got, p.SshHostKeyAlgorithms)
			}
			continue
		}
		want := base
		if p.AcceptsSSHRSA() {
			withSSHRSA = append(withSSHRSA, p.SecurityPolicyName)
			want = append(slices.Clone(base), "ssh-rsa")
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: HostKeyAlgorithms() = %q, want %q", p.SecurityPolicyName, got, want)
		}
	}
	if !slices.Equal(withSSHRSA, wantSSHRSA) {
		t.Errorf("server policies allowing ssh-rsa = %q, want %q", withSSHRSA, wantSSHRSA)
	}
}

func TestIsServer(t *testing.T) {
	t.Parallel()
	c := newTestCatalog(t)
	servers := 0
	for _, p := range c.Policies() {
		if p.IsServer() {
			servers++
		}
		if want := !strings.HasPrefix(p.SecurityPolicyName, "TransferSFTPConnector"); p.IsServer() != want {
			t.Errorf("%s (Type %s): IsServer() = %v, want %v", p.SecurityPolicyName, p.Type, p.IsServer(), want)
		}
	}
	if servers != 18 {
		t.Errorf("%d server policies, want 18", servers)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	c := newTestCatalog(t)
	for _, p := range c.Policies() {
		t.Run(p.SecurityPolicyName, func(t *testing.T) {
			t.Parallel()
			b, err := p.Describe()
			if err != nil {
				t.Fatalf("Describe() error = %v", err)
			}
			var got struct {
				SecurityPolicy map[string]any
				Transferd      struct {
					Negotiable, NotNegotiable map[string]any
				}
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("Describe() is not JSON: %v\n%s", err, b)
			}
			if name := got.SecurityPolicy["SecurityPolicyName"]; name != p.SecurityPolicyName {
				t.Errorf("SecurityPolicy.SecurityPolicyName = %v, want %q", name, p.SecurityPolicyName)
			}
			if hk := fmt.Sprint(got.SecurityPolicy["SshHostKeyAlgorithms"]); hk != fmt.Sprint(p.HostKeyAlgorithms()) {
				t.Errorf("SecurityPolicy.SshHostKeyAlgorithms = %v, want %v", hk, p.HostKeyAlgorithms())
			}
			for _, member := range []string{"Fips", "SshCiphers", "SshKexs", "SshMacs", "Type", "Protocols"} {
				if _, ok := got.SecurityPolicy[member]; !ok {
					t.Errorf("SecurityPolicy has no %s", member)
				}
			}
			s := p.Support()
			for _, cat := range categories() {
				for side, m := range map[string]map[string]any{"Negotiable": got.Transferd.Negotiable, "NotNegotiable": got.Transferd.NotNegotiable} {
					list, ok := m[cat.member].([]any)
					if !ok {
						t.Errorf("Transferd.%s.%s = %#v, want an array", side, cat.member, m[cat.member])
						continue
					}
					want := cat.get(s).Offered
					if side == "NotNegotiable" {
						want = cat.get(s).Unsupported
					}
					if fmt.Sprint(list) != fmt.Sprint(want) {
						t.Errorf("Transferd.%s.%s = %v, want %v", side, cat.member, list, want)
					}
				}
			}
		})
	}
}

func TestWriteList(t *testing.T) {
	t.Parallel()
	c := newTestCatalog(t)
	var buf bytes.Buffer
	if err := c.WriteList(&buf); err != nil {
		t.Fatalf("WriteList() error = %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1+21 {
		t.Fatalf("WriteList() wrote %d lines, want a header and 21:\n%s", len(lines), buf.String())
	}
	rows := map[string][]string{}
	for i, name := range c.Names() {
		fields := strings.Fields(lines[i+1])
		if len(fields) < 4 || fields[0] != name {
			t.Fatalf("line %d = %q, want it to start with %q", i+1, lines[i+1], name)
		}
		rows[name] = fields
	}
	tests := []struct {
		policy, typ, fips, negotiable string
	}{
		{"TransferSecurityPolicy-2024-01", "SERVER", "no", "1 not negotiable: diffie-hellman-group18-sha512"},
		{"TransferSecurityPolicy-FIPS-2024-05", "SERVER", "yes", "1 not negotiable: diffie-hellman-group18-sha512"},
		{"TransferSecurityPolicy-2020-06", "SERVER", "no",
			"3 not negotiable: diffie-hellman-group18-sha512, umac-128-etm@openssh.com, umac-128@openssh.com"},
		{"TransferSFTPConnectorSecurityPolicy-FIPS-2024-10", "CONNECTOR", "yes", "all algorithms negotiable"},
	}
	for _, tt := range tests {
		f := rows[tt.policy]
		if got := strings.Join(f[3:], " "); f[1] != tt.typ || f[2] != tt.fips || got != tt.negotiable {
			t.Errorf("%s row = %q, want type %s, FIPS %s, %q", tt.policy, f, tt.typ, tt.fips, tt.negotiable)
		}
	}
}

func TestWarnings(t *testing.T) {
	t.Parallel()
	c := newTestCatalog(t)
	tests := []struct {
		policy string
		want   []string
	}{
		{"TransferSecurityPolicy-2018-11", []string{
			"security policy TransferSecurityPolicy-2018-11: key exchange diffie-hellman-group18-sha512 is not implemented by this build and will not be offered",
			"security policy TransferSecurityPolicy-2018-11: MACs umac-64-etm@openssh.com, umac-128-etm@openssh.com, hmac-sha1-etm@openssh.com, umac-64@openssh.com and umac-128@openssh.com are not implemented by this build and will not be offered",
		}},
		{"TransferSecurityPolicy-2025-03", []string{
			"security policy TransferSecurityPolicy-2025-03: key exchanges mlkem768nistp256-sha256, mlkem1024nistp384-sha384 and diffie-hellman-group18-sha512 are not implemented by this build and will not be offered",
		}},
		{"TransferSFTPConnectorSecurityPolicy-FIPS-2024-10", nil},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			t.Parallel()
			if got := lookup(t, c, tt.policy).Warnings(); !slices.Equal(got, tt.want) {
				t.Errorf("Warnings()\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// hostKeySigners are one host key of each type a Transfer Family server can import.
func hostKeySigners(t *testing.T) []ssh.Signer {
	t.Helper()
	var keys []any
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, ed)
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, rsaKey)
	var signers []ssh.Signer
	for _, k := range keys {
		s, err := ssh.NewSignerFromKey(k)
		if err != nil {
			t.Fatal(err)
		}
		signers = append(signers, s)
	}
	return signers
}

// serverConfig configures a server the way transferd does for p: the Offered lists, and each
// host key restricted to the signature algorithms p allows for its type.
func serverConfig(t *testing.T, p *Policy, keys []ssh.Signer) *ssh.ServerConfig {
	t.Helper()
	s := p.Support()
	cfg := &ssh.ServerConfig{
		Config:       ssh.Config{KeyExchanges: s.Kexs.Offered, Ciphers: s.Ciphers.Offered, MACs: s.Macs.Offered},
		NoClientAuth: true,
	}
	for _, k := range keys {
		forType := []string{k.PublicKey().Type()}
		if forType[0] == ssh.KeyAlgoRSA {
			forType = []string{ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSA}
		}
		var algs []string
		for _, a := range s.HostKeyAlgorithms.Offered {
			if slices.Contains(forType, a) {
				algs = append(algs, a)
			}
		}
		if len(algs) == 0 {
			continue
		}
		restricted, err := ssh.NewSignerWithAlgorithms(k.(ssh.AlgorithmSigner), algs)
		if err != nil {
			t.Fatalf("restrict %s host key to %q: %v", k.PublicKey().Type(), algs, err)
		}
		cfg.AddHostKey(restricted)
	}
	return cfg
}

type algorithms struct{ kex, cipher, mac, hostKey string }

// loopbackPair returns both ends of a TCP connection on 127.0.0.1. (net.Pipe cannot carry an
// SSH handshake: both sides write their version line first and net.Pipe does not buffer.)
func loopbackPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ac := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ac <- accepted{c, err}
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-ac
	if a.err != nil {
		client.Close()
		t.Fatal(a.err)
	}
	deadline := time.Now().Add(30 * time.Second)
	client.SetDeadline(deadline)
	a.c.SetDeadline(deadline)
	return client, a.c
}

// handshake runs a real SSH handshake and "none" authentication between a client that
// offers only want and a server built with server, and returns what the client negotiated.
func handshake(t *testing.T, server *ssh.ServerConfig, hostKeys []ssh.Signer, want algorithms) (ssh.NegotiatedAlgorithms, error) {
	t.Helper()
	clientConn, serverConn := loopbackPair(t)
	var wg sync.WaitGroup
	var serverErr error
	wg.Go(func() {
		defer serverConn.Close()
		conn, chans, reqs, err := ssh.NewServerConn(serverConn, server)
		if err != nil {
			serverErr = err
			return
		}
		wg.Go(func() { ssh.DiscardRequests(reqs) })
		wg.Go(func() {
			for nc := range chans {
				nc.Reject(ssh.Prohibited, "test server")
			}
		})
		conn.Wait()
	})
	known := map[string]bool{}
	for _, k := range hostKeys {
		known[string(k.PublicKey().Marshal())] = true
	}
	cfg := &ssh.ClientConfig{
		Config:            ssh.Config{KeyExchanges: []string{want.kex}, Ciphers: []string{want.cipher}, MACs: []string{want.mac}},
		User:              "test",
		HostKeyAlgorithms: []string{want.hostKey},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if !known[string(key.Marshal())] {
				return errors.New("unknown host key")
			}
			return nil
		},
	}
	conn, chans, reqs, err := ssh.NewClientConn(clientConn, "loopback", cfg)
	if err != nil {
		wg.Wait()
		return ssh.NegotiatedAlgorithms{}, fmt.Errorf("client: %w (server: %v)", err, serverErr)
	}
	wg.Go(func() { ssh.DiscardRequests(reqs) })
	wg.Go(func() {
		for nc := range chans {
			nc.Reject(ssh.Prohibited, "test client")
		}
	})
	got := conn.(ssh.AlgorithmsConnMetadata).Algorithms()
	conn.Close()
	wg.Wait()
	return got, nil
}

// TestHandshakeEveryOfferedAlgorithm proves each server policy's Offered lists work: a server
// configured with them completes a handshake with a client forced to each offered key exchange,
// cipher, MAC and host-key algorithm in turn.
func TestHandshakeEveryOfferedAlgorithm(t *testing.T) {
	t.Parallel()
	c := newTestCatalog(t)
	keys := hostKeySigners(t)
	for _, p := range c.Policies() {
		if !p.IsServer() {
			continue
		}
		t.Run(p.SecurityPolicyName, func(t *testing.T) {
			t.Parallel()
			s := p.Support()
			server := serverConfig(t, p, keys)
			// Each case forces one algorithm and takes the others from base. Base uses the
			// first offered elliptic-curve key exchange when there is one: 4096-bit
			// Diffie-Hellman costs ~0.4 s per handshake here.
			baseKex := s.Kexs.Offered[0]
			if i := slices.IndexFunc(s.Kexs.Offered, func(k string) bool { return !strings.HasPrefix(k, "diffie-hellman") }); i >= 0 {
				baseKex = s.Kexs.Offered[i]
			}
			base := algorithms{baseKex, s.Ciphers.Offered[0], s.Macs.Offered[0], ssh.KeyAlgoED25519}
			var cases []algorithms
			for _, kex := range s.Kexs.Offered {
				a := base
				a.kex = kex
				cases = append(cases, a)
			}
			for _, cipher := range s.Ciphers.Offered {
				a := base
				a.cipher = cipher
				cases = append(cases, a)
			}
			// A MAC is only negotiated with a cipher that is not AEAD.
			ctr := slices.IndexFunc(s.Ciphers.Offered, func(c string) bool { return strings.HasSuffix(c, "-ctr") })
			if ctr < 0 {
				t.Fatalf("no CTR cipher offered to negotiate MACs with: %q", s.Ciphers.Offered)
			}
			for _, mac := range s.Macs.Offered {
				a := base
				a.cipher, a.mac = s.Ciphers.Offered[ctr], mac
				cases = append(cases, a)
			}
			for _, hk := range s.HostKeyAlgorithms.Offered {
				a := base
				a.hostKey = hk
				cases = append(cases, a)
			}
			for _, want := range cases {
				got, err := handshake(t, server, keys, want)
				if err != nil {
					t.Errorf("handshake forcing %+v: %v", want, err)
					continue
				}
				if got.KeyExchange != want.kex || got.HostKey != want.hostKey ||
					got.Read.Cipher != want.cipher || got.Write.Cipher != want.cipher {
					t.Errorf("handshake forcing %+v negotiated %+v", want, got)
				}
				if strings.HasSuffix(want.cipher, "-ctr") && (got.Read.MAC != want.mac || got.Write.MAC != want.mac) {
					t.Errorf("handshake forcing %+v negotiated MACs %q/%q", want, got.Read.MAC, got.Write.MAC)
				}
			}
		})
	}
}

// TestHandshakeRefusesOutsidePolicy checks that a server built from a policy does not
// negotiate what the policy leaves out, even when x/crypto/ssh implements it.
func TestHandshakeRefusesOutsidePolicy(t *testing.T) {
	t.Parallel()
	c := newTestCatalog(t)
	keys := hostKeySigners(t)
	tests := []struct {
		name, policy string
		client       algorithms
		what         string
	}{
		{"ssh-rsa host key", "TransferSecurityPolicy-2024-01",
			algorithms{"curve25519-sha256", "aes128-gcm@openssh.com", "hmac-sha2-256-etm@openssh.com", ssh.KeyAlgoRSA}, "host key"},
		{"ssh-rsa host key on FIPS-2024-05", "TransferSecurityPolicy-FIPS-2024-05",
			algorithms{"ecdh-sha2-nistp256", "aes128-gcm@openssh.com", "hmac-sha2-256-etm@openssh.com", ssh.KeyAlgoRSA}, "host key"},
		{"insecure group14-sha1", "TransferSecurityPolicy-2024-01",
			algorithms{"diffie-hellman-group14-sha1", "aes128-gcm@openssh.com", "hmac-sha2-256-etm@openssh.com", ssh.KeyAlgoED25519}, "key exchange"},
		{"hmac-sha1", "TransferSecurityPolicy-2024-01",
			algorithms{"curve25519-sha256", "aes128-ctr", "hmac-sha1", ssh.KeyAlgoED25519}, "client to server MAC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := handshake(t, serverConfig(t, lookup(t, c, tt.policy), keys), keys, tt.client)
			var negotiation *ssh.AlgorithmNegotiationError
			if !errors.As(err, &negotiation) || negotiation.What != tt.what {
				t.Errorf("handshake forcing %+v: err = %v, want an AlgorithmNegotiationError for %q", tt.client, err, tt.what)
			}
		})
	}
}
