// Package storage is the contract between the SFTP layer and the places files live: locations
// (/bucket/key), small interfaces a backend implements, and the closed set of error kinds that
// backends translate their own errors into.
package storage

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"time"
)

// Location is a place in storage: a bucket and a key inside it. Key is "" for the bucket itself
// and never starts or ends with '/'. The zero Location is the storage root (the list of buckets).
type Location struct {
	Bucket string
	Key    string
}

// String returns the storage path /bucket/key, as activity records show it.
func (l Location) String() string {
	switch {
	case l.Bucket == "":
		return "/"
	case l.Key == "":
		return "/" + l.Bucket
	default:
		return "/" + l.Bucket + "/" + l.Key
	}
}

// IsRoot reports whether l is the storage root.
func (l Location) IsRoot() bool { return l.Bucket == "" }

// ParseLocation splits a clean absolute storage path (/bucket/a/b) into a Location. The caller
// guarantees cleanliness (homedir does); ParseLocation only splits.
func ParseLocation(p string) Location {
	p = strings.Trim(p, "/")
	if p == "" {
		return Location{}
	}
	bucket, key, _ := strings.Cut(p, "/")
	return Location{Bucket: bucket, Key: key}
}

// Join returns the location of name inside l.
func (l Location) Join(name string) Location {
	switch {
	case l.Bucket == "":
		return Location{Bucket: name}
	case l.Key == "":
		return Location{Bucket: l.Bucket, Key: name}
	default:
		return Location{Bucket: l.Bucket, Key: l.Key + "/" + name}
	}
}

// OpenFlags say how a file is opened for writing.
type OpenFlags struct {
	Read      bool // also readable through the same handle
	Create    bool
	Truncate  bool
	Exclusive bool
	Append    bool
	// Owner, when set, is the POSIX owner a file that this open creates gets; an existing file
	// keeps its owner. A backend without POSIX owners (see Chowner) refuses it with
	// KindNotSupported; one that cannot give the file this owner refuses the open with
	// KindPermission and leaves no file behind.
	Owner *Owner
}

// Owner is a POSIX owner: a user ID and a group ID.
type Owner struct {
	UID, GID uint32
}

// Attrs are the attributes a SETSTAT may change; nil fields are left alone.
type Attrs struct {
	Mode  *fs.FileMode
	Size  *int64
	Atime *time.Time
	Mtime *time.Time
	UID   *uint32
	GID   *uint32
}

// ReadHandle is an open file being read.
type ReadHandle interface {
	io.ReaderAt
	io.Closer
}

// WriteHandle is an open file being written. Close commits it and reports whether that worked;
// Abort gives up (the client went away mid-transfer) and says what became of the data.
type WriteHandle interface {
	io.WriterAt
	io.Closer
	Abort(cause error) error
}

// StatHandle is a write handle that describes the file as written so far: a regular file whose
// size is the end of the furthest write, written or waiting, and whose time is that of the last
// write (or of the open). Clients ask (FSTAT) before CLOSE, when S3 has no object yet.
type StatHandle interface {
	Stat() (fs.FileInfo, error)
}

// ReadWriteHandle is a file open for reading and writing through one handle.
type ReadWriteHandle interface {
	WriteHandle
	io.ReaderAt
}

// Lister pages through a directory: it fills dst with entries from offset on and returns io.EOF
// with the last page, as pkg/sftp's ListerAt.
type Lister interface {
	ListAt(dst []fs.FileInfo, offset int64) (int, error)
}

// Reader is the read side of a backend.
type Reader interface {
	Stat(ctx context.Context, loc Location) (fs.FileInfo, error)
	List(ctx context.Context, loc Location) (Lister, error)
	OpenRead(ctx context.Context, loc Location) (ReadHandle, error)
}

// Writer is the write side of a backend.
type Writer interface {
	OpenWrite(ctx context.Context, loc Location, flags OpenFlags) (WriteHandle, error)
	Mkdir(ctx context.Context, loc Location) error
	Remove(ctx context.Context, loc Location) error // a file
	Rmdir(ctx context.Context, loc Location) error  // an empty directory
}

