package disk

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"sync/atomic"

	"github.com/transferd/transferd/internal/storage"
)

// readHandle is a file open for reading.
type readHandle struct {
	s   *Store
	loc storage.Location
	f   *os.File
}

func (h *readHandle) ReadAt(p []byte, off int64) (int, error) {
	return readAt(h.s, h.loc, h.f, p, off)
}

func (h *readHandle) Close() error {
	if err := h.f.Close(); err != nil {
		return h.s.fail("close", h.loc, err)
	}
	return nil
}

// writeHandle is a file open for writing at any offset.
type writeHandle struct {
	s   *Store
	loc storage.Location
	f   *os.File
	// dirty counts bytes written since the kernel was last asked to start writing them out.
	dirty atomic.Int64
}

// writebackEvery is how many bytes a handle writes between two requests to the kernel to start
// writing the file's dirty pages out. Close waits for the data to be on disk (fsync); started early,
// the disk works while the transfer goes on, and Close then waits for the last few MiB instead of
// a whole file's worth of page cache.
const writebackEvery = 8 << 20

func (h *writeHandle) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, storage.Errorf("write", h.loc, storage.KindInvalid, "negative offset", nil)
	}
	n, err := h.f.WriteAt(p, off)
	if err != nil {
		return n, h.s.fail("write", h.loc, err)
	}
	if h.dirty.Add(int64(n)) >= writebackEvery {
		h.dirty.Store(0)
		startWriteback(h.f)
	}
	return n, nil
}

var _ storage.StatHandle = (*writeHandle)(nil)

// Stat describes the open file as it is on disk.
func (h *writeHandle) Stat() (fs.FileInfo, error) {
	fi, err := h.f.Stat()
	if err != nil {
		return nil, h.s.fail("stat", h.loc, err)
	}
	return named{fi, path.Base(h.loc.String())}, nil
}

// named is a file's attributes under the name of its location (os.File.Stat names it by the
// path it was opened with).
type named struct {
	fs.FileInfo
	name string
}

func (n named) Name() string { return n.name }

// Close makes the data durable (fsync) and closes the file; it reports the first failure.
func (h *writeHandle) Close() error {
	serr := h.f.Sync()
	cerr := h.f.Close()
	if serr != nil && !errors.Is(serr, os.ErrClosed) {
		return h.s.fail("close", h.loc, serr)
	}
	if cerr != nil {
		return h.s.fail("close", h.loc, cerr)
	}
	return nil
}

// Abort closes the file and keeps what was written, as a POSIX file system (and EFS) does when a
// client goes away mid-transfer. It reports only a failure to close.
func (h *writeHandle) Abort(cause error) error {
	if err := h.f.Close(); err != nil {
		return h.s.fail("close", h.loc, err)
	}
	return nil
}

// readWriteHandle is a file open for reading and writing.
type readWriteHandle struct{ *writeHandle }

func (h *readWriteHandle) ReadAt(p []byte, off int64) (int, error) {
	return readAt(h.s, h.loc, h.f, p, off)
}

// readAt reads as io.ReaderAt does, with io.EOF passed through unclassified.
func readAt(s *Store, loc storage.Location, f *os.File, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, storage.Errorf("read", loc, storage.KindInvalid, "negative offset", nil)
	}
	n, err := f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		return n, s.fail("read", loc, err)
	}
	return n, err
}
