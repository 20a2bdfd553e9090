package s3store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/transferd/transferd/internal/storage/s3store"
)

// The S3 server the tests use: TRANSFERD_TEST_S3_ENDPOINT, _ACCESS_KEY and _SECRET_KEY, or, when
// they are unset, a versitygw that TestMain starts with scripts/s3server.sh (installing it the
// first time, which takes a minute or two).
const (
	envEndpoint  = "TRANSFERD_TEST_S3_ENDPOINT"
	envAccessKey = "TRANSFERD_TEST_S3_ACCESS_KEY"
	envSecretKey = "TRANSFERD_TEST_S3_SECRET_KEY"
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	if os.Getenv(envEndpoint) == "" {
		stop, err := startServer()
		if err != nil {
			fmt.Fprintf(os.Stderr, "s3store tests need an S3 server: %v\n", err)
			return 1
		}
		defer stop()
	}
	return m.Run()
}

// startServer starts versitygw with scripts/s3server.sh in a state directory of its own and
// exports what its env command prints.
func startServer() (stop func(), err error) {
	script, err := findScript()
	if err != nil {
		return nil, err
	}
	state, err := os.MkdirTemp("", "transferd-s3state-")
	if err != nil {
		return nil, err
	}
	run := func(arg string) ([]byte, error) {
		cmd := exec.Command("bash", script, arg)
		cmd.Env = append(os.Environ(), "TRANSFERD_S3_STATE="+state)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w\n%s", script, arg, err, stderr.Bytes())
		}
		return out, nil
	}
	stop = func() {
		if _, err := run("stop"); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.RemoveAll(state)
	}
	if _, err := run("start"); err != nil {
		os.RemoveAll(state)
		return nil, err
	}
	out, err := run("env")
	if err != nil {
		stop()
		return nil, err
	}
	line, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "export ")
	if !ok {
		stop()
		return nil, fmt.Errorf("%s env printed %q", script, out)
	}
	for kv := range strings.FieldsSeq(line) {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	return stop, nil
}

// findScript finds scripts/s3server.sh in the module holding the working directory.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "scripts", "s3server.sh"), nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = up
	}
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
