// Package sftpd is the SFTP subsystem: pkg/sftp's RequestServer with handlers that send every path
// through homedir, do the I/O on a storage backend, write the file activity records (OPEN, CLOSE,
// PARTIAL_CLOSE, DELETE, RENAME, MKDIR, RMDIR, SETSTAT, ERROR) and map storage errors to SFTP
// status codes in one place.
package sftpd

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/homedir"
	"github.com/transferd/transferd/internal/procs"
	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/transfer"
)

// Config is what the SFTP subsystem needs.
type Config struct {
	// Backend is the storage for the session's server.
	Backend  storage.Backend
	Activity activity.Sink
	Logger   *slog.Logger
	// Procs counts the session busy while a request server runs, that is while it is not parked
	// (nil: not counted).
	Procs *procs.Governor

	// For tests: how long an idle session waits before it parks (default parkAfter), and a
	// function that sees the session's stream.
	parkAfter  time.Duration
	streamHook func(*stream)
}

// extensionsOnce narrows pkg/sftp's process-wide list of advertised extensions to those served:
// hardlink@openssh.com is not (Transfer Family has no links).
var extensionsOnce sync.Once

// Serve runs one SFTP session over ch until the client ends it or ctx is cancelled.
func Serve(ctx context.Context, cfg Config, sess *transfer.Session, ch io.ReadWriteCloser) error {
	extensionsOnce.Do(func() {
		if err := sftp.SetSFTPExtensions("posix-rename@openssh.com", "statvfs@openssh.com"); err != nil {
			panic(err) // both names are known to pkg/sftp
		}
	})
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Activity == nil {
		cfg.Activity = activity.Discard{}
	}
	log := cfg.Logger.With("session-id", sess.ID, "user", sess.User.UserName)
	res, err := homedir.New(&sess.User)
	if err != nil {
		// The store validated the user; this is a bug or a hand-edited store.
		log.Error("user's home directory is invalid", "err", err)
		return err
	}
	g, err := newGuard(sess, cfg.Backend)
	if err != nil {
		// Likewise: the session is refused rather than left unconfined.
		log.Error("user's session policy or POSIX profile cannot be enforced; session refused", "err", err)
		return err
	}
	replies := newStream(ch)
	replies.maxHandles, replies.budget = sess.MaxHandles, sess.Handles
	replies.refused = func(msg string, count int) {
		r := &activity.Record{ActivityType: activity.Error, SessionID: sess.ID, ResourceARN: sess.ResourceARN,
			User: sess.User.UserName, Operation: activity.Open, Message: msg, Count: count}
		cfg.Activity.Log(r)
		log.Info("open refused by a limit", "message", msg, "count", count)
	}
	defer replies.end()
	if cfg.parkAfter > 0 {
		replies.parkAfter = cfg.parkAfter
	}
	if cfg.streamHook != nil {
		cfg.streamHook(replies)
	}
	h := &handlers{cfg: cfg, sess: sess, res: res, log: log, replies: replies, guard: g}
	pg, posix := g.(*posixGuard)
	if posix {
		h.owner = pg.owner() // of the home targets made now, and of what the user makes
	}
	h.ensureHome(ctx)
	if posix {
		h.actAsUser(pg)
	}

	stop := context.AfterFunc(ctx, func() { replies.Close() })
	defer stop()
	// A request server per busy spell: the stream parks idle sessions.
	return replies.run(func(alloc bool) <-chan error {
		opts := []sftp.RequestServerOption{
			sftp.WithStartDirectory(res.Start()),
			sftp.WithRSMaxTxPacket(maxData), // the read length stream advertises in limits@openssh.com
		}
		if alloc {
			opts = append(opts, sftp.WithRSAllocator())
		}
		rs := sftp.NewRequestServer(replies, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h}, opts...)
		result := make(chan error, 1)
		release := cfg.Procs.Hold()
		go func() {
			err := rs.Serve()
			release()
			result <- err
		}()
		return result
	})
}

// handlers serves one session's requests.
type handlers struct {
	cfg     Config
	sess    *transfer.Session
	res     *homedir.Resolver
	log     *slog.Logger
	replies *stream
	// guard confines the session beyond its home directory (nil: nothing does); owner is who
	// owns what the session creates (nil: the process).
	guard guard
	owner *storage.Owner

	// writing holds the session's files open for writing, by location: a stat of one (a client's
	// FSTAT, which pkg/sftp turns into a STAT of the handle's path) is answered by its handle,
	// as S3 has no object before CLOSE.
	writingMu sync.Mutex
	writing   map[storage.Location][]*writeFile
}

