package control

import (
	"slices"
	"strings"
	"testing"

	"github.com/transferd/transferd/internal/transfer"
)

// TestConfigManages checks the rule between the config file and the API: what the file lists
// the API may read but not change, except starting it and its host keys; what the API created
// stays the API's, and the file may not name it.
func TestConfigManages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const id = "s-0123456789abcdef0"
	key := authorizedKey(t, ed25519Key(t))
	file := "Servers:\n  - ServerId: " + id + "\n    Endpoint: 127.0.0.1:2222\n    Users:\n      - UserName: alice\n        SshPublicKeys: [\"" + key + "\"]\n"
	if err := f.applyYAML(t, file); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CreateUser(f.ctx, transfer.User{ServerID: id, UserName: "bob", Role: "arn:aws:iam::123456789012:role/r",
		HomeDirectory: "/bucket/bob"}); err != nil {
		t.Fatalf("an API user on a server the file manages: %v", err)
	}
	a := testAccount()
	managedBy := transfer.Tag{Key: transfer.ManagedByTag, Value: transfer.ManagedByConfig}
	refusedServer := invalid("ServerId", "server "+id+" is managed by the config file test.yaml")
	refusedAlice := invalid("UserName", "user alice of server "+id+" is managed by the config file test.yaml")
	alice, err := f.store.GetUser(f.ctx, id, "alice")
	if err != nil {
		t.Fatal(err)
	}
	aliceKey := alice.SSHPublicKeys[0].SSHPublicKeyID

	check(t, "UpdateServer", f.svc.UpdateServer(f.ctx, id, UpdateServerInput{PreAuthenticationLoginBanner: ptr("hi")}), refusedServer)
	check(t, "StopServer", f.svc.StopServer(f.ctx, id), refusedServer)
	check(t, "DeleteServer", f.svc.DeleteServer(f.ctx, id), refusedServer)
	check(t, "TagResource server", f.svc.TagResource(f.ctx, a.ServerARN(id), []transfer.Tag{{Key: "env"}}), refusedServer)
	check(t, "UntagResource server", f.svc.UntagResource(f.ctx, a.ServerARN(id), []string{"env"}), refusedServer)
	check(t, "StartServer", f.svc.StartServer(f.ctx, id), want{})
	hk, err := f.svc.ImportHostKey(f.ctx, id, privatePEM(t, ed25519Key(t)), "", nil)
	check(t, "ImportHostKey", err, want{})
	check(t, "TagResource host key", f.svc.TagResource(f.ctx, a.HostKeyARN(id, hk), []transfer.Tag{{Key: "env"}}), want{})
	check(t, "DeleteHostKey", f.svc.DeleteHostKey(f.ctx, id, hk), want{})

	check(t, "UpdateUser alice", f.svc.UpdateUser(f.ctx, id, "alice", UpdateUserInput{Role: ptr("arn:aws:iam::123456789012:role/x")}), refusedAlice)
	check(t, "DeleteUser alice", f.svc.DeleteUser(f.ctx, id, "alice"), refusedAlice)
	_, err = f.svc.ImportSSHPublicKey(f.ctx, id, "alice", authorizedKey(t, ed25519Key(t)))
	check(t, "ImportSshPublicKey alice", err, refusedAlice)
	check(t, "DeleteSshPublicKey alice", f.svc.DeleteSSHPublicKey(f.ctx, id, "alice", aliceKey), refusedAlice)
	check(t, "TagResource alice", f.svc.TagResource(f.ctx, a.UserARN(id, "alice"), []transfer.Tag{{Key: "env"}}), refusedAlice)
	check(t, "UpdateUser bob", f.svc.UpdateUser(f.ctx, id, "bob", UpdateUserInput{Role: ptr("arn:aws:iam::123456789012:role/x")}), want{})
	check(t, "TagResource bob", f.svc.TagResource(f.ctx, a.UserARN(id, "bob"), []transfer.Tag{{Key: "env"}}), want{})

	d, err := f.svc.DescribeServer(f.ctx, id)
	if err != nil || !slices.Contains(d.Tags, managedBy) || d.Server.PreAuthenticationLoginBanner != "" {
		t.Errorf("DescribeServer: %+v, %v; want the tag %v and no banner", d, err, managedBy)
	}
	listed, _, err := f.svc.ListTagsForResource(f.ctx, a.ServerARN(id), Page{})
	if err != nil || !slices.Equal(listed, d.Tags) {
		t.Errorf("ListTagsForResource %v, %v; DescribeServer shows %v", listed, err, d.Tags)
	}
	if u, err := f.svc.DescribeUser(f.ctx, id, "alice"); err != nil || !slices.Equal(u.Tags, []transfer.Tag{managedBy}) {
		t.Errorf("DescribeUser alice: tags %v, %v; want [%v]", u.Tags, err, managedBy)
	}
	if u, err := f.svc.DescribeUser(f.ctx, id, "bob"); err != nil || slices.Contains(u.Tags, managedBy) {
		t.Errorf("DescribeUser bob: tags %v, %v; want no %s", u.Tags, err, transfer.ManagedByTag)
	}

	// The file may not take over bob.
	err = f.applyYAML(t, file+"      - UserName: bob\n        HomeDirectory: /bucket/bob\n")
	if want := "test.yaml: Servers[0].Users[1]: user bob was created through the management API"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("a file naming the API's user: %v, want an error starting %q", err, want)
	}

	// A server the file no longer lists is the API's again.
	if err := f.applyYAML(t, "Servers: []\n"); err != nil {
		t.Fatal(err)
	}
	if d, err := f.svc.DescribeServer(f.ctx, id); err != nil || slices.Contains(d.Tags, managedBy) || d.Server.State != transfer.StateOffline {
		t.Errorf("DescribeServer after the file dropped it: %+v, %v; want OFFLINE, without %v", d, err, managedBy)
	}
	// The API may start it, and the next apply leaves it running.
	check(t, "StartServer once the file dropped it", f.svc.StartServer(f.ctx, id), want{})
	if err := f.applyYAML(t, "Servers: []\n"); err != nil {
		t.Fatal(err)
	}
	if d, err := f.svc.DescribeServer(f.ctx, id); err != nil || d.Server.State != transfer.StateStarting || d.Server.Source != transfer.SourceReleased {
		t.Errorf("the dropped server after another apply: %+v, %v; want STARTING (as the API left it) and released", d, err)
	}
	// Listed again, it is the file's again.
	if err := f.applyYAML(t, file); err != nil {
		t.Fatalf("the file listing its released server again: %v", err)
	}
	check(t, "UpdateServer once the file took it back", f.svc.UpdateServer(f.ctx, id, UpdateServerInput{PreAuthenticationLoginBanner: ptr("hi")}), refusedServer)
	if err := f.applyYAML(t, "Servers: []\n"); err != nil {
		t.Fatal(err)
	}
	check(t, "DeleteServer once the file dropped it", f.svc.DeleteServer(f.ctx, id), want{})
}
