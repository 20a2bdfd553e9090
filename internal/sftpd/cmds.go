package sftpd

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/pkg/sftp"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/homedir"
	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/transfer"
)

// resolveMutable resolves a path that an operation will remove, rename or replace: never a mapping
// entry point or a virtual directory.
func (h *handlers) resolveMutable(p string) (homedir.Resolved, error) {
	res, err := h.res.Resolve(p)
	if err != nil {
		return res, err
	}
	if res.Virtual || res.EntryPoint {
		return res, denied("a home directory mapping cannot be removed or renamed")
	}
	if res.Location.Key == "" {
		return res, denied("buckets cannot be removed or renamed over SFTP")
	}
	return res, nil
}

// Filecmd serves SETSTAT, RENAME, RMDIR, MKDIR, REMOVE, LINK and SYMLINK.
func (h *handlers) Filecmd(r *sftp.Request) error {
	ctx := r.Context()
	switch r.Method {
	case "Setstat":
		return h.setstat(ctx, r)
	case "Rename":
		return h.rename(ctx, r.Filepath, r.Target, false)
	case "Mkdir":
		return h.mkdir(ctx, r.Filepath)
	case "Rmdir":
		return h.remove(ctx, r.Filepath, activity.Rmdir)
	case "Remove":
		return h.remove(ctx, r.Filepath, activity.Delete)
	case "Link", "Symlink":
		return unsupported("links are not supported")
	}
	return unsupported(r.Method + " is not supported")
}

// PosixRename serves posix-rename@openssh.com: the destination is replaced.
func (h *handlers) PosixRename(r *sftp.Request) error {
	return h.rename(r.Context(), r.Filepath, r.Target, true)
}

func (h *handlers) rename(ctx context.Context, from, to string, replace bool) error {
	src, err := h.resolveMutable(from)
	if err != nil {
		return h.fail(activity.Rename, from, err)
	}
	dst, err := h.resolveMutable(to)
	if err != nil {
		return h.fail(activity.Rename, to, err)
	}
	a := access{kind: accessRename, loc: src.Location, to: dst.Location}
	if err := h.allow(ctx, activity.Rename, a); err != nil {
		return err
	}
	rn, ok := h.cfg.Backend.(storage.Renamer)
	if !ok {
		return h.fail(activity.Rename, src.Location.String(), unsupported("this storage cannot rename"))
	}
	if err = h.renameAllowed(ctx, rn, a, replace); err != nil {
		return h.fail(activity.Rename, src.Location.String(), err)
	}
	rec := h.record(activity.Rename)
	rec.Path = src.Location.String()
	rec.NewPath = dst.Location.String()
	h.cfg.Activity.Log(rec)
	return nil
}

// renameAllowed renames through a storage that moves a directory's objects one by one asking the
// session policy about each of them, exactly those it moves; otherwise the guard walked the
// directory before.
func (h *handlers) renameAllowed(ctx context.Context, rn storage.Renamer, a access, replace bool) error {
	cr, checked := rn.(storage.CheckedRenamer)
	pg, policy := h.guard.(*policyGuard)
	if !checked || !policy {
		return rn.Rename(ctx, a.loc, a.to, replace)
	}
	return cr.RenameChecked(ctx, a.loc, a.to, replace, func(fromKey, toKey string) error { return pg.checkMove(a, fromKey, toKey) })
}

func (h *handlers) mkdir(ctx context.Context, p string) error {
	res, err := h.res.Resolve(p)
	if err != nil {
		return h.fail(activity.Mkdir, p, err)
	}
	if res.Virtual || res.EntryPoint {
		return h.fail(activity.Mkdir, p, storage.Errorf("mkdir", res.Location, storage.KindExist, "", nil))
	}
	if err := h.allow(ctx, activity.Mkdir, access{kind: accessMkdir, loc: res.Location}); err != nil {
		return err
	}
	if err := h.cfg.Backend.Mkdir(ctx, res.Location); err != nil {
		return h.fail(activity.Mkdir, res.Location.String(), err)
	}
	if h.owner != nil {
		if err := h.cfg.Backend.(storage.Chowner).Chown(ctx, res.Location, *h.owner); err != nil {
			if rerr := h.cfg.Backend.Rmdir(ctx, res.Location); rerr != nil {
				h.log.Warn("removing a directory whose owner could not be set failed", "path", res.Location.String(), "err", rerr)
			}
			return h.fail(activity.Mkdir, res.Location.String(), err)
		}
	}
	rec := h.record(activity.Mkdir)
	rec.Path = res.Location.String()
	h.cfg.Activity.Log(rec)
	return nil
}