// startWriting and stopWriting keep handlers.writing.
func (h *handlers) startWriting(f *writeFile) {
	h.writingMu.Lock()
	defer h.writingMu.Unlock()
	if h.writing == nil {
		h.writing = map[storage.Location][]*writeFile{}
	}
	h.writing[f.loc] = append(h.writing[f.loc], f)
}

func (h *handlers) stopWriting(f *writeFile) {
	h.writingMu.Lock()
	defer h.writingMu.Unlock()
	open := slices.DeleteFunc(h.writing[f.loc], func(g *writeFile) bool { return g == f })
	if len(open) == 0 {
		delete(h.writing, f.loc)
	} else {
		h.writing[f.loc] = open
	}
}

// latestWriting is the handle this session opened last to write at loc, nil when none is open.
func (h *handlers) latestWriting(loc storage.Location) *writeFile {
	h.writingMu.Lock()
	defer h.writingMu.Unlock()
	if open := h.writing[loc]; len(open) > 0 {
		return open[len(open)-1]
	}
	return nil
}

// writtenSoFar describes a file this session is writing at loc, from its latest handle.
func (h *handlers) writtenSoFar(loc storage.Location) (fs.FileInfo, bool) {
	f := h.latestWriting(loc)
	if f == nil {
		return nil, false
	}
	sh, ok := f.wh.(storage.StatHandle)
	if !ok {
		return nil, false
	}
	fi, err := sh.Stat()
	return fi, err == nil
}

// allow asks the session's guard about an access; a refusal is logged as an ERROR record of
// operation op and returned as the client's status.
func (h *handlers) allow(ctx context.Context, op string, a access) error {
	if h.guard == nil {
		return nil
	}
	if err := h.guard.check(ctx, a); err != nil {
		return h.fail(op, a.loc.String(), err)
	}
	return nil
}

// actAsUser makes a POSIX user's requests act as that user where storage can (the local store,
// running as root): the kernel then checks each access for the user as it makes it, which closes
// the gap between the guard's checks and the access, and makes what the user creates the user's
// (a setgid directory's group included). The guard still explains refusals. Otherwise transferd's
// own checks are all there is, and files can be created only for transferd's own uid.
func (h *handlers) actAsUser(pg *posixGuard) {
	imp, ok := h.cfg.Backend.(storage.Impersonator)
	if !ok {
		return
	}
	b, err := imp.As(pg.identity())
	if err != nil {
		h.log.Warn("POSIX profile enforced by transferd's own checks only: storage cannot act as the user", "uid", pg.id.uid, "err", err)
		return
	}
	h.cfg.Backend = b
	h.owner = nil
}

// afterReply runs fn once the requests read so far have been answered (at once without a tracker).
func (h *handlers) afterReply(fn func()) {
	if h.replies == nil {
		fn()
		return
	}
	h.replies.afterReply(fn)
}

// ensureHome creates the user's directory targets on first login where storage has real
// directories (the local store), so a new user lands in a home that exists. A user with a POSIX
// profile owns the targets created for it.
func (h *handlers) ensureHome(ctx context.Context) {
	dm, ok := h.cfg.Backend.(storage.DirMaker)
	if !ok {
		return
	}
	for _, loc := range h.res.Roots() {
		if loc.IsRoot() {
			continue
		}
		if h.owner != nil {
			if _, err := h.cfg.Backend.Stat(ctx, loc); err == nil {
				continue
			}
		}
		if err := dm.MkdirAll(ctx, loc); err != nil {
			h.log.Warn("creating a home directory target failed", "path", loc.String(), "err", err)
			continue
		}
		if h.owner != nil {
			if err := h.cfg.Backend.(storage.Chowner).Chown(ctx, loc, *h.owner); err != nil {
				h.log.Warn("giving a new home directory target to the user's POSIX profile failed", "path", loc.String(), "err", err)
			}
		}
	}
}

// record fills the fields every file record has.
func (h *handlers) record(typ string) *activity.Record {
	return &activity.Record{
		ActivityType: typ,
		SessionID:    h.sess.ID,
		ResourceARN:  h.sess.ResourceARN,
		User:         h.sess.User.UserName,
	}
}

// fail logs an ERROR record for a failed operation and returns the error as the client sees it.
func (h *handlers) fail(op, path string, err error) error {
	r := h.record(activity.Error)
	r.Operation = op
	r.Path = path
	r.Message = recordMessage(err)
	h.cfg.Activity.Log(r)
	if storage.KindOf(err) == storage.KindInternal {
		h.log.Warn("storage operation failed", "operation", op, "path", path, "err", err)
	}
	return statusError(err)
}
