package sftpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/transferd/transferd/internal/iampolicy"
	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/transfer"
)

// guard decides, after homedir has resolved a request's path and before storage is touched,
// whether the session may do what the request asks: the session policy on S3-domain servers, the
// POSIX profile on EFS-domain ones. A refusal is a *storage.Error of kind KindPermission whose
// message says what was refused and why; the handlers turn it into SSH_FX_PERMISSION_DENIED and an
// ERROR record.
type guard interface {
	check(ctx context.Context, a access) error
}

// accessKind is what a request does to storage.
type accessKind int

const (
	accessList    accessKind = iota // read a directory's entries
	accessStat                      // read an entry's attributes
	accessOpen                      // open a file (read and/or write)
	accessMkdir                     // create a directory
	accessRmdir                     // remove an empty directory
	accessRemove                    // remove a file
	accessRename                    // move loc to to
	accessSetstat                   // change attributes
)

// access is one request's use of storage.
type access struct {
	kind  accessKind
	loc   storage.Location
	to    storage.Location // accessRename: the destination
	read  bool             // accessOpen: reads through the handle
	write bool             // accessOpen: writes through the handle
	attrs storage.Attrs    // accessSetstat: what changes
}

// newGuard returns the guard of a session, or nil when nothing but the home directory confines
// it: a user without a session policy on an S3-domain server, or without a POSIX profile on an
// EFS-domain one. Policies and profiles are checked when they are set; one that fails here was
// written to the store some other way, and the session is refused rather than left unconfined.
func newGuard(sess *transfer.Session, backend storage.Backend) (guard, error) {
	u := &sess.User
	if sess.Server.Domain == transfer.DomainEFS {
		if u.PosixProfile == nil {
			return nil, nil
		}
		return newPosixGuard(u.PosixProfile, backend)
	}
	p, err := iampolicy.ForUser(u)
	if err != nil || p == nil {
		return nil, err
	}
	return &policyGuard{policy: p, sourceIP: sess.RemoteIP, backend: backend}, nil
}

// policyGuard evaluates the session policy for the S3 actions each request needs, as Transfer
// Family's calls to S3 would need them under the user's role:
//
//	list a directory       s3:ListBucket on the bucket, s3:prefix "dir/" (or "" at the bucket), s3:delimiter "/"
//	list the buckets       s3:ListAllMyBuckets on *
//	stat                   s3:GetObject on the object, or s3:ListBucket with s3:prefix "key/"
//	open for reading       s3:GetObject
//	open for writing       s3:PutObject (and s3:GetObject if also reading)
//	mkdir / rmdir          s3:PutObject / s3:DeleteObject on the marker object "key/"
//	mkdir of a bucket      s3:CreateBucket on the bucket
//	remove                 s3:DeleteObject
//	rename                 s3:GetObject and s3:DeleteObject on the source, s3:PutObject on the
//	                       destination (and the same on their "key/" markers for a directory)
//	setstat                s3:PutObject
//
// Every request carries aws:SourceIp, the client's address.
type policyGuard struct {
	policy   *iampolicy.Bound
	sourceIP string
	backend  storage.Backend
}

// s3ARN is the ARN of a bucket or object.
func s3ARN(bucket, key string) string {
	if key == "" {
		return "arn:aws:s3:::" + bucket
	}
	return "arn:aws:s3:::" + bucket + "/" + key
}

func (g *policyGuard) request(action, bucket, key string) iampolicy.Request {
	return iampolicy.Request{Action: action, Resource: s3ARN(bucket, key), Context: map[string]string{iampolicy.KeySourceIP: g.sourceIP}}
}

func (g *policyGuard) list(bucket, prefix string) iampolicy.Request {
	return iampolicy.Request{Action: "s3:ListBucket", Resource: s3ARN(bucket, ""), Context: map[string]string{
		iampolicy.KeySourceIP: g.sourceIP, iampolicy.KeyS3Prefix: prefix, iampolicy.KeyS3Delimiter: "/"}}
}

