// Package storagetest is the conformance suite every storage backend passes.
//
// A backend's test calls Run with a function that returns a fresh, empty backend. Each subtest
// creates the bucket "bkt" with Mkdir(Location{Bucket: "bkt"}); a backend that cannot create
// buckets (Mkdir returns KindNotSupported, KindPermission or KindExist) must hand out a backend
// where "bkt" already exists and is empty, or set Options.NewBucket to hand each subtest a bucket
// of its own.
package storagetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/storage"
)

// Options says where a backend may differ from POSIX. The zero value demands POSIX behaviour.
type Options struct {
	// SetAttrsUnsupported accepts an error of KindNotSupported from SetAttrs when it is asked to
	// change the mode and modification time (an S3 backend whose SetStatOption refuses them).
	// Without it a backend that implements storage.AttrSetter must apply them.
	SetAttrsUnsupported bool
	// DirRenameUnsupported accepts an error of KindNotSupported when a storage.Renamer is asked
	// to rename a directory, as Transfer Family does on S3.
	DirRenameUnsupported bool
	// NewBucket, when set, returns the name of a new, empty bucket for one subtest, which then
	// works there instead of creating Bucket with Mkdir. Object stores whose bucket names are
	// global to a server set it, so that subtests running in parallel do not share a bucket.
	NewBucket func(t *testing.T) string
}

// Bucket is the bucket every subtest works in, unless Options.NewBucket is set.
const Bucket = "bkt"

// Upload shape: pkg/sftp writes a file in 32 KiB packets with several in flight at once, so the
// backend sees them slightly out of order.
const (
	chunkSize    = 32 << 10
	writeWorkers = 8
)

// Run runs the conformance suite. newBackend must return a fresh, empty backend each time it is
// called (subtests run in parallel) and register its cleanup with t.
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend, opts Options) {
	s := &suite{newBackend: newBackend, opts: opts}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"WriteRead", s.testWriteRead},
		{"OverwriteTruncate", s.testOverwriteTruncate},
		{"CreateExclusive", s.testCreateExclusive},
		{"OpenErrors", s.testOpenErrors},
		{"ReadWriteHandle", s.testReadWriteHandle},
		{"Stat", s.testStat},
		{"MkdirRmdir", s.testMkdirRmdir},
		{"Remove", s.testRemove},
		{"ListPaging", s.testListPaging},
		{"ListMissing", s.testListMissing},
		{"ListRoot", s.testListRoot},
		{"RenameFile", s.testRenameFile},
		{"RenameDir", s.testRenameDir},
		{"SetAttrs", s.testSetAttrs},
		{"Owner", s.testOwner},
		{"StatHandle", s.testStatHandle},
		{"Abort", func(t *testing.T) { t.Skip("what Abort leaves behind is backend-specific") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t)
		})
	}
}

type suite struct {
	newBackend func(t *testing.T) storage.Backend
	opts       Options
}

// backend returns a fresh backend holding an empty bucket (Bucket unless Options.NewBucket says
// otherwise), and a function that returns the location of a key in that bucket.
func (s *suite) backend(t *testing.T) (storage.Backend, func(key string) storage.Location) {
	t.Helper()
	b := s.newBackend(t)
	if s.opts.NewBucket != nil {
		bucket := s.opts.NewBucket(t)
		return b, func(key string) storage.Location { return storage.Location{Bucket: bucket, Key: key} }
	}
	loc := func(key string) storage.Location { return storage.Location{Bucket: Bucket, Key: key} }
	err := b.Mkdir(t.Context(), loc(""))
	switch storage.KindOf(err) {
	case storage.KindNotSupported, storage.KindPermission, storage.KindExist:
	default:
		if err != nil {
			t.Fatalf("Mkdir(%s): %v", loc(""), err)
		}
	}
	return b, loc
}

