package s3store

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/transferd/transferd/internal/storage"
)

// The messages clients see when S3 cannot do what they ask.
const (
	msgRandomAccess = "random-access writes are not supported on S3 (Transfer Family refuses them too)"
	msgAppend       = "appending to files is not supported on S3 (Transfer Family refuses it too)"
	msgReadWrite    = "reading and writing an existing file through one handle is not supported on S3"
	msgReadBack     = "reading back data already uploaded to S3 is not supported"
	msgTooLarge     = "file too large for S3 (5 TiB at most)"
	msgResume       = "resuming an upload is not supported on S3: an object cannot be added to (Transfer Family refuses it too); upload the whole file again"
)

// initialBuffer is the first allocation of a write handle's buffer.
const initialBuffer = 256 << 10

// abortTimeout bounds the AbortMultipartUpload sent after the handle's context ended.
const abortTimeout = time.Minute

// OpenWrite opens the object at loc for a streaming upload that replaces it when Close succeeds.
// The handle outlives ctx (whose values it keeps): Close or Abort ends it.
//
// Refused: Append, and Read without Truncate on an existing object (KindNotSupported, S3 cannot
// change an object in place); Exclusive on an existing object (KindExist); a missing object
// without Create (KindNotExist); a directory (KindIsDir). With Read the handle is a
// storage.ReadWriteHandle that reads back only what it has not uploaded yet.
func (s *Store) OpenWrite(ctx context.Context, loc storage.Location, flags storage.OpenFlags) (storage.WriteHandle, error) {
	return s.openWrite(ctx, loc, flags, false)
}

