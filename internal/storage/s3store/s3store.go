// Package s3store is the S3 storage backend: files are objects in AWS S3 or any S3-compatible
// server, reached with aws-sdk-go-v2, and look over SFTP as they do on AWS Transfer Family.
//
// A Location {Bucket, Key} is the object Key in Bucket; the zero Location lists the buckets.
// Directories are zero-byte objects whose key ends in "/" (markers) and the common prefixes of a
// delimited listing, so a directory exists when its marker or any object below it does.
// Buckets are not created, renamed or removed over SFTP.
//
// Uploads stream: a write handle keeps a bounded reorder buffer of the out-of-order writes an SFTP
// server makes, cuts the contiguous bytes into parts of a multipart upload whose sizes grow so that
// a file can reach S3's 5 TiB limit, and sends a file that fits in one part as one PutObject. The
// object appears only when Close succeeds; Abort leaves no object and no multipart upload.
// Random-access writes, append and resume are refused with KindNotSupported, as Transfer Family
// does. Reads stream one ranged GET per handle, read ahead of the client by a goroutine, and open
// another when the reader seeks.
package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/transferd/transferd/internal/storage"
)

// S3's limits, and the defaults derived from them.
const (
	minPartSize  = 5 << 20  // every part but the last
	maxPartSize  = 5 << 30  // any part, and the largest single PutObject or CopyObject
	maxParts     = 10_000   // parts in one multipart upload
	maxObject    = 5 << 40  // the largest object
	defaultPart  = 8 << 20  // first part of an upload
	defaultBuf   = 16 << 20 // reorder window of a write handle
	defaultMaxRn = 1000     // objects in a directory rename
	// partsPerDoubling is how many parts share one size before it doubles: with the smallest
	// first part (5 MiB) 10,000 parts still hold more than 5 TiB (see TestPartSizes).
	partsPerDoubling = 900
	// copyPartSize is the part size of a multipart copy: 10,000 of them exceed 5 TiB.
	copyPartSize = 1 << 29
	// uploadsInFlight is how many parts of one handle are uploaded at once.
	uploadsInFlight = 2
	// listPageSize is how many keys one ListObjectsV2 request asks for (S3's maximum).
	listPageSize = 1000
)

// Options configure a Store. The zero value of each field means its default.
type Options struct {
	// Endpoint is the S3 endpoint URL, e.g. http://127.0.0.1:7070; empty means AWS.
	Endpoint string
	// Region is the signing region; empty means us-east-1.
	Region string
	// ForcePathStyle addresses buckets as ENDPOINT/bucket rather than bucket.ENDPOINT, as most
	// S3-compatible servers need.
	ForcePathStyle bool
	// AccessKeyID and SecretAccessKey are static credentials; when both are empty the standard
	// AWS credential chain is used (environment, shared config and profile, web identity,
	// ECS and EC2 instance roles).
	AccessKeyID, SecretAccessKey string
	// SessionToken goes with temporary credentials.
	SessionToken string
	// ChecksumWhenRequired sends request checksums only where S3 requires them, for older
	// S3-compatible servers that reject the CRC32 checksums the SDK sends by default.
	ChecksumWhenRequired bool
	// PartSize is the size of the first part of a multipart upload (default 8 MiB, at least
	// 5 MiB); later parts double every 900 parts so that 10,000 parts reach 5 TiB. A file of at
	// most PartSize bytes is sent as one PutObject.
	PartSize int64
	// MaxBufferPerHandle bounds the bytes a write handle holds ahead of the contiguous data
	// (default 16 MiB): a write that ends further ahead is refused as a random-access write.
	MaxBufferPerHandle int64
	// MaxRenameObjects is the most objects a directory rename copies (default 1000); larger
	// directories are refused with KindNotSupported. NoDirectoryRenames refuses them all.
	MaxRenameObjects int
	// Logger gets the warnings of the store: a bucket that requests name but S3 does not have
	// (once per bucket every MissingBucketLogEvery). Nil logs nothing.
	Logger *slog.Logger
	// Observe, when set, is told of every S3 request the store makes (retries included): the
	// operation's name (PutObject, UploadPart...), how long it took and its error.
	Observe func(operation string, d time.Duration, err error)
	// Uploads, when set, is told of every multipart upload the store starts and ends, so that
	// the uploads of a process that died can be found and aborted (AbortUpload) by another.
	Uploads UploadRegistry
}

