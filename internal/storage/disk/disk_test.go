package disk_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/storage/disk"
	"github.com/transferd/transferd/internal/storage/storagetest"
)

func newStore(t *testing.T, root string) *disk.Store {
	t.Helper()
	s, err := disk.New(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Backend { return newStore(t, t.TempDir()) }, storagetest.Options{})
}

// withBucket returns a store over a new directory holding the bucket "bkt", and the directory.
func withBucket(t *testing.T) (*disk.Store, string) {
	t.Helper()
	root := t.TempDir()
	s := newStore(t, root)
	if err := s.Mkdir(t.Context(), storage.Location{Bucket: "bkt"}); err != nil {
		t.Fatal(err)
	}
	return s, root
}

func loc(key string) storage.Location { return storage.Location{Bucket: "bkt", Key: key} }

func writeFile(t *testing.T, s *disk.Store, l storage.Location, data string) {
	t.Helper()
	h, err := s.OpenWrite(t.Context(), l, storage.OpenFlags{Create: true, Truncate: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte(data), 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("Close(%s) = %v, want nil", l, err)
	}
}

func wantKind(t *testing.T, what string, err error, want storage.Kind) {
	t.Helper()
	se, ok := errors.AsType[*storage.Error](err)
	switch {
	case err == nil:
		t.Errorf("%s: no error, want kind %q", what, want)
	case !ok:
		t.Errorf("%s: %T %v, want a *storage.Error", what, err, err)
	case se.Kind != want:
		t.Errorf("%s: kind %q, want %q (%v)", what, se.Kind, want, err)
	}
}

func TestNewCreatesRoot(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "a", "b")
	newStore(t, root)
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	// Others may search it (a store acting as a user reaches the buckets), never list or write.
	if !fi.IsDir() || fi.Mode().Perm()&^0o751 != 0 {
		t.Errorf("New created %s with mode %v, want a directory with at most 0751", root, fi.Mode())
	}
}

// TestSymlinkEscape plants symbolic links that point outside the root and checks that no
// operation reaches through them, nor through a link that stays inside.
func TestSymlinkEscape(t *testing.T) {
	t.Parallel()
	s, root := withBucket(t)
	ctx := t.Context()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	bkt := filepath.Join(root, "bkt")
	rel, err := filepath.Rel(bkt, outside)
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"abs":     outside,
		"rel":     rel,
		"etc":     "/etc",
		"up":      "../..",
		"fileabs": filepath.Join(outside, "secret"),
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(bkt, name)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, s, loc("plain"), "plain")

	mode := fs.FileMode(0o777)
	for _, dir := range []string{"abs", "rel", "etc", "up"} {
		secret := "secret"
		if dir == "etc" {
			secret = "passwd"
		}
		through := loc(dir + "/" + secret)
		ops := map[string]error{}
		_, ops["Stat link"] = s.Stat(ctx, loc(dir))
		_, ops["Stat"] = s.Stat(ctx, through)
		_, ops["OpenRead"] = s.OpenRead(ctx, through)
		_, ops["List"] = s.List(ctx, loc(dir))
		_, ops["OpenWrite"] = s.OpenWrite(ctx, loc(dir+"/new"), storage.OpenFlags{Create: true})
		ops["Mkdir"] = s.Mkdir(ctx, loc(dir+"/newdir"))
		ops["MkdirAll"] = s.MkdirAll(ctx, loc(dir+"/x/y"))
		ops["Remove"] = s.Remove(ctx, through)
		ops["Rename in"] = s.Rename(ctx, loc("plain"), loc(dir+"/plain"), true)
		ops["Rename out"] = s.Rename(ctx, through, loc("stolen"), true)
		ops["SetAttrs"] = s.SetAttrs(ctx, through, storage.Attrs{Mode: &mode})
		_, ops["Space"] = s.Space(ctx, loc(dir))
		for op, err := range ops {
			wantKind(t, fmt.Sprintf("%s through bkt/%s (-> %s)", op, dir, links[dir]), err, storage.KindPermission)
		}
	}
	_, err = s.OpenRead(ctx, loc("fileabs"))
	wantKind(t, "OpenRead of a link to a file outside", err, storage.KindPermission)

	got, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name() != "secret" {
		t.Errorf("the directory outside the root now holds %v, want only secret", got)
	}
	if fi, err := os.Stat(filepath.Join(outside, "secret")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the file outside the root: %v, %v; want it unchanged (0600)", fi, err)
	}
	if _, err := s.Stat(ctx, loc("plain")); err != nil {
		t.Errorf("bkt/plain after the refused renames: %v", err)
	}

	// Links that stay inside the root are not followed either: one planted in a user's
	// directory could lead to another user's files. Listing shows links as links, and removing
	// or renaming one acts on the link.
	if err := os.Symlink("plain", filepath.Join(bkt, "inside")); err != nil {
		t.Fatal(err)
	}
	_, err = s.OpenRead(ctx, loc("inside"))
	wantKind(t, "OpenRead through a link inside the root", err, storage.KindPermission)
	if err := s.Rename(ctx, loc("inside"), loc("inside2"), false); err != nil {
		t.Errorf("renaming a link: %v", err)
	}
	l, err := s.List(ctx, loc(""))
	if err != nil {
		t.Fatal(err)
	}
	defer l.(io.Closer).Close()
	infos := make([]fs.FileInfo, 20)
	n, err := l.ListAt(infos, 0)
	if err != io.EOF {
		t.Fatalf("ListAt = %d, %v; want io.EOF", n, err)
	}
	for _, fi := range infos[:n] {
		if _, isLink := links[fi.Name()]; isLink && fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("entry %s: mode %v, want a symbolic link", fi.Name(), fi.Mode())
		}
	}
}

