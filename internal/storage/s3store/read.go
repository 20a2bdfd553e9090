package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/transferd/transferd/internal/storage"
)

// A read handle fetches up to readAhead bytes beyond the furthest byte it was asked for while the
// client is busy with what it has, and keeps up to readBehind bytes behind it for reads that arrive
// late: pkg/sftp's 8 workers ask in roughly, not exactly, the order of their offsets, and on a busy
// machine one of them may lag a few MiB behind (measured with the OpenSSH client's 64 requests of
// 255 KiB in flight; 1 MiB behind made 1 read in 10 late). A read further ahead is a seek forward
// and moves the stream there.
const (
	readBehind = 4 << 20
	readAhead  = 2 << 20
	// defaultStraggle is how far behind the furthest byte asked for a read that the ring no longer
	// holds may start and still be a late one, read with a GET of its own so that the stream goes
	// on; further back it is a seek back, which moves the stream. The OpenSSH client keeps 16 MiB
	// of requests in flight.
	defaultStraggle = 32 << 20
)

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
	r := &reader{s: s, loc: loc, size: obj.size, etag: obj.etag, ctx: hctx, cancel: cancel}
	r.cond.L = &r.mu
	return r, nil
}

// reader reads an object through one streaming GET (bytes=off-) at a time, which a goroutine (the
// filler) reads into a ring ahead of the reads: ReadAt copies from the ring and waits only for
// bytes not there yet. A seek opens a new GET; a late read has a GET of its own. Every GET asks
// for the ETag seen at open, so a file replaced mid-read fails rather than mixing versions.
type reader struct {
	s      *Store
	loc    storage.Location
	size   int64
	etag   string
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	cond    sync.Cond // on mu: broadcast whenever pos, want, err, fill or opening change
	ring    []byte    // bytes [lo, pos) of the object at index offset % len(ring)
	lo, pos int64
	want    int64   // the furthest byte asked for: the filler stays within readAhead of it
	fill    *filler // the GET being read; nil before the first read, after a failure and once closed
	err     error   // why the last filler stopped early, for the reads that waited on it
	opening bool    // a ReadAt is replacing the filler
	closed  bool
}

// filler is the goroutine that reads one GET into the ring.
type filler struct {
	stop context.CancelFunc
	done chan struct{}
}

