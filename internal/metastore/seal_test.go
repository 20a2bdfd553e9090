package metastore

import (
	"bytes"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transferd/transferd/internal/metastore/pgtest"
	"github.com/transferd/transferd/internal/transfer"
)

// sameDatabase runs fn once for each database the store runs on, with a function that opens a
// store with opts on one database, the same at each call.
func sameDatabase(t *testing.T, fn func(t *testing.T, open func(opts Options) (*Store, error))) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "state.db")
		fn(t, func(opts Options) (*Store, error) { return OpenSQLite(t.Context(), path, opts) })
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.Shared(t).NewDatabase(t)
		fn(t, func(opts Options) (*Store, error) { return OpenPostgres(t.Context(), url, opts) })
	})
}

// TestStateKey checks that with a state key host private keys are stored encrypted, read back
// whole, refused without the key or with another, and that keys stored in the clear before are
// encrypted when a store with a key opens.
func TestStateKey(t *testing.T) {
	t.Parallel()
	sameDatabase(t, testStateKey)
}

func testStateKey(t *testing.T, open func(opts Options) (*Store, error)) {
	ctx := t.Context()
	key := bytes.Repeat([]byte{7}, StateKeySize)
	other := bytes.Repeat([]byte{8}, StateKeySize)
	pem := []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret material\n-----END OPENSSH PRIVATE KEY-----\n")
	mustOpen := func(opts Options) *Store {
		t.Helper()
		s, err := open(opts)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	}
	stored := func(s *Store, id string) string {
		t.Helper()
		var v string
		if err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT private_key FROM host_keys WHERE host_key_id = ?`), id).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	// A key stored in the clear by a store without a state key...
	s := mustOpen(Options{})
	srv := testServer("s-0000000000000000a", "")
	if err := s.CreateServer(ctx, srv); err != nil {
		t.Fatal(err)
	}
	clear := &transfer.HostKey{ServerID: srv.ServerID, HostKeyID: transfer.NewHostKeyID(), Fingerprint: "SHA256:a", PrivateKey: pem}
	if err := s.AddHostKey(ctx, clear); err != nil {
		t.Fatal(err)
	}
	if got := stored(s, clear.HostKeyID); got != string(pem) {
		t.Fatalf("without a state key, stored %q; want the key as it is", got)
	}
	s.Close()

	// ...is encrypted when a store with one opens; a key added then is stored encrypted too.
	s = mustOpen(Options{StateKey: key})
	if n := s.SealedAtOpen(); n != 1 {
		t.Errorf("SealedAtOpen = %d, want 1", n)
	}
	added := &transfer.HostKey{ServerID: srv.ServerID, HostKeyID: transfer.NewHostKeyID(), Fingerprint: "SHA256:b", PrivateKey: pem}
	if err := s.AddHostKey(ctx, added); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{clear.HostKeyID, added.HostKeyID} {
		v := stored(s, id)
		if !strings.HasPrefix(v, sealPrefix) || strings.Contains(v, "secret material") {
			t.Errorf("host key %s stored as %q; want it encrypted", id, v)
		}
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, sealPrefix))
		if bytes.Contains(raw, []byte("secret")) {
			t.Errorf("host key %s: the stored bytes hold the key in the clear", id)
		}
	}
	keys, err := s.ListHostKeys(ctx, srv.ServerID)
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0].PrivateKey, pem) || !bytes.Equal(keys[1].PrivateKey, pem) {
		t.Fatalf("ListHostKeys with the state key: %v, %v; want both keys whole", keys, err)
	}
	// A sealed key copied into another row does not open there.
	if _, err := s.w.ExecContext(ctx, s.d.rebind(`UPDATE host_keys SET private_key = ? WHERE host_key_id = ?`),
		stored(s, clear.HostKeyID), added.HostKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetHostKey(ctx, srv.ServerID, added.HostKeyID); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Errorf("a sealed key moved to another row: %v; want it refused", err)
	}
	s.Close()

	// Without the key, or with another, the keys cannot be read and the error says why.
	s = mustOpen(Options{})
	if _, err := s.GetHostKey(ctx, srv.ServerID, clear.HostKeyID); err == nil || !strings.Contains(err.Error(), "--state-key-file") {
		t.Errorf("GetHostKey without the state key: %v; want an error naming --state-key-file", err)
	}
	s.Close()
	s = mustOpen(Options{StateKey: other})
	if _, err := s.ListHostKeys(ctx, srv.ServerID); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Errorf("ListHostKeys with another state key: %v; want refused", err)
	}
	s.Close()
	if _, err := open(Options{StateKey: key[:16]}); err == nil {
		t.Error("a 16-byte state key was accepted")
	}
}

func TestParseStateKey(t *testing.T) {
	t.Parallel()
	want := bytes.Repeat([]byte{0xab}, StateKeySize)
	for _, in := range []string{strings.Repeat("ab", 32), " " + strings.Repeat("AB", 32) + "\n", base64.StdEncoding.EncodeToString(want) + "\n"} {
		if got, err := ParseStateKey([]byte(in)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("ParseStateKey(%q) = %x, %v; want %x", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abcd", strings.Repeat("ab", 31), base64.StdEncoding.EncodeToString(want[:31]), strings.Repeat("zz", 32)} {
		if _, err := ParseStateKey([]byte(in)); err == nil || !strings.Contains(err.Error(), "openssl rand -hex 32") {
			t.Errorf("ParseStateKey(%q): %v; want an error that says how to make one", in, err)
		}
	}
}