// UploadRegistry keeps the multipart uploads in progress. Starting is told before the upload is
// created, and returns a token for it; Started gets the ID S3 gave it; Ended is told once it is
// completed or aborted (or could not be created). An error from Starting is logged and the upload
// goes on untracked.
type UploadRegistry interface {
	Starting(ctx context.Context, bucket, key string) (token string, err error)
	Started(ctx context.Context, token, uploadID string)
	Ended(ctx context.Context, token string)
}

// MissingBucketLogEvery is how often the store logs again that a bucket does not exist.
const MissingBucketLogEvery = 10 * time.Minute

// NoDirectoryRenames as Options.MaxRenameObjects refuses every directory rename.
const NoDirectoryRenames = -1

// Store is a storage backend over S3. It is safe for concurrent use.
type Store struct {
	client *s3.Client
	opts   Options // defaulted
	// checksum is the algorithm sent with uploads; "" leaves it to the client's setting.
	checksum types.ChecksumAlgorithm

	// Tunables that tests lower to exercise paging and multipart copy with small data.
	listPageSize       int32
	copyThreshold      int64 // above this a copy is a multipart copy
	copyPartSize       int64
	partsPerDoubleSize int32
	straggle           int64        // see defaultStraggle
	gets               atomic.Int64 // GETs read handles made, for tests
	// partBufs recycles the buffers parts are cut from: a fresh 8 MiB buffer per part costs
	// zeroing, page faults and garbage collection on every upload.
	partBufs sync.Pool // of *[]byte
	// chunkBufs recycles the buffers out-of-order writes wait in.
	chunkBufs sync.Pool // of *[]byte of chunkBufSize

	log           *slog.Logger
	missingMu     sync.Mutex
	missingLogged map[string]time.Time // bucket → when the store last said it does not exist
}

// missingBucket tells the operator that requests name a bucket S3 does not have, once per bucket
// every MissingBucketLogEvery: users see "No such file", and their records the code.
func (s *Store) missingBucket(bucket, op string) {
	s.missingMu.Lock()
	last, seen := s.missingLogged[bucket]
	now := time.Now()
	logIt := !seen || now.Sub(last) >= MissingBucketLogEvery
	if logIt {
		s.missingLogged[bucket] = now
	}
	s.missingMu.Unlock()
	if logIt {
		s.log.Warn("S3 bucket does not exist: requests for it fail (NoSuchBucket)", "bucket", bucket, "operation", op,
			"endpoint", s.opts.Endpoint)
	}
}

// partBuf returns an empty buffer with room for n bytes, recycled when one is large enough.
func (s *Store) partBuf(n int) []byte {
	if v, ok := s.partBufs.Get().(*[]byte); ok && cap(*v) >= n {
		return (*v)[:0]
	}
	return make([]byte, 0, n)
}

// chunkBufSize is the size of the recycled buffers that hold out-of-order writes: SFTP writes are
// at most 256 KiB (OpenSSH's and pkg/sftp's largest packet).
const chunkBufSize = 256 << 10

// chunkBuf returns a copy of p, an out-of-order write, in a recycled buffer when it fits one: the
// SFTP layer's workers write out of order all the time, and a fresh copy of each made garbage at
// the rate of the upload.
func (s *Store) chunkBuf(p []byte) []byte {
	if len(p) > chunkBufSize {
		return bytes.Clone(p)
	}
	b, ok := s.chunkBufs.Get().(*[]byte)
	if !ok {
		buf := make([]byte, chunkBufSize)
		b = &buf
	}
	return append((*b)[:0], p...)
}

