package s3store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/transferd/transferd/internal/storage/s3store"
	"github.com/transferd/transferd/internal/storage/s3store/s3test"
)

// The S3 server the tests use is s3test's: the one the environment names, or a versitygw that
// TestMain starts (installing it the first time, which takes a minute or two).
const (
	envEndpoint  = s3test.EnvEndpoint
	envAccessKey = s3test.EnvAccessKey
	envSecretKey = s3test.EnvSecretKey
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	if _, ok := s3test.FromEnv(); !ok {
		srv, stop, err := s3test.Start()
		if err != nil {
			fmt.Fprintf(os.Stderr, "s3store tests need an S3 server: %v\n", err)
			return 1
		}
		defer stop()
		os.Setenv(envEndpoint, srv.Endpoint)
		os.Setenv(envAccessKey, srv.AccessKey)
		os.Setenv(envSecretKey, srv.SecretKey)
	}
	return m.Run()
}

// options returns store options for the test server.
func options() s3store.Options {
	return s3store.Options{
		Endpoint:        os.Getenv(envEndpoint),
		ForcePathStyle:  true,
		AccessKeyID:     os.Getenv(envAccessKey),
		SecretAccessKey: os.Getenv(envSecretKey),
	}
}

func newStore(t *testing.T, opts s3store.Options) *s3store.Store {
	t.Helper()
	s, err := s3store.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// adminClient is a plain SDK client for setting up and checking what the store does.
func adminClient() *s3.Client {
	o := options()
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(o.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, ""),
	})
}

// newBucket creates a bucket with a random name, removed with everything in it when t ends.
func newBucket(t *testing.T) string {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	name := "transferd-test-" + hex.EncodeToString(b[:])
	c := adminClient()
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("CreateBucket(%s): %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := emptyBucket(ctx, c, name); err != nil {
			t.Logf("emptying bucket %s: %v", name, err)
			return
		}
		if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &name}); err != nil {
			t.Logf("DeleteBucket(%s): %v", name, err)
		}
	})
	return name
}

func emptyBucket(ctx context.Context, c *s3.Client, bucket string) error {
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		return err
	}
	for _, u := range ups.Uploads {
		c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId})
	}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket})
	var keys []types.ObjectIdentifier
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range out.Contents {
			keys = append(keys, types.ObjectIdentifier{Key: o.Key})
		}
	}
	for batch := range slices.Chunk(keys, 1000) {
		if _, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)}}); err != nil {
			return err
		}
	}
	return nil
}
