package control

import (
	"bytes"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/config"
	"github.com/transferd/transferd/internal/transfer"
)

// applyYAML parses a config and applies it, as a start or a SIGHUP does.
func (f *fixture) applyYAML(t *testing.T, yaml string) error {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "test.yaml", config.Options{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	_, err = f.svc.ApplyConfig(f.ctx, cfg, "test.yaml")
	return err
}

func TestApplyConfigReconciles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	store := f.store
	k1, k2 := authorizedKey(t, ed25519Key(t)), authorizedKey(t, ed25519Key(t))
	user := func(name string, keys ...string) string {
		return fmt.Sprintf("      - UserName: %s\n        SshPublicKeys: [\"%s\"]\n", name, strings.Join(keys, `", "`))
	}

	// First start: a server without a ServerId and two users.
	first := "Servers:\n  - Endpoint: 127.0.0.1:2222\n    Tags: [{Key: env, Value: test}]\n    Users:\n" + user("alice", k1) + user("bob", k2)
	if err := f.applyYAML(t, first); err != nil {
		t.Fatal(err)
	}
	servers, err := store.ListServers(f.ctx, "", 0)
	if err != nil || len(servers) != 1 {
		t.Fatalf("servers after first apply: %v, %v", servers, err)
	}
	id := servers[0].ServerID
	if servers[0].Source != transfer.SourceConfig || servers[0].State != transfer.StateOnline {
		t.Errorf("server %+v: want Source config, ONLINE", servers[0])
	}
	if notes := f.notes.take(); !slices.Equal(notes, []string{id}) {
		t.Errorf("notifier told %v, want [%s]", notes, id)
	}
	hk, err := store.ListHostKeys(f.ctx, id)
	if err != nil || len(hk) != 1 || hk[0].Type != ssh.KeyAlgoRSA {
		t.Fatalf("host keys: %+v, %v; want one ssh-rsa key", hk, err)
	}
	signer, err := ssh.ParsePrivateKey(hk[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if n := signer.PublicKey().(ssh.CryptoPublicKey).CryptoPublicKey().(*rsa.PublicKey).N.BitLen(); n != 3072 {
		t.Fatalf("host key has %d bits, want 3072 as Transfer Family", n)
	}
	alice, err := store.GetUser(f.ctx, id, "alice")
	if err != nil || alice.Source != transfer.SourceConfig || len(alice.SSHPublicKeys) != 1 {
		t.Fatalf("alice: %+v, %v", alice, err)
	}

	// A user created through the API on the same server is the API's: the file leaves it alone.
	f.user(t, id, "api-user")

	// Second start with changes: alice gets a second key, bob is gone, carol is new, policy changes.
	second := "Servers:\n  - Endpoint: 127.0.0.1:2222\n    SecurityPolicyName: TransferSecurityPolicy-2018-11\n    Users:\n" +
		user("alice", k1, k2) + user("carol", k1)
	if err := f.applyYAML(t, second); err != nil {
		t.Fatal(err)
	}
	servers, _ = store.ListServers(f.ctx, "", 0)
	if len(servers) != 1 || servers[0].ServerID != id || servers[0].SecurityPolicyName != "TransferSecurityPolicy-2018-11" {
		t.Fatalf("server after second apply: %+v; want %s matched by endpoint with the new policy", servers, id)
	}
	if notes := f.notes.take(); !slices.Equal(notes, []string{id}) {
		t.Errorf("notifier told %v, want [%s]", notes, id)
	}
	hk2, _ := store.ListHostKeys(f.ctx, id)
	if len(hk2) != 1 || hk2[0].Fingerprint != hk[0].Fingerprint {
		t.Fatalf("host key changed: %+v, want %s", hk2, hk[0].Fingerprint)
	}
	users, _ := store.ListUsers(f.ctx, id, "", 0)
	var names []string
	for _, u := range users {
		names = append(names, fmt.Sprintf("%s:%d", u.UserName, len(u.SSHPublicKeys)))
	}
	if got := strings.Join(names, " "); got != "alice:2 api-user:1 carol:1" {
		t.Fatalf("users: got %s, want alice:2 api-user:1 carol:1", got)
	}
	alice2, _ := store.GetUser(f.ctx, id, "alice")
	if alice2.SSHPublicKeys[0].SSHPublicKeyID != alice.SSHPublicKeys[0].SSHPublicKeyID {
		t.Errorf("alice's first key was replaced (%s, was %s); kept keys keep their IDs",
			alice2.SSHPublicKeys[0].SSHPublicKeyID, alice.SSHPublicKeys[0].SSHPublicKeyID)
	}

	// Third: alice keeps only k2 and becomes LOGICAL; the server moves to a new endpoint with an
	// explicit ID, so the first server is no longer in the file and is stopped, not deleted.
	third := "Servers:\n  - ServerId: s-0123456789abcdef0\n    Endpoint: 127.0.0.1:2223\n    Users:\n" + user("alice", k2) +
		"        HomeDirectoryType: LOGICAL\n        HomeDirectoryMappings: [{Entry: /, Target: /bucket/alice}]\n"
	if err := f.applyYAML(t, third); err != nil {
		t.Fatal(err)
	}
	old, err := store.GetServer(f.ctx, id)
	if err != nil || old.State != transfer.StateOffline {
		t.Fatalf("old server: %+v, %v; want it kept OFFLINE", old, err)
	}
	if notes := f.notes.take(); !slices.Equal(notes, []string{"s-0123456789abcdef0", id}) {
		t.Errorf("notifier told %v, want the new server and the stopped one", notes)
	}
	alice3, err := store.GetUser(f.ctx, "s-0123456789abcdef0", "alice")
	if err != nil || len(alice3.SSHPublicKeys) != 1 || alice3.HomeDirectoryType != transfer.HomeLogical {
		t.Fatalf("alice on the new server: %+v, %v", alice3, err)
	}

	// Fourth: alice goes back to PATH on the same server; her mappings go with it.
	fourth := "Servers:\n  - ServerId: s-0123456789abcdef0\n    Endpoint: 127.0.0.1:2223\n    Users:\n" + user("alice", k2) +
		"        HomeDirectory: /bucket/alice\n"
	if err := f.applyYAML(t, fourth); err != nil {
		t.Fatal(err)
	}
	alice4, _ := store.GetUser(f.ctx, "s-0123456789abcdef0", "alice")
	if alice4.HomeDirectoryType != transfer.HomePath || alice4.HomeDirectory != "/bucket/alice" || len(alice4.HomeDirectoryMappings) != 0 {
		t.Errorf("alice back to PATH: %+v", alice4)
	}
	f.notes.take()

	// A Domain change is refused and names the field.
	err = f.applyYAML(t, "Servers:\n  - ServerId: s-0123456789abcdef0\n    Endpoint: 127.0.0.1:2223\n    Domain: EFS\n")
	if err == nil || !strings.Contains(err.Error(), "test.yaml: Servers[0].Domain") {
		t.Fatalf("domain change: got %v, want an error naming Servers[0].Domain", err)
	}
}

// TestApplyConfigValidatesAsTheAPI checks that what the config package lets through (it is given
// no policy check here) is refused by the checks the API uses, with the file and field named.
func TestApplyConfigValidatesAsTheAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	api, err := f.svc.CreateServer(f.ctx, CreateServerInput{Endpoint: "127.0.0.1:2222", HostKey: privatePEM(t, ed25519Key(t))})
	if err != nil {
		t.Fatal(err)
	}
	const fromFile = "s-0123456789abcdef1"
	if err := f.applyYAML(t, "Servers:\n  - ServerId: "+fromFile+"\n    Endpoint: 127.0.0.1:2224\n"); err != nil {
		t.Fatal(err)
	}
	f.notes.take()
	for _, tc := range []struct {
		name, yaml string
		want       want
		text       string // the start of the message
	}{
		{"unknown policy", "Servers:\n  - Endpoint: 127.0.0.1:2300\n    SecurityPolicyName: TransferSecurityPolicy-2024-1\n",
			invalid("SecurityPolicyName", "did you mean TransferSecurityPolicy-2024-01?"), "test.yaml: Servers[0]: creating server: "},
		{"endpoint of an API server", "Servers:\n  - Endpoint: 0.0.0.0:2222\n",
			invalid("Endpoint", "server "+api), "test.yaml: Servers[0]: creating server: "},
		{"connector policy on update", "Servers:\n  - ServerId: " + fromFile + "\n    Endpoint: 127.0.0.1:2224\n    SecurityPolicyName: " + connectorPolicy(t) + "\n",
			invalid("SecurityPolicyName", "SERVER policy"), "test.yaml: Servers[0]: updating server " + fromFile + ": "},
	} {
		err := f.applyYAML(t, tc.yaml)
		check(t, tc.name, err, tc.want)
		if err != nil && !strings.HasPrefix(err.Error(), tc.text) {
			t.Errorf("%s: %q does not start with %q", tc.name, err, tc.text)
		}
	}
	if notes := f.notes.take(); len(notes) != 0 {
		t.Errorf("failed applies told the notifier %v", notes)
	}
	// The file cannot take over the API's server by naming its ID.
	err = f.applyYAML(t, "Servers:\n  - ServerId: "+api+"\n    Endpoint: 127.0.0.1:2222\n    Users:\n      - UserName: alice\n")
	if want := "test.yaml: Servers[0].ServerId: server " + api + " was created through the management API"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("a file naming the API's server: %v, want an error starting %q", err, want)
	}
	d, err := f.svc.DescribeServer(f.ctx, api)
	if err != nil || d.Server.Source != transfer.SourceAPI || d.UserCount != 0 {
		t.Errorf("API server after apply: %+v, %v", d, err)
	}
}