// recycleChunkBuf gives back a buffer from chunkBuf once its bytes are copied.
func (s *Store) recycleChunkBuf(b []byte) {
	if cap(b) == chunkBufSize {
		b = b[:0]
		s.chunkBufs.Put(&b)
	}
}

// recyclePartBuf gives back a buffer from partBuf once nothing refers to it.
func (s *Store) recyclePartBuf(b []byte) {
	if cap(b) >= int(s.opts.PartSize) {
		b = b[:0]
		s.partBufs.Put(&b)
	}
}

var (
	_ storage.Backend    = (*Store)(nil)
	_ storage.Renamer    = (*Store)(nil)
	_ storage.AttrSetter = (*Store)(nil)
)

// New validates opts and returns a store. It makes no request: a wrong endpoint or key shows on
// first use.
func New(ctx context.Context, opts Options) (*Store, error) {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.PartSize == 0 {
		opts.PartSize = defaultPart
	}
	if opts.MaxBufferPerHandle == 0 {
		opts.MaxBufferPerHandle = defaultBuf
	}
	if opts.MaxRenameObjects == 0 {
		opts.MaxRenameObjects = defaultMaxRn
	}
	switch {
	case opts.PartSize < minPartSize || opts.PartSize > maxPartSize:
		return nil, fmt.Errorf("s3 storage: PartSize %d is outside S3's part sizes (%d to %d bytes)", opts.PartSize, minPartSize, maxPartSize)
	case opts.MaxBufferPerHandle < 0:
		return nil, fmt.Errorf("s3 storage: MaxBufferPerHandle %d is negative", opts.MaxBufferPerHandle)
	case opts.MaxRenameObjects < NoDirectoryRenames:
		return nil, fmt.Errorf("s3 storage: MaxRenameObjects %d is negative", opts.MaxRenameObjects)
	case (opts.AccessKeyID == "") != (opts.SecretAccessKey == ""):
		return nil, errors.New("s3 storage: set both AccessKeyId and SecretAccessKey, or neither to use the standard AWS credential chain")
	}
	so := s3.Options{
		Region:       opts.Region,
		UsePathStyle: opts.ForcePathStyle,
	}
	if opts.AccessKeyID != "" {
		so.Credentials = credentials.NewStaticCredentialsProvider(opts.AccessKeyID, opts.SecretAccessKey, opts.SessionToken)
	} else {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(opts.Region))
		if err != nil {
			return nil, fmt.Errorf("s3 storage: loading the AWS credential chain: %w", err)
		}
		so.Credentials = cfg.Credentials
	}
	if opts.Endpoint != "" {
		u, err := url.Parse(opts.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3 storage: Endpoint %q is not an http or https URL", opts.Endpoint)
		}
		so.BaseEndpoint = aws.String(opts.Endpoint)
	}
	s := &Store{
		opts:               opts,
		listPageSize:       listPageSize,
		copyThreshold:      maxPartSize,
		copyPartSize:       copyPartSize,
		partsPerDoubleSize: partsPerDoubling,
		straggle:           defaultStraggle,
		log:                opts.Logger,
		missingLogged:      map[string]time.Time{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.ChecksumWhenRequired {
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	} else {
		s.checksum = types.ChecksumAlgorithmCrc32
	}
	if opts.Observe != nil {
		so.APIOptions = append(so.APIOptions, observeRequests(opts.Observe))
	}
	s.client = s3.New(so)
	return s, nil
}

// check refuses locations a clean storage path never holds: a key without a bucket, empty, "."
// or ".." elements. S3 would accept most of them, but they could not be shown over SFTP.
func check(op string, loc storage.Location) error {
	if loc.Bucket == "" {
		if loc.Key != "" {
			return storage.Errorf(op, loc, storage.KindInvalid, "key without a bucket", nil)
		}
		return nil
	}
	if strings.Contains(loc.Bucket, "/") {
		return storage.Errorf(op, loc, storage.KindInvalid, "invalid bucket name", nil)
	}
	if loc.Key == "" {
		return nil
	}
	for elem := range strings.SplitSeq(loc.Key, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return storage.Errorf(op, loc, storage.KindInvalid, "invalid path", nil)
		}
	}
	return nil
}

