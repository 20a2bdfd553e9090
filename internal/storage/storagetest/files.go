package storagetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/transferd/transferd/internal/storage"
)

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{'s', 't', 'o', 'r', 'a', 'g', 'e'}).Read(b)
	return b
}

// writeFile creates or truncates the file at l and writes data to it as an SFTP upload does.
func writeFile(t *testing.T, b storage.Backend, l storage.Location, data []byte) {
	t.Helper()
	if err := put(t.Context(), b, l, data); err != nil {
		t.Fatal(err)
	}
}

// put is writeFile for goroutines other than the test's.
func put(ctx context.Context, b storage.Backend, l storage.Location, data []byte) error {
	h, err := b.OpenWrite(ctx, l, storage.OpenFlags{Create: true, Truncate: true})
	if err != nil {
		return fmt.Errorf("OpenWrite(%s, Create|Truncate): %w", l, err)
	}
	if err := writeConcurrently(h, data); err != nil {
		h.Abort(err)
		return fmt.Errorf("write %s: %w", l, err)
	}
	if err := h.Close(); err != nil {
		return fmt.Errorf("Close(%s): %w", l, err)
	}
	return nil
}

func writeAll(t *testing.T, h io.WriterAt, data []byte) {
	t.Helper()
	if err := writeConcurrently(h, data); err != nil {
		t.Fatal(err)
	}
}

// writeConcurrently writes data in chunkSize pieces from writeWorkers goroutines, as pkg/sftp
// does with several packets in flight. Each worker takes the next two chunks and writes the
// second first, so the backend always sees writes out of order, but never by more than
// 2*writeWorkers chunks: a backend may buffer that window rather than allow any offset.
func writeConcurrently(h io.WriterAt, data []byte) error {
	pairs := (len(data) + 2*chunkSize - 1) / (2 * chunkSize)
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	write := func(i int) bool {
		off := i * chunkSize
		if off >= len(data) {
			return true
		}
		chunk := data[off:min(off+chunkSize, len(data))]
		n, err := h.WriteAt(chunk, int64(off))
		if err == nil && n != len(chunk) {
			err = fmt.Errorf("wrote %d of %d bytes without an error", n, len(chunk))
		}
		if err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("WriteAt(%d bytes at %d): %w", len(chunk), off, err))
			mu.Unlock()
			return false
		}
		return true
	}
	var wg sync.WaitGroup
	for range writeWorkers {
		wg.Go(func() {
			for {
				p := int(next.Add(1)) - 1
				if p >= pairs || !write(2*p+1) || !write(2*p) {
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// readFile reads the file at l, which must hold size bytes, with concurrent ReadAt calls.
func readFile(t *testing.T, b storage.Backend, l storage.Location, size int64) []byte {
	t.Helper()
	h, err := b.OpenRead(t.Context(), l)
	if err != nil {
		t.Fatalf("OpenRead(%s): %v", l, err)
	}
	defer func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close(%s) after reading: %v", l, err)
		}
	}()
	buf := make([]byte, size)
	chunks := (size + chunkSize - 1) / chunkSize
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range writeWorkers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= chunks {
					return
				}
				off := i * chunkSize
				p := buf[off:min(off+chunkSize, size)]
				n, err := h.ReadAt(p, off)
				if n == len(p) && err == io.EOF {
					err = nil
				}
				if err != nil || n != len(p) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("ReadAt(%d bytes at %d) = %d, %v", len(p), off, n, err))
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("read %s: %v", l, err)
	}
	if n, err := h.ReadAt(make([]byte, 10), size); n != 0 || err != io.EOF {
		t.Errorf("ReadAt(10 bytes at the end, %d) of %s = %d, %v; want 0, io.EOF", size, l, n, err)
	}
	return buf
}

func mkdir(t *testing.T, b storage.Backend, l storage.Location) {
	t.Helper()
	if err := b.Mkdir(t.Context(), l); err != nil {
		t.Fatalf("Mkdir(%s): %v", l, err)
	}
}

// wantKind checks that err is a *storage.Error of kind want whose Path is one of paths.
func wantKind(t *testing.T, what string, err error, want storage.Kind, paths ...storage.Location) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want kind %q", what, want)
		return
	}
	se, ok := errors.AsType[*storage.Error](err)
	if !ok {
		t.Errorf("%s: %T %v, want a *storage.Error of kind %q", what, err, err, want)
		return
	}
	if se.Kind != want {
		t.Errorf("%s: kind %q, want %q (%v)", what, se.Kind, want, err)
	}
	if len(paths) > 0 && !slices.ContainsFunc(paths, func(l storage.Location) bool { return l.String() == se.Path }) {
		t.Errorf("%s: error path %q, want one of %v (%v)", what, se.Path, paths, err)
	}
}

func closeLister(t *testing.T, l storage.Lister) {
	t.Helper()
	if c, ok := l.(io.Closer); ok {
		if err := c.Close(); err != nil {
			t.Errorf("closing the lister: %v", err)
		}
	}
}

// listAll pages through l as pkg/sftp does, with a buffer of bufSize entries.
func listAll(t *testing.T, l storage.Lister, bufSize int) []fs.FileInfo {
	t.Helper()
	var all []fs.FileInfo
	buf := make([]fs.FileInfo, bufSize)
	for pages := 0; ; pages++ {
		if pages > 1_000_000 {
			t.Fatalf("ListAt never returned io.EOF (%d entries so far)", len(all))
		}
		n, err := l.ListAt(buf, int64(len(all)))
		if n < 0 || n > len(buf) {
			t.Fatalf("ListAt(%d entries, %d) returned n = %d", len(buf), len(all), n)
		}
		all = append(all, buf[:n]...)
		if err == io.EOF {
			return all
		}
		if err != nil {
			t.Fatalf("ListAt(%d entries, %d): %v", len(buf), len(all)-n, err)
		}
		if n == 0 {
			t.Fatalf("ListAt(%d entries, %d) returned no entries and no io.EOF", len(buf), len(all))
		}
	}
}
