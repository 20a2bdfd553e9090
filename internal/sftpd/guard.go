package sftpd

import (
	"context"
	"fmt"
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
		if fi, err := g.backend.Stat(ctx, loc); err == nil && fi.IsDir() {
			// A directory's objects live under its prefix: check its marker too, which a policy
			// written for the prefix ("dir/*") matches.
			reqs = append(reqs,
				g.request("s3:GetObject", loc.Bucket, dirPrefix(loc.Key)),
				g.request("s3:PutObject", to.Bucket, dirPrefix(to.Key)),
				g.request("s3:DeleteObject", loc.Bucket, dirPrefix(loc.Key)))
		}
		return g.need(a, reqs...)
	}
	return storage.Errorf("authorize", loc, storage.KindPermission, "unknown request", nil)
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
	msg := fmt.Sprintf("access denied: %s: the session policy allows none of them", strings.Join(names, " or "))
	return storage.Errorf("authorize", a.loc, storage.KindPermission, msg, nil)
}

func policyDenied(a access, r iampolicy.Request, d iampolicy.Decision) error {
	msg := fmt.Sprintf("access denied: %s: %s", describeRequest(r), d)
	return storage.Errorf("authorize", a.loc, storage.KindPermission, msg, nil)
}

// describeRequest names a request in a refusal: the action, the resource and, for a listing, the
// prefix.
func describeRequest(r iampolicy.Request) string {
	if p, ok := r.Context[iampolicy.KeyS3Prefix]; ok {
		return fmt.Sprintf("%s on %s with s3:prefix %q", r.Action, r.Resource, p)
	}
	return r.Action + " on " + r.Resource
}
