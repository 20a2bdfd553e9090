package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestNegotiationCommands runs explain, probe and policy-impact as a user would, good and bad.
func TestNegotiationCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	record := "../../internal/explain/testdata/record-dh18.json"
	noOffer := write("no-offer.json", `{"activity-type":"CONNECTED","client":"SSH-2.0-OpenSSH_9.2p1"}`)
	log := "../../internal/explain/testdata/activity.log"
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}()
	runCases(t, []cliCase{
		{"profile against policy", []string{"explain", "--policy", "TransferSecurityPolicy-2024-01", "--client", "openssh-9.2-debian12"}, 0,
			[]string{"Result:  connects: kex curve25519-sha256, host key rsa-sha2-512, cipher aes128-ctr, MAC hmac-sha2-256-etm@openssh.com", "RULE"}, "", false},
		{"flags after", []string{"explain", "--client", "putty-0.84", "--json", "--policy", "TransferSecurityPolicy-FIPS-2024-01", "--host-keys", "ssh-ed25519,ssh-rsa"}, 0,
			[]string{`"connects": true`, `"host-key-types": [`}, "", true},
		{"recorded offer", []string{"explain", "--policy", "TransferSecurityPolicy-FIPS-2023-05", "--client-offer", record}, 0,
			[]string{"(SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10)", "as Transfer Family offers it, the result would be: connects: kex diffie-hellman-group18-sha512"}, "", false},
		{"every policy", []string{"explain", "--policy", "all", "--client", "rhel9-fips"}, 0,
			[]string{"SERVER", "TransferSecurityPolicy-FIPS-2024-01", "connects: kex ecdh-sha2-nistp256"}, "", false},
		{"two policies JSON", []string{"explain", "--policy", "TransferSecurityPolicy-2024-01, TransferSecurityPolicy-2018-11", "--client", "rhel9-fips", "--json"}, 0,
			[]string{`"policy": "TransferSecurityPolicy-2018-11"`}, "", true},
		{"list clients", []string{"explain", "--list-clients"}, 0, []string{"openssh-9.2-debian12\n", "putty-0.84\n", "  source: openssh/openssh-portable tag V_8_7_P1 (commit"}, "", false},
		{"list clients JSON", []string{"explain", "--list-clients", "--json"}, 0, []string{`"id": "go-xcrypto-0.55"`}, "", true},
		{"neither server", []string{"explain", "--client", "openssh-9.2"}, 1, nil, "give either --policy NAME or --server HOST:PORT", false},
		{"both clients", []string{"explain", "--policy", "TransferSecurityPolicy-2024-01", "--client", "openssh-9.2", "--client-offer", record}, 1, nil, "give either --client PROFILE or --client-offer FILE", false},
		{"unknown profile", []string{"explain", "--policy", "TransferSecurityPolicy-2024-01", "--client", "openssh-9.3"}, 1, nil, `explain: --client: unknown client profile "openssh-9.3" (did you mean`, false},
		{"unknown policy", []string{"explain", "--policy", "TransferSecurityPolicy-2024-1", "--client", "openssh-9.2"}, 1, nil, `explain: --policy: unknown security policy "TransferSecurityPolicy-2024-1" (did you mean "TransferSecurityPolicy-2024-01"?)`, false},
		{"connector policy", []string{"explain", "--policy", "TransferSFTPConnectorSecurityPolicy-2024-03", "--client", "openssh-9.2"}, 1, nil, "is a security policy for SFTP connectors, not for servers", false},
		{"bad host keys", []string{"explain", "--policy", "TransferSecurityPolicy-2024-01", "--client", "openssh-9.2", "--host-keys", "ssh-dss"}, 2, nil, `invalid value "ssh-dss" for flag -host-keys: "ssh-dss" is not a host key type`, false},
		{"host keys with server", []string{"explain", "--server", refused, "--client", "openssh-9.2", "--host-keys", "ssh-rsa"}, 1, nil, "--host-keys describes a transferd server of --policy", false},
		{"missing offer file", []string{"explain", "--policy", "TransferSecurityPolicy-2024-01", "--client-offer", filepath.Join(dir, "nope.json")}, 1, nil, "explain: --client-offer " + filepath.Join(dir, "nope.json") + ": open", false},
		{"record without offer", []string{"explain", "--policy", "TransferSecurityPolicy-2024-01", "--client-offer", noOffer}, 1, nil, "the CONNECTED record has no client-offer", false},
		{"server refuses", []string{"explain", "--server", refused, "--client", "openssh-9.2"}, 1, nil, "explain: --server: probe " + refused + ": dial tcp " + refused + ": connect: connection refused", false},
		{"explain stray argument", []string{"explain", "--policy", "TransferSecurityPolicy-2024-01", "--client", "openssh-9.2", "extra"}, 1, nil, `explain: unexpected argument "extra"`, false},
		{"explain help", []string{"help", "explain"}, 0, nil, "RFC 4253 section 7.1", false},
		{"probe without address", []string{"probe"}, 1, nil, "probe: give one HOST:PORT", false},
		{"probe refused", []string{"probe", refused, "--timeout", "5s"}, 1, nil, "connection refused", false},
		{"probe help", []string{"probe", "--help"}, 0, nil, "without\nauthenticating", false},
		{"impact", []string{"policy-impact", "--policy", "TransferSecurityPolicy-FIPS-2024-01", "--logs", log}, 0,
			[]string{"7 clients: 0 same, 4 negotiate other algorithms, 1 would no longer connect", "BREAKS", "assumed from the built-in profile openssh-9.2-debian12", "server s-1234567890abcdef0, user erin"}, "", false},
		{"impact, files after --logs", []string{"policy-impact", "--json", "--logs", log, log, "--policy", "TransferSecurityPolicy-2024-01"}, 0,
			[]string{`"records": 22`, `"skipped": 6`}, "", true},
		{"impact of one server", []string{"policy-impact", "--policy", "TransferSecurityPolicy-FIPS-2024-01", "--logs", log, "--server", "arn:aws:transfer:us-east-1:000000000000:server/s-1234567890abcdef0"}, 0,
			[]string{"1 clients: 0 same, 1 negotiate other algorithms", "user erin"}, "", false},
		{"impact of a bad server", []string{"policy-impact", "--policy", "TransferSecurityPolicy-FIPS-2024-01", "--logs", log, "--server", "s-12"}, 2, nil, `"s-12" is not a server ID`, false},
		{"impact without logs", []string{"policy-impact", "--policy", "TransferSecurityPolicy-2024-01"}, 1, nil, "--policy and at least one log (--logs FILE) are required", false},
		{"impact missing log", []string{"policy-impact", "--policy", "TransferSecurityPolicy-2024-01", "--logs", filepath.Join(dir, "none.log")}, 1, nil, "policy-impact: --logs: open " + filepath.Join(dir, "none.log"), false},
		{"impact unknown policy", []string{"policy-impact", "--policy", "FIPS", "--logs", log}, 1, nil, "policy-impact: --policy: unknown security policy", false},
		{"help lists the commands", []string{"help"}, 0, []string{"transferd explain", "transferd probe", "transferd policy-impact"}, "", false},
	})
}