// dirPrefix is the prefix of a directory's entries: "key/", or "" for a bucket.
func dirPrefix(key string) string {
	if key == "" {
		return ""
	}
	return key + "/"
}

func (g *policyGuard) check(ctx context.Context, a access) error {
	loc := a.loc
	switch a.kind {
	case accessList:
		if loc.IsRoot() {
			return g.need(a, iampolicy.Request{Action: "s3:ListAllMyBuckets", Resource: "*",
				Context: map[string]string{iampolicy.KeySourceIP: g.sourceIP}})
		}
		return g.need(a, g.list(loc.Bucket, dirPrefix(loc.Key)))
	case accessStat:
		if loc.IsRoot() {
			return nil // the list of buckets: nothing of it is read
		}
		if loc.Key == "" {
			return g.need(a, g.list(loc.Bucket, ""))
		}
		return g.needAny(a, g.request("s3:GetObject", loc.Bucket, loc.Key), g.list(loc.Bucket, dirPrefix(loc.Key)))
	case accessOpen:
		var reqs []iampolicy.Request
		if a.read {
			reqs = append(reqs, g.request("s3:GetObject", loc.Bucket, loc.Key))
		}
		if a.write {
			reqs = append(reqs, g.request("s3:PutObject", loc.Bucket, loc.Key))
		}
		return g.need(a, reqs...)
	case accessMkdir:
		if loc.Key == "" {
			return g.need(a, iampolicy.Request{Action: "s3:CreateBucket", Resource: s3ARN(loc.Bucket, ""),
				Context: map[string]string{iampolicy.KeySourceIP: g.sourceIP}})
		}
		return g.need(a, g.request("s3:PutObject", loc.Bucket, dirPrefix(loc.Key)))
	case accessRmdir:
		return g.need(a, g.request("s3:DeleteObject", loc.Bucket, dirPrefix(loc.Key)))
	case accessRemove:
		return g.need(a, g.request("s3:DeleteObject", loc.Bucket, loc.Key))
	case accessSetstat:
		return g.need(a, g.request("s3:PutObject", loc.Bucket, loc.Key))
	case accessRename:
		to := a.to
		reqs := []iampolicy.Request{
			g.request("s3:GetObject", loc.Bucket, loc.Key),
			g.request("s3:PutObject", to.Bucket, to.Key),
			g.request("s3:DeleteObject", loc.Bucket, loc.Key),
		}
		if err := g.need(a, reqs...); err != nil {
			return err
		}
		if _, ok := g.backend.(storage.CheckedRenamer); ok {
			return nil // the rename asks checkMove about each object it moves
		}
		fi, err := g.backend.Stat(ctx, loc)
		switch {
		case storage.KindOf(err) == storage.KindNotExist:
			return nil // the rename says so
		case err != nil:
			return err
		case !fi.IsDir():
			return nil
		}
		// Renaming a directory moves every object under it, as S3 would copy and delete them
		// one by one: each must be allowed, or a Deny written for part of the tree would be
		// side-stepped by renaming a directory above it.
		seen := 0
		return g.walk(ctx, a, "", &seen)
	}
	return refuse(a, "unknown request")
}

// maxRenameCheck bounds the entries a directory rename's check visits.
const maxRenameCheck = 10000

// checkMove checks one object of a directory rename: it is read and deleted at fromKey and
// written at toKey (a directory marker's keys end in "/").
func (g *policyGuard) checkMove(a access, fromKey, toKey string) error {
	return g.need(a,
		g.request("s3:GetObject", a.loc.Bucket, fromKey),
		g.request("s3:PutObject", a.to.Bucket, toKey),
		g.request("s3:DeleteObject", a.loc.Bucket, fromKey))
}

