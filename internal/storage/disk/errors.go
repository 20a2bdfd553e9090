package disk

import (
	"errors"
	"io/fs"
	"syscall"

	"github.com/transferd/transferd/internal/storage"
)

// fail translates an error from the file system into a *storage.Error, once: an error that is
// already classified passes through. The message comes from the kind or the errno and never holds
// a host path; err itself (whose paths are relative to the root) is kept for the operator's log.
func (s *Store) fail(op string, loc storage.Location, err error) error {
	if _, ok := errors.AsType[*storage.Error](err); ok {
		return err
	}
	kind, msg := s.classify(err)
	return storage.Errorf(op, loc, kind, msg, err)
}

func (s *Store) classify(err error) (storage.Kind, string) {
	if s.escapes != nil && errors.Is(err, s.escapes) {
		return storage.KindPermission, "path leads outside the storage"
	}
	if errno, ok := errors.AsType[syscall.Errno](err); ok {
		return errnoKind(errno), errno.Error()
	}
	var kind storage.Kind
	switch {
	case errors.Is(err, fs.ErrNotExist):
		kind = storage.KindNotExist
	case errors.Is(err, fs.ErrExist):
		kind = storage.KindExist
	case errors.Is(err, fs.ErrPermission):
		kind = storage.KindPermission
	case errors.Is(err, fs.ErrClosed):
		return storage.KindInvalid, "file already closed"
	case errors.Is(err, fs.ErrInvalid):
		kind = storage.KindInvalid
	default:
		kind = storage.KindInternal
	}
	return kind, kind.String()
}

func errnoKind(errno syscall.Errno) storage.Kind {
	switch errno {
	case syscall.ENOENT:
		return storage.KindNotExist
	case syscall.EEXIST:
		return storage.KindExist
	case syscall.EACCES, syscall.EPERM, syscall.EROFS:
		return storage.KindPermission
	case syscall.ENOTEMPTY:
		return storage.KindNotEmpty
	case syscall.EISDIR:
		return storage.KindIsDir
	case syscall.ENOTDIR:
		return storage.KindNotDir
	case syscall.ENAMETOOLONG, syscall.EINVAL, syscall.ELOOP:
		return storage.KindInvalid
	case syscall.EXDEV, syscall.ENOTSUP:
		return storage.KindNotSupported
	}
	return storage.KindInternal
}
