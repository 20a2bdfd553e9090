package disk_test

import (
	"io"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/transferd/transferd/internal/storage"
)

func TestSpace(t *testing.T) {
	t.Parallel()
	s, _ := withBucket(t)
	for _, l := range []storage.Location{{}, loc("")} {
		sp, err := s.Space(t.Context(), l)
		if err != nil {
			t.Fatalf("Space(%s): %v", l, err)
		}
		if sp.Blocks == 0 || sp.BlockSize == 0 || sp.FragmentSize == 0 || sp.MaxName == 0 {
			t.Errorf("Space(%s) = %+v, want nonzero blocks, block size and name length", l, sp)
		}
	}
	_, err := s.Space(t.Context(), loc("missing"))
	wantKind(t, "Space of a missing location", err, storage.KindNotExist)
}

// TestSys checks that file infos carry *syscall.Stat_t, from which an SFTP layer takes uid/gid.
func TestSys(t *testing.T) {
	t.Parallel()
	s, _ := withBucket(t)
	writeFile(t, s, loc("f"), "x")
	fi, err := s.Stat(t.Context(), loc("f"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fi.Sys().(*syscall.Stat_t); !ok {
		t.Errorf("Stat: Sys() is %T, want *syscall.Stat_t", fi.Sys())
	}
	l, err := s.List(t.Context(), loc(""))
	if err != nil {
		t.Fatal(err)
	}
	defer l.(io.Closer).Close()
	buf := make([]fs.FileInfo, 1)
	if n, _ := l.ListAt(buf, 0); n != 1 {
		t.Fatalf("ListAt returned %d entries, want 1", n)
	}
	if _, ok := buf[0].Sys().(*syscall.Stat_t); !ok {
		t.Errorf("List: Sys() is %T, want *syscall.Stat_t", buf[0].Sys())
	}
}

// TestFIFO checks that a FIFO planted in the tree is refused rather than blocking the open.
func TestFIFO(t *testing.T) {
	t.Parallel()
	s, root := withBucket(t)
	if err := syscall.Mkfifo(filepath.Join(root, "bkt", "fifo"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, err := s.OpenRead(t.Context(), loc("fifo"))
	wantKind(t, "OpenRead of a FIFO", err, storage.KindInvalid)
	_, err = s.OpenWrite(t.Context(), loc("fifo"), storage.OpenFlags{Read: true, Create: true})
	wantKind(t, "OpenWrite of a FIFO", err, storage.KindInvalid)
}
