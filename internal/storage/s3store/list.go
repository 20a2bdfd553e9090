package s3store

import (
	"context"
	"io"
	"io/fs"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/transferd/transferd/internal/storage"
)

// List lists the directory loc one ListObjectsV2 page (1,000 keys) at a time, with the delimiter
// "/": objects are files, common prefixes are directories, in S3's (lexicographic) order, and the
// directory's own marker is left out. Only the current page is held. The first page is fetched
// here so that a missing directory (KindNotExist) or a file (KindNotDir) is reported at once. The
// zero Location lists the buckets.
func (s *Store) List(ctx context.Context, loc storage.Location) (storage.Lister, error) {
	return s.list(ctx, loc, false)
}

// list is List; with stored, entries show the times and modes kept in metadata (StoredAttrs).
func (s *Store) list(ctx context.Context, loc storage.Location, stored bool) (storage.Lister, error) {
	const op = "list"
	if err := check(op, loc); err != nil {
		return nil, err
	}
	if loc.IsRoot() {
		return s.listBuckets(ctx)
	}
	l := &lister{s: s, ctx: context.WithoutCancel(ctx), loc: loc, stored: stored}
	if loc.Key != "" {
		l.prefix = loc.Key + "/"
	}
	objects, err := l.fetch(ctx)
	if err != nil {
		return nil, err
	}
	if objects == 0 && loc.Key != "" {
		// Not even a marker: the directory does not exist, unless a file is there.
		obj, err := s.head(ctx, op, loc)
		if err != nil {
			return nil, err
		}
		if obj != nil {
			return nil, storage.Errorf(op, loc, storage.KindNotDir, "", nil)
		}
		return nil, storage.Errorf(op, loc, storage.KindNotExist, "", nil)
	}
	return l, nil
}

// lister pages through a directory. It is built for pkg/sftp's pattern, where each offset is the
// previous one plus the entries returned; an offset before the current page restarts the listing
// from the first page.
type lister struct {
	s      *Store
	ctx    context.Context
	loc    storage.Location
	prefix string
	stored bool // entries show what their metadata keeps (StoredAttrs)

	mu        sync.Mutex
	page      []fs.FileInfo
	pageStart int64   // offset of page[0]
	token     *string // continuation token of the next page
	last      bool    // page is the last one
	closed    bool
}

// fetch replaces the page with the next one (the first one when token is nil) and returns how
// many keys S3 returned, the marker included.
func (l *lister) fetch(ctx context.Context) (int, error) {
	out, err := l.s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket:            &l.loc.Bucket,
		Prefix:            &l.prefix,
		Delimiter:         aws.String("/"),
		ContinuationToken: l.token,
		MaxKeys:           aws.Int32(l.s.listPageSize),
	})
	if err != nil {
		return 0, l.s.fail("list", l.loc, err)
	}
	l.pageStart += int64(len(l.page))
	l.page = l.page[:0]
	// Contents and CommonPrefixes are each sorted; merge them.
	objs, dirs := out.Contents, out.CommonPrefixes
	for len(objs) > 0 || len(dirs) > 0 {
		if len(dirs) == 0 || len(objs) > 0 && aws.ToString(objs[0].Key) < aws.ToString(dirs[0].Prefix) {
			o := objs[0]
			objs = objs[1:]
			name := strings.TrimPrefix(aws.ToString(o.Key), l.prefix)
			if name == "" { // the directory's own marker
				continue
			}
			l.page = append(l.page, objectInfo(name, o.Size, o.LastModified))
		} else {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(dirs[0].Prefix), l.prefix), "/")
			dirs = dirs[1:]
			if name == "" || strings.Contains(name, "/") { // "a//": not a name SFTP can show
				continue
			}
			l.page = append(l.page, dirInfo(name))
		}
	}
	if l.stored {
		if err := l.s.storedInfos(ctx, l.loc.Bucket, l.prefix, l.page); err != nil {
			return 0, err
		}
	}
	l.token = out.NextContinuationToken
	l.last = !aws.ToBool(out.IsTruncated) || l.token == nil
	return len(out.Contents) + len(out.CommonPrefixes), nil
}

// restart goes back to the first page.
func (l *lister) restart() error {
	l.page, l.pageStart, l.token, l.last = nil, 0, nil, false
	_, err := l.fetch(l.ctx)
	return err
}

// ListAt fills dst with the entries from offset on and returns io.EOF with the last page.
func (l *lister) ListAt(dst []fs.FileInfo, offset int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, storage.Errorf("list", l.loc, storage.KindInvalid, "listing already closed", nil)
	}
	if offset < 0 {
		return 0, storage.Errorf("list", l.loc, storage.KindInvalid, "negative offset", nil)
	}
	if offset < l.pageStart {
		if err := l.restart(); err != nil {
			return 0, err
		}
	}
	n := 0
	for {
		for i := offset + int64(n) - l.pageStart; n < len(dst) && i < int64(len(l.page)); i++ {
			dst[n] = l.page[i]
			n++
		}
		atEnd := offset+int64(n)-l.pageStart >= int64(len(l.page))
		if atEnd && l.last {
			return n, io.EOF
		}
		if n == len(dst) {
			return n, nil
		}
		if _, err := l.fetch(l.ctx); err != nil {
			return n, err
		}
	}
}

// Close ends the listing.
func (l *lister) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed, l.page = true, nil
	return nil
}

// listBuckets lists the buckets the credentials can see, as directories.
func (s *Store) listBuckets(ctx context.Context) (storage.Lister, error) {
	var infos []fs.FileInfo
	p := s3.NewListBucketsPaginator(s.client, &s3.ListBucketsInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.fail("list", storage.Location{}, err)
		}
		for _, b := range out.Buckets {
			fi := dirInfo(aws.ToString(b.Name))
			if b.CreationDate != nil {
				fi.mtime = *b.CreationDate
			}
			infos = append(infos, fi)
		}
	}
	return sliceLister(infos), nil
}

// sliceLister serves entries held in memory.
type sliceLister []fs.FileInfo

func (l sliceLister) ListAt(dst []fs.FileInfo, offset int64) (int, error) {
	if offset < 0 {
		return 0, storage.Errorf("list", storage.Location{}, storage.KindInvalid, "negative offset", nil)
	}
	if offset >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[offset:])
	if offset+int64(n) == int64(len(l)) {
		return n, io.EOF
	}
	return n, nil
}
