package s3store

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/transferd/transferd/internal/storage"
)

// copiesInFlight is how many server-side copies a directory rename or multipart copy runs at once.
const copiesInFlight = 4

// deleteBatch is the most keys one DeleteObjects request takes.
const deleteBatch = 1000

// Rename moves a file or a directory with server-side copies, then deletes the source: S3 has
// no rename. A file above 5 GiB is copied part by part. A directory is renamed by copying every
// object under it before deleting any, so a failure never loses data (copies made before the
// failure are removed again); directories of more than Options.MaxRenameObjects objects are
// refused with KindNotSupported. Without replace an existing destination is KindExist; with it a
// file replaces a file and a directory replaces an empty directory. Checks and copies are separate
// requests: a destination created in between is replaced. Buckets cannot be renamed.
func (s *Store) Rename(ctx context.Context, from, to storage.Location, replace bool) error {
	return s.RenameChecked(ctx, from, to, replace, nil)
}

var _ storage.CheckedRenamer = (*Store)(nil)

// RenameChecked is Rename that asks allow (when not nil) about every object a directory rename
// would copy and delete, before it copies any.
func (s *Store) RenameChecked(ctx context.Context, from, to storage.Location, replace bool, allow func(fromKey, toKey string) error) error {
	const op = "rename"
	if err := check(op, from); err != nil {
		return err
	}
	if err := check(op, to); err != nil {
		return err
	}
	if from.Key == "" || to.Key == "" {
		return storage.Errorf(op, from, storage.KindPermission, "buckets cannot be renamed", nil)
	}
	src, err := s.head(ctx, op, from)
	if err != nil {
		return err
	}
	if src == nil {
		if err := s.missingOrDir(ctx, op, from); storage.KindOf(err) != storage.KindIsDir {
			return err
		}
	}
	if from == to {
		return nil
	}
	if src == nil && from.Bucket == to.Bucket && strings.HasPrefix(to.Key, from.Key+"/") {
		return storage.Errorf(op, to, storage.KindInvalid, "cannot move a directory into itself", nil)
	}
	dst, err := s.head(ctx, op, to)
	if err != nil {
		return err
	}
	dstDir := false
	if dst == nil {
		if dstDir, err = s.isDir(ctx, op, to); err != nil {
			return err
		}
	}
	switch {
	case !replace && (dst != nil || dstDir):
		return storage.Errorf(op, to, storage.KindExist, "", nil)
	case src != nil && dstDir:
		return storage.Errorf(op, to, storage.KindIsDir, "", nil)
	case src == nil && dst != nil:
		return storage.Errorf(op, to, storage.KindNotDir, "", nil)
	}
	if dir, err := s.isDir(ctx, op, parent(to)); err != nil {
		return err
	} else if !dir {
		return storage.Errorf(op, to, storage.KindNotExist, "", nil)
	}
	if src != nil {
		if err := s.copyObject(ctx, op, from, to, src, nil); err != nil {
			return err
		}
		if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &from.Bucket, Key: &from.Key}); err != nil {
			return s.fail(op, from, fmt.Errorf("delete the source after copying it: %w", err))
		}
		return nil
	}
	return s.renameDir(ctx, from, to, dstDir, allow)
}