func (s *suite) testWriteRead(t *testing.T) {
	for _, size := range []int{0, 1, 5<<20 + 1} {
		t.Run(fmt.Sprintf("%dB", size), func(t *testing.T) {
			t.Parallel()
			b, loc := s.backend(t)
			data := randomBytes(size)
			l := loc("file.bin")
			writeFile(t, b, l, data)

			fi, err := b.Stat(t.Context(), l)
			if err != nil {
				t.Fatalf("Stat(%s): %v", l, err)
			}
			if fi.Size() != int64(size) || fi.IsDir() {
				t.Errorf("Stat(%s): size %d, dir %v; want size %d, not a dir", l, fi.Size(), fi.IsDir(), size)
			}
			got := readFile(t, b, l, int64(size))
			if sha256.Sum256(got) != sha256.Sum256(data) {
				t.Errorf("read back %d bytes of %s; content differs from the %d bytes written", len(got), l, size)
			}
		})
	}
}

func (s *suite) testOverwriteTruncate(t *testing.T) {
	b, loc := s.backend(t)
	l := loc("f")
	writeFile(t, b, l, bytes.Repeat([]byte("long content "), 100))
	writeFile(t, b, l, []byte("short"))
	if got := readFile(t, b, l, 5); string(got) != "short" {
		t.Errorf("after overwrite with Truncate, %s = %q, want %q", l, got, "short")
	}
}

func (s *suite) testCreateExclusive(t *testing.T) {
	b, loc := s.backend(t)
	l := loc("f")
	excl := storage.OpenFlags{Create: true, Exclusive: true}
	h, err := b.OpenWrite(t.Context(), l, excl)
	if err != nil {
		t.Fatalf("OpenWrite(%s, Create|Exclusive) on a new file: %v", l, err)
	}
	writeAll(t, h, []byte("first"))
	if err := h.Close(); err != nil {
		t.Fatalf("Close(%s): %v", l, err)
	}
	h, err = b.OpenWrite(t.Context(), l, excl)
	if err == nil {
		h.Abort(errors.New("test"))
	}
	wantKind(t, "OpenWrite(Create|Exclusive) on an existing file", err, storage.KindExist, l)
	if got := readFile(t, b, l, 5); string(got) != "first" {
		t.Errorf("after a refused exclusive create, %s = %q, want %q", l, got, "first")
	}
}

func (s *suite) testOpenErrors(t *testing.T) {
	b, loc := s.backend(t)
	ctx := t.Context()
	missing := loc("missing")
	_, err := b.OpenRead(ctx, missing)
	wantKind(t, "OpenRead of a missing file", err, storage.KindNotExist, missing)
	_, err = b.OpenWrite(ctx, missing, storage.OpenFlags{})
	wantKind(t, "OpenWrite without Create of a missing file", err, storage.KindNotExist, missing)

	dir := loc("dir")
	mkdir(t, b, dir)
	_, err = b.OpenRead(ctx, dir)
	wantKind(t, "OpenRead of a directory", err, storage.KindIsDir, dir)
	_, err = b.OpenWrite(ctx, dir, storage.OpenFlags{Create: true, Truncate: true})
	if err == nil {
		t.Errorf("OpenWrite(%s) of a directory succeeded", dir)
	}

	nested := loc("nope/file")
	_, err = b.OpenWrite(ctx, nested, storage.OpenFlags{Create: true})
	if err == nil {
		// Object stores may create a file under a missing "directory"; POSIX stores may not.
		t.Logf("OpenWrite(%s) under a missing directory succeeded", nested)
	} else if k := storage.KindOf(err); k != storage.KindNotExist {
		t.Errorf("OpenWrite(%s) under a missing directory: kind %v, want %v (%v)", nested, k, storage.KindNotExist, err)
	}
}

func (s *suite) testReadWriteHandle(t *testing.T) {
	b, loc := s.backend(t)
	l := loc("rw")
	h, err := b.OpenWrite(t.Context(), l, storage.OpenFlags{Read: true, Create: true})
	if storage.KindOf(err) == storage.KindNotSupported {
		t.Skipf("OpenWrite with Read: %v", err)
	}
	if err != nil {
		t.Fatalf("OpenWrite(%s, Read|Create): %v", l, err)
	}
	rw, ok := h.(storage.ReadWriteHandle)
	if !ok {
		h.Abort(errors.New("test"))
		t.Fatalf("OpenWrite(%s, Read|Create) returned %T, which is no storage.ReadWriteHandle", l, h)
	}
	writeAll(t, rw, []byte("hello world"))
	buf := make([]byte, 5)
	if n, err := rw.ReadAt(buf, 6); n != 5 || (err != nil && err != io.EOF) || string(buf) != "world" {
		t.Errorf("ReadAt(6) through the write handle = %d, %v, %q; want 5, nil, %q", n, err, buf[:n], "world")
	}
	if err := rw.Close(); err != nil {
		t.Fatalf("Close(%s): %v", l, err)
	}
}