// openWrite is OpenWrite; with stored, the handle's SetAttrs keeps times and modes in the
// object's metadata (StoredAttrs).
func (s *Store) openWrite(ctx context.Context, loc storage.Location, flags storage.OpenFlags, stored bool) (storage.WriteHandle, error) {
	const op = "open"
	if err := check(op, loc); err != nil {
		return nil, err
	}
	if flags.Owner != nil {
		return nil, storage.Errorf(op, loc, storage.KindNotSupported, "S3 objects have no POSIX owner", nil)
	}
	if loc.Key == "" {
		if dir, err := s.isDir(ctx, op, loc); err != nil {
			return nil, err
		} else if dir {
			return nil, storage.Errorf(op, loc, storage.KindIsDir, "", nil)
		}
		return nil, storage.Errorf(op, loc, storage.KindNotExist, "", nil)
	}
	if flags.Append {
		return nil, storage.Errorf(op, loc, storage.KindNotSupported, msgAppend, nil)
	}
	obj, err := s.head(ctx, op, loc)
	if err != nil {
		return nil, err
	}
	switch {
	case obj == nil:
		if err := s.missingOrDir(ctx, op, loc); storage.KindOf(err) != storage.KindNotExist || !flags.Create {
			return nil, err
		}
	case flags.Exclusive:
		return nil, storage.Errorf(op, loc, storage.KindExist, "", nil)
	case flags.Read && !flags.Truncate:
		return nil, storage.Errorf(op, loc, storage.KindNotSupported, msgReadWrite, nil)
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &writer{
		s:         s,
		loc:       loc,
		exclusive: flags.Exclusive,
		ctx:       hctx,
		cancel:    cancel,
		partCtx:   pctx,
		partStop:  pcancel,
		window:    s.opts.MaxBufferPerHandle,
		sem:       make(chan struct{}, uploadsInFlight),
		mtime:     time.Now(),
		stored:    stored,
	}
	if obj != nil && !flags.Truncate {
		w.resumeAt = obj.size
	}
	if flags.Read {
		return &readWriter{w}, nil
	}
	return w, nil
}

// writer streams an upload. WriteAt never waits for an earlier offset: a write at the contiguous
// end extends it, a write ahead of it waits in the reorder buffer (bounded by window) until the
// gap fills, and a write behind what was uploaded or beyond the window is refused. Contiguous
// bytes are cut into parts and uploaded in the background, at most uploadsInFlight at a time;
// WriteAt waits only for a free upload slot. The first failure sticks: Close then aborts the
// upload and reports it.
type writer struct {
	s         *Store
	loc       storage.Location
	exclusive bool
	ctx       context.Context // for every request but part uploads; Abort cancels it
	cancel    context.CancelFunc
	// partCtx is for part uploads. Abort lets those in flight finish (for up to partsWait)
	// before it aborts the multipart upload: a part the server is still storing when the abort
	// arrives can outlive it (S3's documentation says to abort again; versitygw shows it).
	partCtx  context.Context
	partStop context.CancelFunc
	window   int64

	mu       sync.Mutex
	done     bool
	failed   error
	flushed  int64         // bytes handed to part uploads
	cur      []byte        // contiguous bytes from flushed on
	pending  chunkHeap     // writes beyond flushed+len(cur), by offset
	buffered int64         // bytes in pending
	end      int64         // end of the furthest write
	uploadID string        // "" until the first part is cut
	tracked  trackedUpload // the upload, as the registry knows it
	nextPart int32
	mtime    time.Time // of the last write, or the open
	// resumeAt is the size of the object an open without truncation found: a first write
	// there is a client resuming an upload, which S3 cannot do.
	resumeAt int64
	// stored says SetAttrs keeps times and modes (StoredAttrs); meta is what it was given,
	// metaSent how many SetAttrs CreateMultipartUpload had seen, attrs the last ones (for Stat).
	stored   bool
	meta     map[string]string
	metaSets int
	metaSent int
	attrs    storage.Attrs
	minSize  int64 // a size SetAttrs gave: Close fills up to it with zeros

	sem chan struct{} // a slot per upload in flight
	wg  sync.WaitGroup

	resMu  sync.Mutex
	parts  []types.CompletedPart
	upErr  error
	upFrom int32 // the part that failed
}

var _ storage.StatHandle = (*writer)(nil)

// Stat describes the upload so far: S3 has no object until Close.
func (w *writer) Stat() (fs.FileInfo, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fi := &fileInfo{name: path.Base(w.loc.Key), size: max(w.end, w.minSize), mtime: w.mtime}
	if w.attrs.Mtime != nil {
		fi.mtime = *w.attrs.Mtime
	}
	if w.attrs.Mode != nil {
		fi.perm, fi.hasPerm = w.attrs.Mode.Perm(), true
	}
	return fi, nil
}

// chunk is a write waiting for the gap before it to fill.
type chunk struct {
	off  int64
	data []byte
}

type chunkHeap []chunk

func (h chunkHeap) Len() int           { return len(h) }
func (h chunkHeap) Less(i, j int) bool { return h[i].off < h[j].off }
func (h chunkHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *chunkHeap) Push(x any)        { *h = append(*h, x.(chunk)) }
func (h *chunkHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// partSize is the size of part n (from 1): the first part size, doubled every
// partsPerDoubleSize parts, at most S3's largest part.
func (s *Store) partSize(n int32) int64 {
	shift := (n - 1) / s.partsPerDoubleSize
	if shift >= 30 {
		return maxPartSize
	}
	return min(s.opts.PartSize<<shift, maxPartSize)
}

// WriteAt copies p (the caller reuses it) into the upload at off.
func (w *writer) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.done:
		return 0, storage.Errorf("write", w.loc, storage.KindInvalid, "file already closed", nil)
	case w.failed != nil:
		return 0, w.failed
	case off < 0:
		return 0, storage.Errorf("write", w.loc, storage.KindInvalid, "negative offset", nil)
	case len(p) == 0:
		return 0, nil
	}
	if err := w.uploadErr(); err != nil {
		w.failed = err
		return 0, err
	}
	frontier := w.flushed + int64(len(w.cur))
	end := off + int64(len(p))
	switch {
	case w.resumeAt > 0 && off == w.resumeAt && w.end == 0:
		w.failed = storage.Errorf("write", w.loc, storage.KindNotSupported, msgResume, nil)
		return 0, w.failed
	case end > maxObject:
		w.failed = storage.Errorf("write", w.loc, storage.KindInvalid, msgTooLarge, nil)
		return 0, w.failed
	case off < w.flushed, end > frontier+w.window, off > frontier && w.buffered+int64(len(p)) > w.window:
		w.failed = storage.Errorf("write", w.loc, storage.KindNotSupported, msgRandomAccess,
			fmt.Errorf("write of %d bytes at offset %d: bytes up to %d are contiguous, %d were uploaded, %d wait in a window of %d",
				len(p), off, frontier, w.flushed, w.buffered, w.window))
		return 0, w.failed
	}
	w.end = max(w.end, end)
	w.mtime = time.Now()
	if off > frontier {
		heap.Push(&w.pending, chunk{off, w.s.chunkBuf(p)})
		w.buffered += int64(len(p))
		return len(p), nil
	}
	w.extend(p, off)
	w.drain()
	if err := w.cutParts(); err != nil {
		w.failed = err
		return 0, err
	}
	return len(p), nil
}

