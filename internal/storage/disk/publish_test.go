package disk_test

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/storage/disk"
	"github.com/transferd/transferd/internal/storage/storagetest"
)

func TestConformanceAtomicUploads(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Backend { return newStore(t, t.TempDir()).AtomicUploads() }, storagetest.Options{})
}

// entries lists a directory on disk, transferd's own files included.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func content(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAtomicUploads: the old file stays whole until CLOSE, whatever the open flags; the last of
// two uploads to close wins whole; an aborted upload leaves the old file and no temporary file;
// an exclusive upload loses to a file created meanwhile; the temporary file is hidden.
func TestAtomicUploads(t *testing.T) {
	t.Parallel()
	plain, root := withBucket(t)
	s := plain.AtomicUploads()
	ctx := t.Context()
	writeFile(t, s, loc("f"), "old content")
	final := filepath.Join(root, "bkt", "f")

	a, err := s.OpenWrite(ctx, loc("f"), storage.OpenFlags{Create: true, Truncate: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.OpenWrite(ctx, loc("f"), storage.OpenFlags{Create: true, Truncate: true})
	if err != nil {
		t.Fatal(err)
	}
	a.WriteAt([]byte("AAAA"), 0)
	b.WriteAt([]byte("BBBBBBBB"), 0)
	if got := content(t, final); got != "old content" {
		t.Fatalf("before CLOSE the file reads %q, want the old content", got)
	}
	if n := len(entries(t, filepath.Join(root, "bkt"))); n != 3 {
		t.Fatalf("the bucket holds %d entries on disk, want the file and two temporary files", n)
	}
	l, err := s.List(ctx, storage.Location{Bucket: "bkt"})
	if err != nil {
		t.Fatal(err)
	}
	page := make([]fs.FileInfo, 10)
	n, _ := l.ListAt(page, 0)
	l.(io.Closer).Close()
	if n != 1 || page[0].Name() != "f" {
		t.Errorf("the listing shows %d entries, want only f", n)
	}
	tmp := ""
	for _, n := range entries(t, filepath.Join(root, "bkt")) {
		if strings.HasPrefix(n, ".transferd-upload-") {
			tmp = n
		}
	}
	if _, err := s.Stat(ctx, loc(tmp)); storage.KindOf(err) != storage.KindPermission {
		t.Errorf("Stat of the temporary file %s: %v, want a permission error", tmp, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := content(t, final); got != "AAAA" {
		t.Errorf("after both closed the file reads %q, want the last closed (AAAA) whole", got)
	}

	// Resume: an open without truncation starts from the file's content.
	r, err := s.OpenWrite(ctx, loc("f"), storage.OpenFlags{})
	if err != nil {
		t.Fatal(err)
	}
	r.WriteAt([]byte("-more"), 4)
	if got := content(t, final); got != "AAAA" {
		t.Errorf("a resumed upload shows before CLOSE: %q", got)
	}
	r.Close()
	if got := content(t, final); got != "AAAA-more" {
		t.Errorf("after resuming the file reads %q, want AAAA-more", got)
	}

	// Abort leaves the old file and nothing else.
	ab, _ := s.OpenWrite(ctx, loc("f"), storage.OpenFlags{Create: true, Truncate: true})
	ab.WriteAt([]byte("partial"), 0)
	ab.Abort(io.ErrUnexpectedEOF)
	if got := content(t, final); got != "AAAA-more" {
		t.Errorf("after an aborted upload the file reads %q", got)
	}
	if es := entries(t, filepath.Join(root, "bkt")); len(es) != 1 {
		t.Errorf("after an aborted upload the bucket holds %q", es)
	}
	if es := entries(t, filepath.Join(root, ".transferd", "pending")); len(es) != 0 {
		t.Errorf("markers left: %q", es)
	}

	// Exclusive: another upload creating the name first wins.
	x, err := s.OpenWrite(ctx, loc("new"), storage.OpenFlags{Create: true, Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, s, loc("new"), "first")
	x.WriteAt([]byte("second"), 0)
	if err := x.Close(); storage.KindOf(err) != storage.KindExist {
		t.Errorf("an exclusive upload closing after the name was taken: %v, want KindExist", err)
	}
	if got := content(t, filepath.Join(root, "bkt", "new")); got != "first" {
		t.Errorf("the file created meanwhile reads %q", got)
	}
}

// TestUnfinishedUploadsRemoved: temporary files left by a process that ended mid-upload are
// removed by the next New; a second store on the same root is refused.
func TestUnfinishedUploadsRemoved(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s, err := disk.New(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := disk.New(root); err == nil || !strings.Contains(err.Error(), "in use by another transferd") {
		t.Fatalf("a second store on the same root: %v; want it refused", err)
	}
	a := s.AtomicUploads()
	a.Mkdir(t.Context(), storage.Location{Bucket: "bkt"})
	h, err := a.OpenWrite(t.Context(), loc("f"), storage.OpenFlags{Create: true, Truncate: true})
	if err != nil {
		t.Fatal(err)
	}
	h.WriteAt([]byte("never finished"), 0)
	s.Close() // as a killed process's descriptors are closed; the upload is never ended
	if n := len(entries(t, filepath.Join(root, "bkt"))); n != 1 {
		t.Fatalf("the temporary file is not there to be found (%d entries)", n)
	}
	s2 := newStore(t, root)
	if s2.Recovered() != 1 || len(entries(t, filepath.Join(root, "bkt"))) != 0 {
		t.Errorf("New removed %d unfinished uploads; the bucket holds %q", s2.Recovered(), entries(t, filepath.Join(root, "bkt")))
	}
}

// TestResumeSparseFile: resuming an upload of a sparse file (a byte written at 1 TiB) copies
// what the file holds, not its apparent size: the copy stays sparse and quick.
func TestResumeSparseFile(t *testing.T) {
	t.Parallel()
	plain, root := withBucket(t)
	s := plain.AtomicUploads()
	ctx := t.Context()
	h, err := s.OpenWrite(ctx, loc("sparse"), storage.OpenFlags{Create: true, Truncate: true})
	if err != nil {
		t.Fatal(err)
	}
	h.WriteAt([]byte("head"), 0)
	if _, err := h.WriteAt([]byte("tail"), 1<<40); err != nil {
		t.Skipf("the file system takes no 1 TiB sparse file: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := s.OpenWrite(ctx, loc("sparse"), storage.OpenFlags{})
	if err != nil {
		t.Fatal(err)
	}
	r.WriteAt([]byte("HEAD"), 0)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "bkt", "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 1<<40+4 {
		t.Errorf("size %d after resuming", fi.Size())
	}
	if blocks := fi.Sys().(*syscall.Stat_t).Blocks; blocks > 1024 {
		t.Errorf("the resumed file takes %d blocks: the holes were copied", blocks)
	}
	f, _ := os.Open(filepath.Join(root, "bkt", "sparse"))
	defer f.Close()
	buf := make([]byte, 4)
	f.ReadAt(buf, 0)
	tail := make([]byte, 4)
	f.ReadAt(tail, 1<<40)
	if string(buf) != "HEAD" || string(tail) != "tail" {
		t.Errorf("the resumed file reads %q ... %q", buf, tail)
	}
}