// renameDir copies every object under from to the same name under to, then deletes the sources.
// allow, when not nil, is asked about each object first.
func (s *Store) renameDir(ctx context.Context, from, to storage.Location, dstExisted bool, allow func(fromKey, toKey string) error) error {
	const op = "rename"
	if s.opts.MaxRenameObjects == NoDirectoryRenames {
		return storage.Errorf(op, from, storage.KindNotSupported, "renaming directories is not supported on S3 by this server", nil)
	}
	srcPrefix, dstPrefix := from.Key+"/", to.Key+"/"
	if dstExisted {
		// An empty directory may be replaced: its marker is all there is.
		out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &to.Bucket, Prefix: &dstPrefix, MaxKeys: aws.Int32(2)})
		if err != nil {
			return s.fail(op, to, err)
		}
		if len(out.Contents) > 1 || len(out.Contents) == 1 && aws.ToString(out.Contents[0].Key) != dstPrefix {
			return storage.Errorf(op, to, storage.KindNotEmpty, "", nil)
		}
	}
	var objs []types.Object
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &from.Bucket, Prefix: &srcPrefix})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return s.fail(op, from, err)
		}
		objs = append(objs, out.Contents...)
		if len(objs) > s.opts.MaxRenameObjects {
			return storage.Errorf(op, from, storage.KindNotSupported,
				fmt.Sprintf("renaming a directory of more than %d objects is not supported on S3 (each object is copied)", s.opts.MaxRenameObjects), nil)
		}
	}

	if allow != nil {
		for _, o := range objs {
			key := aws.ToString(o.Key)
			if err := allow(key, dstPrefix+strings.TrimPrefix(key, srcPrefix)); err != nil {
				return err
			}
		}
	}

	// Copy everything first.
	var (
		mu     sync.Mutex
		copied []string // destination keys made
		failed error
		wg     sync.WaitGroup
		sem    = make(chan struct{}, copiesInFlight)
	)
	for _, o := range objs {
		mu.Lock()
		stop := failed != nil
		mu.Unlock()
		if stop {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			key := aws.ToString(o.Key)
			src := storage.Location{Bucket: from.Bucket, Key: key}
			dst := storage.Location{Bucket: to.Bucket, Key: dstPrefix + strings.TrimPrefix(key, srcPrefix)}
			var err error
			if strings.HasSuffix(key, "/") && aws.ToInt64(o.Size) == 0 {
				// A marker holds nothing worth copying (and versitygw refuses to copy one).
				_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
					Bucket: &dst.Bucket, Key: &dst.Key, Body: strings.NewReader(""), ContentLength: aws.Int64(0),
				})
				if err != nil {
					err = s.fail(op, dst, err)
				}
			} else {
				err = s.copyObject(ctx, "rename", src, dst, &object{size: aws.ToInt64(o.Size), etag: aws.ToString(o.ETag)}, nil)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = cmp.Or(failed, err)
				return
			}
			copied = append(copied, dst.Key)
		})
	}
	wg.Wait()
	if failed != nil {
		// Take back the copies; an existing destination keeps its marker.
		copied = slices.DeleteFunc(copied, func(k string) bool { return dstExisted && k == dstPrefix })
		s.deleteKeys(context.WithoutCancel(ctx), to.Bucket, copied)
		return failed
	}
	// Then delete the sources.
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = aws.ToString(o.Key)
	}
	if err := s.deleteKeys(ctx, from.Bucket, keys); err != nil {
		return s.fail(op, from, fmt.Errorf("delete the sources after copying them: %w", err))
	}
	return nil
}

// deleteKeys deletes keys in batches and reports the first failure.
func (s *Store) deleteKeys(ctx context.Context, bucket string, keys []string) error {
	for batch := range slices.Chunk(keys, deleteBatch) {
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
			ChecksumAlgorithm: s.checksum,
		})
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete %s: %s: %s (and %d more)", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors)-1)
		}
	}
	return nil
}

// copySource is the x-amz-copy-source of an object: bucket/key, URL-encoded.
func copySource(loc storage.Location) string {
	elems := strings.Split(loc.Key, "/")
	for i, e := range elems {
		// PathEscape leaves "+", which some S3 servers (versitygw) read as a space there.
		elems[i] = strings.ReplaceAll(url.PathEscape(e), "+", "%2B")
	}
	return url.PathEscape(loc.Bucket) + "/" + strings.Join(elems, "/")
}

