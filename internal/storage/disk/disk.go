// Package disk is the local-directory storage backend, the embedded default: POSIX semantics like
// EFS, confined to one root directory; AtomicUploads gives the same directory with uploads
// published at CLOSE, as S3 publishes objects.
//
// A Location {Bucket, Key} is the file ROOT/bucket/key; the zero Location is ROOT itself, and its
// entries are the buckets. Every file-system access goes through an os.Root, so no path and no
// symbolic link planted in the tree can reach a file outside ROOT; on Linux (amd64, arm64) no
// symbolic link inside it is followed either, and files with hard links are not opened
// (Store.confined), so that a link planted in one user's directory leads nowhere.
package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/transferd/transferd/internal/storage"
)

// Permissions for what the store creates; the process umask still applies. Others may search the
// root (not list it), so that a store acting as a POSIX user (As) can reach the buckets.
const (
	rootPerm = 0o711
	dirPerm  = 0o755
	filePerm = 0o644
)

// Store is a storage backend over one local directory. It is safe for concurrent use.
type Store struct {
	root *os.Root
	// observe, when set, is told of each operation (see Observed).
	observe func(op string, d time.Duration, err error)
	// escapes is the error os.Root reports for a path that would leave the root. The os package
	// does not export it, so New provokes it once; errors are then matched by identity, not text.
	escapes error
	// pathFD is the root directory opened O_PATH, from which a store acting as a user resolves
	// paths (-1 where that is not built).
	pathFD int
	// base, when set, is the one name this store works on: a store acting as a user makes one
	// from a directory the user reached and the last element of the location.
	base string
	// publish makes uploads atomic (AtomicUploads); state is the storage root, where the
	// markers of uploads in progress are kept (root is a directory within it for a store made
	// for one location).
	publish bool
	state   *os.Root
	// dir is the path of root within the storage root, for a store made for one location.
	dir string
	// lock holds the root for this process; recovered is how many unfinished uploads New removed.
	lock      io.Closer
	recovered int
}

var (
	_ storage.Backend       = (*Store)(nil)
	_ storage.Renamer       = (*Store)(nil)
	_ storage.AttrSetter    = (*Store)(nil)
	_ storage.SpaceReporter = (*Store)(nil)
	_ storage.DirMaker      = (*Store)(nil)
	_ storage.Chowner       = (*Store)(nil)
)

