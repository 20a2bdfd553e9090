package s3store_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/storage/s3store"
)

// opCounter counts the S3 requests a store makes, by operation.
type opCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *opCounter) observe(op string, _ time.Duration, _ error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[op]++
}

func (c *opCounter) take(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n[op]
	delete(c.n, op)
	return n
}

func headMeta(t *testing.T, c *s3.Client, bucket, key string) *s3.HeadObjectOutput {
	t.Helper()
	out, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("HeadObject(%s): %v", key, err)
	}
	return out
}

func wantAttrs(t *testing.T, what string, fi fs.FileInfo, mtime time.Time, perm fs.FileMode) {
	t.Helper()
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("%s: mtime %v, want %v", what, fi.ModTime(), mtime)
	}
	if fi.Mode().Perm() != perm {
		t.Errorf("%s: mode %v, want permissions %v", what, fi.Mode(), perm)
	}
}

// STORE_METADATA: times and modes set over SFTP live in x-amz-meta-mtime and x-amz-meta-mode,
// in rclone's format, cost one CopyObject on an existing object and none on an upload that fits
// in one PutObject, and show in STAT and listings; the plain store shows S3's own values.
func TestStoredAttrs(t *testing.T) {
	t.Parallel()
	var ops opCounter
	opts := options()
	opts.PartSize = 5 * mib
	opts.Observe = ops.observe
	plain := newStore(t, opts)
	s := plain.StoredAttrs()
	setter := s.(storage.AttrSetter)
	bucket, c := newBucket(t), adminClient()
	ctx := t.Context()
	at := func(key string) storage.Location { return storage.Location{Bucket: bucket, Key: key} }
	mtime := time.Unix(1_500_000_000, 0)
	mode := fs.FileMode(0o600)
	attrs := storage.Attrs{Mtime: &mtime, Atime: &mtime, Mode: &mode}
	create := storage.OpenFlags{Create: true, Truncate: true}
	upload := func(key string, data []byte) storage.WriteHandle {
		t.Helper()
		h, err := s.OpenWrite(ctx, at(key), create)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.WriteAt(data, 0); err != nil {
			t.Fatal(err)
		}
		return h
	}

	t.Run("small upload", func(t *testing.T) {
		h := upload("small", []byte("hello"))
		if err := h.(storage.AttrHandle).SetAttrs(attrs); err != nil {
			t.Fatal(err)
		}
		fi, err := h.(storage.StatHandle).Stat()
		if err != nil {
			t.Fatal(err)
		}
		wantAttrs(t, "FSTAT before CLOSE", fi, mtime, mode)
		ops.take("CopyObject")
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		if n := ops.take("CopyObject"); n != 0 {
			t.Errorf("%d CopyObject for an upload of one PutObject, want 0", n)
		}
		out := headMeta(t, c, bucket, "small")
		if out.Metadata["mtime"] != "1500000000" || out.Metadata["mode"] != "100600" {
			t.Errorf("metadata %v, want mtime 1500000000 and mode 100600", out.Metadata)
		}
		fi, err = s.Stat(ctx, at("small"))
		if err != nil {
			t.Fatal(err)
		}
		wantAttrs(t, "STAT", fi, mtime, mode)
		fi, err = plain.Stat(ctx, at("small"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.ModTime().Equal(mtime) || fi.Mode().Perm() != 0o644 {
			t.Errorf("the plain store shows %v %v: want S3's LastModified and 0644", fi.ModTime(), fi.Mode())
		}
	})

	t.Run("multipart upload", func(t *testing.T) {
		data := randomBytes(11*mib + 1)
		h := upload("big", data)
		ops.take("CopyObject")
		if err := h.(storage.AttrHandle).SetAttrs(attrs); err != nil {
			t.Fatal(err)
		}
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		if n := ops.take("CopyObject"); n != 1 {
			t.Errorf("%d CopyObject after a multipart upload, want 1", n)
		}
		if got := get(t, c, bucket, "big"); sha256.Sum256(got) != sha256.Sum256(data) {
			t.Errorf("the object has %d bytes and other content", len(got))
		}
		if out := headMeta(t, c, bucket, "big"); out.Metadata["mtime"] != "1500000000" {
			t.Errorf("metadata %v", out.Metadata)
		}
	})

	t.Run("size set before the writes", func(t *testing.T) {
		// lftp sets the final size, then writes: the size is kept as ftruncate would keep it.
		h, err := s.OpenWrite(ctx, at("sized"), create)
		if err != nil {
			t.Fatal(err)
		}
		size := int64(10)
		if err := h.(storage.AttrHandle).SetAttrs(storage.Attrs{Size: &size, Mtime: &mtime}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.WriteAt([]byte("hello"), 0); err != nil {
			t.Fatal(err)
		}
		less := int64(3)
		err = h.(storage.AttrHandle).SetAttrs(storage.Attrs{Size: &less})
		wantKind(t, "a size below what was written", err, storage.KindNotSupported)
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		if got := get(t, c, bucket, "sized"); string(got) != "hello\x00\x00\x00\x00\x00" {
			t.Errorf("the object is %q, want hello and five zeros", got)
		}
	})

	t.Run("existing object", func(t *testing.T) {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("exists"),
			Body: strings.NewReader("data"), ContentType: aws.String("text/csv"),
			Metadata: map[string]string{"owner-app": "billing"}})
		if err != nil {
			t.Fatal(err)
		}
		ops.take("CopyObject")
		ops.take("GetObject")
		if err := setter.SetAttrs(ctx, at("exists"), attrs); err != nil {
			t.Fatal(err)
		}
		if n := ops.take("CopyObject"); n != 1 {
			t.Errorf("%d CopyObject, want 1", n)
		}
		if n := ops.take("GetObject"); n != 0 {
			t.Errorf("%d GetObject: setting a time must not download the object", n)
		}
		out := headMeta(t, c, bucket, "exists")
		if out.Metadata["owner-app"] != "billing" || aws.ToString(out.ContentType) != "text/csv" {
			t.Errorf("the copy lost metadata or headers: %v %q", out.Metadata, aws.ToString(out.ContentType))
		}
		if got := get(t, c, bucket, "exists"); string(got) != "data" {
			t.Errorf("content %q", got)
		}
		size := int64(3)
		err = setter.SetAttrs(ctx, at("exists"), storage.Attrs{Size: &size})
		wantKind(t, "a truncation", err, storage.KindNotSupported)
		uid := uint32(7)
		err = setter.SetAttrs(ctx, at("exists"), storage.Attrs{UID: &uid, GID: &uid})
		wantKind(t, "a chown", err, storage.KindNotSupported)
		err = plain.SetAttrs(ctx, at("exists"), attrs)
		wantKind(t, "SETSTAT on the plain store", err, storage.KindNotSupported)
	})

	t.Run("rclone's times", func(t *testing.T) {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("dir/rclone"),
			Body: strings.NewReader("x"), Metadata: map[string]string{"mtime": "1354040105.123456789"}})
		if err != nil {
			t.Fatal(err)
		}
		fi, err := s.Stat(ctx, at("dir/rclone"))
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Unix(1354040105, 123456789); !fi.ModTime().Equal(want) {
			t.Errorf("mtime %v, want %v", fi.ModTime(), want)
		}
	})

	t.Run("directories and listings", func(t *testing.T) {
		dirTime := time.Unix(1_400_000_000, 0)
		dirMode := fs.FileMode(0o750)
		put(t, c, bucket, "tree/sub/file", []byte("x"))
		if err := setter.SetAttrs(ctx, at("tree/sub"), storage.Attrs{Mtime: &dirTime, Mode: &dirMode}); err != nil {
			t.Fatal(err)
		}
		if err := setter.SetAttrs(ctx, at("tree/sub/file"), attrs); err != nil {
			t.Fatal(err)
		}
		fi, err := s.Stat(ctx, at("tree/sub"))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() {
			t.Fatal("tree/sub is no longer a directory")
		}
		wantAttrs(t, "STAT of the directory", fi, dirTime, dirMode)
		for _, tc := range []struct {
			dir, name string
			mtime     time.Time
			perm      fs.FileMode
		}{{"tree", "sub", dirTime, dirMode}, {"tree/sub", "file", mtime, mode}} {
			infos := listAll(t, s, at(tc.dir))
			if len(infos) != 1 || infos[0].Name() != tc.name {
				t.Fatalf("listing %s: %v", tc.dir, infos)
			}
			wantAttrs(t, "listing "+tc.dir, infos[0], tc.mtime, tc.perm)
		}
		if infos := listAll(t, plain, at("tree/sub")); len(infos) != 1 || infos[0].ModTime().Equal(mtime) {
			t.Errorf("the plain store's listing shows the stored time: %v", infos)
		}
	})

	t.Run("rename keeps them", func(t *testing.T) {
		s3store.SetTestLimits(plain, 0, 5*mib, 5*mib, 0) // the 11 MiB object moves by multipart copy
		for _, key := range []string{"small", "big"} {
			if err := s.(storage.Renamer).Rename(ctx, at(key), at(key+"-moved"), false); err != nil {
				t.Fatal(err)
			}
			fi, err := s.Stat(ctx, at(key+"-moved"))
			if err != nil {
				t.Fatal(err)
			}
			wantAttrs(t, "after renaming "+key, fi, mtime, mode)
		}
	})
}

