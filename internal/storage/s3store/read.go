package s3store

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/transferd/transferd/internal/storage"
)

// readWindow is how far a read handle remembers behind its stream and skips ahead in it before
// it opens a new ranged GET. pkg/sftp's 8 workers take the mutex in roughly, not exactly, the
// order of their offsets; a window of 1 MiB absorbs that with room to spare.
const readWindow = 1 << 20

// OpenRead opens the object at loc for reading. The handle outlives ctx (whose values it keeps);
// Close ends it. A directory is refused with KindIsDir.
func (s *Store) OpenRead(ctx context.Context, loc storage.Location) (storage.ReadHandle, error) {
	const op = "open"
	if err := check(op, loc); err != nil {
		return nil, err
	}
	if loc.Key == "" {
		return nil, s.missingOrDir(ctx, op, loc)
	}
	obj, err := s.head(ctx, op, loc)
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, s.missingOrDir(ctx, op, loc)
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &reader{s: s, loc: loc, size: obj.size, etag: obj.etag, ctx: hctx, cancel: cancel}, nil
}

// reader reads an object through one streaming GET (bytes=off-) that it keeps while reads are
// sequential. It remembers the last readWindow bytes in a ring, so reads that arrive slightly out
// of order are served from the ring or by reading ahead; a real seek opens a new GET. Every GET
// asks for the ETag seen at open, so a file replaced mid-read fails rather than mixing versions.
type reader struct {
	s      *Store
	loc    storage.Location
	size   int64
	etag   string
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	body   io.ReadCloser // nil before the first read, after a failure and once closed
	pos    int64         // offset of the next byte from body
	ring   []byte        // bytes [lo, pos) at index offset % len(ring)
	lo     int64
	closed bool
}

// ReadAt reads as io.ReaderAt does, with io.EOF passed through unclassified.
func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, storage.Errorf("read", r.loc, storage.KindInvalid, "negative offset", nil)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, storage.Errorf("read", r.loc, storage.KindInvalid, "file already closed", nil)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := p[:min(int64(len(p)), r.size-off)]
	n := r.fromRing(want, off)
	for n < len(want) {
		o := off + int64(n)
		if r.body == nil || o < r.lo || o > r.pos+readWindow {
			if err := r.open(o); err != nil {
				return n, err
			}
		}
		if err := r.skipTo(o); err != nil {
			return n, err
		}
		m, err := r.read(want[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// fromRing copies what the ring holds of [off, off+len(p)) into p.
func (r *reader) fromRing(p []byte, off int64) int {
	if r.ring == nil || off < r.lo || off >= r.pos {
		return 0
	}
	n := 0
	for n < len(p) && off+int64(n) < r.pos {
		o := off + int64(n)
		i := int(o % int64(len(r.ring)))
		n += copy(p[n:n+int(min(int64(len(p)-n), r.pos-o))], r.ring[i:])
	}
	return n
}

// skipTo reads ahead to offset o, which is within readWindow of the stream, into the ring.
func (r *reader) skipTo(o int64) error {
	var buf [32 << 10]byte
	for r.pos < o {
		if _, err := r.read(buf[:min(int64(len(buf)), o-r.pos)]); err != nil {
			return err
		}
	}
	return nil
}

// read fills p from the stream and remembers it in the ring. A stream that breaks is reopened
// once where it broke.
func (r *reader) read(p []byte) (int, error) {
	n, err := io.ReadFull(r.body, p)
	if err != nil && n < len(p) {
		r.remember(p[:n])
		r.closeBody()
		if err := r.open(r.pos); err != nil {
			return n, err
		}
		m, err := io.ReadFull(r.body, p[n:])
		r.remember(p[n : n+m])
		if err != nil {
			r.closeBody()
			return n + m, r.s.fail("read", r.loc, fmt.Errorf("read object body at offset %d: %w", r.pos, err))
		}
		return n + m, nil
	}
	r.remember(p)
	return n, nil
}

// remember appends p, just read from the stream, to the ring.
func (r *reader) remember(p []byte) {
	if r.ring == nil {
		r.ring = make([]byte, min(readWindow, r.size))
	}
	for len(p) > 0 {
		i := int(r.pos % int64(len(r.ring)))
		m := copy(r.ring[i:], p)
		p = p[m:]
		r.pos += int64(m)
	}
	r.lo = max(r.lo, r.pos-int64(len(r.ring)))
}

// open starts a new GET from offset o to the end of the object.
func (r *reader) open(o int64) error {
	r.closeBody()
	in := &s3.GetObjectInput{
		Bucket: &r.loc.Bucket,
		Key:    &r.loc.Key,
		Range:  aws.String(fmt.Sprintf("bytes=%d-", o)),
	}
	if r.etag != "" {
		in.IfMatch = &r.etag
	}
	out, err := r.s.client.GetObject(r.ctx, in)
	if err != nil {
		if hasCode(err, "PreconditionFailed") || hasStatus(err, http.StatusPreconditionFailed) {
			return storage.Errorf("read", r.loc, storage.KindInternal, "the file was replaced while it was being read", err)
		}
		return r.s.fail("read", r.loc, err)
	}
	r.body, r.pos, r.lo = out.Body, o, o
	return nil
}

func (r *reader) closeBody() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
}

// Close ends the stream. It never fails: nothing was written.
func (r *reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.cancel()
		r.closeBody()
		r.ring = nil
	}
	return nil
}
