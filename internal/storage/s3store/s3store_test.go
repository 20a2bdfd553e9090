package s3store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/storage/s3store"
	"github.com/transferd/transferd/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Backend { return newStore(t, options()) },
		storagetest.Options{SetAttrsUnsupported: true, NewBucket: newBucket})
}

const (
	kib = 1 << 10
	mib = 1 << 20
)

// randomBytes returns n pseudo-random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{'s', '3'}).Read(b)
	return b
}

// put stores data at key with the plain SDK.
func put(t *testing.T, c *s3.Client, bucket, key string, data []byte) {
	t.Helper()
	_, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("PutObject(%s/%s): %v", bucket, key, err)
	}
}

// get returns the object at key, read with the plain SDK, or nil if there is none.
func get(t *testing.T, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		if strings.Contains(err.Error(), "NoSuchKey") {
			return nil
		}
		t.Fatalf("GetObject(%s/%s): %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject(%s/%s): %v", bucket, key, err)
	}
	return b
}

// keys returns every key in bucket.
func keys(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	var ks []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			ks = append(ks, aws.ToString(o.Key))
		}
	}
	return ks
}

// uploads returns the multipart uploads in progress in bucket.
func uploads(t *testing.T, c *s3.Client, bucket string) int {
	t.Helper()
	out, err := c.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatalf("ListMultipartUploads(%s): %v", bucket, err)
	}
	return len(out.Uploads)
}

func wantKind(t *testing.T, what string, err error, want storage.Kind) {
	t.Helper()
	if got := storage.KindOf(err); err == nil || got != want {
		t.Errorf("%s: error %v (kind %q), want kind %q", what, err, got, want)
	}
}

// writeShuffled writes data in 32 KiB chunks from 8 goroutines, in an order shuffled within
// blocks of 64 chunks (2 MiB), with at most 64 writes in flight, as pkg/sftp does for OpenSSH's
// sftp (64 outstanding requests; the client sends the next only when a response came back, and
// responses go back in request order).
func writeShuffled(h io.WriterAt, data []byte) error {
	const chunk, block = 32 * kib, 64
	n := (len(data) + chunk - 1) / chunk
	order := make([]int, 0, n)
	r := rand.New(rand.NewPCG(1, 2))
	for start := 0; start < n; start += block {
		idx := make([]int, 0, block)
		for i := start; i < min(start+block, n); i++ {
			idx = append(idx, i)
		}
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		order = append(order, idx...)
	}
	// A write may start only when every write 64 places before it in the order has finished.
	var (
		mu       sync.Mutex
		cond     = sync.NewCond(&mu)
		next     int
		finished = make([]bool, len(order))
		prefix   int // writes order[:prefix] have all finished
		firstErr error
	)
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		for next < len(order) && next-prefix >= 64 {
			cond.Wait()
		}
		k := next
		next = min(next+1, len(order))
		return k
	}
	finish := func(k int, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr, next = err, len(order)
		}
		finished[k] = true
		for prefix < len(order) && finished[prefix] {
			prefix++
		}
		cond.Broadcast()
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			buf := make([]byte, chunk) // reused, as pkg/sftp's allocator does
			for {
				k := take()
				if k >= len(order) {
					return
				}
				off := order[k] * chunk
				p := buf[:copy(buf, data[off:min(off+chunk, len(data))])]
				_, err := h.WriteAt(p, int64(off))
				if err != nil {
					err = fmt.Errorf("WriteAt(%d bytes at %d): %w", len(p), off, err)
				}
				clear(p) // the store must have copied it
				finish(k, err)
			}
		})
	}
	wg.Wait()
	return firstErr
}