// New returns a store over the directory root, creating it (mode 0750) if it is missing. The
// root is this process's until Close: New fails if another process has it. New removes what
// uploads left unfinished when a process ended before them (Recovered says how many).
func New(root string) (*Store, error) {
	if err := os.MkdirAll(root, rootPerm); err != nil {
		return nil, fmt.Errorf("create storage root: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("open storage root: %w", err)
	}
	s := &Store{root: r, pathFD: -1, state: r}
	var pe *fs.PathError
	if _, err := r.Lstat(".."); errors.As(err, &pe) {
		s.escapes = pe.Err
	}
	if s.pathFD, err = openPathFD(root); err != nil {
		r.Close()
		return nil, fmt.Errorf("open storage root: %w", err)
	}
	if s.recovered, err = s.recoverUploads(); err != nil {
		s.Close()
		return nil, fmt.Errorf("storage root %s: %w", root, err)
	}
	return s, nil
}

// Close releases the root directory. Handles and listers still open keep working.
func (s *Store) Close() error {
	closePathFD(s.pathFD)
	if s.lock != nil {
		s.lock.Close()
	}
	return s.root.Close()
}

// name returns loc's path relative to the root. It refuses what a clean storage path never holds
// (empty, "." or ".." elements), so a location cannot wander into another bucket either, and the
// names transferd keeps for itself (beginning with .transferd), whether or not they exist.
func (s *Store) name(op string, loc storage.Location) (string, error) {
	if loc.Bucket == "" {
		if loc.Key != "" {
			return "", storage.Errorf(op, loc, storage.KindInvalid, "key without a bucket", nil)
		}
		return s.named("."), nil
	}
	if !validElem(loc.Bucket) {
		return "", storage.Errorf(op, loc, storage.KindInvalid, "invalid bucket name", nil)
	}
	if reserved(loc.Bucket) {
		return "", errReserved(op, loc)
	}
	if loc.Key == "" {
		return s.named(loc.Bucket), nil
	}
	for elem := range strings.SplitSeq(loc.Key, "/") {
		if !validElem(elem) {
			return "", storage.Errorf(op, loc, storage.KindInvalid, "invalid path", nil)
		}
		if reserved(elem) {
			return "", errReserved(op, loc)
		}
	}
	return s.named(loc.Bucket + "/" + loc.Key), nil
}

// named is name, or the one name a store made for one location works on.
func (s *Store) named(name string) string {
	if s.base != "" {
		return s.base
	}
	return name
}

// confined returns the store that serves a request of this one without following a symbolic
// link: each request is served in its location's directory, reached from the root with no
// symbolic link on the way (openat2 RESOLVE_NO_SYMLINKS), and does not follow one in the
// location's own name either (a link there can be removed or renamed, not used). So a link planted
// in the tree by someone with disk access cannot lead one user into another's files. nil where
// that is not built (see as_other.go), or for a store already made for one location.
func (s *Store) confined() *asUser {
	if s.base != "" || s.pathFD < 0 {
		return nil
	}
	return &asUser{s: s, self: true}
}

func errReserved(op string, loc storage.Location) error {
	return storage.Errorf(op, loc, storage.KindPermission, "names beginning with "+reservedPrefix+" are reserved for transferd's own files", nil)
}

func validElem(e string) bool {
	return e != "" && e != "." && e != ".." && !strings.ContainsAny(e, "/\x00")
}

// Stat returns the attributes of loc, following symbolic links that stay inside the root.
// Sys() is the platform's *syscall.Stat_t.
func (s *Store) Stat(ctx context.Context, loc storage.Location) (_ fs.FileInfo, err error) {
	defer s.observed("Stat", time.Now(), &err)
	if u := s.confined(); u != nil {
		return u.Stat(ctx, loc)
	}
	name, err := s.name("stat", loc)
	if err != nil {
		return nil, err
	}
	fi, err := s.root.Stat(name)
	if err != nil {
		return nil, s.fail("stat", loc, err)
	}
	if loc.IsRoot() {
		return rootInfo{fi}, nil
	}
	return fi, nil
}

// rootInfo names the storage root "/" rather than ".".
type rootInfo struct{ fs.FileInfo }

func (rootInfo) Name() string { return "/" }

// OpenRead opens the regular file at loc for reading.
func (s *Store) OpenRead(ctx context.Context, loc storage.Location) (_ storage.ReadHandle, err error) {
	defer s.observed("OpenRead", time.Now(), &err)
	if u := s.confined(); u != nil {
		return u.OpenRead(ctx, loc)
	}
	name, err := s.name("open", loc)
	if err != nil {
		return nil, err
	}
	f, err := s.openRegular("open", loc, name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	return &readHandle{s: s, loc: loc, f: f}, nil
}

// OpenWrite opens the file at loc for writing at any offset. flags.Append is ignored: clients send
// the offset of every write, which O_APPEND would override. With flags.Read the handle is also a
// storage.ReadWriteHandle.
func (s *Store) OpenWrite(ctx context.Context, loc storage.Location, flags storage.OpenFlags) (_ storage.WriteHandle, err error) {
	defer s.observed("OpenWrite", time.Now(), &err)
	if u := s.confined(); u != nil {
		return u.OpenWrite(ctx, loc, flags)
	}
	name, err := s.name("open", loc)
	if err != nil {
		return nil, err
	}
	if loc.Key == "" {
		// Files live inside buckets; the root and the buckets are directories.
		if fi, err := s.root.Stat(name); err == nil && fi.IsDir() {
			return nil, storage.Errorf("open", loc, storage.KindIsDir, "", nil)
		}
		return nil, storage.Errorf("open", loc, storage.KindPermission, "files must be inside a bucket", nil)
	}
	flag := os.O_WRONLY
	if flags.Read {
		flag = os.O_RDWR
	}
	if flags.Create {
		flag |= os.O_CREATE
	}
	if flags.Truncate {
		flag |= os.O_TRUNC
	}
	if flags.Exclusive {
		flag |= os.O_EXCL
	}
	if s.publish {
		return s.openPublished(loc, name, flags)
	}
	var f *os.File
	if flags.Owner != nil && flags.Create {
		f, err = s.createOwned(loc, name, flag, *flags.Owner)
	} else {
		f, err = s.openRegular("open", loc, name, flag, filePerm)
	}
	if err != nil {
		return nil, err
	}
	w := &writeHandle{s: s, loc: loc, f: f}
	if flags.Read {
		return &readWriteHandle{w}, nil
	}
	return w, nil
}

// createOwned opens name with flag (which has O_CREATE), giving the file owner o when this open
// creates it: it first tries an exclusive create, so that it knows whether the file is new, and
// falls back to opening the existing file unless flag is exclusive itself. A new file whose owner
// cannot be set is removed again.
func (s *Store) createOwned(loc storage.Location, name string, flag int, o storage.Owner) (*os.File, error) {
	f, err := s.openRegular("open", loc, name, flag|os.O_EXCL, filePerm)
	if err == nil {
		if cerr := f.Chown(int(o.UID), int(o.GID)); cerr != nil {
			f.Close()
			s.root.Remove(name)
			return nil, s.chownFailed("open", loc, o, cerr)
		}
		return f, nil
	}
	if flag&os.O_EXCL != 0 || storage.KindOf(err) != storage.KindExist {
		return nil, err
	}
	return s.openRegular("open", loc, name, flag, filePerm)
}

// chownFailed is the error for an owner that could not be set: without root (or CAP_CHOWN) a
// process can give files only to itself.
func (s *Store) chownFailed(op string, loc storage.Location, o storage.Owner, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		// The client reads "Permission denied"; the reason is the operator's.
		return storage.Errorf(op, loc, storage.KindPermission, "",
			fmt.Errorf("giving it to uid %d gid %d needs root or CAP_CHOWN: %w", o.UID, o.GID, err))
	}
	return s.fail(op, loc, err)
}

// Chown gives loc the owner o (without following a symbolic link).
func (s *Store) Chown(ctx context.Context, loc storage.Location, o storage.Owner) (err error) {
	defer s.observed("Chown", time.Now(), &err)
	if u := s.confined(); u != nil {
		return u.chown(ctx, loc, o)
	}
	name, err := s.name("chown", loc)
	if err != nil {
		return err
	}
	if loc.IsRoot() {
		return storage.Errorf("chown", loc, storage.KindPermission, "the storage root cannot be changed", nil)
	}
	if err := s.root.Lchown(name, int(o.UID), int(o.GID)); err != nil {
		return s.chownFailed("chown", loc, o, err)
	}
	return nil
}

// openRegular opens name and makes sure it is a regular file with no other name (hard link) in
// the storage: a link planted by someone with disk access would otherwise let a user read or
// overwrite another user's file through its own directory. O_NONBLOCK keeps a FIFO planted in the
// tree from blocking the open; on a regular file it has no effect. O_TRUNC is applied only once
// the file passed those checks.
func (s *Store) openRegular(op string, loc storage.Location, name string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := s.root.OpenFile(name, flag&^os.O_TRUNC|syscall.O_NONBLOCK, perm)
	if err != nil {
		return nil, s.fail(op, loc, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, s.fail(op, loc, err)
	}
	if err := checkRegular(op, loc, fi); err != nil {
		f.Close()
		return nil, err
	}
	if flag&os.O_TRUNC != 0 && fi.Size() > 0 {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, s.fail(op, loc, err)
		}
	}
	return f, nil
}

// checkRegular refuses what openRegular does not open: directories, other non-regular files, and
// files with hard links.
func checkRegular(op string, loc storage.Location, fi fs.FileInfo) error {
	switch {
	case fi.IsDir():
		return storage.Errorf(op, loc, storage.KindIsDir, "", nil)
	case !fi.Mode().IsRegular():
		return storage.Errorf(op, loc, storage.KindInvalid, "not a regular file", nil)
	case links(fi) > 1:
		return storage.Errorf(op, loc, storage.KindPermission, "the file has other names (hard links) in the storage, which transferd does not serve", nil)
	}
	return nil
}

// Mkdir creates the directory loc; its parent must exist. Creating a bucket is allowed.
func (s *Store) Mkdir(ctx context.Context, loc storage.Location) (err error) {
	defer s.observed("Mkdir", time.Now(), &err)
	if u := s.confined(); u != nil {
		return u.Mkdir(ctx, loc)
	}
	name, err := s.name("mkdir", loc)
	if err != nil {
		return err
	}
	if loc.IsRoot() {
		return storage.Errorf("mkdir", loc, storage.KindExist, "", nil)
	}
	if err := s.root.Mkdir(name, dirPerm); err != nil {
		return s.fail("mkdir", loc, err)
	}
	return nil
}

// MkdirAll creates the directory loc and any missing parents.
func (s *Store) MkdirAll(ctx context.Context, loc storage.Location) (err error) {
	defer s.observed("MkdirAll", time.Now(), &err)
	if u := s.confined(); u != nil {
		return u.MkdirAll(ctx, loc)
	}
	name, err := s.name("mkdir", loc)
	if err != nil {
		return err
	}
	if err := s.root.MkdirAll(name, dirPerm); err != nil {
		return s.fail("mkdir", loc, err)
	}
	return nil
}

// Remove removes the file (or symbolic link) at loc; a directory is refused with KindIsDir.
func (s *Store) Remove(ctx context.Context, loc storage.Location) (err error) {
	defer s.observed("Remove", time.Now(), &err)
	if u := s.confined(); u != nil {
		return u.Remove(ctx, loc)
	}
	return s.remove("remove", loc, false)
}

// Rmdir removes the empty directory at loc.
func (s *Store) Rmdir(ctx context.Context, loc storage.Location) (err error) {
	defer s.observed("Rmdir", time.Now(), &err)
	if u := s.confined(); u != nil {
		return u.Rmdir(ctx, loc)
	}
	return s.remove("rmdir", loc, true)
}

// remove checks what loc is before removing it, because os.Root.Remove removes files and empty
// directories alike. Should loc be swapped between the check and the removal, the removal acts on
// what is there, as if the two requests had arrived in the other order.
func (s *Store) remove(op string, loc storage.Location, dir bool) error {
	name, err := s.name(op, loc)
	if err != nil {
		return err
	}
	if loc.IsRoot() {
		return storage.Errorf(op, loc, storage.KindPermission, "the storage root cannot be removed", nil)
	}
	fi, err := s.root.Lstat(name)
	if err != nil {
		return s.fail(op, loc, err)
	}
	switch {
	case dir && !fi.IsDir():
		return storage.Errorf(op, loc, storage.KindNotDir, "", nil)
	case !dir && fi.IsDir():
		return storage.Errorf(op, loc, storage.KindIsDir, "", nil)
	}
	if err := s.root.Remove(name); err != nil {
		return s.fail(op, loc, err)
	}
	return nil
}

// Rename moves a file or directory. Without replace an existing destination is an error of kind
// Exist; with replace it is replaced as rename(2) does. The check for an existing destination and
// the rename are two steps, so a destination created in between is replaced.
func (s *Store) Rename(ctx context.Context, from, to storage.Location, replace bool) (err error) {
	defer s.observed("Rename", time.Now(), &err)
	if u := s.confined(); u != nil {
		return u.Rename(ctx, from, to, replace)
	}
	fromName, err := s.name("rename", from)
	if err != nil {
		return err
	}
	toName, err := s.name("rename", to)
	if err != nil {
		return err
	}
	if from.IsRoot() || to.IsRoot() {
		return storage.Errorf("rename", from, storage.KindPermission, "the storage root cannot be renamed", nil)
	}
	if !replace {
		_, err := s.root.Lstat(toName)
		switch {
		case err == nil:
			return storage.Errorf("rename", to, storage.KindExist, "", nil)
		case !errors.Is(err, fs.ErrNotExist):
			return s.fail("rename", to, err)
		}
	}
	if err := s.root.Rename(fromName, toName); err != nil {
		return s.fail("rename", from, err)
	}
	return nil
}

// SetAttrs changes size, permission bits and times, in that order. Changing the owner is not
// supported, and a request that asks for it changes nothing.
func (s *Store) SetAttrs(ctx context.Context, loc storage.Location, attrs storage.Attrs) (err error) {
	defer s.observed("SetAttrs", time.Now(), &err)
	if u := s.confined(); u != nil {
		return u.SetAttrs(ctx, loc, attrs)
	}
	name, err := s.name("setstat", loc)
	if err != nil {
		return err
	}
	return s.setAttrs(loc, name, attrs)
}

// setAttrs is SetAttrs on the file name, which stands for loc. A file with hard links is refused,
// as openRegular refuses it.
func (s *Store) setAttrs(loc storage.Location, name string, attrs storage.Attrs) error {
	const op = "setstat"
	if fi, err := s.root.Lstat(name); err == nil && fi.Mode().IsRegular() && links(fi) > 1 {
		return checkRegular(op, loc, fi)
	}
	if attrs.UID != nil || attrs.GID != nil {
		return storage.Errorf(op, loc, storage.KindNotSupported, "changing owner is not supported", nil)
	}
	if loc.IsRoot() {
		return storage.Errorf(op, loc, storage.KindPermission, "the storage root cannot be changed", nil)
	}
	if attrs.Size != nil {
		if *attrs.Size < 0 {
			return storage.Errorf(op, loc, storage.KindInvalid, "negative size", nil)
		}
		f, err := s.openRegular(op, loc, name, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		err = f.Truncate(*attrs.Size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return s.fail(op, loc, err)
		}
	}
	if attrs.Mode != nil {
		if err := s.root.Chmod(name, attrs.Mode.Perm()); err != nil {
			return s.fail(op, loc, err)
		}
	}
	if attrs.Atime != nil || attrs.Mtime != nil {
		// A zero time leaves that time as it is.
		var atime, mtime time.Time
		if attrs.Atime != nil {
			atime = *attrs.Atime
		}
		if attrs.Mtime != nil {
			mtime = *attrs.Mtime
		}
		if err := s.root.Chtimes(name, atime, mtime); err != nil {
			return s.fail(op, loc, err)
		}
	}
	return nil
}

// Observed returns a store like s that tells observe of each of its operations (Stat, OpenWrite,
// Rename...): how long it took and its error, as metrics of storage requests want them.
func (s *Store) Observed(observe func(op string, d time.Duration, err error)) *Store {
	c := *s
	c.observe = observe
	return &c
}

// observed tells the observer, if any, of an operation that started at start and ends with *err.
func (s *Store) observed(op string, start time.Time, err *error) {
	if s.observe != nil {
		s.observe(op, time.Since(start), *err)
	}
}
