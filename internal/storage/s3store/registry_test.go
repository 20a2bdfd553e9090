package s3store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/transferd/transferd/internal/storage"
)

// registry records what the store tells it, in order.
type registry struct {
	mu    sync.Mutex
	n     int
	calls []string
	ids   map[string]string // token -> upload ID
}

func (r *registry) Starting(_ context.Context, bucket, key string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	tok := fmt.Sprintf("t%d", r.n)
	r.calls = append(r.calls, "starting "+tok+" "+key)
	return tok, nil
}

func (r *registry) Started(_ context.Context, token, uploadID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = map[string]string{}
	}
	r.ids[token] = uploadID
	r.calls = append(r.calls, "started "+token)
}

func (r *registry) Ended(_ context.Context, token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "ended "+token)
}

func (r *registry) log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// TestUploadRegistry checks that the registry hears of a multipart upload before S3 creates it,
// gets its ID, and hears of its end when it completes or is aborted; that a one-part file is not
// told; and that UploadsOf and AbortUpload find and abort an upload left in progress.
func TestUploadRegistry(t *testing.T) {
	t.Parallel()
	reg := &registry{}
	opts := options()
	opts.PartSize = 5 * mib
	opts.Uploads = reg
	s := newStore(t, opts)
	bucket, c := newBucket(t), adminClient()
	ctx := t.Context()
	write := func(key string, size int) storage.WriteHandle {
		t.Helper()
		h, err := s.OpenWrite(ctx, storage.Location{Bucket: bucket, Key: key}, storage.OpenFlags{Create: true, Truncate: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.WriteAt(randomBytes(size), 0); err != nil {
			t.Fatal(err)
		}
		return h
	}
	if err := write("small", mib).Close(); err != nil {
		t.Fatal(err)
	}
	if err := write("big", 12*mib).Close(); err != nil {
		t.Fatal(err)
	}
	write("aborted", 12*mib).Abort(fmt.Errorf("client went away"))
	want := []string{"starting t1 big", "started t1", "ended t1", "starting t2 aborted", "started t2", "ended t2"}
	if got := reg.log(); !slices.Equal(got, want) {
		t.Errorf("registry heard %q, want %q", got, want)
	}

	// An upload left in progress, as by a process that died, is found and aborted.
	before := time.Now().Add(-time.Minute)
	left := write("left", 12*mib)
	defer left.Abort(nil)
	ids, err := s.UploadsOf(ctx, bucket, "left", before)
	if err != nil || len(ids) != 1 || ids[0] != reg.ids["t3"] {
		t.Fatalf("UploadsOf(left) = %v, %v; want the registered %s", ids, err, reg.ids["t3"])
	}
	if ids, err := s.UploadsOf(ctx, bucket, "lef", before); err != nil || len(ids) != 0 {
		t.Errorf("UploadsOf(lef) = %v, %v; want none (exact keys only)", ids, err)
	}
	if ids, err := s.UploadsOf(ctx, bucket, "left", time.Now().Add(time.Hour)); err != nil || len(ids) != 0 {
		t.Errorf("UploadsOf(left) initiated after an hour from now = %v, %v; want none", ids, err)
	}
	// Its two full parts are sent in the background: a process that died sends nothing more.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: &bucket, Key: aws.String("left"), UploadId: &ids[0]})
		if err != nil {
			t.Fatal(err)
		}
		if len(parts.Parts) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d parts of the upload left in progress sent after a minute, want 2", len(parts.Parts))
		}
	}
	if err := s.AbortUpload(ctx, bucket, "left", ids[0]); err != nil {
		t.Fatal(err)
	}
	if n := uploads(t, c, bucket); n != 0 {
		t.Errorf("%d multipart uploads left after AbortUpload", n)
	}
	if err := s.AbortUpload(ctx, bucket, "left", ids[0]); err != nil {
		t.Errorf("AbortUpload of an upload already gone: %v; want nil", err)
	}
}