// extend writes p at off, which is at most the contiguous end: bytes before it overwrite what
// is there, the rest is appended.
func (w *writer) extend(p []byte, off int64) {
	if i := off - w.flushed; i < int64(len(w.cur)) {
		n := copy(w.cur[i:], p)
		p = p[n:]
	}
	if len(p) == 0 {
		return
	}
	if w.cur == nil {
		// Small files stay small; append grows the buffer towards a part.
		w.cur = make([]byte, 0, max(len(p), initialBuffer))
	}
	w.cur = append(w.cur, p...)
}

// drain moves the writes that now touch the contiguous end into it.
func (w *writer) drain() {
	for len(w.pending) > 0 && w.pending[0].off <= w.flushed+int64(len(w.cur)) {
		c := heap.Pop(&w.pending).(chunk)
		w.buffered -= int64(len(c.data))
		w.extend(c.data, c.off)
		w.s.recycleChunkBuf(c.data)
	}
}

// cutParts uploads full parts from the contiguous bytes, keeping at least one byte more than a
// part before cutting, so that a file of exactly one part is one PutObject.
func (w *writer) cutParts() error {
	for {
		size := w.s.partSize(w.nextPart + 1)
		if int64(len(w.cur)) <= size {
			return nil
		}
		buf := w.cur
		rest := buf[size:]
		w.cur = w.s.partBuf(int(max(w.s.partSize(w.nextPart+2), int64(len(rest))) + 1<<20))[:len(rest)]
		copy(w.cur, rest)
		if err := w.upload(buf[:size], buf); err != nil {
			return err
		}
	}
}

// upload starts uploading part as the next part, creating the multipart upload first if needed.
// It waits for a free slot. buf, the buffer part was cut from, is recycled once the part is sent.
func (w *writer) upload(part, buf []byte) error {
	if w.uploadID == "" {
		w.tracked = w.s.trackUpload(w.ctx, w.loc)
		out, err := w.s.client.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{
			Bucket: &w.loc.Bucket, Key: &w.loc.Key, ChecksumAlgorithm: w.s.checksum, Metadata: w.meta,
		})
		w.metaSent = w.metaSets
		if err != nil {
			w.tracked.ended(w.ctx)
			return w.s.fail("write", w.loc, err)
		}
		w.uploadID = aws.ToString(out.UploadId)
		w.tracked.started(w.ctx, w.uploadID)
	}
	if w.nextPart >= maxParts {
		return storage.Errorf("write", w.loc, storage.KindInvalid, msgTooLarge, nil)
	}
	select {
	case w.sem <- struct{}{}:
	case <-w.ctx.Done():
		return w.s.fail("write", w.loc, w.ctx.Err())
	}
	w.nextPart++
	n := w.nextPart
	w.flushed += int64(len(part))
	w.wg.Go(func() {
		defer func() { <-w.sem }()
		out, err := w.s.client.UploadPart(w.partCtx, &s3.UploadPartInput{
			Bucket:            &w.loc.Bucket,
			Key:               &w.loc.Key,
			UploadId:          &w.uploadID,
			PartNumber:        aws.Int32(n),
			Body:              bytes.NewReader(part),
			ContentLength:     aws.Int64(int64(len(part))),
			ChecksumAlgorithm: w.s.checksum,
		})
		if err == nil {
			// Only after success: net/http may still read the body of a failed request.
			w.s.recyclePartBuf(buf)
		}
		w.resMu.Lock()
		defer w.resMu.Unlock()
		if err != nil {
			if w.upErr == nil {
				w.upErr, w.upFrom = err, n
			}
			return
		}
		w.parts = append(w.parts, types.CompletedPart{
			PartNumber:        aws.Int32(n),
			ETag:              out.ETag,
			ChecksumCRC32:     out.ChecksumCRC32,
			ChecksumCRC32C:    out.ChecksumCRC32C,
			ChecksumCRC64NVME: out.ChecksumCRC64NVME,
			ChecksumSHA1:      out.ChecksumSHA1,
			ChecksumSHA256:    out.ChecksumSHA256,
		})
	})
	return nil
}

