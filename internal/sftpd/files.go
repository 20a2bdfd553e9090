package sftpd

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/homedir"
	"github.com/transferd/transferd/internal/storage"
)

// resolveFile resolves a path that names a file to read or write.
func (h *handlers) resolveFile(p string) (homedir.Resolved, error) {
	res, err := h.res.Resolve(p)
	if err != nil {
		return res, err
	}
	if res.Virtual || (!res.File && res.EntryPoint) {
		return res, storage.Errorf("open", res.Location, storage.KindIsDir, "", nil)
	}
	if res.Location.Key == "" {
		return res, &status{code: sftp.ErrSSHFxPermissionDenied, msg: "files must be inside a bucket"}
	}
	return res, nil
}

// Fileread opens a file for reading.
func (h *handlers) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	res, err := h.resolveFile(r.Filepath)
	if err != nil {
		return nil, h.fail(activity.Open, r.Filepath, err)
	}
	if err := h.allow(r.Context(), activity.Open, access{kind: accessOpen, loc: res.Location, read: true}); err != nil {
		return nil, err
	}
	rd, err := h.cfg.Backend.OpenRead(r.Context(), res.Location)
	if err != nil {
		return nil, h.fail(activity.Open, res.Location.String(), err)
	}
	f := h.opened(res.Location, "READ", false)
	return &readFile{file: f, rd: rd}, nil
}

// Filewrite opens a file for writing.
func (h *handlers) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	return h.openWrite(r, false)
}

// OpenFile opens a file for reading and writing through one handle.
func (h *handlers) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	wr, err := h.openWrite(r, true)
	if err != nil {
		return nil, err
	}
	return wr.(*writeFile), nil
}

func (h *handlers) openWrite(r *sftp.Request, read bool) (io.WriterAt, error) {
	res, err := h.resolveFile(r.Filepath)
	if err != nil {
		return nil, h.fail(activity.Open, r.Filepath, err)
	}
	if err := h.allow(r.Context(), activity.Open, access{kind: accessOpen, loc: res.Location, read: read, write: true}); err != nil {
		return nil, err
	}
	pf := r.Pflags()
	flags := storage.OpenFlags{Read: read, Create: pf.Creat, Truncate: pf.Trunc, Exclusive: pf.Excl, Append: pf.Append, Owner: h.owner}
	wh, err := h.cfg.Backend.OpenWrite(r.Context(), res.Location, flags)
	if err != nil {
		return nil, h.fail(activity.Open, res.Location.String(), err)
	}
	f := h.opened(res.Location, openMode(pf, read), true)
	w := &writeFile{file: f, wh: wh}
	h.startWriting(w)
	if read {
		rw, ok := wh.(storage.ReadWriteHandle)
		if !ok {
			wh.Abort(nil)
			h.stopWriting(w)
			f.done()
			return nil, h.fail(activity.Open, res.Location.String(), unsupported("this storage cannot read and write through one handle"))
		}
		w.rw = rw
	}
	return w, nil
}

// openMode renders open flags as Transfer Family's mode field does: CREATE|TRUNCATE|WRITE, READ.
func openMode(pf sftp.FileOpenFlags, read bool) string {
	var parts []string
	if pf.Creat {
		parts = append(parts, "CREATE")
	}
	if pf.Trunc {
		parts = append(parts, "TRUNCATE")
	}
	if pf.Excl {
		parts = append(parts, "EXCLUSIVE")
	}
	if pf.Append {
		parts = append(parts, "APPEND")
	}
	if read || pf.Read {
		parts = append(parts, "READ")
	}
	parts = append(parts, "WRITE")
	return strings.Join(parts, "|")
}

// file is what every open handle shares: the OPEN record, byte counts, the CLOSE or PARTIAL_CLOSE
// record, and the session's open-file count.
type file struct {
	h        *handlers
	loc      storage.Location
	write    bool
	bytesIn  atomic.Int64
	bytesOut atomic.Int64
	once     sync.Once
	// partial is why the file did not end with a plain CLOSE: the session ended with the handle
	// open (pkg/sftp's TransferError) or storing it failed.
	partial atomic.Pointer[partialEnd]
}