// TestErrorsHideRoot checks that no error a client can see holds the host path of the root.
func TestErrorsHideRoot(t *testing.T) {
	t.Parallel()
	s, root := withBucket(t)
	ctx := t.Context()
	bkt := filepath.Join(root, "bkt")
	if err := os.Symlink(filepath.Join(root, ".."), filepath.Join(bkt, "up")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, s, loc("f"), "x")
	if err := s.Mkdir(ctx, loc("d")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, s, loc("d/g"), "x")

	type result struct {
		name string
		l    storage.Location
		err  error
	}
	var results []result
	add := func(name string, l storage.Location, err error) { results = append(results, result{name, l, err}) }
	_, err := s.Stat(ctx, loc("missing"))
	add("Stat missing", loc("missing"), err)
	_, err = s.OpenRead(ctx, loc("d"))
	add("OpenRead dir", loc("d"), err)
	_, err = s.OpenWrite(ctx, loc("f"), storage.OpenFlags{Create: true, Exclusive: true})
	add("OpenWrite exclusive", loc("f"), err)
	_, err = s.List(ctx, loc("f"))
	add("List file", loc("f"), err)
	add("Mkdir existing", loc("d"), s.Mkdir(ctx, loc("d")))
	add("Mkdir no parent", loc("x/y"), s.Mkdir(ctx, loc("x/y")))
	add("Rmdir not empty", loc("d"), s.Rmdir(ctx, loc("d")))
	add("Remove dir", loc("d"), s.Remove(ctx, loc("d")))
	add("Stat escape", loc("up/etc"), func() error { _, err := s.Stat(ctx, loc("up/etc")); return err }())
	add("Rename into itself", loc("d"), s.Rename(ctx, loc("d"), loc("d/e"), false))
	add("Stat dot-dot", loc("../x"), func() error { _, err := s.Stat(ctx, loc("../x")); return err }())
	add("SetAttrs owner", loc("f"), s.SetAttrs(ctx, loc("f"), storage.Attrs{UID: new(uint32)}))

	for _, r := range results {
		se, ok := errors.AsType[*storage.Error](r.err)
		if !ok {
			t.Errorf("%s: %T %v, want a *storage.Error", r.name, r.err, r.err)
			continue
		}
		if strings.Contains(se.Message, root) || strings.Contains(se.Error(), root) {
			t.Errorf("%s: error %q holds the root path %s", r.name, se.Error(), root)
		}
		if se.Path != r.l.String() {
			t.Errorf("%s: error path %q, want %q", r.name, se.Path, r.l)
		}
		t.Logf("%s: %v [%v]", r.name, se, se.Kind)
	}
}