// uploadErr returns the first failed part upload, classified.
func (w *writer) uploadErr() error {
	w.resMu.Lock()
	defer w.resMu.Unlock()
	if w.upErr == nil {
		return nil
	}
	return w.s.fail("write", w.loc, fmt.Errorf("upload part %d: %w", w.upFrom, w.upErr))
}

// Close uploads what is left and completes the upload: one PutObject for a file that fits in a
// part, else the last part and CompleteMultipartUpload. The object appears only if Close returns
// nil; on any failure (including an earlier refused write, or a gap no write filled) the upload
// is aborted and the failure returned.
func (w *writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return storage.Errorf("close", w.loc, storage.KindInvalid, "file already closed", nil)
	}
	w.done = true
	defer w.cancel()
	defer w.partStop()
	err := w.failed
	if err == nil && len(w.pending) > 0 {
		err = storage.Errorf("close", w.loc, storage.KindNotSupported, msgRandomAccess,
			fmt.Errorf("bytes from %d on were never written, %d bytes after them were", w.flushed+int64(len(w.cur)), w.buffered))
	}
	if err == nil && w.minSize > w.end {
		err = w.fillTo(w.minSize)
	}
	if err == nil {
		err = w.commit()
	}
	w.cur, w.pending = nil, nil
	if err != nil {
		if aerr := w.abortUpload(); aerr != nil {
			err = fmt.Errorf("%w (and %w)", err, aerr)
		}
		return err
	}
	return nil
}

// commit makes the object.
func (w *writer) commit() error {
	var ifNoneMatch *string
	if w.exclusive {
		ifNoneMatch = aws.String("*")
	}
	if w.uploadID == "" {
		_, err := w.s.client.PutObject(w.ctx, &s3.PutObjectInput{
			Bucket:            &w.loc.Bucket,
			Key:               &w.loc.Key,
			Body:              bytes.NewReader(w.cur),
			ContentLength:     aws.Int64(int64(len(w.cur))),
			ChecksumAlgorithm: w.s.checksum,
			IfNoneMatch:       ifNoneMatch,
			Metadata:          w.meta,
		})
		return w.commitErr(err)
	}
	if len(w.cur) > 0 {
		if err := w.upload(w.cur, w.cur); err != nil {
			return err
		}
		w.cur = nil
	}
	w.wg.Wait()
	if err := w.uploadErr(); err != nil {
		return err
	}
	slices.SortFunc(w.parts, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	out, err := w.s.client.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &w.loc.Bucket,
		Key:             &w.loc.Key,
		UploadId:        &w.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts},
		IfNoneMatch:     ifNoneMatch,
	})
	if err != nil {
		return w.commitErr(err)
	}
	w.tracked.ended(w.ctx)
	w.uploadID = "" // nothing left to abort
	if w.metaSets == w.metaSent {
		return nil
	}
	// Attributes set after the multipart upload began: S3 takes metadata only when an upload
	// is created, so the object is copied onto itself with them, once.
	obj := &object{size: w.end, etag: aws.ToString(out.ETag)}
	if err := w.s.copyObject(w.ctx, "close", w.loc, w.loc, obj, w.meta); err != nil {
		return fmt.Errorf("the file was stored, but its time and mode were not: %w", err)
	}
	return nil
}

// fillTo appends zeros up to size, as the end of a file extended by SETSTAT reads.
func (w *writer) fillTo(size int64) error {
	zeros := make([]byte, min(size-w.end, 1<<20))
	for w.end < size {
		p := zeros[:min(int64(len(zeros)), size-w.end)]
		w.extend(p, w.end)
		w.end += int64(len(p))
		if err := w.cutParts(); err != nil {
			return err
		}
	}
	return nil
}

var _ storage.AttrHandle = (*writer)(nil)