func (h *handlers) remove(ctx context.Context, p, typ string) error {
	res, err := h.resolveMutable(p)
	if err != nil {
		return h.fail(typ, p, err)
	}
	kind := accessRemove
	if typ == activity.Rmdir {
		kind = accessRmdir
	}
	if err := h.allow(ctx, typ, access{kind: kind, loc: res.Location}); err != nil {
		return err
	}
	if typ == activity.Rmdir {
		err = h.cfg.Backend.Rmdir(ctx, res.Location)
	} else {
		err = h.cfg.Backend.Remove(ctx, res.Location)
	}
	if err != nil {
		return h.fail(typ, res.Location.String(), err)
	}
	rec := h.record(typ)
	rec.Path = res.Location.String()
	h.cfg.Activity.Log(rec)
	return nil
}

func (h *handlers) setstat(ctx context.Context, r *sftp.Request) error {
	res, err := h.res.Resolve(r.Filepath)
	if err != nil {
		return h.fail(activity.Setstat, r.Filepath, err)
	}
	rec := h.record(activity.Setstat)
	rec.Path = res.Location.String()
	if h.sess.Server.SetStatOption == transfer.SetStatEnableNoOp {
		rec.Message = "ignored: SetStatOption is ENABLE_NO_OP"
		h.cfg.Activity.Log(rec)
		return nil
	}
	if res.Virtual {
		return h.fail(activity.Setstat, r.Filepath, denied("a virtual directory has no attributes to change"))
	}
	as, ok := h.cfg.Backend.(storage.AttrSetter)
	if !ok {
		return h.fail(activity.Setstat, rec.Path, unsupported("this storage cannot change attributes; set the server's SetStatOption to ENABLE_NO_OP to ignore such requests"))
	}
	attrs := requestAttrs(r)
	if err := h.allow(ctx, activity.Setstat, access{kind: accessSetstat, loc: res.Location, attrs: attrs}); err != nil {
		return err
	}
	set := func() error { return as.SetAttrs(ctx, res.Location, attrs) }
	w := h.latestWriting(res.Location)
	if w != nil {
		if ah, ok := w.wh.(storage.AttrHandle); ok {
			// The file is being uploaded here and published at its CLOSE: FSETSTAT (which
			// pkg/sftp passes by path) and SETSTAT of it change what is published.
			set = func() error { return ah.SetAttrs(attrs) }
		}
	}
	if err := set(); err != nil {
		return h.fail(activity.Setstat, rec.Path, err)
	}
	if w != nil && (attrs.Mtime != nil || attrs.Atime != nil) {
		// Writes still in flight (pkg/sftp serves a handle's requests concurrently, and lftp
		// sends FSETSTAT right behind its WRITEs) would move the time again: CLOSE sets it last.
		w.keepTimes(attrs.Atime, attrs.Mtime)
	}
	h.cfg.Activity.Log(rec)
	return nil
}

// requestAttrs turns SETSTAT's attributes into storage.Attrs.
func requestAttrs(r *sftp.Request) storage.Attrs {
	var a storage.Attrs
	flags, st := r.AttrFlags(), r.Attributes()
	if st == nil {
		return a
	}
	if flags.Size {
		size := int64(st.Size)
		a.Size = &size
	}
	if flags.Permissions {
		mode := fs.FileMode(st.Mode & 0o7777)
		a.Mode = &mode
	}
	if flags.Acmodtime {
		at, mt := time.Unix(int64(st.Atime), 0), time.Unix(int64(st.Mtime), 0)
		a.Atime, a.Mtime = &at, &mt
	}
	if flags.UidGid {
		uid, gid := st.UID, st.GID
		a.UID, a.GID = &uid, &gid
	}
	return a
}

// StatVFS serves statvfs@openssh.com.
func (h *handlers) StatVFS(r *sftp.Request) (*sftp.StatVFS, error) {
	sr, ok := h.cfg.Backend.(storage.SpaceReporter)
	if !ok {
		return nil, unsupported("this storage does not report free space")
	}
	var loc storage.Location
	if res, err := h.res.Resolve(r.Filepath); err == nil && !res.Virtual {
		loc = res.Location
	}
	// Space opens the path: whether it exists is a stat's answer, and the guard's to give.
	if err := h.allow(r.Context(), activity.OperationStat, access{kind: accessStat, loc: loc}); err != nil {
		return nil, err
	}
	sp, err := sr.Space(r.Context(), loc)
	if err != nil {
		return nil, statusError(err)
	}
	st := &sftp.StatVFS{
		Bsize: sp.BlockSize, Frsize: sp.FragmentSize,
		Blocks: sp.Blocks, Bfree: sp.BlocksFree, Bavail: sp.BlocksAvail,
		Files: sp.Files, Ffree: sp.FilesFree, Favail: sp.FilesAvail,
		Namemax: sp.MaxName,
	}
	if sp.ReadOnly {
		st.Flag |= 0x1 // SSH_FXE_STATVFS_ST_RDONLY
	}
	return st, nil
}