func (h *handlers) opened(loc storage.Location, mode string, write bool) *file {
	h.sess.FileOpened()
	r := h.record(activity.Open)
	r.Path = loc.String()
	r.Mode = mode
	h.cfg.Activity.Log(r)
	return &file{h: h, loc: loc, write: write}
}

// partialEnd is why a file ended without a plain CLOSE.
type partialEnd struct {
	cause   error
	message string // for the PARTIAL_CLOSE record
}

// done writes CLOSE, or PARTIAL_CLOSE when the file did not end normally, once.
func (f *file) done() {
	f.once.Do(func() {
		typ := activity.Close
		var msg string
		if p := f.partial.Load(); p != nil {
			typ = activity.PartialClose
			msg = p.message
		}
		r := f.h.record(typ)
		r.Path = f.loc.String()
		in, out := f.bytesIn.Load(), f.bytesOut.Load()
		if f.write {
			r.BytesIn = strconv.FormatInt(in, 10)
		}
		if !f.write || out > 0 {
			r.BytesOut = strconv.FormatInt(out, 10)
		}
		r.Message = msg
		f.h.cfg.Activity.Log(r)
		// The handle counts as open until the client has its CLOSE status (see stream).
		f.h.afterReply(f.h.sess.FileClosed)
	})
}

// TransferError is called by pkg/sftp when the session ends with the handle still open.
func (f *file) TransferError(err error) {
	f.partial.Store(&partialEnd{cause: err, message: "the session ended before the file was closed"})
}

// readFile is a handle open for reading.
type readFile struct {
	*file
	rd storage.ReadHandle
}

func (f *readFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.rd.ReadAt(p, off)
	f.bytesOut.Add(int64(n))
	if err != nil && err != io.EOF {
		return n, f.h.fail(activity.OperationRead, f.loc.String(), err)
	}
	return n, err
}

func (f *readFile) Close() error {
	defer f.done()
	if err := f.rd.Close(); err != nil {
		return f.h.fail(activity.Close, f.loc.String(), err)
	}
	return nil
}

// writeFile is a handle open for writing (and, with rw set, reading).
type writeFile struct {
	*file
	wh storage.WriteHandle
	rw storage.ReadWriteHandle
	// failures are the handle's failed writes. A client keeps sending the writes it has in
	// flight, and they fail alike (a full disk, S3 without the bucket), so they are written as
	// one ERROR record per message, with its count, when the handle ends.
	failures failures
	// times are the access and modification times a SETSTAT of the file gave while it was
	// open, set again when it closes, after its last write.
	timesMu sync.Mutex
	times   storage.Attrs
}

// keepTimes remembers times set while the file is open, to set them again at CLOSE.
func (f *writeFile) keepTimes(atime, mtime *time.Time) {
	f.timesMu.Lock()
	defer f.timesMu.Unlock()
	if atime != nil {
		f.times.Atime = atime
	}
	if mtime != nil {
		f.times.Mtime = mtime
	}
}

// setTimes sets the kept times after the last write: through the handle before it is closed
// (uploads published at CLOSE), else (after) by path.
func (f *writeFile) setTimes(afterClose bool) error {
	f.timesMu.Lock()
	t := f.times
	f.timesMu.Unlock()
	if t.Atime == nil && t.Mtime == nil {
		return nil
	}
	if ah, ok := f.wh.(storage.AttrHandle); ok {
		if afterClose {
			return nil
		}
		return ah.SetAttrs(t)
	}
	if as, ok := f.h.cfg.Backend.(storage.AttrSetter); ok && afterClose {
		return as.SetAttrs(context.Background(), f.loc, t)
	}
	return nil
}

// failures counts a handle's failed writes by message, keeping the first error.
type failures struct {
	mu    sync.Mutex
	first error
	msgs  []failure
	other int // failures past maxFailureMessages distinct messages
}

type failure struct {
	msg   string
	count int
}