// ReadAt reads as io.ReaderAt does, with io.EOF passed through unclassified.
func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, storage.Errorf("read", r.loc, storage.KindInvalid, "negative offset", nil)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return 0, storage.Errorf("read", r.loc, storage.KindInvalid, "file already closed", nil)
	case off >= r.size:
		return 0, io.EOF
	}
	want := p[:min(int64(len(p)), max(0, r.size-off))]
	n := 0
	for n < len(want) {
		// At most readBehind at a time, so that the filler never overwrites bytes not copied yet.
		m, err := r.readChunk(want[n:n+min(len(want)-n, readBehind)], off+int64(n))
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

// readChunk fills p from offset off, opening a GET when the ring cannot serve it. It holds mu.
func (r *reader) readChunk(p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	for {
		switch {
		case r.closed:
			return 0, storage.Errorf("read", r.loc, storage.KindInvalid, "file already closed", nil)
		case r.opening:
			r.cond.Wait()
			continue
		case r.err != nil && r.pos < end:
			err := r.err
			r.err = nil // the next read tries a new GET
			return 0, err
		case off < r.lo && off >= r.want-r.s.straggle:
			return r.readOnce(p, off)
		case r.fill == nil && r.pos < end, off < r.lo, off > r.pos+readAhead:
			if err := r.open(off); err != nil {
				return 0, err
			}
			continue
		}
		if end > r.want {
			r.want = end
			r.cond.Broadcast()
		}
		if r.pos >= end {
			break
		}
		r.cond.Wait()
	}
	n := 0
	for n < len(p) {
		o := off + int64(n)
		i := int(o % int64(len(r.ring)))
		n += copy(p[n:], r.ring[i:])
	}
	return n, nil
}

// readOnce reads p at off with a GET of its own, leaving the stream as it is: for a read that
// arrives after the stream dropped its bytes. It holds mu, and releases it during the GET.
func (r *reader) readOnce(p []byte, off int64) (int, error) {
	r.mu.Unlock()
	defer r.mu.Lock()
	body, err := r.get(r.ctx, off, off+int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer body.Close()
	n, err := io.ReadFull(body, p)
	if err != nil {
		return n, r.s.fail("read", r.loc, fmt.Errorf("read object body at offset %d: %w", off+int64(n), err))
	}
	return n, nil
}

// open replaces the filler by one reading a GET from offset o. It holds mu, and releases it
// while it waits for the old filler to stop and for S3 to answer.
func (r *reader) open(o int64) error {
	old := r.fill
	r.fill, r.opening, r.err = nil, true, nil
	r.cond.Broadcast() // the old filler may be waiting for room
	r.mu.Unlock()
	if old != nil {
		old.stop()
		<-old.done
	}
	ctx, stop := context.WithCancel(r.ctx)
	body, err := r.get(ctx, o, 0)
	r.mu.Lock()
	r.opening = false
	r.cond.Broadcast()
	if err == nil && r.closed {
		body.Close()
		err = storage.Errorf("read", r.loc, storage.KindInvalid, "file already closed", nil)
	}
	if err != nil {
		stop()
		return err
	}
	if r.ring == nil {
		r.ring = make([]byte, min(readBehind+readAhead, r.size))
	}
	r.lo, r.pos, r.want = o, o, o
	f := &filler{stop: stop, done: make(chan struct{})}
	r.fill = f
	go r.run(ctx, f, body)
	return nil
}

// get starts a GET of the bytes from offset o to end, or to the end of the object when end is 0;
// ctx ends the request and its body.
func (r *reader) get(ctx context.Context, o, end int64) (io.ReadCloser, error) {
	r.s.gets.Add(1)
	rng := fmt.Sprintf("bytes=%d-", o)
	if end > 0 {
		rng += strconv.FormatInt(end-1, 10)
	}
	in := &s3.GetObjectInput{Bucket: &r.loc.Bucket, Key: &r.loc.Key, Range: &rng}
	if r.etag != "" {
		in.IfMatch = &r.etag
	}
	out, err := r.s.client.GetObject(ctx, in)
	if err != nil {
		if hasCode(err, "PreconditionFailed") || hasStatus(err, http.StatusPreconditionFailed) {
			return nil, storage.Errorf("read", r.loc, storage.KindInternal, "the file was replaced while it was being read", err)
		}
		return nil, r.s.fail("read", r.loc, err)
	}
	return out.Body, nil
}

// run is the filler: it reads body into the ring, up to readAhead bytes beyond the furthest byte
// asked for, overwriting the oldest bytes. A stream that breaks is reopened once where it broke.
func (r *reader) run(ctx context.Context, f *filler, body io.ReadCloser) {
	defer close(f.done)
	defer func() { body.Close() }()
	retried := false
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.fill == f && r.pos < r.size {
		limit := min(r.size, r.want+readAhead)
		if r.pos >= limit {
			r.cond.Wait()
			continue
		}
		i := int(r.pos % int64(len(r.ring)))
		buf := r.ring[i:min(len(r.ring), i+int(limit-r.pos))]
		// Readers copy only [lo, pos) under mu: give up the bytes about to be overwritten first.
		r.lo = max(r.lo, r.pos+int64(len(buf))-int64(len(r.ring)))
		r.mu.Unlock()
		n, err := body.Read(buf)
		r.mu.Lock()
		if r.fill != f {
			return
		}
		if n > 0 {
			r.pos += int64(n)
			retried = false
			r.cond.Broadcast()
		}
		if err == nil || r.pos == r.size {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if !retried {
			retried = true
			body.Close()
			o := r.pos
			r.mu.Unlock()
			nb, gerr := r.get(ctx, o, 0)
			r.mu.Lock()
			if gerr == nil {
				body = nb
				if r.fill != f {
					return
				}
				continue
			}
			var serr *storage.Error
			if errors.As(gerr, &serr) && serr.Kind == storage.KindInternal {
				err = gerr // the file was replaced: say so
			}
		}
		if r.fill == f {
			r.fail(fmt.Errorf("read object body at offset %d: %w", r.pos, err))
		}
		return
	}
}

// fail stops the filler with err, which reads waiting for bytes it did not fetch return. It holds mu.
func (r *reader) fail(err error) {
	var serr *storage.Error
	if !errors.As(err, &serr) {
		err = r.s.fail("read", r.loc, err)
	}
	r.fill, r.err = nil, err
	r.cond.Broadcast()
}

// Close ends the stream and waits for the filler to stop. It never fails: nothing was written.
func (r *reader) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	f := r.fill
	r.fill = nil
	r.cond.Broadcast()
	r.mu.Unlock()
	r.cancel()
	if f != nil {
		<-f.done
	}
	r.mu.Lock()
	r.ring = nil
	r.mu.Unlock()
	return nil
}