func TestInvalidLocations(t *testing.T) {
	t.Parallel()
	s, _ := withBucket(t)
	for _, l := range []storage.Location{
		{Bucket: "bkt", Key: "../other"},
		{Bucket: "bkt", Key: "a/./b"},
		{Bucket: "bkt", Key: "a//b"},
		{Bucket: "bkt", Key: "/a"},
		{Bucket: "..", Key: "x"},
		{Bucket: "", Key: "x"},
		{Bucket: "a/b"},
		{Bucket: "bkt", Key: "nul\x00"},
	} {
		_, err := s.Stat(t.Context(), l)
		wantKind(t, fmt.Sprintf("Stat(%q)", l), err, storage.KindInvalid)
	}
}

func TestRootAndBuckets(t *testing.T) {
	t.Parallel()
	s, root := withBucket(t)
	ctx := t.Context()
	top := storage.Location{}
	fi, err := s.Stat(ctx, top)
	if err != nil || fi.Name() != "/" || !fi.IsDir() {
		t.Errorf("Stat(/) = %v, %v; want a directory named /", fi, err)
	}
	wantKind(t, "Remove(/)", s.Remove(ctx, top), storage.KindPermission)
	wantKind(t, "Rmdir(/)", s.Rmdir(ctx, top), storage.KindPermission)
	wantKind(t, "Rename(/, x)", s.Rename(ctx, top, storage.Location{Bucket: "x"}, false), storage.KindPermission)
	wantKind(t, "Rename(bkt, /)", s.Rename(ctx, storage.Location{Bucket: "bkt"}, top, true), storage.KindPermission)
	wantKind(t, "Mkdir(/)", s.Mkdir(ctx, top), storage.KindExist)
	_, err = s.OpenWrite(ctx, top, storage.OpenFlags{Create: true})
	wantKind(t, "OpenWrite(/)", err, storage.KindIsDir)
	_, err = s.OpenWrite(ctx, storage.Location{Bucket: "newfile"}, storage.OpenFlags{Create: true})
	wantKind(t, "OpenWrite(/newfile)", err, storage.KindPermission)
	if err := s.MkdirAll(ctx, top); err != nil {
		t.Errorf("MkdirAll(/) = %v", err)
	}

	if err := s.Mkdir(ctx, storage.Location{Bucket: "second"}); err != nil {
		t.Fatalf("Mkdir(/second): %v", err)
	}
	if fi, err := os.Stat(filepath.Join(root, "second")); err != nil || !fi.IsDir() {
		t.Errorf("Mkdir(/second) made %v, %v; want ROOT/second", fi, err)
	}
	l, err := s.List(ctx, top)
	if err != nil {
		t.Fatal(err)
	}
	defer l.(io.Closer).Close()
	infos := make([]fs.FileInfo, 10)
	n, err := l.ListAt(infos, 0)
	var names []string
	for _, fi := range infos[:n] {
		names = append(names, fi.Name())
	}
	if err != io.EOF || !slices.Equal(names, []string{"bkt", "second"}) {
		t.Errorf("List(/) = %q, %v; want [bkt second], io.EOF", names, err)
	}
}

