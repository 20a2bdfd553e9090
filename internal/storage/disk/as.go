package disk

import (
	"context"
	"io/fs"

	"github.com/transferd/transferd/internal/storage"
)

var _ storage.Impersonator = (*Store)(nil)

// As returns the store seen by a POSIX identity: every file-system call is made by a thread whose
// file-system user and groups are the identity's (setfsuid, setfsgid, setgroups), so the kernel
// checks each access for that user as it makes it, as an NFS server does for its clients, and
// what it creates belongs to that user. It needs Linux and the privilege to change a thread's
// file-system identity (root, or CAP_SETUID and CAP_SETGID).
func (s *Store) As(id storage.Identity) (storage.Backend, error) {
	if err := canImpersonate(); err != nil {
		return nil, err
	}
	return &asUser{s: s, id: id}, nil
}

// asUser is a Store seen by one identity.
type asUser struct {
	s  *Store
	id storage.Identity
}

var (
	_ storage.Backend       = (*asUser)(nil)
	_ storage.Renamer       = (*asUser)(nil)
	_ storage.AttrSetter    = (*asUser)(nil)
	_ storage.SpaceReporter = (*asUser)(nil)
)

// do runs fn as the identity.
func (u *asUser) do(fn func() error) error { return runAs(u.id, fn) }

func (u *asUser) Stat(ctx context.Context, loc storage.Location) (fi fs.FileInfo, err error) {
	err = u.do(func() error { fi, err = u.s.Stat(ctx, loc); return err })
	return fi, err
}

func (u *asUser) List(ctx context.Context, loc storage.Location) (l storage.Lister, err error) {
	err = u.do(func() error { l, err = u.s.List(ctx, loc); return err })
	if err != nil {
		return nil, err
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
	rerr := l.u.do(func() error { n, err = l.l.ListAt(dst, off); return nil })
	if rerr != nil {
		return 0, rerr
	}
	return n, err
}

func (l *asUserLister) Close() error { return l.l.Close() }

func (u *asUser) OpenRead(ctx context.Context, loc storage.Location) (h storage.ReadHandle, err error) {
	err = u.do(func() error { h, err = u.s.OpenRead(ctx, loc); return err })
	return h, err
}

// OpenWrite opens as the identity: a file it creates is the identity's (or has a setgid
// directory's group), which an Owner may ask for and nothing else.
func (u *asUser) OpenWrite(ctx context.Context, loc storage.Location, flags storage.OpenFlags) (h storage.WriteHandle, err error) {
	if o := flags.Owner; o != nil && o.UID != u.id.UID {
		return nil, storage.Errorf("open", loc, storage.KindNotSupported, "files are created as the user the store acts as", nil)
	}
	flags.Owner = nil
	err = u.do(func() error { h, err = u.s.OpenWrite(ctx, loc, flags); return err })
	return h, err
}

func (u *asUser) Mkdir(ctx context.Context, loc storage.Location) error {
	return u.do(func() error { return u.s.Mkdir(ctx, loc) })
}

func (u *asUser) Remove(ctx context.Context, loc storage.Location) error {
	return u.do(func() error { return u.s.Remove(ctx, loc) })
}

func (u *asUser) Rmdir(ctx context.Context, loc storage.Location) error {
	return u.do(func() error { return u.s.Rmdir(ctx, loc) })
}

func (u *asUser) Rename(ctx context.Context, from, to storage.Location, replace bool) error {
	return u.do(func() error { return u.s.Rename(ctx, from, to, replace) })
}

func (u *asUser) SetAttrs(ctx context.Context, loc storage.Location, attrs storage.Attrs) error {
	return u.do(func() error { return u.s.SetAttrs(ctx, loc, attrs) })
}

func (u *asUser) Space(ctx context.Context, loc storage.Location) (sp storage.SpaceInfo, err error) {
	err = u.do(func() error { sp, err = u.s.Space(ctx, loc); return err })
	return sp, err
}
