package homedir

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/transferd/transferd/internal/storage"
)

// Resolve turns a path a client sent into what it names. p may be relative (to Start), empty
// (Start itself), and may hold ".", "..", repeated and trailing slashes; it is cleaned as inside a
// chroot, where ".." at "/" stays at "/". Errors are *storage.Error with Op "resolve", Path the
// user-visible path and a message safe to show to the client:
//   - KindInvalid: p holds a NUL byte, a name longer than MaxNameLength bytes, or cleans to a
//     path longer than MaxPathLength bytes;
//   - KindNotExist: a LOGICAL path outside every mapping entry and not above one, or below a
//     Type FILE entry;
//   - KindPermission: a PATH path neither inside the home directory nor above it.
func (r *Resolver) Resolve(p string) (Resolved, error) {
	cp, err := r.clean(p)
	if err != nil {
		return Resolved{}, err
	}
	if t, rest, ok := r.match(cp); ok {
		if rest == "" {
			return Resolved{Path: cp, Location: t.loc, File: t.file, EntryPoint: true}, nil
		}
		if t.file {
			return Resolved{}, resolveError(cp, storage.KindNotExist, "no such file or directory")
		}
		return Resolved{Path: cp, Location: join(t.loc, rest)}, nil
	}
	if kids, ok := r.implied[cp]; ok {
		return Resolved{Path: cp, Virtual: true, Children: kids}, nil
	}
	if r.logical {
		return Resolved{}, resolveError(cp, storage.KindNotExist, "no such file or directory")
	}
	return Resolved{}, resolveError(cp, storage.KindPermission, "outside the home directory")
}

// clean returns the clean absolute form of p, resolving a relative p against r.start.
func (r *Resolver) clean(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", resolveError(quote(p), storage.KindInvalid, "path contains a NUL byte")
	}
	if isClean(p) {
		return p, nil
	}
	var buf []byte
	if !strings.HasPrefix(p, "/") && r.start != "/" {
		buf = make([]byte, 0, len(r.start)+1+len(p))
		buf = append(buf, r.start...)
	} else {
		buf = make([]byte, 0, len(p))
	}
	// buf holds the path so far without a trailing slash; empty is "/".
	for rest := p; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, "/")
		switch {
		case name == "" || name == ".":
		case name == "..":
			buf = buf[:max(bytes.LastIndexByte(buf, '/'), 0)]
		case len(name) > MaxNameLength:
			return "", resolveError(quote(p), storage.KindInvalid, "file name too long")
		default:
			buf = append(buf, '/')
			buf = append(buf, name...)
		}
	}
	if len(buf) == 0 {
		return "/", nil
	}
	if len(buf) > MaxPathLength {
		return "", resolveError(quote(p), storage.KindInvalid, "file name too long")
	}
	return string(buf), nil
}

// isClean reports whether p is already absolute and clean, within the length limits; the common
// case, which clean then returns without allocating. p holds no NUL.
func isClean(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) < 2 || len(p) > MaxPathLength || p[0] != '/' || p[len(p)-1] == '/' {
		return false
	}
	from := 1
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			name := p[from:i]
			if name == "" || name == "." || name == ".." || len(name) > MaxNameLength {
				return false
			}
			from = i + 1
		}
	}
	return true
}

// match finds the entry that p (clean, absolute) is or lies under and returns its target and the
// rest of p below it ("" for the entry itself, else names separated by '/'). Entries do not nest,
// so at most one matches; it walks up p's parents, starting at the longest that could be an entry.
func (r *Resolver) match(p string) (target, string, bool) {
	q := p
	if len(q) > r.longest {
		q = prefix(q, strings.LastIndexByte(q[:r.longest+1], '/'))
	}
	for {
		if t, ok := r.entries[q]; ok {
			if q == "/" {
				return t, p[1:], true
			}
			return t, strings.TrimPrefix(p[len(q):], "/"), true
		}
		if q == "/" {
			return target{}, "", false
		}
		q = prefix(q, strings.LastIndexByte(q, '/'))
	}
}

// prefix returns p[:i], or "/" when i is 0 (the parent of "/name" is "/").
func prefix(p string, i int) string {
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// join returns the location of rest (clean names separated by '/', not empty) inside loc.
func join(loc storage.Location, rest string) storage.Location {
	switch {
	case loc.Bucket == "":
		bucket, key, _ := strings.Cut(rest, "/")
		return storage.Location{Bucket: bucket, Key: key}
	case loc.Key == "":
		return storage.Location{Bucket: loc.Bucket, Key: rest}
	default:
		return storage.Location{Bucket: loc.Bucket, Key: loc.Key + "/" + rest}
	}
}

func resolveError(userPath string, kind storage.Kind, message string) error {
	return &storage.Error{Op: "resolve", Path: userPath, Kind: kind, Message: message}
}

// quote shows an unusable path in an error: quoted, and cut to its first 64 bytes.
func quote(p string) string {
	const keep = 64
	if len(p) > keep {
		return strconv.Quote(p[:keep]) + "..."
	}
	return strconv.Quote(p)
}