// fileInfo describes an object, a directory or a bucket.
type fileInfo struct {
	name  string
	size  int64
	mtime time.Time
	dir   bool
	perm  fs.FileMode // permission bits kept in the object's metadata (hasPerm)
	// hasPerm says perm was stored (STORE_METADATA); otherwise Mode is Transfer Family's.
	hasPerm bool
}

// Modes as Transfer Family shows them: drwxr--r-- for directories; files are not documented.
const (
	dirMode  = fs.ModeDir | 0o744
	fileMode = 0o644
)

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) ModTime() time.Time { return fi.mtime }
func (fi *fileInfo) IsDir() bool        { return fi.dir }
func (fi *fileInfo) Sys() any           { return nil }
func (fi *fileInfo) Mode() fs.FileMode {
	switch {
	case fi.hasPerm && fi.dir:
		return fs.ModeDir | fi.perm
	case fi.hasPerm:
		return fi.perm
	case fi.dir:
		return dirMode
	}
	return fileMode
}

// dirInfo describes a directory; directories have no time on S3, shown as the epoch like AWS.
func dirInfo(name string) *fileInfo {
	return &fileInfo{name: name, mtime: time.Unix(0, 0).UTC(), dir: true}
}

func objectInfo(name string, size *int64, mtime *time.Time) *fileInfo {
	return &fileInfo{name: name, size: aws.ToInt64(size), mtime: aws.ToTime(mtime)}
}

// object is what HeadObject tells about an existing object.
type object struct {
	size int64
	etag string
	info *fileInfo
	// head is the whole answer, for the metadata and headers a copy keeps; nil when the object
	// was seen in a listing.
	head *s3.HeadObjectOutput
}

// head looks up the object at loc. It returns nil, nil when there is none.
func (s *Store) head(ctx context.Context, op string, loc storage.Location) (*object, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &loc.Bucket, Key: &loc.Key})
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, s.fail(op, loc, err)
	}
	return &object{
		size: aws.ToInt64(out.ContentLength),
		etag: aws.ToString(out.ETag),
		info: objectInfo(path.Base(loc.Key), out.ContentLength, out.LastModified),
		head: out,
	}, nil
}

// isDir reports whether loc is a directory: the root, an existing bucket, or a key with a marker
// or any object below it.
func (s *Store) isDir(ctx context.Context, op string, loc storage.Location) (bool, error) {
	switch {
	case loc.IsRoot():
		return true, nil
	case loc.Key == "":
		_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &loc.Bucket})
		if err != nil {
			if isNotFound(err) {
				return false, nil
			}
			return false, s.fail(op, loc, err)
		}
		return true, nil
	}
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: &loc.Bucket, Prefix: aws.String(loc.Key + "/"), MaxKeys: aws.Int32(1),
	})
	if err != nil {
		// No bucket: nothing under it exists, and the error says why (NoSuchBucket) for the
		// records and the log.
		return false, s.fail(op, loc, err)
	}
	return len(out.Contents) > 0 || len(out.CommonPrefixes) > 0, nil
}

// parent returns the directory holding loc.
func parent(loc storage.Location) storage.Location {
	dir := path.Dir(loc.Key)
	if dir == "." {
		dir = ""
	}
	return storage.Location{Bucket: loc.Bucket, Key: dir}
}

// Stat tells files from directories: an object at the key is a file; otherwise a marker or any
// object below the key makes it a directory. The root and existing buckets are directories.
func (s *Store) Stat(ctx context.Context, loc storage.Location) (fs.FileInfo, error) {
	return s.stat(ctx, loc, false)
}