// TestApplyConfigAllOrNothing checks that a file with an error in its second server changes
// nothing, logs nothing as done and tells nobody, although its first server is valid, and that
// the same file applies once fixed.
func TestApplyConfigAllOrNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var logged bytes.Buffer
	f.svc.log = slog.New(slog.NewTextHandler(&logged, nil))
	good := "  - ServerId: s-0123456789abcdef0\n    Endpoint: 127.0.0.1:2222\n    Users:\n      - UserName: alice\n        HomeDirectory: /bucket/alice\n"
	bad := "  - Endpoint: 127.0.0.1:2223\n    SecurityPolicyName: " + connectorPolicy(t) + "\n"
	err := f.applyYAML(t, "Servers:\n"+good+bad)
	check(t, "second server invalid", err, invalid("SecurityPolicyName", "SERVER policy"))
	if err != nil && !strings.HasPrefix(err.Error(), "test.yaml: Servers[1]: ") {
		t.Errorf("error %q does not name Servers[1]", err)
	}
	if servers, err := f.store.ListServers(f.ctx, "", 0); err != nil || len(servers) != 0 {
		t.Errorf("after a failed apply the store has %d servers (%v), want none", len(servers), err)
	}
	if notes := f.notes.take(); len(notes) != 0 {
		t.Errorf("a failed apply told the notifier %v", notes)
	}
	if strings.Contains(logged.String(), "created server") {
		t.Errorf("a failed apply logged:\n%s", logged.String())
	}
	if err := f.applyYAML(t, "Servers:\n"+good); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.GetUser(f.ctx, "s-0123456789abcdef0", "alice"); err != nil {
		t.Errorf("alice after the fixed file: %v", err)
	}
	if !strings.Contains(logged.String(), "created server") {
		t.Errorf("the applied file logged no created server:\n%s", logged.String())
	}
}