// Backend is a whole storage backend.
type Backend interface {
	Reader
	Writer
}

// Renamer is a backend that renames files and directories. Replace says whether an existing
// destination is replaced (posix-rename) or an error of kind Exists.
type Renamer interface {
	Rename(ctx context.Context, from, to Location, replace bool) error
}

// CheckedRenamer is a Renamer whose directory renames move objects one by one (S3's copy and
// delete): it calls check with each object's key and the key it moves to (a directory marker's
// with its trailing "/") before it moves any, and refuses the rename with check's error. The keys
// checked are exactly those moved.
type CheckedRenamer interface {
	RenameChecked(ctx context.Context, from, to Location, replace bool, check func(fromKey, toKey string) error) error
}

// AttrSetter is a backend that changes attributes.
type AttrSetter interface {
	SetAttrs(ctx context.Context, loc Location, attrs Attrs) error
}

// AttrHandle is a write handle whose file's attributes are changed through it until it is
// closed: an upload published at CLOSE, whose name still holds the old file.
type AttrHandle interface {
	SetAttrs(attrs Attrs) error
}

// Chowner is a backend whose files and directories have POSIX owners that can be changed. Its
// Stat results carry the owner in Sys() (*syscall.Stat_t).
type Chowner interface {
	Chown(ctx context.Context, loc Location, o Owner) error
}

// Identity is a POSIX identity: a user, its primary group and its other groups.
type Identity struct {
	UID, GID uint32
	Groups   []uint32
}

// Impersonator is a backend that can do its work as a POSIX identity, so that the operating
// system checks every access for that identity, atomically with the access, and gives what it
// creates that owner (and a setgid directory's group). As returns an error when it cannot, for
// instance without the privilege to change its file-system identity.
type Impersonator interface {
	As(id Identity) (Backend, error)
}

// SpaceInfo is what statvfs reports.
type SpaceInfo struct {
	BlockSize, FragmentSize               uint64
	Blocks, BlocksFree, BlocksAvail       uint64
	Files, FilesFree, FilesAvail, MaxName uint64
	ReadOnly                              bool
}

// SpaceReporter is a backend that can tell how much space is left.
type SpaceReporter interface {
	Space(ctx context.Context, loc Location) (SpaceInfo, error)
}

// Tag is an object tag.
type Tag struct {
	Key, Value string
}

// Tagger keeps object tags, as S3 does (workflows' TAG steps set them).
type Tagger interface {
	// AddTags sets tags on a file, keeping its other tags, and returns all of them, sorted by key.
	AddTags(ctx context.Context, loc Location, tags []Tag) ([]Tag, error)
}

// DirMaker is a backend that can create a directory and its missing parents, used to create home
// directories on first login where the storage has real directories.
type DirMaker interface {
	MkdirAll(ctx context.Context, loc Location) error
}

// Kind classifies a storage error.
type Kind int

// The closed set of storage error kinds.
const (
	KindInternal Kind = iota
	KindNotExist
	KindExist
	KindPermission
	KindInvalid
	KindNotSupported
	KindNotEmpty
	KindIsDir
	KindNotDir
	KindThrottled
)

var kindNames = [...]string{"internal error", "no such file or directory", "already exists", "permission denied",
	"invalid argument", "operation not supported", "directory not empty", "is a directory", "not a directory", "throttled"}

func (k Kind) String() string {
	if int(k) >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown error"
}

// Error is a classified storage error. Message is safe to show to a client: it never holds a path
// on the host; Err (the backend's own error, possibly with host paths) is for the operator's log.
type Error struct {
	Op      string
	Path    string // the storage path (/bucket/key)
	Kind    Kind
	Message string
	// Code is the backend's own name for the error, e.g. "S3 NoSuchBucket": for activity records
	// and logs, not for clients. Empty when the backend has none.
	Code string
	Err  error
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Kind.String()
	}
	s := e.Op + " " + e.Path + ": " + msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain; KindInternal otherwise.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Errorf returns a classified error with a client-safe message.
func Errorf(op string, loc Location, kind Kind, message string, err error) error {
	return &Error{Op: op, Path: loc.String(), Kind: kind, Message: message, Err: err}
}