// walk checks the move of the directory a.loc/rel (its marker) and of everything below it,
// listing one directory at a time; more than maxRenameCheck entries are refused.
func (g *policyGuard) walk(ctx context.Context, a access, rel string, seen *int) error {
	key := func(base string) string { // the key of the entry rel (a directory's marker) under base
		if rel == "" {
			return base + "/"
		}
		return base + "/" + rel
	}
	if err := g.checkMove(a, key(a.loc.Key), key(a.to.Key)); err != nil {
		return err
	}
	dir := a.loc
	if rel != "" {
		dir.Key += "/" + strings.TrimSuffix(rel, "/")
	}
	subdirs, err := g.entries(ctx, a, dir, rel, seen)
	if err != nil {
		return err
	}
	for _, sub := range subdirs {
		if err := g.walk(ctx, a, sub, seen); err != nil {
			return err
		}
	}
	return nil
}

// entries checks the files of the directory dir (rel below a.loc) and returns its
// subdirectories, as rel paths ending in "/", with the lister closed.
func (g *policyGuard) entries(ctx context.Context, a access, dir storage.Location, rel string, seen *int) ([]string, error) {
	l, err := g.backend.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	if c, ok := l.(io.Closer); ok {
		defer c.Close()
	}
	var subdirs []string
	buf := make([]fs.FileInfo, 256)
	for off := int64(0); ; {
		n, err := l.ListAt(buf, off)
		for _, fi := range buf[:n] {
			if *seen++; *seen > maxRenameCheck {
				return nil, refuse(a, fmt.Sprintf("access denied: the directory holds more than %d entries, too many to check against the session policy one by one", maxRenameCheck))
			}
			child := rel + fi.Name()
			if fi.IsDir() {
				subdirs = append(subdirs, child+"/")
			} else if err := g.checkMove(a, a.loc.Key+"/"+child, a.to.Key+"/"+child); err != nil {
				return nil, err
			}
		}
		off += int64(n)
		if err == io.EOF {
			return subdirs, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// need allows the access when the policy allows every request.
func (g *policyGuard) need(a access, reqs ...iampolicy.Request) error {
	for _, r := range reqs {
		if d := g.policy.Evaluate(r); !d.Allowed {
			return policyDenied(a, r, d)
		}
	}
	return nil
}

// needAny allows the access when the policy allows one of the requests.
func (g *policyGuard) needAny(a access, reqs ...iampolicy.Request) error {
	for _, r := range reqs {
		if g.policy.Evaluate(r).Allowed {
			return nil
		}
	}
	names := make([]string, len(reqs))
	for i, r := range reqs {
		names[i] = describeRequest(r)
	}
	return refuse(a, fmt.Sprintf("access denied: %s: the session policy allows none of them", strings.Join(names, " or ")))
}

func policyDenied(a access, r iampolicy.Request, d iampolicy.Decision) error {
	return refuse(a, fmt.Sprintf("access denied: %s: %s", describeRequest(r), d))
}

// refusal is why a guard refused a request. The client reads only "Permission denied", as from
// Transfer Family: the reason names buckets, keys and policy statements (or other users' IDs and
// modes) that a LOGICAL home directory hides. The ERROR record and the log hold it.
type refusal struct{ why string }

func (r *refusal) Error() string { return r.why }

func refuse(a access, why string) error {
	return storage.Errorf("authorize", a.loc, storage.KindPermission, "", &refusal{why})
}

// recordMessage is what an ERROR record says of err: a guard's reason, or what the client reads
// with the storage's own error code (S3 NoSuchBucket), which the client does not see.
func recordMessage(err error) string {
	if r, ok := errors.AsType[*refusal](err); ok {
		return r.why
	}
	if se, ok := errors.AsType[*storage.Error](err); ok && se.Code != "" {
		return clientMessage(err) + " (" + se.Code + ")"
	}
	return clientMessage(err)
}

// describeRequest names a request in a refusal: the action, the resource and, for a listing, the
// prefix.
func describeRequest(r iampolicy.Request) string {
	if p, ok := r.Context[iampolicy.KeyS3Prefix]; ok {
		return fmt.Sprintf("%s on %s with s3:prefix %q", r.Action, r.Resource, p)
	}
	return r.Action + " on " + r.Resource
}
