package e2e

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/transferd/transferd/internal/activity"
)

const (
	policy2024 = "TransferSecurityPolicy-2024-01"
	policyFIPS = "TransferSecurityPolicy-FIPS-2024-01"
	policy2018 = "TransferSecurityPolicy-2018-11"
)

// serverARN is the resource ARN of a server in transferd's default account and region.
func serverARN(id string) string { return "arn:aws:transfer:us-east-1:000000000000:server/" + id }

var serverARNRE = regexp.MustCompile(`^arn:aws:transfer:us-east-1:000000000000:server/s-[0-9a-f]{17}$`)

// opt turns name=value pairs into OpenSSH -o options.
func opt(pairs ...string) []string {
	var out []string
	for _, p := range pairs {
		out = append(out, "-o", p)
	}
	return out
}

func TestConnectedRecord(t *testing.T) {
	t.Parallel()
	const serverID = "s-0123456789abcdef0"
	key := keyFor(t, "ed25519")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{ID: serverID, Port: port, Users: []userConf{
		chrootUser("sftp_user", key),
		pathUser("path_user", key),
	}}))
	authorized := strings.Fields(key.Authorized)[1]

	for _, tc := range []struct {
		name    string
		user    string
		opts    []string
		home    string
		storage string // where the row's mkdir lands
		want    negotiated
	}{
		{name: "defaults", user: "sftp_user"},
		{name: "aes128-gcm", user: "sftp_user", opts: opt("Ciphers=aes128-gcm@openssh.com"),
			want: negotiated{C2SCipher: "aes128-gcm@openssh.com", C2SMAC: "<implicit>", S2CCipher: "aes128-gcm@openssh.com", S2CMAC: "<implicit>"}},
		{name: "aes256-ctr with hmac-sha2-512-etm", user: "sftp_user", opts: opt("Ciphers=aes256-ctr", "MACs=hmac-sha2-512-etm@openssh.com"),
			want: negotiated{C2SCipher: "aes256-ctr", C2SMAC: "hmac-sha2-512-etm@openssh.com", S2CCipher: "aes256-ctr", S2CMAC: "hmac-sha2-512-etm@openssh.com"}},
		{name: "ecdh-sha2-nistp384", user: "sftp_user", opts: opt("KexAlgorithms=ecdh-sha2-nistp384"),
			want: negotiated{Kex: "ecdh-sha2-nistp384"}},
		{name: "diffie-hellman-group-exchange-sha256", user: "sftp_user", opts: opt("KexAlgorithms=diffie-hellman-group-exchange-sha256"),
			want: negotiated{Kex: "diffie-hellman-group-exchange-sha256"}},
		{name: "rsa-sha2-256 host key", user: "sftp_user", opts: opt("HostKeyAlgorithms=rsa-sha2-256"),
			want: negotiated{HostKey: "rsa-sha2-256"}},
		{name: "PATH user", user: "path_user", home: "/bucket1/shared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := "row-" + strings.NewReplacer(" ", "-").Replace(tc.name)
			out := mustSFTP(t, port, tc.user, key, "mkdir "+dir+"\n", tc.opts...)
			n := parseSftpV(out)
			if n.Kex == "" || n.HostKey == "" || n.C2SCipher == "" || n.C2SMAC == "" || n.S2CCipher == "" || n.S2CMAC == "" {
				t.Fatalf("sftp -v with %q: could not read the negotiated algorithms (%+v) from:\n%s", tc.opts, n, out)
			}
			for _, c := range [][3]string{
				{"kex", tc.want.Kex, n.Kex}, {"host key algorithm", tc.want.HostKey, n.HostKey},
				{"client->server cipher", tc.want.C2SCipher, n.C2SCipher}, {"client->server MAC", tc.want.C2SMAC, n.C2SMAC},
				{"server->client cipher", tc.want.S2CCipher, n.S2CCipher}, {"server->client MAC", tc.want.S2CMAC, n.S2CMAC},
			} {
				if c[1] != "" && c[1] != c[2] {
					t.Errorf("sftp -v with %q: %s %q, want %q", tc.opts, c[0], c[2], c[1])
				}
			}

			storage := "/bucket1/" + tc.user + "/" + dir
			homeDir := "LOGICAL"
			if tc.home != "" {
				storage, homeDir = tc.home+"/"+dir, tc.home
			}
			recs := p.session(t, "MKDIR of "+storage, func(r *activity.Record) bool {
				return r.ActivityType == activity.Mkdir && r.Path == storage
			})
			got := recs[0]
			for _, c := range [][3]string{
				{"kex", n.Kex, got.Kex},
				{"host-key-algorithm", n.HostKey, got.HostKeyAlgorithm},
				{"ciphers", n.C2SCipher + "," + n.S2CCipher, got.Ciphers},
				{"macs", n.C2SMAC + "," + n.S2CMAC, got.Macs},
				{"ssh-public-key-type", key.Type, got.SSHPublicKeyType},
				{"ssh-public-key-fingerprint", key.Fingerprint, got.SSHPublicKeyFingerprint},
				{"ssh-public-key", authorized, got.SSHPublicKey},
				{"user", tc.user, got.User},
				{"role", testRole, got.Role},
				{"source-ip", "127.0.0.1", got.SourceIP},
				{"home-dir", homeDir, got.HomeDir},
				{"resource-arn", serverARN(serverID), got.ResourceARN},
				{"method", "publickey", got.Method},
			} {
				if c[1] != c[2] {
					t.Errorf("CONNECTED after sftp with %q: %s = %q, want %q", tc.opts, c[0], c[2], c[1])
				}
			}
			if !strings.HasPrefix(got.Client, "SSH-2.0-OpenSSH_") {
				t.Errorf("CONNECTED: client = %q, want SSH-2.0-OpenSSH_...", got.Client)
			}
			for _, r := range recs {
				if r.ResourceARN != serverARN(serverID) {
					t.Errorf("%s record: resource-arn %q, want %q", r.ActivityType, r.ResourceARN, serverARN(serverID))
				}
			}
		})
	}
}