func TestLargeUploadOutOfOrder(t *testing.T) {
	t.Parallel()
	opts := options()
	opts.PartSize = 5 * mib
	s := newStore(t, opts)
	bucket, c := newBucket(t), adminClient()
	loc := storage.Location{Bucket: bucket, Key: "dir/big.bin"}
	data := randomBytes(64 * mib)

	h, err := s.OpenWrite(t.Context(), loc, storage.OpenFlags{Create: true, Truncate: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeShuffled(h, data); err != nil {
		h.Abort(err)
		t.Fatal(err)
	}
	if got := get(t, c, bucket, loc.Key); got != nil {
		t.Errorf("the object exists before Close (%d bytes)", len(got))
	}
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := get(t, c, bucket, loc.Key)
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Errorf("read back %d bytes; content differs from the %d written", len(got), len(data))
	}
	head, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &bucket, Key: &loc.Key})
	if err != nil {
		t.Fatal(err)
	}
	if etag := aws.ToString(head.ETag); !strings.HasSuffix(strings.Trim(etag, `"`), "-13") {
		t.Errorf("ETag %s; want a multipart upload of 13 parts (64 MiB in 5 MiB parts)", etag)
	}
	if n := uploads(t, c, bucket); n != 0 {
		t.Errorf("%d multipart uploads left after Close", n)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	t.Parallel()
	opts := options()
	opts.PartSize = 5 * mib
	s := newStore(t, opts)
	bucket, c := newBucket(t), adminClient()
	for _, size := range []int{0, 100, 12 * mib} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			loc := storage.Location{Bucket: bucket, Key: fmt.Sprintf("aborted-%d", size)}
			h, err := s.OpenWrite(t.Context(), loc, storage.OpenFlags{Create: true, Truncate: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := writeShuffled(h, randomBytes(size)); err != nil {
				t.Fatal(err)
			}
			if int64(size) > opts.PartSize && uploads(t, c, bucket) != 1 {
				t.Errorf("after writing %d bytes, no multipart upload is in progress", size)
			}
			if err := h.Abort(errors.New("client gone")); err != nil {
				t.Fatalf("Abort: %v", err)
			}
			if got := get(t, c, bucket, loc.Key); got != nil {
				t.Errorf("Abort left an object of %d bytes", len(got))
			}
			if n := uploads(t, c, bucket); n != 0 {
				t.Errorf("Abort left %d multipart uploads", n)
			}
			if err := h.Close(); err == nil {
				t.Error("Close after Abort succeeded")
			}
		})
	}
}