// Filelist serves OPENDIR/READDIR ("List") and STAT ("Stat").
func (h *handlers) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	switch r.Method {
	case "List":
		return h.list(r.Context(), r.Filepath)
	case "Stat":
		fi, err := h.stat(r.Context(), r.Filepath)
		if err != nil {
			return nil, err
		}
		return listOf{fi}, nil
	}
	return nil, unsupported(r.Method + " is not supported")
}

// Lstat is Stat: users cannot make links, so there are none to report.
func (h *handlers) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	fi, err := h.stat(r.Context(), r.Filepath)
	if err != nil {
		return nil, err
	}
	return listOf{fi}, nil
}

// Readlink is refused: there are no links.
func (h *handlers) Readlink(string) (string, error) {
	return "", unsupported("links are not supported")
}

func (h *handlers) stat(ctx context.Context, p string) (fs.FileInfo, error) {
	res, err := h.res.Resolve(p)
	if err != nil {
		return nil, statusError(err)
	}
	name := path.Base(res.Path)
	if res.Virtual {
		return virtualDir(name), nil
	}
	if fi, ok := h.writtenSoFar(res.Location); ok {
		// The session's own upload (its FSTAT): what it wrote, which it was allowed to write.
		return named{fi, name}, nil
	}
	if err := h.allow(ctx, activity.OperationStat, access{kind: accessStat, loc: res.Location}); err != nil {
		return nil, err
	}
	fi, err := h.cfg.Backend.Stat(ctx, res.Location)
	if err != nil {
		return nil, statusError(err)
	}
	return named{fi, name}, nil
}

func (h *handlers) list(ctx context.Context, p string) (sftp.ListerAt, error) {
	res, err := h.res.Resolve(p)
	if err != nil {
		return nil, statusError(err)
	}
	if res.Virtual {
		return h.virtualList(ctx, res.Children), nil
	}
	if res.File {
		return nil, statusError(storage.Errorf("list", res.Location, storage.KindNotDir, "", nil))
	}
	if err := h.allow(ctx, activity.OperationList, access{kind: accessList, loc: res.Location}); err != nil {
		return nil, err
	}
	l, err := h.cfg.Backend.List(ctx, res.Location)
	if err != nil {
		return nil, statusError(err)
	}
	return lister{l}, nil
}

// virtualList lists a virtual directory: mapped entries show their target's attributes under the
// entry's name; implied directories are plain directories. A FILE mapping whose object is missing
// is left out.
func (h *handlers) virtualList(ctx context.Context, children []homedir.Child) listOf {
	out := make(listOf, 0, len(children))
	for _, c := range children {
		if !c.Mapped {
			out = append(out, virtualDir(c.Name))
			continue
		}
		var fi fs.FileInfo
		err := h.guardOnly(ctx, access{kind: accessStat, loc: c.Location})
		if err == nil {
			fi, err = h.cfg.Backend.Stat(ctx, c.Location)
		}
		switch {
		case err == nil:
			out = append(out, named{fi, c.Name})
		case !c.File:
			out = append(out, virtualDir(c.Name))
		}
	}
	return out
}

// guardOnly asks the session's guard without recording a refusal: a mapped entry of a virtual
// directory that the user may not stat is listed as the listing would show it were it missing.
func (h *handlers) guardOnly(ctx context.Context, a access) error {
	if h.guard == nil {
		return nil
	}
	return h.guard.check(ctx, a)
}

// lister adapts a storage lister, passing its errors through the status table.
type lister struct{ l storage.Lister }

func (l lister) ListAt(dst []os.FileInfo, off int64) (int, error) {
	n, err := l.l.ListAt(dst, off)
	if err != nil && err != io.EOF {
		return n, statusError(err)
	}
	return n, err
}

func (l lister) Close() error {
	if c, ok := l.l.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// listOf is a fixed list of entries.
type listOf []fs.FileInfo

func (l listOf) ListAt(dst []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[off:])
	if off+int64(n) >= int64(len(l)) {
		return n, io.EOF
	}
	return n, nil
}

// named shows a storage entry under the name the user sees.
type named struct {
	fs.FileInfo
	name string
}

func (n named) Name() string { return n.name }

// virtualDir is a directory that exists only in the mapping tree. Like Transfer Family's S3
// directories it has mode 0755 and the epoch as its time.
type virtualDir string

func (v virtualDir) Name() string       { return string(v) }
func (v virtualDir) Size() int64        { return 0 }
func (v virtualDir) Mode() fs.FileMode  { return fs.ModeDir | 0o755 }
func (v virtualDir) ModTime() time.Time { return time.Unix(0, 0) }
func (v virtualDir) IsDir() bool        { return true }
func (v virtualDir) Sys() any           { return nil }