func TestMkdirAll(t *testing.T) {
	t.Parallel()
	s, _ := withBucket(t)
	ctx := t.Context()
	if err := s.MkdirAll(ctx, storage.Location{Bucket: "home", Key: "alice/docs"}); err != nil {
		t.Fatal(err)
	}
	if err := s.MkdirAll(ctx, storage.Location{Bucket: "home", Key: "alice/docs"}); err != nil {
		t.Errorf("MkdirAll of an existing directory: %v", err)
	}
	if fi, err := s.Stat(ctx, storage.Location{Bucket: "home", Key: "alice/docs"}); err != nil || !fi.IsDir() {
		t.Errorf("after MkdirAll: %v, %v", fi, err)
	}
	writeFile(t, s, loc("file"), "x")
	wantKind(t, "MkdirAll under a file", s.MkdirAll(ctx, loc("file/sub")), storage.KindNotDir)
}

func TestListAtMany(t *testing.T) {
	t.Parallel()
	s, root := withBucket(t)
	const files = 2345
	var want []string
	for i := range files {
		name := fmt.Sprintf("n%d", i)
		want = append(want, name)
		if err := os.WriteFile(filepath.Join(root, "bkt", name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)

	for _, bufSize := range []int{1, 7, 100, 5000} {
		t.Run(fmt.Sprint(bufSize), func(t *testing.T) {
			t.Parallel()
			got := listNames(t, s, loc(""), bufSize)
			if !slices.Equal(got, want) {
				t.Errorf("listing with a %d-entry buffer gave %d names, want %d sorted", bufSize, len(got), len(want))
			}
		})
	}
}

func listNames(t *testing.T, s *disk.Store, l storage.Location, bufSize int) []string {
	t.Helper()
	lister, err := s.List(t.Context(), l)
	if err != nil {
		t.Fatal(err)
	}
	defer lister.(io.Closer).Close()
	var names []string
	buf := make([]fs.FileInfo, bufSize)
	for {
		n, err := lister.ListAt(buf, int64(len(names)))
		for _, fi := range buf[:n] {
			names = append(names, fi.Name())
		}
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestListVanished removes entries between List and the pages that hold them: they are skipped,
// and the pages that follow neither repeat nor lose an entry.
func TestListVanished(t *testing.T) {
	t.Parallel()
	s, root := withBucket(t)
	var want []string
	for i := range 300 {
		name := fmt.Sprintf("f%03d", i)
		if err := os.WriteFile(filepath.Join(root, "bkt", name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if i%3 != 0 {
			want = append(want, name)
		}
	}
	lister, err := s.List(t.Context(), loc(""))
	if err != nil {
		t.Fatal(err)
	}
	defer lister.(io.Closer).Close()
	for i := 0; i < 300; i += 3 {
		if err := os.Remove(filepath.Join(root, "bkt", fmt.Sprintf("f%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	buf := make([]fs.FileInfo, 16)
	for {
		n, err := lister.ListAt(buf, int64(len(got)))
		for _, fi := range buf[:n] {
			got = append(got, fi.Name())
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("listing after removals gave %d names %q..., want %d", len(got), got[:min(5, len(got))], len(want))
	}
	if err := lister.(io.Closer).Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	_, err = lister.ListAt(buf, 0)
	wantKind(t, "ListAt after Close", err, storage.KindInvalid)
}

func TestListErrors(t *testing.T) {
	t.Parallel()
	s, _ := withBucket(t)
	writeFile(t, s, loc("f"), "x")
	_, err := s.List(t.Context(), loc("f"))
	wantKind(t, "List of a file", err, storage.KindNotDir)
	_, err = s.List(t.Context(), loc("missing"))
	wantKind(t, "List of a missing directory", err, storage.KindNotExist)
}

func TestWriteHandles(t *testing.T) {
	t.Parallel()
	s, root := withBucket(t)
	ctx := t.Context()

	// Close is durable and reports success; a second Close reports the misuse.
	h, err := s.OpenWrite(ctx, loc("durable"), storage.OpenFlags{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("later"), 5); err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("first"), 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("Close = %v, want nil", err)
	}
	wantKind(t, "second Close", h.Close(), storage.KindInvalid)
	if got, _ := os.ReadFile(filepath.Join(root, "bkt", "durable")); string(got) != "firstlater" {
		t.Errorf("file = %q, want %q", got, "firstlater")
	}
	fi, _ := os.Stat(filepath.Join(root, "bkt", "durable"))
	if fi.Mode().Perm()&^0o644 != 0 {
		t.Errorf("new file mode %v, want at most 0644", fi.Mode())
	}

	// Abort keeps what was written.
	h, err = s.OpenWrite(ctx, loc("aborted"), storage.OpenFlags{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("partial"), 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Abort(errors.New("client went away")); err != nil {
		t.Errorf("Abort = %v, want nil", err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "bkt", "aborted")); string(got) != "partial" {
		t.Errorf("after Abort the file holds %q, want %q", got, "partial")
	}

	// Append is ignored: the offset of each write counts.
	h, err = s.OpenWrite(ctx, loc("durable"), storage.OpenFlags{Append: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("FIRST"), 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "bkt", "durable")); string(got) != "FIRSTlater" {
		t.Errorf("after a write at 0 with Append, file = %q, want %q", got, "FIRSTlater")
	}

	// Only a handle opened with Read reads.
	h, err = s.OpenWrite(ctx, loc("durable"), storage.OpenFlags{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.(io.ReaderAt); ok {
		t.Errorf("a handle opened without Read is an io.ReaderAt")
	}
	h.Close()
	_, err = h.WriteAt([]byte("x"), -1)
	wantKind(t, "WriteAt a negative offset", err, storage.KindInvalid)
}

func TestSetAttrs(t *testing.T) {
	t.Parallel()
	s, _ := withBucket(t)
	ctx := t.Context()
	f := loc("f")
	writeFile(t, s, f, "0123456789")

	size := int64(4)
	mode := fs.FileMode(0o4750) // setuid is dropped: permission bits only
	if err := s.SetAttrs(ctx, f, storage.Attrs{Size: &size, Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	fi, err := s.Stat(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 4 || fi.Mode() != 0o750 {
		t.Errorf("after SetAttrs: size %d, mode %v; want 4, %v", fi.Size(), fi.Mode(), fs.FileMode(0o750))
	}

	mtime := time.Date(2010, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.SetAttrs(ctx, f, storage.Attrs{Mtime: &mtime}); err != nil {
		t.Fatal(err)
	}
	atime := time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.SetAttrs(ctx, f, storage.Attrs{Atime: &atime}); err != nil {
		t.Fatal(err)
	}
	if fi, err := s.Stat(ctx, f); err != nil || !fi.ModTime().Equal(mtime) {
		t.Errorf("setting only atime changed mtime: %v, %v; want %v", fi.ModTime(), err, mtime)
	}

	uid := uint32(0)
	err = s.SetAttrs(ctx, f, storage.Attrs{UID: &uid, Mode: &mode})
	wantKind(t, "SetAttrs with UID", err, storage.KindNotSupported)
	if se, ok := errors.AsType[*storage.Error](err); ok && se.Message != "changing owner is not supported" {
		t.Errorf("SetAttrs with UID: message %q", se.Message)
	}
	neg := int64(-1)
	wantKind(t, "SetAttrs negative size", s.SetAttrs(ctx, f, storage.Attrs{Size: &neg}), storage.KindInvalid)
	if err := s.Mkdir(ctx, loc("d")); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "SetAttrs size of a directory", s.SetAttrs(ctx, loc("d"), storage.Attrs{Size: &size}), storage.KindIsDir)
	wantKind(t, "SetAttrs missing", s.SetAttrs(ctx, loc("missing"), storage.Attrs{Mode: &mode}), storage.KindNotExist)
}
