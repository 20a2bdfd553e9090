package e2e

import (
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// auditFailRE is a fail item of ssh-audit's batch output: "(kex) NAME -- [fail] reason".
var auditFailRE = regexp.MustCompile(`(?m)^\((kex|key|enc|mac)\) (\S+).*?\[fail\] (.*)$`)

// TestSSHAudit runs Debian's ssh-audit against servers under three security policies: it may fail
// only algorithms that the policy itself lists (such as the NIST curves of 2024-01), nothing that
// transferd adds. The result is recorded in docs/SSH-AUDIT.md.
func TestSSHAudit(t *testing.T) {
	t.Parallel()
	needTool(t, "ssh-audit")
	policies := []string{"TransferSecurityPolicy-2024-01", "TransferSecurityPolicy-2025-03", "TransferSecurityPolicy-SshAuditCompliant-2025-02"}
	var servers []serverConf
	for _, p := range policies {
		servers = append(servers, serverConf{Port: freePort(t), Policy: p})
	}
	start(t, configYAML("", servers...))
	for i, s := range servers {
		out, _ := exec.Command("ssh-audit", "-n", "-b", "-p", strconv.Itoa(s.Port), "127.0.0.1").CombinedOutput()
		if !strings.Contains(string(out), "(gen) banner: SSH-2.0-transferd") {
			t.Fatalf("%s: ssh-audit did not audit the server:\n%s", policies[i], out)
		}
		neg := negotiable(t, policies[i])
		lists := map[string][]string{"kex": neg.SshKexs, "enc": neg.SshCiphers, "mac": neg.SshMacs, "key": neg.SshHostKeyAlgorithms}
		var fails []string
		for _, m := range auditFailRE.FindAllStringSubmatch(string(out), -1) {
			fails = append(fails, m[2]+" ("+m[3]+")")
			if !slices.Contains(lists[m[1]], m[2]) {
				t.Errorf("%s: ssh-audit fails %s %s (%s), which the policy does not list", policies[i], m[1], m[2], m[3])
			}
		}
		t.Logf("%s: ssh-audit fails %d item(s) the policy lists: %s", policies[i], len(fails), strings.Join(fails, ", "))
		if policies[i] == "TransferSecurityPolicy-SshAuditCompliant-2025-02" && len(fails) > 0 {
			t.Errorf("%s fails ssh-audit: %s", policies[i], fails)
		}
	}
}