func TestSecurityPolicies(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	users := []userConf{chrootUser("sftp_user", key)}
	servers := []serverConf{
		{ID: "s-a0000000000002024", Port: freePort(t), Policy: policy2024, Users: users},
		{ID: "s-f0000000000002024", Port: freePort(t), Policy: policyFIPS, Users: users},
		{ID: "s-b0000000000002018", Port: freePort(t), Policy: policy2018, Users: users},
	}
	p := start(t, configYAML("", servers...))
	pol2024, polFIPS := negotiable(t, policy2024), negotiable(t, policyFIPS)
	if slices.Contains(polFIPS.SshKexs, "curve25519-sha256") {
		t.Fatalf("policies describe %s offers curve25519-sha256; the test expects FIPS policies not to", policyFIPS)
	}

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name        string
			server      int
			opts        []string
			offered     string // the algorithm the client offers alone in the failing category
			message     string
			category    string
			serverOffer []string
		}{
			{"cipher outside 2024-01", 0, opt("Ciphers=chacha20-poly1305@openssh.com"), "chacha20-poly1305@openssh.com",
				"no matching cipher found", "client to server cipher", pol2024.SshCiphers},
			{"kex outside FIPS-2024-01", 1, opt("KexAlgorithms=curve25519-sha256"), "curve25519-sha256",
				"no matching key exchange method found", "key exchange", polFIPS.SshKexs},
			{"MAC outside 2024-01", 0, opt("Ciphers=aes128-ctr", "MACs=hmac-sha1"), "hmac-sha1",
				"no matching MAC found", "client to server MAC", pol2024.SshMacs},
			{"host key algorithm outside 2024-01", 0, opt("HostKeyAlgorithms=ssh-rsa"), "ssh-rsa",
				"no matching host key type found", "host key", []string{"rsa-sha2-256", "rsa-sha2-512"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				s := servers[tc.server]
				out, err := sftpBatch(t, s.Port, "sftp_user", key, "pwd\n", tc.opts...)
				wantOut := fmt.Sprintf("Unable to negotiate with 127.0.0.1 port %d: %s", s.Port, tc.message)
				if err == nil || !strings.Contains(out, wantOut) {
					t.Errorf("sftp with %q against %s: err %v, output lacks %q:\n%s", tc.opts, s.Policy, err, wantOut, out)
				}
				r := p.waitRecord(t, fmt.Sprintf("KEX_FAILURE on %s with client offer %s", s.ID, tc.offered), func(r *activity.Record) bool {
					return r.ActivityType == activity.KexFailure && r.ResourceARN == serverARN(s.ID) && slices.Contains(r.ClientOffered, tc.offered)
				})
				if r.Message != tc.message || r.NegotiationCategory != tc.category {
					t.Errorf("KEX_FAILURE for %q: message %q category %q, want %q %q", tc.opts, r.Message, r.NegotiationCategory, tc.message, tc.category)
				}
				if r.Kex != strings.Join(r.ClientOffered, ",") {
					t.Errorf("KEX_FAILURE for %q: kex %q, want the client's offer comma-joined %q", tc.opts, r.Kex, strings.Join(r.ClientOffered, ","))
				}
				if got := withoutExtensions(r.ClientOffered); !slices.Equal(got, []string{tc.offered}) {
					t.Errorf("KEX_FAILURE for %q: client-offered %q, want [%s]", tc.opts, r.ClientOffered, tc.offered)
				}
				if !slices.Equal(r.ServerOffered, tc.serverOffer) {
					t.Errorf("KEX_FAILURE for %q on %s: server-offered %q, want the policy's %q", tc.opts, s.Policy, r.ServerOffered, tc.serverOffer)
				}
				if r.SourceIP != "127.0.0.1" || !strings.HasPrefix(r.Client, "SSH-2.0-OpenSSH_") {
					t.Errorf("KEX_FAILURE for %q: source-ip %q client %q, want 127.0.0.1 and SSH-2.0-OpenSSH_...", tc.opts, r.SourceIP, r.Client)
				}
			})
		}
	})

	t.Run("negotiated", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			server int
			opts   []string
			want   negotiated
		}{
			{"2018-11 accepts diffie-hellman-group14-sha1", 2, opt("KexAlgorithms=diffie-hellman-group14-sha1"),
				negotiated{Kex: "diffie-hellman-group14-sha1"}},
			{"2018-11 accepts chacha20-poly1305", 2, opt("Ciphers=chacha20-poly1305@openssh.com"),
				negotiated{C2SCipher: "chacha20-poly1305@openssh.com", C2SMAC: "<implicit>", S2CCipher: "chacha20-poly1305@openssh.com", S2CMAC: "<implicit>"}},
			{"2018-11 accepts the ssh-rsa host key algorithm", 2, opt("HostKeyAlgorithms=ssh-rsa"),
				negotiated{HostKey: "ssh-rsa"}},
			{"2024-01 client prefers rsa-sha2-256", 0, opt("HostKeyAlgorithms=rsa-sha2-256,rsa-sha2-512"),
				negotiated{HostKey: "rsa-sha2-256"}},
			{"client prefers aes256-ctr", 0, opt("Ciphers=aes256-ctr,aes128-gcm@openssh.com"),
				negotiated{C2SCipher: "aes256-ctr", S2CCipher: "aes256-ctr"}},
			{"client prefers aes128-gcm", 0, opt("Ciphers=aes128-gcm@openssh.com,aes256-ctr"),
				negotiated{C2SCipher: "aes128-gcm@openssh.com", S2CCipher: "aes128-gcm@openssh.com"}},
			{"client prefers hmac-sha2-512-etm", 0, opt("Ciphers=aes128-ctr", "MACs=hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com"),
				negotiated{C2SMAC: "hmac-sha2-512-etm@openssh.com", S2CMAC: "hmac-sha2-512-etm@openssh.com"}},
			{"client prefers hmac-sha2-256-etm", 0, opt("Ciphers=aes128-ctr", "MACs=hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com"),
				negotiated{C2SMAC: "hmac-sha2-256-etm@openssh.com", S2CMAC: "hmac-sha2-256-etm@openssh.com"}},
			{"client prefers ecdh-sha2-nistp384", 0, opt("KexAlgorithms=ecdh-sha2-nistp384,ecdh-sha2-nistp256"),
				negotiated{Kex: "ecdh-sha2-nistp384"}},
			{"client prefers ecdh-sha2-nistp256", 0, opt("KexAlgorithms=ecdh-sha2-nistp256,ecdh-sha2-nistp384"),
				negotiated{Kex: "ecdh-sha2-nistp256"}},
			{"FIPS client prefers ecdh-sha2-nistp521", 1, opt("KexAlgorithms=ecdh-sha2-nistp521,ecdh-sha2-nistp256"),
				negotiated{Kex: "ecdh-sha2-nistp521"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				s := servers[tc.server]
				dir := "row-" + strings.NewReplacer(" ", "-").Replace(tc.name)
				out := mustSFTP(t, s.Port, "sftp_user", key, "mkdir "+dir+"\n", tc.opts...)
				n := parseSftpV(out)
				for _, c := range [][3]string{
					{"kex", tc.want.Kex, n.Kex}, {"host key algorithm", tc.want.HostKey, n.HostKey},
					{"client->server cipher", tc.want.C2SCipher, n.C2SCipher}, {"client->server MAC", tc.want.C2SMAC, n.C2SMAC},
					{"server->client cipher", tc.want.S2CCipher, n.S2CCipher}, {"server->client MAC", tc.want.S2CMAC, n.S2CMAC},
				} {
					if c[1] != "" && c[1] != c[2] {
						t.Errorf("sftp -v with %q against %s: %s %q, want %q", tc.opts, s.Policy, c[0], c[2], c[1])
					}
				}
				path := "/bucket1/sftp_user/" + dir
				r := p.session(t, "MKDIR of "+path+" on "+s.ID, func(r *activity.Record) bool {
					return r.ActivityType == activity.Mkdir && r.Path == path && r.ResourceARN == serverARN(s.ID)
				})[0]
				if r.Kex != n.Kex || r.HostKeyAlgorithm != n.HostKey || r.Ciphers != n.C2SCipher+","+n.S2CCipher || r.Macs != n.C2SMAC+","+n.S2CMAC {
					t.Errorf("CONNECTED with %q: kex %q host-key-algorithm %q ciphers %q macs %q, want %q %q %q %q as sftp -v printed", tc.opts,
						r.Kex, r.HostKeyAlgorithm, r.Ciphers, r.Macs, n.Kex, n.HostKey, n.C2SCipher+","+n.S2CCipher, n.C2SMAC+","+n.S2CMAC)
				}
			})
		}
	})

	t.Run("each server has its own host key", func(t *testing.T) {
		checkOwnHostKeys(t, p, servers, key)
	})
}