func listAll(t *testing.T, s storage.Backend, loc storage.Location) []fs.FileInfo {
	t.Helper()
	l, err := s.List(t.Context(), loc)
	if err != nil {
		t.Fatal(err)
	}
	var out []fs.FileInfo
	buf := make([]fs.FileInfo, 100)
	for {
		n, err := l.ListAt(buf, int64(len(out)))
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A client resuming an upload (an open without truncation, then writes from the object's size)
// is refused at its first write with a message that says so, and the object is left as it was.
func TestResumeRefused(t *testing.T) {
	t.Parallel()
	s := newStore(t, options())
	bucket, c := newBucket(t), adminClient()
	data := randomBytes(100 * kib)
	put(t, c, bucket, "partial", data[:40*kib])
	loc := storage.Location{Bucket: bucket, Key: "partial"}
	h, err := s.OpenWrite(t.Context(), loc, storage.OpenFlags{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.WriteAt(data[40*kib:], 40*kib)
	wantKind(t, "the resumed write", err, storage.KindNotSupported)
	if err != nil && !strings.Contains(err.Error(), "resuming an upload is not supported on S3") {
		t.Errorf("the resumed write: %v", err)
	}
	if err := h.Close(); err == nil {
		t.Error("CLOSE of the refused upload succeeded")
	}
	if got := get(t, c, bucket, "partial"); !bytes.Equal(got, data[:40*kib]) {
		t.Errorf("the object now has %d bytes; want the 40 KiB it had", len(got))
	}
	// Without truncation but from offset 0, the object is replaced as usual.
	h, err = s.OpenWrite(t.Context(), loc, storage.OpenFlags{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, bucket, "partial"); !bytes.Equal(got, data) {
		t.Errorf("the rewritten object has %d bytes", len(got))
	}
}