// stat is Stat; with stored, the times and modes kept in metadata are shown (STORE_METADATA).
func (s *Store) stat(ctx context.Context, loc storage.Location, stored bool) (fs.FileInfo, error) {
	const op = "stat"
	if err := check(op, loc); err != nil {
		return nil, err
	}
	if loc.Key != "" {
		obj, err := s.head(ctx, op, loc)
		if err != nil {
			return nil, err
		}
		if obj != nil {
			if stored {
				return withStoredAttrs(obj.info, obj.head.Metadata), nil
			}
			return obj.info, nil
		}
	}
	dir, err := s.isDir(ctx, op, loc)
	if err != nil {
		return nil, err
	}
	if !dir {
		return nil, storage.Errorf(op, loc, storage.KindNotExist, "", nil)
	}
	if stored && loc.Key != "" {
		return s.storedDirInfo(ctx, op, loc, dirInfo(path.Base(loc.Key)))
	}
	switch {
	case loc.IsRoot():
		return dirInfo("/"), nil
	case loc.Key == "":
		return dirInfo(loc.Bucket), nil
	}
	return dirInfo(path.Base(loc.Key)), nil
}

// Mkdir writes the marker object "key/". The parent directory must exist; buckets are not
// created (KindPermission).
func (s *Store) Mkdir(ctx context.Context, loc storage.Location) error {
	const op = "mkdir"
	if err := check(op, loc); err != nil {
		return err
	}
	switch {
	case loc.IsRoot():
		return storage.Errorf(op, loc, storage.KindExist, "", nil)
	case loc.Key == "":
		return storage.Errorf(op, loc, storage.KindPermission, "buckets are not created over SFTP", nil)
	}
	obj, err := s.head(ctx, op, loc)
	if err != nil {
		return err
	}
	if obj != nil {
		return storage.Errorf(op, loc, storage.KindExist, "", nil)
	}
	if dir, err := s.isDir(ctx, op, loc); err != nil {
		return err
	} else if dir {
		return storage.Errorf(op, loc, storage.KindExist, "", nil)
	}
	if dir, err := s.isDir(ctx, op, parent(loc)); err != nil {
		return err
	} else if !dir {
		return storage.Errorf(op, loc, storage.KindNotExist, "", nil)
	}
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &loc.Bucket, Key: aws.String(loc.Key + "/"), ContentLength: aws.Int64(0),
		Body: strings.NewReader(""),
	})
	if err != nil {
		return s.fail(op, loc, err)
	}
	return nil
}

// Rmdir removes the marker of an empty directory. A directory holding any other object is not
// empty (KindNotEmpty); buckets are not removed (KindPermission).
func (s *Store) Rmdir(ctx context.Context, loc storage.Location) error {
	const op = "rmdir"
	if err := check(op, loc); err != nil {
		return err
	}
	if loc.Key == "" {
		return storage.Errorf(op, loc, storage.KindPermission, "buckets are not removed over SFTP", nil)
	}
	marker := loc.Key + "/"
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: &loc.Bucket, Prefix: &marker, MaxKeys: aws.Int32(2),
	})
	if err != nil {
		return s.fail(op, loc, err)
	}
	if len(out.Contents) == 0 {
		obj, err := s.head(ctx, op, loc)
		if err != nil {
			return err
		}
		if obj != nil {
			return storage.Errorf(op, loc, storage.KindNotDir, "", nil)
		}
		return storage.Errorf(op, loc, storage.KindNotExist, "", nil)
	}
	// The marker sorts before every other key under it.
	if len(out.Contents) > 1 || aws.ToString(out.Contents[0].Key) != marker {
		return storage.Errorf(op, loc, storage.KindNotEmpty, "", nil)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &loc.Bucket, Key: &marker}); err != nil {
		return s.fail(op, loc, err)
	}
	return nil
}

// Remove deletes the object at loc; a directory is refused with KindIsDir.
func (s *Store) Remove(ctx context.Context, loc storage.Location) error {
	const op = "remove"
	if err := check(op, loc); err != nil {
		return err
	}
	if loc.Key == "" {
		return storage.Errorf(op, loc, storage.KindIsDir, "", nil)
	}
	obj, err := s.head(ctx, op, loc)
	if err != nil {
		return err
	}
	if obj == nil {
		if dir, err := s.isDir(ctx, op, loc); err != nil {
			return err
		} else if dir {
			return storage.Errorf(op, loc, storage.KindIsDir, "", nil)
		}
		return storage.Errorf(op, loc, storage.KindNotExist, "", nil)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &loc.Bucket, Key: &loc.Key}); err != nil {
		return s.fail(op, loc, err)
	}
	return nil
}