// SetAttrs keeps attrs' time and mode for the object this upload makes (StoredAttrs); without
// StoredAttrs it refuses, as Store.SetAttrs does.
func (w *writer) SetAttrs(attrs storage.Attrs) error {
	const op = "setstat"
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !w.stored:
		return storage.Errorf(op, w.loc, storage.KindNotSupported, msgNoAttrs, nil)
	case w.done:
		return storage.Errorf(op, w.loc, storage.KindInvalid, "file already closed", nil)
	case attrs.UID != nil || attrs.GID != nil:
		return storage.Errorf(op, w.loc, storage.KindNotSupported, "S3 objects have no POSIX owner", nil)
	}
	if attrs.Size != nil {
		// Clients set the final size before they write (lftp does): like ftruncate on the
		// file being written, a size beyond what was written is filled with zeros at CLOSE
		// unless writes reach it. Less than was written would need a truncation S3 has not.
		if *attrs.Size < w.end {
			return storage.Errorf(op, w.loc, storage.KindNotSupported,
				fmt.Sprintf("S3 uploads cannot be truncated below what was written (size %d asked, %d bytes written)", *attrs.Size, w.end), nil)
		}
		if *attrs.Size > maxObject {
			return storage.Errorf(op, w.loc, storage.KindInvalid, msgTooLarge, nil)
		}
		w.minSize = *attrs.Size
	}
	if attrs.Mtime == nil && attrs.Mode == nil {
		return nil
	}
	w.meta = withAttrs(w.meta, attrs, false)
	w.metaSets++
	if attrs.Mtime != nil {
		w.attrs.Mtime = attrs.Mtime
	}
	if attrs.Mode != nil {
		w.attrs.Mode = attrs.Mode
	}
	return nil
}

func (w *writer) commitErr(err error) error {
	switch {
	case err == nil:
		return nil
	case w.exclusive && (hasCode(err, "PreconditionFailed") || hasStatus(err, http.StatusPreconditionFailed)):
		return storage.Errorf("close", w.loc, storage.KindExist, "the file was created by someone else meanwhile", err)
	}
	return w.s.fail("close", w.loc, err)
}

// Abort gives up the upload: parts in flight are cancelled and the multipart upload is aborted,
// so no object and no parts are left. It reports only a failure to abort (parts may then be left
// for the bucket's lifecycle rules to clean up).
func (w *writer) Abort(cause error) error {
	w.cancel() // before taking the lock: a WriteAt may hold it waiting for an upload slot
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	w.done = true
	w.cur, w.pending = nil, nil
	return w.abortUpload()
}

// abortUpload waits for the part uploads and aborts the multipart upload, if there is one.
func (w *writer) abortUpload() error {
	w.cancel()
	w.waitParts()
	if w.uploadID == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), abortTimeout)
	defer cancel()
	_, err := w.s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: &w.loc.Bucket, Key: &w.loc.Key, UploadId: &w.uploadID,
	})
	if err != nil && !hasCode(err, "NoSuchUpload") {
		return w.s.fail("abort", w.loc, fmt.Errorf("abort multipart upload %s: %w", w.uploadID, err))
	}
	w.tracked.ended(ctx)
	w.uploadID = ""
	return nil
}

// partsWait is how long Abort lets part uploads in flight finish before it cancels them.
const partsWait = 30 * time.Second

// waitParts waits for the part uploads in flight, cancelling them after partsWait.
func (w *writer) waitParts() {
	defer w.partStop()
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(partsWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		w.partStop()
		<-done
	}
}

// readWriter is a write handle opened with Read.
type readWriter struct{ *writer }

// ReadAt reads back bytes not uploaded yet: the contiguous ones. Bytes already sent to S3 cannot
// be read back until Close (KindNotSupported).
func (rw *readWriter) ReadAt(p []byte, off int64) (int, error) {
	w := rw.writer
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.done:
		return 0, storage.Errorf("read", w.loc, storage.KindInvalid, "file already closed", nil)
	case off < 0:
		return 0, storage.Errorf("read", w.loc, storage.KindInvalid, "negative offset", nil)
	case off >= w.end:
		return 0, io.EOF
	case off < w.flushed:
		return 0, storage.Errorf("read", w.loc, storage.KindNotSupported, msgReadBack, nil)
	}
	n := 0
	if i := off - w.flushed; i < int64(len(w.cur)) {
		n = copy(p, w.cur[i:])
	}
	switch {
	case n == len(p):
		return n, nil
	case off+int64(n) >= w.end:
		return n, io.EOF
	}
	return n, storage.Errorf("read", w.loc, storage.KindNotSupported, "reading a part of the file not written yet is not supported on S3", nil)
}