func (s *suite) testStat(t *testing.T) {
	b, loc := s.backend(t)
	ctx := t.Context()
	f := loc("f.txt")
	writeFile(t, b, f, []byte("abc"))
	fi, err := b.Stat(ctx, f)
	if err != nil {
		t.Fatalf("Stat(%s): %v", f, err)
	}
	if fi.Name() != "f.txt" || fi.IsDir() || fi.Size() != 3 || !fi.Mode().IsRegular() {
		t.Errorf("Stat(%s) = name %q, dir %v, size %d, mode %v; want %q, false, 3, a regular file",
			f, fi.Name(), fi.IsDir(), fi.Size(), fi.Mode(), "f.txt")
	}

	d := loc("dir")
	mkdir(t, b, d)
	for _, l := range []storage.Location{d, loc(""), {}} {
		fi, err := b.Stat(ctx, l)
		if err != nil {
			t.Errorf("Stat(%s): %v", l, err)
			continue
		}
		if !fi.IsDir() {
			t.Errorf("Stat(%s).IsDir() = false, want true (mode %v)", l, fi.Mode())
		}
	}
	if fi, err := b.Stat(ctx, d); err == nil && fi.Name() != "dir" {
		t.Errorf("Stat(%s).Name() = %q, want %q", d, fi.Name(), "dir")
	}

	missing := loc("dir/missing")
	_, err = b.Stat(ctx, missing)
	wantKind(t, "Stat of a missing file", err, storage.KindNotExist, missing)
}

func (s *suite) testMkdirRmdir(t *testing.T) {
	b, loc := s.backend(t)
	ctx := t.Context()
	d := loc("d")
	mkdir(t, b, d)
	wantKind(t, "Mkdir of an existing directory", b.Mkdir(ctx, d), storage.KindExist, d)
	deep := loc("missing/child")
	wantKind(t, "Mkdir under a missing parent", b.Mkdir(ctx, deep), storage.KindNotExist, deep)

	f := loc("d/f")
	writeFile(t, b, f, []byte("x"))
	wantKind(t, "Mkdir over an existing file", b.Mkdir(ctx, f), storage.KindExist, f)
	wantKind(t, "Rmdir of a non-empty directory", b.Rmdir(ctx, d), storage.KindNotEmpty, d)
	wantKind(t, "Rmdir of a file", b.Rmdir(ctx, f), storage.KindNotDir, f)
	missing := loc("gone")
	wantKind(t, "Rmdir of a missing directory", b.Rmdir(ctx, missing), storage.KindNotExist, missing)

	if err := b.Remove(ctx, f); err != nil {
		t.Fatalf("Remove(%s): %v", f, err)
	}
	if err := b.Rmdir(ctx, d); err != nil {
		t.Fatalf("Rmdir(%s) of an empty directory: %v", d, err)
	}
	_, err := b.Stat(ctx, d)
	wantKind(t, "Stat after Rmdir", err, storage.KindNotExist, d)
}

func (s *suite) testRemove(t *testing.T) {
	b, loc := s.backend(t)
	ctx := t.Context()
	f := loc("f")
	writeFile(t, b, f, []byte("x"))
	if err := b.Remove(ctx, f); err != nil {
		t.Fatalf("Remove(%s): %v", f, err)
	}
	_, err := b.Stat(ctx, f)
	wantKind(t, "Stat after Remove", err, storage.KindNotExist, f)
	wantKind(t, "Remove of a missing file", b.Remove(ctx, f), storage.KindNotExist, f)

	d := loc("d")
	mkdir(t, b, d)
	wantKind(t, "Remove of a directory", b.Remove(ctx, d), storage.KindIsDir, d)
	if fi, err := b.Stat(ctx, d); err != nil || !fi.IsDir() {
		t.Errorf("after a refused Remove, Stat(%s) = %v, %v; want the directory", d, fi, err)
	}
}