// checkOwnHostKeys connects to each server and checks that the host keys differ and are the ones
// transferd logged for each server.
func checkOwnHostKeys(t *testing.T, p *proc, servers []serverConf, key *sshKey) {
	t.Helper()
	seen := map[string]string{}
	for _, s := range servers {
		out := mustSFTP(t, s.Port, "sftp_user", key, "pwd\n")
		n := parseSftpV(out)
		if n.HostKeyType != "ssh-rsa" || n.HostKeyFingerprint == "" {
			t.Errorf("server %s: sftp -v shows host key %q %q, want an ssh-rsa key", s.ID, n.HostKeyType, n.HostKeyFingerprint)
			continue
		}
		if other, dup := seen[n.HostKeyFingerprint]; dup {
			t.Errorf("servers %s and %s have the same host key %s", other, s.ID, n.HostKeyFingerprint)
		}
		seen[n.HostKeyFingerprint] = s.ID
		logged := false
		for _, line := range strings.Split(p.stderrText(), "\n") {
			if strings.Contains(line, `msg="server online"`) && strings.Contains(line, "server-id="+s.ID) &&
				strings.Contains(line, n.HostKeyFingerprint) {
				logged = true
			}
		}
		if !logged {
			t.Errorf("server %s: no \"server online\" log line with the host key %s that sftp saw", s.ID, n.HostKeyFingerprint)
		}
	}
}