func TestRefusedWrites(t *testing.T) {
	t.Parallel()
	opts := options()
	opts.PartSize = 5 * mib
	opts.MaxBufferPerHandle = 1 * mib
	s := newStore(t, opts)
	bucket, c := newBucket(t), adminClient()
	ctx := t.Context()
	create := storage.OpenFlags{Create: true, Truncate: true}
	chunk := make([]byte, 32*kib)

	tests := []struct {
		name  string
		write func(h storage.WriteHandle) error
	}{
		{"beyond the window", func(h storage.WriteHandle) error {
			if _, err := h.WriteAt(chunk, 0); err != nil {
				return err
			}
			_, err := h.WriteAt(chunk, 2*mib)
			return err
		}},
		{"behind the uploaded part", func(h storage.WriteHandle) error {
			for off := int64(0); off < 6*mib; off += int64(len(chunk)) {
				if _, err := h.WriteAt(chunk, off); err != nil {
					return fmt.Errorf("sequential write at %d: %v", off, err)
				}
			}
			_, err := h.WriteAt(chunk, 0)
			return err
		}},
		{"window full of waiting writes", func(h storage.WriteHandle) error {
			for off := int64(len(chunk)); ; off += int64(len(chunk)) {
				if _, err := h.WriteAt(chunk, off); err != nil {
					return err
				}
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := storage.Location{Bucket: bucket, Key: fmt.Sprintf("refused-%d", i)}
			h, err := s.OpenWrite(ctx, loc, create)
			if err != nil {
				t.Fatal(err)
			}
			err = tt.write(h)
			wantKind(t, "the refused write", err, storage.KindNotSupported)
			if err != nil && !strings.Contains(err.Error(), "random-access writes are not supported on S3") {
				t.Errorf("the refused write: %v; want the random-access message", err)
			}
			wantKind(t, "Close after a refused write", h.Close(), storage.KindNotSupported)
			if got := get(t, c, bucket, loc.Key); got != nil {
				t.Errorf("a refused upload left an object of %d bytes", len(got))
			}
		})
	}

	t.Run("gap at close", func(t *testing.T) {
		loc := storage.Location{Bucket: bucket, Key: "gap"}
		h, err := s.OpenWrite(ctx, loc, create)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.WriteAt(chunk, int64(len(chunk))); err != nil {
			t.Fatal(err)
		}
		wantKind(t, "Close with bytes never written", h.Close(), storage.KindNotSupported)
		if got := get(t, c, bucket, loc.Key); got != nil {
			t.Errorf("left an object of %d bytes", len(got))
		}
	})

	t.Run("flags", func(t *testing.T) {
		existing := storage.Location{Bucket: bucket, Key: "existing"}
		put(t, c, bucket, existing.Key, []byte("keep"))
		for _, tt := range []struct {
			name  string
			flags storage.OpenFlags
			want  storage.Kind
		}{
			{"append", storage.OpenFlags{Create: true, Append: true}, storage.KindNotSupported},
			{"read and write without truncate (resume)", storage.OpenFlags{Read: true}, storage.KindNotSupported},
			{"exclusive", storage.OpenFlags{Create: true, Exclusive: true}, storage.KindExist},
		} {
			h, err := s.OpenWrite(ctx, existing, tt.flags)
			if err == nil {
				h.Abort(errors.New("test"))
			}
			wantKind(t, "OpenWrite with "+tt.name, err, tt.want)
		}
		if got := get(t, c, bucket, existing.Key); string(got) != "keep" {
			t.Errorf("after refused opens the object is %q, want %q", got, "keep")
		}
	})
}

func TestReadSeeks(t *testing.T) {
	t.Parallel()
	s := newStore(t, options())
	bucket, c := newBucket(t), adminClient()
	data := randomBytes(5*mib + 123)
	put(t, c, bucket, "f", data)
	h, err := s.OpenRead(t.Context(), storage.Location{Bucket: bucket, Key: "f"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	size := int64(len(data))
	for _, r := range []struct {
		name     string
		off, len int64
	}{
		{"start", 0, 32 * kib},
		{"skip ahead a little", 96 * kib, 32 * kib},
		{"the skipped part", 32 * kib, 64 * kib},
		{"spanning remembered and new bytes", 100 * kib, 100 * kib},
		{"far ahead", 4 * mib, 32 * kib},
		{"far back", 10, 1000},
		{"back within the window", 0, 10},
		{"middle", 2*mib + 7, 300 * kib},
		{"to the end", size - 1000, 1000},
		{"past the end", size - 10, 100},
		{"at the end", size, 10},
		{"beyond the end", size + 100, 10},
		{"start again", 0, 1 * mib},
	} {
		p := make([]byte, r.len)
		n, err := h.ReadAt(p, r.off)
		wantN := max(0, min(r.len, size-r.off))
		if n != int(wantN) || !bytes.Equal(p[:n], data[min(r.off, size):min(r.off, size)+wantN]) {
			t.Errorf("%s: ReadAt(%d bytes at %d) = %d bytes (%v), want %d bytes of the file", r.name, r.len, r.off, n, err, wantN)
		}
		switch {
		case wantN < r.len && err != io.EOF:
			t.Errorf("%s: ReadAt(%d bytes at %d): error %v, want io.EOF", r.name, r.len, r.off, err)
		case wantN == r.len && err != nil:
			t.Errorf("%s: ReadAt(%d bytes at %d): %v", r.name, r.len, r.off, err)
		}
	}

	// Concurrent readers of 32 KiB, as pkg/sftp's workers.
	got := make([]byte, size)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				off := (next.Add(1) - 1) * 32 * kib
				if off >= size {
					return
				}
				p := got[off:min(off+32*kib, size)]
				if n, err := h.ReadAt(p, off); n != len(p) || err != nil && err != io.EOF {
					t.Errorf("ReadAt(%d bytes at %d) = %d, %v", len(p), off, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if !bytes.Equal(got, data) {
		t.Error("concurrent reads returned other bytes than the file's")
	}
}

func TestListManyObjects(t *testing.T) {
	t.Parallel()
	s := newStore(t, options())
	bucket, c := newBucket(t), adminClient()
	const n = 10_000
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("obj-%d", i))
	}
	want = append(want, "sub-a", "sub-b")
	put(t, c, bucket, "many/", nil)
	put(t, c, bucket, "many/sub-a/", nil)
	put(t, c, bucket, "many/sub-b/deep/file", []byte("x")) // a directory without a marker

	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || t.Failed() {
					return
				}
				put(t, c, bucket, "many/"+want[i], []byte(want[i]))
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	slices.Sort(want)

	l, err := s.List(t.Context(), storage.Location{Bucket: bucket, Key: "many"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	buf := make([]fs.FileInfo, 100)
	for {
		k, err := l.ListAt(buf, int64(len(got)))
		for _, fi := range buf[:k] {
			got = append(got, fi.Name())
			if dir := strings.HasPrefix(fi.Name(), "sub-"); fi.IsDir() != dir || !dir && fi.Size() != int64(len(fi.Name())) {
				t.Errorf("entry %q: dir %v, size %d", fi.Name(), fi.IsDir(), fi.Size())
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			t.Fatal("ListAt returned no entries and no io.EOF")
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %d names, want %d (first %q, last %q)", len(got), len(want), want[0], want[len(want)-1])
	}
	// A listing may be read again from the start.
	if k, err := l.ListAt(buf, 0); k != len(buf) || err != nil || buf[0].Name() != want[0] {
		t.Errorf("ListAt(0) after the end = %d, %v", k, err)
	}
	if k, err := l.ListAt(buf, n-50); k != 52 || err != io.EOF || buf[51].Name() != want[len(want)-1] {
		t.Errorf("ListAt(%d) = %d, %v; want 52, io.EOF", n-50, k, err)
	}
}

func TestDirectories(t *testing.T) {
	t.Parallel()
	s := newStore(t, options())
	bucket, c := newBucket(t), adminClient()
	ctx := t.Context()
	put(t, c, bucket, "implied/deeper/file", []byte("x"))
	for _, key := range []string{"implied", "implied/deeper"} {
		fi, err := s.Stat(ctx, storage.Location{Bucket: bucket, Key: key})
		if err != nil || !fi.IsDir() {
			t.Errorf("Stat(%s) of a directory without a marker = %v, %v; want a directory", key, fi, err)
		}
	}
	wantKind(t, "Mkdir of a bucket", s.Mkdir(ctx, storage.Location{Bucket: "another-bucket"}), storage.KindPermission)
	_, err := s.Stat(ctx, storage.Location{Bucket: "no-such-bucket-here"})
	wantKind(t, "Stat of a missing bucket", err, storage.KindNotExist)
	_, err = s.List(ctx, storage.Location{Bucket: bucket, Key: "implied/deeper/file"})
	wantKind(t, "List of a file", err, storage.KindNotDir)

	if err := s.Mkdir(ctx, storage.Location{Bucket: bucket, Key: "implied/made"}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, bucket, "implied/made/"); got == nil || len(got) != 0 {
		t.Errorf("Mkdir wrote %q at implied/made/, want an empty marker", got)
	}
	if err := s.Rmdir(ctx, storage.Location{Bucket: bucket, Key: "implied/made"}); err != nil {
		t.Fatal(err)
	}
	if ks := keys(t, c, bucket); !slices.Equal(ks, []string{"implied/deeper/file"}) {
		t.Errorf("after Mkdir and Rmdir the bucket holds %q", ks)
	}
	wantKind(t, "SetAttrs", s.SetAttrs(ctx, storage.Location{Bucket: bucket, Key: "implied/deeper/file"}, storage.Attrs{}), storage.KindNotSupported)
}

func TestRenameDir(t *testing.T) {
	t.Parallel()
	opts := options()
	opts.MaxRenameObjects = 5
	s := newStore(t, opts)
	bucket, c := newBucket(t), adminClient()
	ctx := t.Context()
	files := map[string]string{"a": "1", "sub/b": "22", "sub/deep/c": "333"}
	put(t, c, bucket, "from/", nil)
	put(t, c, bucket, "from/sub/", nil)
	for k, v := range files {
		put(t, c, bucket, "from/"+k, []byte(v))
	}
	put(t, c, bucket, "fromage", []byte("not inside")) // shares the prefix "from"

	from, to := storage.Location{Bucket: bucket, Key: "from"}, storage.Location{Bucket: bucket, Key: "to"}
	if err := s.Rename(ctx, from, to, false); err != nil {
		t.Fatalf("Rename(%s, %s) of 5 objects: %v", from, to, err)
	}
	want := []string{"fromage", "to/", "to/a", "to/sub/", "to/sub/b", "to/sub/deep/c"}
	if ks := keys(t, c, bucket); !slices.Equal(ks, want) {
		t.Errorf("after renaming the directory the bucket holds %q, want %q", ks, want)
	}
	for k, v := range files {
		if got := get(t, c, bucket, "to/"+k); string(got) != v {
			t.Errorf("to/%s = %q, want %q", k, got, v)
		}
	}

	put(t, c, bucket, "to/one-too-many", []byte("6"))
	err := s.Rename(ctx, to, from, false)
	wantKind(t, "Rename of a directory of 6 objects (limit 5)", err, storage.KindNotSupported)
	if err != nil && !strings.Contains(err.Error(), "more than 5 objects") {
		t.Errorf("the refusal %q does not say why", err)
	}
	if ks := keys(t, c, bucket); len(ks) != len(want)+1 || ks[1] != "to/" {
		t.Errorf("after a refused rename the bucket holds %q", ks)
	}

	opts.MaxRenameObjects = s3store.NoDirectoryRenames
	none := newStore(t, opts)
	err = none.Rename(ctx, to, from, false)
	wantKind(t, "Rename of a directory with NoDirectoryRenames", err, storage.KindNotSupported)
	if err != nil && !strings.Contains(err.Error(), "renaming directories is not supported") {
		t.Errorf("the refusal %q does not say why", err)
	}
	if err := none.Rename(ctx, storage.Location{Bucket: bucket, Key: "fromage"}, storage.Location{Bucket: bucket, Key: "cheese"}, false); err != nil {
		t.Errorf("Rename of a file with NoDirectoryRenames: %v", err)
	}
}

func TestRenameMultipartCopy(t *testing.T) {
	t.Parallel()
	s := newStore(t, options())
	s3store.SetTestLimits(s, 0, 5*mib, 5*mib, 0)
	bucket, c := newBucket(t), adminClient()
	data := randomBytes(12*mib + 1)
	put(t, c, bucket, "big", data)
	if err := s.Rename(t.Context(), storage.Location{Bucket: bucket, Key: "big"}, storage.Location{Bucket: bucket, Key: "moved"}, false); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, bucket, "moved"); sha256.Sum256(got) != sha256.Sum256(data) {
		t.Errorf("after a multipart copy the object has %d bytes and other content", len(got))
	}
	if got := get(t, c, bucket, "big"); got != nil {
		t.Error("the source is still there")
	}
	if n := uploads(t, c, bucket); n != 0 {
		t.Errorf("%d multipart uploads left", n)
	}
}

func TestPartSizes(t *testing.T) {
	t.Parallel()
	for _, first := range []int64{5 * mib, 8 * mib, 100 * mib, 5 << 30} {
		opts := options()
		opts.PartSize = first
		s := newStore(t, opts)
		var total, prev int64
		for n := int32(1); n <= 10_000; n++ {
			size := s3store.PartSize(s, n)
			if size < prev || size < 5*mib || size > 5<<30 {
				t.Fatalf("PartSize %d: part %d has %d bytes after %d", first, n, size, prev)
			}
			total, prev = total+size, size
		}
		if total < 5<<40 {
			t.Errorf("PartSize %d: 10,000 parts hold %d bytes, less than 5 TiB", first, total)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		edit func(*s3store.Options)
	}{
		{"a key without its secret", func(o *s3store.Options) { o.SecretAccessKey = "" }},
		{"small parts", func(o *s3store.Options) { o.PartSize = 1 * mib }},
		{"a negative rename limit", func(o *s3store.Options) { o.MaxRenameObjects = -2 }},
		{"bad endpoint", func(o *s3store.Options) { o.Endpoint = "127.0.0.1:9000" }},
	} {
		o := options()
		tt.edit(&o)
		if _, err := s3store.New(context.Background(), o); err == nil {
			t.Errorf("New with %s succeeded", tt.name)
		}
	}
}

// TestReadStream checks when a read handle keeps its streaming GET, reads a late read with a GET
// of its own, and moves the stream: each read is checked for its bytes and for the GETs it cost.
func TestReadStream(t *testing.T) {
	t.Parallel()
	s := newStore(t, options())
	s3store.SetStraggle(s, 8*mib)
	bucket, c := newBucket(t), adminClient()
	data := randomBytes(20 * mib)
	put(t, c, bucket, "f", data)
	h, err := s.OpenRead(t.Context(), storage.Location{Bucket: bucket, Key: "f"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// After a read returns the stream has reached its end and holds at most 6 MiB behind the
	// stream's end, which is at most 2 MiB ahead of the furthest read: the offsets below fall
	// clearly on one side of each limit.
	for _, r := range []struct {
		name string
		off  int64
		gets int64 // GETs made by this read
	}{
		{"first read opens the stream", 0, 1},
		{"reading on", 32 * kib, 0},
		{"a little ahead waits for the stream", 2 * mib, 0},
		{"back within what the stream holds", 100 * kib, 0},
		{"far ahead moves the stream", 10 * mib, 1},
		{"late (behind the stream, within the straggle window)", 3 * mib, 1},
		{"the stream went on", 10*mib + 32*kib, 0},
		{"far back moves the stream", 0, 1},
		{"reading on from there", 32 * kib, 0},
	} {
		before := s3store.Gets(s)
		p := make([]byte, 32*kib)
		if n, err := h.ReadAt(p, r.off); n != len(p) || err != nil || !bytes.Equal(p, data[r.off:r.off+32*kib]) {
			t.Fatalf("%s: ReadAt(32 KiB at %d) = %d, %v (right bytes: %v)", r.name, r.off, n, err, bytes.Equal(p[:n], data[r.off:r.off+int64(n)]))
		}
		if got := s3store.Gets(s) - before; got != r.gets {
			t.Errorf("%s: ReadAt at %d made %d GETs, want %d", r.name, r.off, got, r.gets)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ReadAt(make([]byte, 10), 0); storage.KindOf(err) != storage.KindInvalid {
		t.Errorf("ReadAt after Close: %v, want an invalid-argument error", err)
	}
}

func TestConcurrentChanges(t *testing.T) {
	t.Parallel()
	s := newStore(t, options())
	bucket, c := newBucket(t), adminClient()
	ctx := t.Context()

	t.Run("exclusive create loses a race", func(t *testing.T) {
		loc := storage.Location{Bucket: bucket, Key: "excl"}
		h, err := s.OpenWrite(ctx, loc, storage.OpenFlags{Create: true, Exclusive: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.WriteAt([]byte("mine"), 0); err != nil {
			t.Fatal(err)
		}
		put(t, c, bucket, loc.Key, []byte("theirs"))
		wantKind(t, "Close of an exclusive create after someone else created the file", h.Close(), storage.KindExist)
		if got := get(t, c, bucket, loc.Key); string(got) != "theirs" {
			t.Errorf("the object is %q, want %q", got, "theirs")
		}
	})

	t.Run("file replaced while read", func(t *testing.T) {
		data := randomBytes(12 * mib)
		put(t, c, bucket, "replaced", data)
		h, err := s.OpenRead(ctx, storage.Location{Bucket: bucket, Key: "replaced"})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		p := make([]byte, 32*kib)
		if _, err := h.ReadAt(p, 0); err != nil {
			t.Fatal(err)
		}
		put(t, c, bucket, "replaced", bytes.Repeat([]byte("n"), 12*mib))
		// A seek beyond the read-ahead opens a new GET, which must not mix the new content into
		// the old file.
		if n, err := h.ReadAt(p, 10*mib); err == nil {
			t.Errorf("ReadAt after the file was replaced = %d bytes (same as before: %v), want an error",
				n, bytes.Equal(p[:n], data[10*mib:10*mib+n]))
		}
	})
}

// Names with characters that URL encodings treat specially are copied (renamed, and their
// times set under STORE_METADATA) like any other: "+" used to reach versitygw as a space.
func TestCopySpecialNames(t *testing.T) {
	t.Parallel()
	s := newStore(t, options())
	bucket, c := newBucket(t), adminClient()
	ctx := t.Context()
	mtime := time.Unix(1_500_000_000, 0)
	for i, name := range []string{"plus+sign", "sp ace", "pct%41", "q?mark", "amp&x", "hash#x", "eq=x", "ü-ñ"} {
		from, to := storage.Location{Bucket: bucket, Key: name}, storage.Location{Bucket: bucket, Key: fmt.Sprintf("moved-%d-%s", i, name)}
		put(t, c, bucket, name, []byte(name))
		if err := s.Rename(ctx, from, to, false); err != nil {
			t.Errorf("Rename(%q): %v", name, err)
			continue
		}
		if got := get(t, c, bucket, to.Key); string(got) != name {
			t.Errorf("after Rename(%q): %q", name, got)
		}
		if err := s.StoredAttrs().(storage.AttrSetter).SetAttrs(ctx, to, storage.Attrs{Mtime: &mtime}); err != nil {
			t.Errorf("SetAttrs(%q): %v", to.Key, err)
		}
	}
}