func (s *suite) testListPaging(t *testing.T) {
	b, loc := s.backend(t)
	dir := loc("many")
	mkdir(t, b, dir)
	const files = 1000
	var want []string
	for i := range files {
		want = append(want, fmt.Sprintf("file-%d", i)) // lexical order differs from numeric
	}
	want = append(want, "sub")
	mkdir(t, b, dir.Join("sub"))

	// Create the files in random order, a few at a time, as remote backends are slow.
	order := rand.Perm(files)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range writeWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= files || t.Failed() {
					return
				}
				name := want[order[i]]
				if err := put(t.Context(), b, dir.Join(name), []byte(name)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	slices.Sort(want)

	l, err := b.List(t.Context(), dir)
	if err != nil {
		t.Fatalf("List(%s): %v", dir, err)
	}
	defer closeLister(t, l)
	infos := listAll(t, l, 100)
	var got []string
	for _, fi := range infos {
		got = append(got, fi.Name())
		switch {
		case fi.Name() == "sub" && !fi.IsDir():
			t.Errorf("entry %q: IsDir() = false, want true", fi.Name())
		case fi.Name() != "sub" && fi.Size() != int64(len(fi.Name())):
			t.Errorf("entry %q: size %d, want %d", fi.Name(), fi.Size(), len(fi.Name()))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("List(%s) returned %d names (sorted: %v), want the %d sorted names %q ... %q",
			dir, len(got), slices.IsSorted(got), len(want), want[0], want[len(want)-1])
	}
	buf := make([]fs.FileInfo, 100)
	if n, err := l.ListAt(buf, int64(len(infos))); n != 0 || err != io.EOF {
		t.Errorf("ListAt past the end = %d, %v; want 0, io.EOF", n, err)
	}
}

func (s *suite) testListMissing(t *testing.T) {
	b, loc := s.backend(t)
	missing := loc("missing")
	l, err := b.List(t.Context(), missing)
	if err == nil {
		// A backend may report a missing directory on the first page instead.
		defer closeLister(t, l)
		_, err = l.ListAt(make([]fs.FileInfo, 10), 0)
	}
	wantKind(t, "List of a missing directory", err, storage.KindNotExist, missing)
}

func (s *suite) testListRoot(t *testing.T) {
	b, loc := s.backend(t)
	l, err := b.List(t.Context(), storage.Location{})
	if err != nil {
		t.Fatalf("List(/): %v", err)
	}
	defer closeLister(t, l)
	infos := listAll(t, l, 10)
	bucket := loc("").Bucket
	i := slices.IndexFunc(infos, func(fi fs.FileInfo) bool { return fi.Name() == bucket })
	if i < 0 {
		t.Fatalf("List(/) has no entry %q among %d", bucket, len(infos))
	}
	if !infos[i].IsDir() {
		t.Errorf("List(/): bucket %q is not a directory (mode %v)", bucket, infos[i].Mode())
	}
}

func (s *suite) testRenameFile(t *testing.T) {
	b, loc := s.backend(t)
	r, ok := b.(storage.Renamer)
	if !ok {
		t.Skip("backend is no storage.Renamer")
	}
	ctx := t.Context()
	a, bb, c := loc("a"), loc("b"), loc("c")
	writeFile(t, b, a, []byte("aaa"))
	writeFile(t, b, c, []byte("ccc"))

	if err := r.Rename(ctx, a, bb, false); err != nil {
		t.Fatalf("Rename(%s, %s, false): %v", a, bb, err)
	}
	_, err := b.Stat(ctx, a)
	wantKind(t, "Stat of the source after Rename", err, storage.KindNotExist, a)
	if got := readFile(t, b, bb, 3); string(got) != "aaa" {
		t.Errorf("after Rename, %s = %q, want %q", bb, got, "aaa")
	}

	err = r.Rename(ctx, bb, c, false)
	wantKind(t, "Rename onto an existing file without replace", err, storage.KindExist, bb, c)
	if got := readFile(t, b, c, 3); string(got) != "ccc" {
		t.Errorf("after a refused Rename, %s = %q, want %q", c, got, "ccc")
	}

	if err := r.Rename(ctx, bb, c, true); err != nil {
		t.Fatalf("Rename(%s, %s, true): %v", bb, c, err)
	}
	if got := readFile(t, b, c, 3); string(got) != "aaa" {
		t.Errorf("after Rename with replace, %s = %q, want %q", c, got, "aaa")
	}
	_, err = b.Stat(ctx, bb)
	wantKind(t, "Stat of the source after Rename with replace", err, storage.KindNotExist, bb)

	missing := loc("missing")
	err = r.Rename(ctx, missing, loc("x"), false)
	wantKind(t, "Rename of a missing file", err, storage.KindNotExist, missing)
}

func (s *suite) testRenameDir(t *testing.T) {
	b, loc := s.backend(t)
	r, ok := b.(storage.Renamer)
	if !ok {
		t.Skip("backend is no storage.Renamer")
	}
	ctx := t.Context()
	from, to := loc("d"), loc("e")
	mkdir(t, b, from)
	mkdir(t, b, from.Join("sub"))
	writeFile(t, b, loc("d/sub/f"), []byte("deep"))

	err := r.Rename(ctx, from, to, false)
	if s.opts.DirRenameUnsupported && storage.KindOf(err) == storage.KindNotSupported {
		t.Skipf("Rename of a directory: %v", err)
	}
	if err != nil {
		t.Fatalf("Rename(%s, %s, false): %v", from, to, err)
	}
	if got := readFile(t, b, loc("e/sub/f"), 4); string(got) != "deep" {
		t.Errorf("after renaming the directory, e/sub/f = %q, want %q", got, "deep")
	}
	_, err = b.Stat(ctx, from)
	wantKind(t, "Stat of the renamed directory's old name", err, storage.KindNotExist, from)

	inside := loc("e/sub/e")
	err = r.Rename(ctx, to, inside, false)
	wantKind(t, "Rename of a directory into itself", err, storage.KindInvalid, to, inside)
}

func (s *suite) testSetAttrs(t *testing.T) {
	b, loc := s.backend(t)
	as, ok := b.(storage.AttrSetter)
	if !ok {
		t.Skip("backend is no storage.AttrSetter")
	}
	f := loc("f")
	writeFile(t, b, f, []byte("x"))
	mode := fs.FileMode(0o600)
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	err := as.SetAttrs(t.Context(), f, storage.Attrs{Mode: &mode, Mtime: &mtime})
	if s.opts.SetAttrsUnsupported && storage.KindOf(err) == storage.KindNotSupported {
		return
	}
	if err != nil {
		t.Fatalf("SetAttrs(%s, mode %v, mtime %v): %v", f, mode, mtime, err)
	}
	fi, err := b.Stat(t.Context(), f)
	if err != nil {
		t.Fatalf("Stat(%s): %v", f, err)
	}
	if fi.Mode().Perm() != mode || !fi.ModTime().Equal(mtime) {
		t.Errorf("after SetAttrs, Stat(%s) = mode %v, mtime %v; want %v, %v", f, fi.Mode().Perm(), fi.ModTime(), mode, mtime)
	}
}

// testOwner checks OpenFlags.Owner and Chown: a Chowner gives a file that an open creates the
// owner asked for (or refuses the open and leaves no file when it cannot), leaves an existing
// file's owner alone, and changes owners with Chown; a backend without owners refuses Owner.
func (s *suite) testOwner(t *testing.T) {
	b, loc := s.backend(t)
	ctx := t.Context()
	cb, ok := b.(storage.Chowner)
	if !ok {
		_, err := b.OpenWrite(ctx, loc("owned"), storage.OpenFlags{Create: true, Owner: &storage.Owner{UID: 1, GID: 1}})
		wantKind(t, "OpenWrite with an Owner on a backend without owners", err, storage.KindNotSupported, loc("owned"))
		return
	}
	// Another owner where the process may give files away (root), else its own.
	want := storage.Owner{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	if os.Geteuid() == 0 {
		want = storage.Owner{UID: 4242, GID: 4343}
	}
	owner := func(l storage.Location) storage.Owner {
		t.Helper()
		fi, err := b.Stat(ctx, l)
		if err != nil {
			t.Fatalf("Stat(%s): %v", l, err)
		}
		o, ok := storage.OwnerOf(fi)
		if !ok {
			t.Fatalf("Stat(%s) of a Chowner reports no owner (Sys() is %T)", l, fi.Sys())
		}
		return o
	}
	h, err := b.OpenWrite(ctx, loc("new"), storage.OpenFlags{Create: true, Owner: &want})
	if err != nil {
		t.Fatalf("OpenWrite(Create, Owner %v): %v", want, err)
	}
	writeAll(t, h, []byte("x"))
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if got := owner(loc("new")); got != want {
		t.Errorf("a file created with Owner %v is owned by %v", want, got)
	}

	writeFile(t, b, loc("old"), []byte("y"))
	before := owner(loc("old"))
	h, err = b.OpenWrite(ctx, loc("old"), storage.OpenFlags{Create: true, Truncate: true, Owner: &storage.Owner{UID: 4444, GID: 4444}})
	if err != nil {
		t.Fatalf("OpenWrite(existing, Create|Truncate, Owner): %v", err)
	}
	h.Close()
	if got := owner(loc("old")); got != before {
		t.Errorf("an existing file opened with Owner changed owner from %v to %v", before, got)
	}
	_, err = b.OpenWrite(ctx, loc("old"), storage.OpenFlags{Create: true, Exclusive: true, Owner: &want})
	wantKind(t, "OpenWrite(existing, Create|Exclusive, Owner)", err, storage.KindExist, loc("old"))

	mkdir(t, b, loc("dir"))
	if err := cb.Chown(ctx, loc("dir"), want); err != nil {
		t.Fatalf("Chown(%s, %v): %v", loc("dir"), want, err)
	}
	if got := owner(loc("dir")); got != want {
		t.Errorf("Chown(dir, %v) left owner %v", want, got)
	}
	wantKind(t, "Chown of a missing file", cb.Chown(ctx, loc("missing"), want), storage.KindNotExist, loc("missing"))

	if os.Geteuid() != 0 {
		// Giving a file away needs root: the open is refused and no file is left.
		other := storage.Owner{UID: want.UID + 1, GID: want.GID}
		_, err := b.OpenWrite(ctx, loc("refused"), storage.OpenFlags{Create: true, Owner: &other})
		wantKind(t, "OpenWrite(Create, another user's Owner) without root", err, storage.KindPermission, loc("refused"))
		_, err = b.Stat(ctx, loc("refused"))
		wantKind(t, "Stat of the refused file", err, storage.KindNotExist, loc("refused"))
	}
}

// testStatHandle checks that a file being written describes itself through its handle before
// Close, as clients ask (FSTAT): a regular file named as its location, as large as the end of the
// furthest write so far, whether that write is in place yet or waits for the gap before it.
func (s *suite) testStatHandle(t *testing.T) {
	b, loc := s.backend(t)
	h, err := b.OpenWrite(t.Context(), loc("up.bin"), storage.OpenFlags{Create: true, Truncate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sh, ok := h.(storage.StatHandle)
	if !ok {
		t.Fatalf("the write handle (%T) does not describe itself (storage.StatHandle)", h)
	}
	want := func(what string, size int64) {
		t.Helper()
		fi, err := sh.Stat()
		if err != nil {
			t.Fatalf("%s: Stat: %v", what, err)
		}
		if fi.Size() != size || fi.IsDir() || !fi.Mode().IsRegular() || fi.Name() != "up.bin" {
			t.Errorf("%s: %s size %d mode %v dir %v; want up.bin, %d bytes, a regular file", what, fi.Name(), fi.Size(), fi.Mode(), fi.IsDir(), size)
		}
	}
	want("before any write", 0)
	data := randomBytes(2 * chunkSize)
	if _, err := h.WriteAt(data[chunkSize:], chunkSize); err != nil {
		t.Fatal(err)
	}
	want("after a write ahead of a gap", 2*chunkSize)
	if _, err := h.WriteAt(data[:chunkSize], 0); err != nil {
		t.Fatal(err)
	}
	want("after the gap is filled", 2*chunkSize)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
}