// SetAttrs refuses: S3 objects have no mode, owner or settable times. Whether a client sees the
// refusal is the SFTP layer's choice (the server's SetStatOption); StoredAttrs keeps times and
// modes in metadata instead.
func (s *Store) SetAttrs(ctx context.Context, loc storage.Location, attrs storage.Attrs) error {
	return storage.Errorf("setstat", loc, storage.KindNotSupported, msgNoAttrs, nil)
}

// missingOrDir returns the error for opening loc when no object is there: KindIsDir for a
// directory, KindNotExist otherwise.
func (s *Store) missingOrDir(ctx context.Context, op string, loc storage.Location) error {
	dir, err := s.isDir(ctx, op, loc)
	if err != nil {
		return err
	}
	if dir {
		return storage.Errorf(op, loc, storage.KindIsDir, "", nil)
	}
	return storage.Errorf(op, loc, storage.KindNotExist, "", nil)
}

// trackedUpload is a multipart upload the registry was told of.
type trackedUpload struct {
	s     *Store
	token string // "": no registry, or it could not record the upload
}

// trackUpload tells the registry that a multipart upload of loc is about to be created: a process
// may die between its creation and the next call, and the upload must still be found.
func (s *Store) trackUpload(ctx context.Context, loc storage.Location) trackedUpload {
	if s.opts.Uploads == nil {
		return trackedUpload{}
	}
	token, err := s.opts.Uploads.Starting(ctx, loc.Bucket, loc.Key)
	if err != nil {
		s.log.Warn("a multipart upload could not be recorded: if this process dies before it ends, it is left for the bucket's lifecycle rules",
			"bucket", loc.Bucket, "key", loc.Key, "err", err)
		return trackedUpload{}
	}
	return trackedUpload{s, token}
}

// started tells the registry the ID S3 gave the upload.
func (t trackedUpload) started(ctx context.Context, uploadID string) {
	if t.token != "" {
		t.s.opts.Uploads.Started(context.WithoutCancel(ctx), t.token, uploadID)
	}
}

// ended tells the registry that the upload was completed or aborted (or never created).
func (t trackedUpload) ended(ctx context.Context) {
	if t.token != "" {
		t.s.opts.Uploads.Ended(context.WithoutCancel(ctx), t.token)
	}
}

// AbortUpload aborts a multipart upload, such as one a process that died left: its parts are
// deleted and no object is made. An upload that is gone already is not an error.
func (s *Store) AbortUpload(ctx context.Context, bucket, key, uploadID string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: &uploadID})
	if err != nil && !hasCode(err, "NoSuchUpload") && !hasStatus(err, http.StatusNotFound) {
		return s.fail("abort", storage.Location{Bucket: bucket, Key: key}, fmt.Errorf("abort multipart upload %s: %w", uploadID, err))
	}
	return nil
}

// UploadsOf returns the IDs of the multipart uploads in progress of exactly bucket/key that were
// initiated at since or later.
func (s *Store) UploadsOf(ctx context.Context, bucket, key string, since time.Time) ([]string, error) {
	var ids []string
	in := &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: &key}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, s.fail("list", storage.Location{Bucket: bucket, Key: key}, err)
		}
		for _, u := range out.Uploads {
			if aws.ToString(u.Key) == key && !aws.ToTime(u.Initiated).Before(since) {
				ids = append(ids, aws.ToString(u.UploadId))
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return ids, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// observeRequests times each S3 operation, from the first attempt to the last retry.
func observeRequests(observe func(operation string, d time.Duration, err error)) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("transferdObserve",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				start := time.Now()
				out, md, err := next.HandleInitialize(ctx, in)
				observe(awsmiddleware.GetOperationName(ctx), time.Since(start), err)
				return out, md, err
			}), middleware.Before)
	}
}