// TestApplyConfigSummary checks the one-line summary of what an apply changed.
func TestApplyConfigSummary(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k1, k2, k3 := authorizedKey(t, ed25519Key(t)), authorizedKey(t, ed25519Key(t)), authorizedKey(t, ed25519Key(t))
	apply := func(yaml string) string {
		t.Helper()
		cfg, err := config.Parse([]byte(yaml), "test.yaml", config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := f.svc.ApplyConfig(f.ctx, cfg, "test.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return sum.String()
	}
	user := func(name, home string, keys ...string) string {
		return fmt.Sprintf("      - UserName: %s\n        HomeDirectory: %s\n        SshPublicKeys: [\"%s\"]\n", name, home, strings.Join(keys, `", "`))
	}
	head := "Servers:\n  - ServerId: s-0123456789abcdef0\n    Endpoint: 127.0.0.1:2222\n"
	for _, step := range []struct{ yaml, want string }{
		{head + "    Users:\n" + user("alice", "/b/alice", k1) + user("bob", "/b/bob", k2), "servers: 1 added; users: 2 added; keys: 2 added"},
		{head + "    Users:\n" + user("alice", "/b/alice", k1) + user("bob", "/b/bob", k2), "no changes"},
		{head + "    PreAuthenticationLoginBanner: hi\n    Users:\n" + user("alice", "/b/alice2", k1, k3), "servers: 1 changed; users: 1 changed, 1 removed; keys: 1 added, 1 removed"},
		{"Servers: []\n", "servers: 1 stopped"},
		{head + "    PreAuthenticationLoginBanner: hi\n    Users:\n" + user("alice", "/b/alice2", k1, k3), "servers: 1 started"},
	} {
		if got := apply(step.yaml); got != step.want {
			t.Errorf("apply:\n%s\nsummary %q, want %q", step.yaml, got, step.want)
		}
	}
}

// The file's workflows are created with the file's IDs, changed when the file changes, run by the
// file's servers, closed to the API's changes, and deleted when the file drops them, unless a
// server still runs one.
func TestApplyConfigWorkflows(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const wid = "w-0123456789abcdefg"
	workflow := func(step string) string {
		return "Workflows:\n  - WorkflowId: " + wid + "\n    Description: archive\n    Tags: [{Key: team, Value: ops}]\n    Steps:\n" + step
	}
	deleteStep := "      - Type: DELETE\n        DeleteStepDetails: {Name: remove}\n"
	tagStep := "      - Type: TAG\n        TagStepDetails: {Tags: [{Key: state, Value: seen}]}\n"
	server := func(details string) string {
		return "Servers:\n  - Endpoint: 127.0.0.1:2222\n    ServerId: s-0123456789abcdef0\n" + details
	}
	runs := "    WorkflowDetails:\n      OnUpload: [{WorkflowId: " + wid + ", ExecutionRole: \"arn:aws:iam::123456789012:role/workflow\"}]\n"
	if err := f.applyYAML(t, workflow(deleteStep)+server(runs)); err != nil {
		t.Fatal(err)
	}
	w, err := f.store.GetWorkflow(f.ctx, wid)
	if err != nil || w.Source != transfer.SourceConfig || w.Steps[0].Type != transfer.StepDelete || len(w.Tags) != 1 {
		t.Fatalf("the file's workflow: %+v, %v", w, err)
	}
	srv, err := f.store.GetServer(f.ctx, "s-0123456789abcdef0")
	if err != nil || srv.WorkflowDetails == nil || srv.WorkflowDetails.OnUpload[0].WorkflowId != wid {
		t.Fatalf("the file's server: %+v, %v", srv, err)
	}
	if err := f.svc.DeleteWorkflow(f.ctx, wid); err == nil || !strings.Contains(err.Error(), "managed by the config file") {
		t.Errorf("DeleteWorkflow of the file's workflow: %v", err)
	}
	// The file changes the steps.
	if err := f.applyYAML(t, workflow(tagStep)+server(runs)); err != nil {
		t.Fatal(err)
	}
	if w, _ := f.store.GetWorkflow(f.ctx, wid); w.Steps[0].Type != transfer.StepTag {
		t.Errorf("after the file changed the steps: %+v", w.Steps)
	}
	// Dropped while its server still runs it: refused, nothing changed.
	err = f.applyYAML(t, server(runs))
	if err == nil || !strings.Contains(err.Error(), "is no longer listed but server s-0123456789abcdef0 runs it") {
		t.Errorf("dropping a workflow a server runs: %v", err)
	}
	// Dropped from both: deleted, and the server runs none.
	if err := f.applyYAML(t, server("")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.GetWorkflow(f.ctx, wid); transfer.KindOf(err) != transfer.KindNotFound {
		t.Errorf("the dropped workflow: %v", err)
	}
	if srv, _ := f.store.GetServer(f.ctx, "s-0123456789abcdef0"); srv.WorkflowDetails != nil {
		t.Errorf("the server after its WorkflowDetails left the file: %+v", srv.WorkflowDetails)
	}
	// A workflow made through the API cannot be taken over by the file.
	id, err := f.svc.CreateWorkflow(f.ctx, transfer.Workflow{Steps: []transfer.WorkflowStep{}})
	if err != nil {
		t.Fatal(err)
	}
	err = f.applyYAML(t, strings.Replace(workflow(deleteStep), wid, id, 1)+server(""))
	if err == nil || !strings.Contains(err.Error(), "Workflows[0].WorkflowId: workflow "+id+" was created through the management API") {
		t.Errorf("the file naming an API workflow: %v", err)
	}
}
