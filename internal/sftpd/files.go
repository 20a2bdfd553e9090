package sftpd

import (
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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
	// failed is set by the first failed write: a client keeps sending the writes it has in
	// flight, and they fail alike (S3 without the bucket, say), so the upload gets one ERROR.
	failed atomic.Bool
}

func (f *writeFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.wh.WriteAt(p, off)
	f.bytesIn.Add(int64(n))
	if err != nil {
		if f.failed.Swap(true) {
			return n, statusError(err)
		}
		return n, f.h.fail(activity.OperationWrite, f.loc.String(), err)
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

// Close commits the file, or aborts it when the session ended with the handle open; a failed
// commit is reported to the client as CLOSE's status.
func (f *writeFile) Close() error {
	defer f.done()
	defer f.h.stopWriting(f)
	if p := f.partial.Load(); p != nil {
		if err := f.wh.Abort(p.cause); err != nil {
			f.h.log.Warn("aborting an interrupted upload failed", "path", f.loc.String(), "err", err)
		}
		return nil
	}
	if err := f.wh.Close(); err != nil {
		// The file was not stored: PARTIAL_CLOSE, never CLOSE, so that nothing acting on CLOSE
		// records takes it for delivered.
		f.partial.Store(&partialEnd{cause: err, message: "storing the file failed: " + recordMessage(err)})
		if f.failed.Load() {
			return statusError(err) // its ERROR is the failed write's
		}
		return f.h.fail(activity.Close, f.loc.String(), err)
	}
	return nil
}
