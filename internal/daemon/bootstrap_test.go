package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/config"
	"github.com/transferd/transferd/internal/metastore"
	"github.com/transferd/transferd/internal/transfer"
)

func authorizedKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// applyYAML parses a config and applies it to the store, as a start or a SIGHUP does.
func applyYAML(t *testing.T, store *metastore.Store, yaml string) error {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "test.yaml", config.Options{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	b := &bootstrap{store: store, file: "test.yaml", log: slog.New(slog.DiscardHandler), now: time.Now}
	return b.apply(context.Background(), cfg)
}

func TestBootstrapReconciles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := metastore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "state.db"), metastore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	k1, k2 := authorizedKey(t), authorizedKey(t)
	user := func(name string, keys ...string) string {
		return fmt.Sprintf("      - UserName: %s\n        SshPublicKeys: [\"%s\"]\n", name, strings.Join(keys, `", "`))
	}

	// First start: a server without a ServerId and two users.
	first := "Servers:\n  - Endpoint: 127.0.0.1:2222\n    Users:\n" + user("alice", k1) + user("bob", k2)
	if err := applyYAML(t, store, first); err != nil {
		t.Fatal(err)
	}
	servers, err := store.ListServers(ctx, "", 0)
	if err != nil || len(servers) != 1 {
		t.Fatalf("servers after first apply: %v, %v", servers, err)
	}
	id := servers[0].ServerID
	hk, err := store.ListHostKeys(ctx, id)
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

	// Second start with changes: alice gets a second key, bob is gone, carol is new, policy changes.
	second := "Servers:\n  - Endpoint: 127.0.0.1:2222\n    SecurityPolicyName: TransferSecurityPolicy-2018-11\n    Users:\n" +
		user("alice", k1, k2) + user("carol", k1)
	if err := applyYAML(t, store, second); err != nil {
		t.Fatal(err)
	}
	servers, _ = store.ListServers(ctx, "", 0)
	if len(servers) != 1 || servers[0].ServerID != id || servers[0].SecurityPolicyName != "TransferSecurityPolicy-2018-11" {
		t.Fatalf("server after second apply: %+v; want %s matched by endpoint with the new policy", servers, id)
	}
	hk2, _ := store.ListHostKeys(ctx, id)
	if len(hk2) != 1 || hk2[0].Fingerprint != hk[0].Fingerprint {
		t.Fatalf("host key changed: %+v, want %s", hk2, hk[0].Fingerprint)
	}
	users, _ := store.ListUsers(ctx, id, "", 0)
	var names []string
	for _, u := range users {
		names = append(names, fmt.Sprintf("%s:%d", u.UserName, len(u.SSHPublicKeys)))
	}
	if got := strings.Join(names, " "); got != "alice:2 carol:1" {
		t.Fatalf("users: got %s, want alice:2 carol:1", got)
	}

	// Third: alice keeps only k2; the server moves to a new endpoint with an explicit ID, so the
	// first server is no longer in the file and is stopped, not deleted.
	third := "Servers:\n  - ServerId: s-0123456789abcdef0\n    Endpoint: 127.0.0.1:2223\n    Users:\n" + user("alice", k2)
	if err := applyYAML(t, store, third); err != nil {
		t.Fatal(err)
	}
	old, err := store.GetServer(ctx, id)
	if err != nil || old.State != transfer.StateOffline {
		t.Fatalf("old server: %+v, %v; want it kept OFFLINE", old, err)
	}
	alice, err := store.GetUser(ctx, "s-0123456789abcdef0", "alice")
	if err != nil || len(alice.SSHPublicKeys) != 1 {
		t.Fatalf("alice on the new server: %+v, %v", alice, err)
	}

	// A Domain change is refused and names the field.
	err = applyYAML(t, store, "Servers:\n  - ServerId: s-0123456789abcdef0\n    Endpoint: 127.0.0.1:2223\n    Domain: EFS\n")
	if err == nil || !strings.Contains(err.Error(), "Servers[0].Domain") {
		t.Fatalf("domain change: got %v, want an error naming Servers[0].Domain", err)
	}
}
