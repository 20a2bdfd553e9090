package disk

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/transferd/transferd/internal/storage"
)

// readBatch is how many names one ReadDir-style call reads.
const readBatch = 1024

// List opens the directory loc for listing. It reads the entry names once and sorts them; the
// attributes of each entry are read (lstat) only when the page holding it is served. Entries that
// vanish in between are skipped. The Lister holds the directory open until Close.
func (s *Store) List(ctx context.Context, loc storage.Location) (_ storage.Lister, err error) {
	defer s.observed("List", time.Now(), &err)
	if u := s.confined(); u != nil {
		return u.List(ctx, loc)
	}
	name, err := s.name("list", loc)
	if err != nil {
		return nil, err
	}
	names, err := s.readNames(ctx, loc, name)
	if err != nil {
		return nil, err
	}
	names = slices.DeleteFunc(names, reserved) // transferd's own files and uploads in progress
	slices.Sort(names)
	// Entries are looked up relative to the directory itself: one fstatat each, and the listing
	// follows the directory should it be renamed meanwhile. The directory was checked above, so
	// OpenRoot fails only if it was replaced in between.
	dir, err := s.root.OpenRoot(name)
	if err != nil {
		return nil, s.fail("list", loc, err)
	}
	return &lister{s: s, loc: loc, dir: dir, names: names}, nil
}

// readNames returns the names in the directory name.
func (s *Store) readNames(ctx context.Context, loc storage.Location, name string) ([]string, error) {
	f, err := s.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, s.fail("list", loc, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, s.fail("list", loc, err)
	}
	if !fi.IsDir() {
		return nil, storage.Errorf("list", loc, storage.KindNotDir, "", nil)
	}
	var names []string
	for {
		if err := ctx.Err(); err != nil {
			return nil, s.fail("list", loc, err)
		}
		batch, err := f.Readdirnames(readBatch)
		names = append(names, batch...)
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, s.fail("list", loc, err)
		}
	}
}

// lister serves a sorted list of names page by page. It is built for pkg/sftp's pattern, where
// each offset is the previous one plus the entries returned; any other offset is taken as an
// index into the names, which is exact unless entries were skipped before it.
type lister struct {
	s   *Store
	loc storage.Location

	mu     sync.Mutex
	dir    *os.Root // nil once closed
	names  []string
	next   int   // index in names of the next entry to lstat
	served int64 // entries returned so far: the offset a sequential caller passes next
}

// ListAt fills dst with the entries from offset on and returns io.EOF with the last page.
func (l *lister) ListAt(dst []fs.FileInfo, offset int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dir == nil {
		return 0, l.s.fail("list", l.loc, fs.ErrClosed)
	}
	if offset < 0 {
		return 0, storage.Errorf("list", l.loc, storage.KindInvalid, "negative offset", nil)
	}
	if offset != l.served {
		l.next = int(min(offset, int64(len(l.names))))
		l.served = offset
	}
	n := 0
	for n < len(dst) && l.next < len(l.names) {
		name := l.names[l.next]
		fi, err := l.dir.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			l.next++
			continue
		}
		if err != nil {
			l.served += int64(n)
			return n, l.s.fail("list", l.loc.Join(name), err)
		}
		l.next++
		dst[n] = fi
		n++
	}
	l.served += int64(n)
	if l.next >= len(l.names) {
		return n, io.EOF
	}
	return n, nil
}

// Close releases the directory.
func (l *lister) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dir == nil {
		return nil
	}
	err := l.dir.Close()
	l.dir, l.names = nil, nil
	if err != nil {
		return l.s.fail("list", l.loc, err)
	}
	return nil
}