// maxFailureMessages caps the distinct messages a handle remembers.
const maxFailureMessages = 8

func (fs *failures) add(err error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.first == nil {
		fs.first = err
	}
	msg := recordMessage(err)
	for i := range fs.msgs {
		if fs.msgs[i].msg == msg {
			fs.msgs[i].count++
			return
		}
	}
	if len(fs.msgs) == maxFailureMessages {
		fs.other++
		return
	}
	fs.msgs = append(fs.msgs, failure{msg, 1})
}

// firstErr is the handle's first failed write, nil when none failed.
func (fs *failures) firstErr() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.first
}

// flush writes the ERROR records of the failed writes and forgets them; it returns how many
// writes failed.
func (f *writeFile) flushFailures() int {
	f.failures.mu.Lock()
	msgs, other := f.failures.msgs, f.failures.other
	f.failures.msgs, f.failures.other = nil, 0
	f.failures.mu.Unlock()
	total := other
	for _, m := range msgs {
		total += m.count
		f.logFailure(m.msg, m.count)
	}
	if other > 0 {
		f.logFailure("further writes failed with other messages", other)
	}
	return total
}

func (f *writeFile) logFailure(msg string, count int) {
	r := f.h.record(activity.Error)
	r.Operation = activity.OperationWrite
	r.Path = f.loc.String()
	r.Message = msg
	if count > 1 {
		r.Count = count
	}
	f.h.cfg.Activity.Log(r)
}

func (f *writeFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.wh.WriteAt(p, off)
	f.bytesIn.Add(int64(n))
	if err != nil {
		f.failures.add(err)
		if storage.KindOf(err) == storage.KindInternal {
			f.h.log.Warn("storage operation failed", "operation", activity.OperationWrite, "path", f.loc.String(), "err", err)
		}
		return n, statusError(err)
	}
	return n, nil
}

func (f *writeFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.rw.ReadAt(p, off)
	f.bytesOut.Add(int64(n))
	if err != nil && err != io.EOF {
		return n, f.h.fail(activity.OperationRead, f.loc.String(), err)
	}
	return n, err
}

// Close commits the file; it aborts it when the session ended with the handle open or a write
// failed, which a client may not have noticed (the OpenSSH client reports a failed write but
// still closes). A file not stored ends with PARTIAL_CLOSE, never CLOSE, so that nothing acting on
// CLOSE records takes it for delivered; CLOSE's status tells the client.
func (f *writeFile) Close() error {
	defer f.done()
	defer f.h.stopWriting(f)
	failed := f.flushFailures()
	if p := f.partial.Load(); p != nil {
		f.abort(p.cause)
		return nil
	}
	if failed > 0 {
		first := f.failures.firstErr()
		msg := "a write failed, so the upload was abandoned: " + recordMessage(first)
		if failed > 1 {
			msg = fmt.Sprintf("%d writes failed, so the upload was abandoned; the first: %s", failed, recordMessage(first))
		}
		f.partial.Store(&partialEnd{cause: first, message: msg})
		f.abort(first)
		return statusError(first)
	}
	if err := f.setTimes(false); err != nil {
		f.h.log.Warn("setting the times of an uploaded file at its CLOSE failed", "path", f.loc.String(), "err", err)
	}
	if err := f.wh.Close(); err != nil {
		f.partial.Store(&partialEnd{cause: err, message: "storing the file failed: " + recordMessage(err)})
		return f.h.fail(activity.Close, f.loc.String(), err)
	}
	if err := f.setTimes(true); err != nil {
		f.h.log.Warn("setting the times of an uploaded file after its CLOSE failed", "path", f.loc.String(), "err", err)
	}
	return nil
}

// abort ends the handle without storing the file: S3 and uploads published at CLOSE leave the old
// file (or none); in-place writes (EFS) keep what was written, as a POSIX file system does.
func (f *writeFile) abort(cause error) {
	if err := f.wh.Abort(cause); err != nil {
		f.h.log.Warn("aborting an upload failed", "path", f.loc.String(), "err", err)
	}
}