// copyObject copies the object src (whose size and ETag are known) to dst server-side, part by
// part above the largest single copy (5 GiB). The copy must be of the version seen. It keeps
// src's user metadata and content headers, or, when meta is not nil, gets meta instead of the
// metadata (the way to change an object's metadata: a copy onto itself).
func (s *Store) copyObject(ctx context.Context, op string, src, dst storage.Location, obj *object, meta map[string]string) error {
	var ifMatch *string
	if obj.etag != "" {
		ifMatch = aws.String(obj.etag)
	}
	if obj.size <= s.copyThreshold && meta == nil {
		// S3 keeps the metadata and headers itself (MetadataDirective COPY).
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: &dst.Bucket, Key: &dst.Key, CopySource: aws.String(copySource(src)), CopySourceIfMatch: ifMatch,
		})
		if err != nil {
			return s.fail(op, src, fmt.Errorf("copy to %s: %w", dst, err))
		}
		return nil
	}
	if obj.head == nil {
		// Seen in a listing: a multipart copy gives the metadata itself, so it is looked up.
		out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &src.Bucket, Key: &src.Key, IfMatch: ifMatch})
		if err != nil {
			return s.fail(op, src, err)
		}
		obj = &object{size: obj.size, etag: obj.etag, head: out}
	}
	h := obj.head
	if meta == nil {
		meta = h.Metadata
	}
	if obj.size <= s.copyThreshold {
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: &dst.Bucket, Key: &dst.Key, CopySource: aws.String(copySource(src)), CopySourceIfMatch: ifMatch,
			MetadataDirective: types.MetadataDirectiveReplace, Metadata: meta,
			ContentType: h.ContentType, CacheControl: h.CacheControl, ContentDisposition: h.ContentDisposition,
			ContentEncoding: h.ContentEncoding, ContentLanguage: h.ContentLanguage,
			StorageClass: types.StorageClass(h.StorageClass), ServerSideEncryption: h.ServerSideEncryption, SSEKMSKeyId: h.SSEKMSKeyId,
		})
		if err != nil {
			return s.fail(op, src, fmt.Errorf("copy to %s: %w", dst, err))
		}
		return nil
	}
	tracked := s.trackUpload(ctx, dst)
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &dst.Bucket, Key: &dst.Key, Metadata: meta,
		ContentType: h.ContentType, CacheControl: h.CacheControl, ContentDisposition: h.ContentDisposition,
		ContentEncoding: h.ContentEncoding, ContentLanguage: h.ContentLanguage,
		StorageClass: types.StorageClass(h.StorageClass), ServerSideEncryption: h.ServerSideEncryption, SSEKMSKeyId: h.SSEKMSKeyId,
	})
	if err != nil {
		tracked.ended(ctx)
		return s.fail(op, dst, err)
	}
	uploadID := out.UploadId
	tracked.started(ctx, aws.ToString(uploadID))
	abort := func(err error) error {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		if _, aerr := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &dst.Bucket, Key: &dst.Key, UploadId: uploadID}); aerr == nil {
			tracked.ended(ctx)
		}
		return s.fail(op, src, fmt.Errorf("multipart copy to %s: %w", dst, err))
	}
	partSize := max(s.copyPartSize, (obj.size+maxParts-1)/maxParts)
	nparts := int32((obj.size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, nparts)
	var (
		mu     sync.Mutex
		failed error
		wg     sync.WaitGroup
		sem    = make(chan struct{}, copiesInFlight)
	)
	for i := range nparts {
		mu.Lock()
		stop := failed != nil
		mu.Unlock()
		if stop {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			first := int64(i) * partSize
			last := min(first+partSize, obj.size) - 1
			out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
				Bucket: &dst.Bucket, Key: &dst.Key, UploadId: uploadID, PartNumber: aws.Int32(i + 1),
				CopySource: aws.String(copySource(src)), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
				CopySourceIfMatch: ifMatch,
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = cmp.Or(failed, fmt.Errorf("part %d: %w", i+1, err))
				return
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(i + 1)}
			if r := out.CopyPartResult; r != nil {
				parts[i].ETag = r.ETag
				parts[i].ChecksumCRC32, parts[i].ChecksumCRC32C, parts[i].ChecksumCRC64NVME = r.ChecksumCRC32, r.ChecksumCRC32C, r.ChecksumCRC64NVME
				parts[i].ChecksumSHA1, parts[i].ChecksumSHA256 = r.ChecksumSHA1, r.ChecksumSHA256
			}
		})
	}
	wg.Wait()
	if failed != nil {
		return abort(failed)
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &dst.Bucket, Key: &dst.Key, UploadId: uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return abort(err)
	}
	tracked.ended(ctx)
	return nil
}
