//go:build linux && (amd64 || arm64)

package disk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/storage/storagetest"
)

func ownerOf(t *testing.T, path string) storage.Owner {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := storage.OwnerOf(fi)
	return o
}

// TestAs checks a store seen by another user: the kernel refuses what that user may not do,
// what it creates is its own (a setgid directory's group included), and threads go back to the
// process's own identity, even with many identities at work at once.
func TestAs(t *testing.T) {
	if os.Geteuid() != 0 {
		if _, err := New(t.TempDir()); err == nil {
			s, _ := New(t.TempDir())
			if _, err := s.As(storage.Identity{UID: 1, GID: 1}); err == nil {
				t.Fatal("As worked without root")
			}
		}
		t.Skip("acting as other users needs root")
	}
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	mk := func(p string, mode os.FileMode, uid, gid int) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(full, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(full, mode)
		os.Chown(full, uid, gid)
	}
	mk("b", 0o755, 0, 0)
	mk("b/private", 0o700, 2002, 2002)
	os.WriteFile(filepath.Join(root, "b/private/secret"), []byte("s"), 0o644)
	mk("b/shared", 0o777, 0, 0)
	mk("b/project", os.ModeSetgid|0o775, 0, 3003)

	alice, err := s.As(storage.Identity{UID: 1001, GID: 1001, Groups: []uint32{3003}})
	if err != nil {
		t.Fatal(err)
	}
	loc := func(k string) storage.Location { return storage.Location{Bucket: "b", Key: k} }
	if _, err := alice.Stat(ctx, loc("private/secret")); storage.KindOf(err) != storage.KindPermission {
		t.Errorf("alice's stat through another user's 0700 directory: %v, want permission denied", err)
	}
	if _, err := alice.OpenRead(ctx, loc("private/secret")); storage.KindOf(err) != storage.KindPermission {
		t.Errorf("alice's read through another user's 0700 directory: %v, want permission denied", err)
	}
	h, err := alice.OpenWrite(ctx, loc("shared/a"), storage.OpenFlags{Create: true, Truncate: true})
	if err != nil {
		t.Fatalf("alice creating in a 0777 directory: %v", err)
	}
	h.WriteAt([]byte("a"), 0)
	h.Close()
	if o := ownerOf(t, filepath.Join(root, "b/shared/a")); o != (storage.Owner{UID: 1001, GID: 1001}) {
		t.Errorf("alice's file is owned by %v", o)
	}
	if err := alice.Mkdir(ctx, loc("project/d")); err != nil {
		t.Fatalf("alice's mkdir in a group-writable setgid directory of one of her groups: %v", err)
	}
	if o := ownerOf(t, filepath.Join(root, "b/project/d")); o != (storage.Owner{UID: 1001, GID: 3003}) {
		t.Errorf("alice's directory in a setgid directory is owned by %v, want 1001:3003", o)
	}
	if err := alice.(storage.AttrSetter).SetAttrs(ctx, loc("private"), storage.Attrs{Mode: ptrMode(0o777)}); storage.KindOf(err) != storage.KindPermission {
		t.Errorf("alice's chmod of another user's directory: %v, want permission denied", err)
	}
	// A directory others may search but not read (0711) is on the way, as POSIX allows.
	mk("b/passage", 0o711, 2002, 2002)
	mk("b/passage/open", 0o755, 2002, 2002)
	os.WriteFile(filepath.Join(root, "b/passage/open/readme"), []byte("r"), 0o644)
	if _, err := alice.OpenRead(ctx, loc("passage/open/readme")); err != nil {
		t.Errorf("alice reading through a 0711 directory: %v", err)
	}
	if _, err := alice.List(ctx, loc("passage")); storage.KindOf(err) != storage.KindPermission {
		t.Errorf("alice listing a 0711 directory: %v, want permission denied", err)
	}
	// No capability overrides her permissions: another user's 0600 file in an open directory.
	os.WriteFile(filepath.Join(root, "b/shared/theirs"), []byte("t"), 0o600)
	os.Chown(filepath.Join(root, "b/shared/theirs"), 2002, 2002)
	if _, err := alice.OpenRead(ctx, loc("shared/theirs")); storage.KindOf(err) != storage.KindPermission {
		t.Errorf("alice reading another user's 0600 file: %v, want permission denied", err)
	}
	// Her writes are hers: writing a group-writable setgid program clears the bit, as the kernel
	// does for a writer without CAP_FSETID.
	prog := filepath.Join(root, "b/project/prog")
	os.WriteFile(prog, []byte("#!"), 0o775)
	os.Chown(prog, 2002, 3003)
	os.Chmod(prog, 0o775|os.ModeSetgid)
	w, err := alice.OpenWrite(ctx, loc("project/prog"), storage.OpenFlags{})
	if err != nil {
		t.Fatalf("alice opening a group-writable file: %v", err)
	}
	w.WriteAt([]byte("x"), 0)
	w.Close()
	if fi, _ := os.Stat(prog); fi.Mode()&os.ModeSetgid != 0 {
		t.Errorf("alice's write left the setgid bit: %v", fi.Mode())
	}
	// A user who cannot search the storage root cannot be acted as: the caller is told.
	closed := filepath.Join(t.TempDir(), "closed")
	os.Mkdir(closed, 0o700)
	cs, err := New(closed)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := cs.As(storage.Identity{UID: 1001, GID: 1001}); storage.KindOf(err) != storage.KindPermission {
		t.Errorf("As over a 0700 root: %v, want permission denied", err)
	}

	// Many identities at once, and the process's own in between: each file is its creator's.
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			uid := uint32(5000 + i%4)
			b := storage.Backend(s)
			if i%5 == 0 {
				uid = 0 // the process itself
			} else {
				var err error
				if b, err = s.As(storage.Identity{UID: uid, GID: uid}); err != nil {
					t.Error(err)
					return
				}
			}
			name := fmt.Sprintf("shared/f%d", i)
			h, err := b.OpenWrite(ctx, loc(name), storage.OpenFlags{Create: true, Exclusive: true})
			if err != nil {
				t.Errorf("%s as %d: %v", name, uid, err)
				return
			}
			h.Close()
			if o := ownerOf(t, filepath.Join(root, "b", name)); o.UID != uid || o.GID != uid {
				t.Errorf("%s made as %d is owned by %v", name, uid, o)
			}
		})
	}
	wg.Wait()
}

func ptrMode(m os.FileMode) *os.FileMode { return &m }

// TestConformanceAs runs the storage conformance suite on a store seen by another user, over a
// root that user owns.
func TestConformanceAs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("acting as other users needs root")
	}
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		dir := t.TempDir()
		if err := os.Chown(dir, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		s, err := New(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		b, err := s.As(storage.Identity{UID: 4242, GID: 4242})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, storagetest.Options{})
}
