package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transferd/transferd/internal/mgmtapi"
)

// auditEvents reads an audit log.
func auditEvents(t *testing.T, path string) []mgmtapi.AuditEvent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []mgmtapi.AuditEvent
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev mgmtapi.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("%s: %q: %v", path, sc.Text(), err)
		}
		out = append(out, ev)
	}
	return out
}

// TestAuditConfig checks that the changes the config file makes, at start and at SIGHUP, are in
// the audit trail as the API operations that would have made them, by transferd:config.
func TestAuditConfig(t *testing.T) {
	t.Parallel()
	alice, bob, key2 := keyFor(t, "ed25519"), keyFor(t, "ecdsa-256"), keyFor(t, "ecdsa-384")
	port := freePort(t)
	const server = "s-00000000000000a0d"
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	root := t.TempDir()
	p := start(t, configYAML(root, serverConf{Port: port, ID: server, Users: []userConf{chrootUser("alice", alice), chrootUser("bob", bob)}}),
		"--audit-log", auditPath)
	names := func(evs []mgmtapi.AuditEvent) string {
		var out []string
		for _, ev := range evs {
			if ev.UserIdentity.Type != mgmtapi.ConfigIdentity || ev.UserIdentity.PrincipalID != p.cfgPath {
				t.Errorf("%s: identity %+v, want %s with the config file", ev.EventName, ev.UserIdentity, mgmtapi.ConfigIdentity)
			}
			user, _ := ev.ResponseElements["UserName"].(string)
			out = append(out, strings.TrimSuffix(ev.EventName+" "+user, " "))
		}
		return strings.Join(out, ", ")
	}
	evs := auditEvents(t, auditPath)
	if got, want := names(evs), "CreateServer, CreateUser alice, CreateUser bob"; got != want {
		t.Errorf("audit at start: %s; want %s", got, want)
	}
	if len(evs) > 0 && (evs[0].ResponseElements["ServerId"] != server || evs[0].RequestID != evs[len(evs)-1].RequestID) {
		t.Errorf("CreateServer event %+v: want ServerId %s and one request ID for the apply", evs[0], server)
	}

	// bob leaves the file, alice gets a second key.
	if err := os.WriteFile(p.cfgPath, []byte(loopbackExempt+configYAML(root, serverConf{Port: port, ID: server,
		Users: []userConf{chrootUser("alice", alice, key2)}})), 0o600); err != nil {
		t.Fatal(err)
	}
	p.reload(t)
	if got, want := names(auditEvents(t, auditPath)[len(evs):]), "ImportSshPublicKey alice, DeleteUser bob"; got != want {
		t.Errorf("audit at SIGHUP: %s; want %s", got, want)
	}
}
