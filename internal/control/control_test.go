package control

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/metastore"
	"github.com/transferd/transferd/internal/policy"
	"github.com/transferd/transferd/internal/transfer"
)

// testAccount is where the tests' ARNs say resources live.
func testAccount() transfer.Account {
	return transfer.Account{Region: "eu-west-1", AccountID: "123456789012"}
}

// recorder is a Notifier that records the servers it is told about.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) ServerChanged(_ context.Context, serverID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, serverID)
}

// take returns the calls since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// ports allocates 127.0.0.1 endpoints from port 40000 up.
type ports struct{}

func (ports) Allocate(inUse []string) (string, error) {
	for p := 40000; p < 41000; p++ {
		ep := fmt.Sprintf("127.0.0.1:%d", p)
		if !slices.Contains(inUse, ep) {
			return ep, nil
		}
	}
	return "", errors.New("no free port")
}

// clock is a fake time that moves on by a millisecond each time it is read, so that everything
// stamped has a distinct time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

type fixture struct {
	svc   *Service
	store *metastore.Store
	notes *recorder
	ctx   context.Context
}

// newFixture returns a Service over a fresh SQLite store, with a recording Notifier and an
// endpoint allocator.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, func(opts metastore.Options) (*metastore.Store, error) {
		return metastore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "state.db"), opts)
	})
}

// newFixtureOn is newFixture over the store open opens.
func newFixtureOn(t *testing.T, open func(opts metastore.Options) (*metastore.Store, error)) *fixture {
	t.Helper()
	ctx := context.Background()
	c := &clock{t: time.Date(2025, 3, 31, 12, 27, 52, 614000000, time.UTC)}
	store, err := open(metastore.Options{Account: testAccount(), Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	catalog, err := policy.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	notes := &recorder{}
	svc := New(Options{Store: store, Catalog: catalog, Account: testAccount(), Notifier: notes, Endpoints: ports{}, Now: c.now})
	return &fixture{svc: svc, store: store, notes: notes, ctx: ctx}
}

// server creates a server with an ED25519 host key (quicker than the RSA-3072 default).
func (f *fixture) server(t *testing.T) string {
	t.Helper()
	return f.serverIn(t, "")
}

// serverIn is server with a Domain ("" for the default S3).
func (f *fixture) serverIn(t *testing.T, domain string) string {
	t.Helper()
	id, err := f.svc.CreateServer(f.ctx, CreateServerInput{HostKey: privatePEM(t, ed25519Key(t)), Domain: domain})
	if err != nil {
		t.Fatal(err)
	}
	f.notes.take()
	return id
}

// user creates a PATH user with one key.
func (f *fixture) user(t *testing.T, serverID, name string) {
	t.Helper()
	u := transfer.User{ServerID: serverID, UserName: name, HomeDirectory: "/bucket/" + name,
		SSHPublicKeys: []transfer.SSHPublicKey{{Body: authorizedKey(t, ed25519Key(t))}}}
	if err := f.svc.CreateUser(f.ctx, u); err != nil {
		t.Fatal(err)
	}
}

func ed25519Key(t *testing.T) crypto.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecdsaKey(t *testing.T, c elliptic.Curve) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t *testing.T, bits int) crypto.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// privatePEM returns a private key in OpenSSH form.
func privatePEM(t *testing.T, k crypto.Signer) string {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(k, "test")
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}

// authorizedKey returns the public half of k as an authorized_keys line.
func authorizedKey(t *testing.T, k crypto.Signer) string {
	t.Helper()
	pub, err := ssh.NewPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " test@example"
}

func fingerprintOf(t *testing.T, k crypto.Signer) string {
	t.Helper()
	pub, err := ssh.NewPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(pub)
}

// want describes an expected error; the zero want is no error. Empty fields are not checked.
type want struct {
	kind         transfer.Kind
	field        string
	resourceType string
	resource     string
	text         string // a substring of Error()
}

func (w want) ok() bool { return w == want{} }

// check compares err with w, naming the case.
func check(t *testing.T, name string, err error, w want) {
	t.Helper()
	if w.ok() {
		if err != nil {
			t.Errorf("%s: got error %v, want none", name, err)
		}
		return
	}
	if err == nil {
		t.Errorf("%s: got no error, want %v error %+v", name, w.kind, w)
		return
	}
	var te *transfer.Error
	if !errors.As(err, &te) {
		t.Errorf("%s: got %T %v, want a *transfer.Error of kind %v", name, err, err, w.kind)
		return
	}
	if te.Kind != w.kind ||
		w.field != "" && te.Field != w.field ||
		w.resourceType != "" && te.ResourceType != w.resourceType ||
		w.resource != "" && te.Resource != w.resource ||
		w.text != "" && !strings.Contains(err.Error(), w.text) {
		t.Errorf("%s:\n got: kind %v field %q resource %s %q: %v\nwant: %+v", name, te.Kind, te.Field, te.ResourceType, te.Resource, err, w)
	}
}

func notFound(resourceType, resource string) want {
	return want{kind: transfer.KindNotFound, resourceType: resourceType, resource: resource}
}

func invalid(field, text string) want {
	return want{kind: transfer.KindInvalid, field: field, text: text}
}

func invalidToken() want { return want{kind: transfer.KindInvalidToken, text: "Invalid NextToken"} }

// unknownServer is a well-formed ID no test server has.
const unknownServer = "s-00000000000000000"

func ptr[T any](v T) *T { return &v }

// userNames returns the user names of a ListUsers page.
func userNames(us []UserSummary) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.User.UserName
	}
	return out
}
