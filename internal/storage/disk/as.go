package disk

import (
	"context"
	"io/fs"
	"path"
	"strings"

	"github.com/transferd/transferd/internal/storage"
)

var _ storage.Impersonator = (*Store)(nil)

// As returns the store seen by a POSIX identity, as an NFS server sees it for a client: every
// file-system call is made by a thread whose file-system user and groups are the identity's
// (setfsuid, setfsgid, setgroups) and which holds no capability that overrides permissions, so
// the kernel checks each access for that user when it is made, and what the user creates is the
// user's (a setgid directory's group included). Paths are resolved as the user with openat2
// beneath the root, which needs only search permission on the directories on the way, as POSIX
// does. It needs Linux 5.6 or later, /proc, and the privilege to change a thread's identity (root,
// or CAP_SETUID and CAP_SETGID); As says why when it cannot, and also when the identity cannot
// search the storage root.
func (s *Store) As(id storage.Identity) (storage.Backend, error) {
	if err := canImpersonate(); err != nil {
		return nil, err
	}
	u := &asUser{s: s, id: id}
	r, err := u.reach("stat", storage.Location{}, ".")
	if err != nil {
		return nil, err
	}
	r.Close()
	return u, nil
}

// asUser is a Store seen by one identity, or (self) served by the process itself, confined as
// Store.confined says.
type asUser struct {
	s    *Store
	id   storage.Identity
	self bool
}

var (
	_ storage.Backend       = (*asUser)(nil)
	_ storage.Renamer       = (*asUser)(nil)
	_ storage.AttrSetter    = (*asUser)(nil)
	_ storage.SpaceReporter = (*asUser)(nil)
)

// do runs fn as the identity.
func (u *asUser) do(fn func() error) error {
	if u.self {
		return fn()
	}
	return runAs(u.id, fn)
}

// at runs fn as the identity on a store made for loc alone: rooted at loc's directory, which the
// user reached itself (so that every directory on the way was searched as the user, and none can
// be swapped in later), working on loc's last element.
func (u *asUser) at(op string, loc storage.Location, fn func(c *Store) error) error {
	name, err := u.s.name(op, loc)
	if err != nil {
		return err
	}
	parent, base := ".", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		parent, base = name[:i], name[i+1:]
	}
	r, err := u.reach(op, loc, parent)
	if err != nil {
		return err
	}
	defer r.Close()
	if op != "remove" && op != "rmdir" && op != "mkdir" {
		// Only removing or renaming (Rename) acts on a link itself; nothing follows one.
		if fi, err := r.Lstat(base); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return errSymlink(op, loc)
		}
	}
	c := &Store{root: r, escapes: u.s.escapes, pathFD: -1, base: base, publish: u.s.publish, state: u.s.state, dir: parent}
	return u.do(func() error { return fn(c) })
}

// errSymlink refuses to follow a symbolic link in the storage.
func errSymlink(op string, loc storage.Location) error {
	return storage.Errorf(op, loc, storage.KindPermission, "symbolic links in the storage are not followed", nil)
}

func (u *asUser) Stat(ctx context.Context, loc storage.Location) (fi fs.FileInfo, err error) {
	err = u.at("stat", loc, func(c *Store) error { fi, err = c.Stat(ctx, loc); return err })
	return fi, err
}

func (u *asUser) List(ctx context.Context, loc storage.Location) (l storage.Lister, err error) {
	err = u.at("list", loc, func(c *Store) error { l, err = c.List(ctx, loc); return err })
	if err != nil || u.self {
		return l, err
	}
	return &asUserLister{u: u, l: l.(*lister)}, nil
}

// asUserLister reads each page as the identity: an entry's attributes are read then (lstat
// relative to the directory), and that needs search permission on it.
type asUserLister struct {
	u *asUser
	l *lister
}

func (l *asUserLister) ListAt(dst []fs.FileInfo, off int64) (n int, err error) {
	if rerr := l.u.do(func() error { n, err = l.l.ListAt(dst, off); return nil }); rerr != nil {
		return 0, rerr
	}
	return n, err
}

func (l *asUserLister) Close() error { return l.l.Close() }

func (u *asUser) OpenRead(ctx context.Context, loc storage.Location) (h storage.ReadHandle, err error) {
	err = u.at("open", loc, func(c *Store) error { h, err = c.OpenRead(ctx, loc); return err })
	return h, err
}