// withoutExtensions drops the pseudo-algorithms OpenSSH adds to its key exchange list.
func withoutExtensions(algs []string) []string {
	return slices.DeleteFunc(slices.Clone(algs), func(a string) bool {
		return strings.HasPrefix(a, "ext-info-") || strings.HasPrefix(a, "kex-strict-")
	})
}

func TestServersInOneProcess(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	users := []userConf{chrootUser("sftp_user", key)}
	servers := []serverConf{
		{ID: "s-1000000000000000a", Port: freePort(t), Policy: policy2024, Banner: "Server one: authorized use only", Users: users},
		{ID: "s-2000000000000000b", Port: freePort(t), Policy: policy2018, Banner: "Server two: audited", Users: users},
		{ID: "s-3000000000000000c", Port: freePort(t), Policy: policyFIPS, Banner: "Server three: FIPS", Users: users},
	}
	p := start(t, configYAML("", servers...))
	for i, s := range servers {
		t.Run(s.ID, func(t *testing.T) {
			t.Parallel()
			dir := "on-" + s.ID
			out := mustSFTP(t, s.Port, "sftp_user", key, "mkdir "+dir+"\n")
			for j, o := range servers {
				if has := strings.Contains(out, o.Banner); has != (i == j) {
					t.Errorf("sftp to %s: output has banner %q: %v, want %v; output:\n%s", s.ID, o.Banner, has, i == j, out)
				}
			}
			pol := negotiable(t, s.Policy)
			n := parseSftpV(out)
			if !slices.Contains(pol.SshKexs, n.Kex) || !slices.Contains(pol.SshCiphers, n.C2SCipher) || !slices.Contains(pol.SshHostKeyAlgorithms, n.HostKey) {
				t.Errorf("sftp to %s (%s) with OpenSSH's defaults negotiated %+v, outside the policy %+v", s.ID, s.Policy, n, pol)
			}
			r := p.session(t, "MKDIR on "+s.ID, func(r *activity.Record) bool {
				return r.ActivityType == activity.Mkdir && r.Path == "/bucket1/sftp_user/"+dir
			})[0]
			if r.ResourceARN != serverARN(s.ID) || r.Kex != n.Kex {
				t.Errorf("CONNECTED on %s: resource-arn %q kex %q, want %q %q", s.ID, r.ResourceARN, r.Kex, serverARN(s.ID), n.Kex)
			}
		})
	}
	t.Run("host keys", func(t *testing.T) {
		checkOwnHostKeys(t, p, servers, key)
	})
}