// OpenWrite opens as the identity: a file it creates is the identity's (or has a setgid
// directory's group), which an Owner may ask for and nothing else. Writes are made as the
// identity too: a write by the user clears setuid and setgid bits as the kernel does for users
// (CAP_FSETID would keep them), and the owner's disk quota is enforced (CAP_SYS_RESOURCE would
// let the write past it; quota is charged to the owner either way).
func (u *asUser) OpenWrite(ctx context.Context, loc storage.Location, flags storage.OpenFlags) (storage.WriteHandle, error) {
	if !u.self {
		if o := flags.Owner; o != nil && o.UID != u.id.UID {
			return nil, storage.Errorf("open", loc, storage.KindNotSupported, "files are created as the user the store acts as", nil)
		}
		flags.Owner = nil
	}
	var h storage.WriteHandle
	err := u.at("open", loc, func(c *Store) (err error) { h, err = c.OpenWrite(ctx, loc, flags); return err })
	if err != nil || u.self {
		return h, err
	}
	w := &asUserWriter{u: u, h: h}
	if rw, ok := h.(storage.ReadWriteHandle); ok {
		return &asUserReadWriter{asUserWriter: w, rw: rw}, nil
	}
	return w, nil
}

// asUserWriter writes as the identity.
type asUserWriter struct {
	u *asUser
	h storage.WriteHandle
}

func (w *asUserWriter) WriteAt(p []byte, off int64) (n int, err error) {
	if rerr := w.u.do(func() error { n, err = w.h.WriteAt(p, off); return nil }); rerr != nil {
		return 0, rerr
	}
	return n, err
}

func (w *asUserWriter) Close() error { return w.h.Close() }
func (w *asUserWriter) Stat() (fs.FileInfo, error) {
	return w.h.(storage.StatHandle).Stat()
}
func (w *asUserWriter) Abort(cause error) error { return w.h.Abort(cause) }

type asUserReadWriter struct {
	*asUserWriter
	rw storage.ReadWriteHandle
}

func (w *asUserReadWriter) ReadAt(p []byte, off int64) (int, error) { return w.rw.ReadAt(p, off) }

func (u *asUser) Mkdir(ctx context.Context, loc storage.Location) error {
	return u.at("mkdir", loc, func(c *Store) error { return c.Mkdir(ctx, loc) })
}

// MkdirAll creates loc and its missing parents one by one, each in the directory reached before.
func (u *asUser) MkdirAll(ctx context.Context, loc storage.Location) error {
	if loc.IsRoot() {
		return nil
	}
	steps := []storage.Location{{Bucket: loc.Bucket}}
	if loc.Key != "" {
		key := ""
		for elem := range strings.SplitSeq(loc.Key, "/") {
			key = path.Join(key, elem)
			steps = append(steps, storage.Location{Bucket: loc.Bucket, Key: key})
		}
	}
	for _, l := range steps {
		err := u.Mkdir(ctx, l)
		if err == nil || storage.KindOf(err) == storage.KindExist {
			continue
		}
		return err
	}
	fi, err := u.Stat(ctx, loc)
	if err == nil && !fi.IsDir() {
		return storage.Errorf("mkdir", loc, storage.KindNotDir, "", nil)
	}
	return err
}

// chown is Chown for a confined Store (a store acting as a user gives no files away: it is no
// storage.Chowner).
func (u *asUser) chown(ctx context.Context, loc storage.Location, o storage.Owner) error {
	return u.at("chown", loc, func(c *Store) error { return c.Chown(ctx, loc, o) })
}

func (u *asUser) Remove(ctx context.Context, loc storage.Location) error {
	return u.at("remove", loc, func(c *Store) error { return c.Remove(ctx, loc) })
}

func (u *asUser) Rmdir(ctx context.Context, loc storage.Location) error {
	return u.at("rmdir", loc, func(c *Store) error { return c.Rmdir(ctx, loc) })
}

func (u *asUser) SetAttrs(ctx context.Context, loc storage.Location, attrs storage.Attrs) error {
	return u.at("setstat", loc, func(c *Store) error { return c.SetAttrs(ctx, loc, attrs) })
}

func (u *asUser) Space(ctx context.Context, loc storage.Location) (sp storage.SpaceInfo, err error) {
	err = u.at("statvfs", loc, func(c *Store) error { sp, err = c.Space(ctx, loc); return err })
	return sp, err
}
