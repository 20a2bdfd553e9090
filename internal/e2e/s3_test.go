package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/pkg/sftp"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/storage/s3store/s3test"
)

// The S3 server the S3 tests use is s3test's: the one the environment names, or a versitygw that
// the first S3 test starts and TestMain stops (stopS3).

// s3Limit bounds every request the tests make to S3 themselves.
const s3Limit = 2 * time.Minute

// s3Server is where an S3 server answers.
type s3Server = s3test.Server

// s3Suite is the S3 server shared by the tests of this binary, started on first use.
var s3Suite struct {
	once sync.Once
	srv  s3Server
	err  error
	stop func() // nil unless the tests started the server
}

// needS3 returns the S3 server, starting versitygw the first time when none is configured.
func needS3(t testing.TB) s3Server {
	t.Helper()
	s3Suite.once.Do(func() {
		if srv, ok := s3test.FromEnv(); ok {
			s3Suite.srv = srv
			return
		}
		s3Suite.srv, s3Suite.stop, s3Suite.err = s3test.Start()
	})
	if s3Suite.err != nil {
		t.Fatalf("the S3 tests need an S3 server: %v", s3Suite.err)
	}
	return s3Suite.srv
}

// stopS3 stops the S3 server that needS3 started, if any. TestMain calls it on its way out.
func stopS3() {
	if s3Suite.stop != nil {
		s3Suite.stop()
	}
}

// s3ConfigYAML is configYAML for servers on S3 storage.
func s3ConfigYAML(srv s3Server, servers ...serverConf) string {
	q := strconv.Quote
	return fmt.Sprintf("Storage:\n  S3:\n    Endpoint: %s\n    Region: us-east-1\n    ForcePathStyle: true\n"+
		"    AccessKeyId: %s\n    SecretAccessKey: %s\n", q(srv.Endpoint), q(srv.AccessKey), q(srv.SecretKey)) +
		configYAML("", servers...)
}

// s3User is a LOGICAL user whose "/" is /BUCKET/home.
func s3User(name, bucket string, keys ...*sshKey) userConf {
	return userConf{Name: name, Role: testRole, Type: "LOGICAL",
		Mappings: []mappingConf{{Entry: "/", Target: "/" + bucket + "/home"}}, Keys: keys}
}

// s3Env is one test's bucket on the shared S3 server.
type s3Env struct {
	srv    s3Server
	c      *s3.Client
	bucket string
}

// newS3Env creates a bucket with a random name, emptied and removed when t ends.
func newS3Env(t *testing.T) *s3Env {
	t.Helper()
	srv := needS3(t)
	var b [8]byte
	rand.Read(b[:])
	e := &s3Env{srv: srv, c: srv.Client(), bucket: "transferd-e2e-" + hex.EncodeToString(b[:])}
	ctx, cancel := context.WithTimeout(t.Context(), s3Limit)
	defer cancel()
	if _, err := e.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &e.bucket}); err != nil {
		t.Fatalf("CreateBucket(%s): %v", e.bucket, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s3Limit)
		defer cancel()
		if err := e.empty(ctx); err != nil {
			t.Logf("emptying bucket %s: %v", e.bucket, err)
			return
		}
		if _, err := e.c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &e.bucket}); err != nil {
			t.Logf("DeleteBucket(%s): %v", e.bucket, err)
		}
	})
	return e
}

func (e *s3Env) empty(ctx context.Context) error {
	ups, err := e.c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
	if err != nil {
		return err
	}
	for _, u := range ups.Uploads {
		e.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: u.Key, UploadId: u.UploadId})
	}
	keys, err := e.keys(ctx, "")
	if err != nil {
		return err
	}
	for batch := range slices.Chunk(keys, 1000) {
		ids := make([]types.ObjectIdentifier, len(batch))
		for i := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(batch[i])}
		}
		if _, err := e.c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}}); err != nil {
			return err
		}
	}
	return nil
}

// keys lists every key under prefix, in S3's order.
func (e *s3Env) keys(ctx context.Context, prefix string) ([]string, error) {
	p := s3.NewListObjectsV2Paginator(e.c, &s3.ListObjectsV2Input{Bucket: &e.bucket, Prefix: &prefix})
	var keys []string
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// mustKeys is keys for the test's goroutine.
func (e *s3Env) mustKeys(t testing.TB, prefix string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s3Limit)
	defer cancel()
	keys, err := e.keys(ctx, prefix)
	if err != nil {
		t.Fatalf("listing s3://%s/%s: %v", e.bucket, prefix, err)
	}
	return keys
}

// put writes an object.
func (e *s3Env) put(t testing.TB, key string, body []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s3Limit)
	defer cancel()
	if _, err := e.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key,
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}); err != nil {
		t.Fatalf("PutObject(s3://%s/%s): %v", e.bucket, key, err)
	}
}

// object returns the size and SHA-256 of an object, ok false when there is none.
func (e *s3Env) object(t testing.TB, key string) (size int64, sum string, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s3Limit)
	defer cancel()
	out, err := e.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
	if _, missing := errors.AsType[*types.NoSuchKey](err); missing {
		return 0, "", false
	}
	if err != nil {
		t.Fatalf("GetObject(s3://%s/%s): %v", e.bucket, key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	if err != nil {
		t.Fatalf("reading s3://%s/%s: %v", e.bucket, key, err)
	}
	if cl := aws.ToInt64(out.ContentLength); cl != n {
		t.Errorf("GetObject(s3://%s/%s): Content-Length %d, body %d bytes", e.bucket, key, cl, n)
	}
	return n, hex.EncodeToString(h.Sum(nil)), true
}

// uploads lists the bucket's multipart uploads in progress.
func (e *s3Env) uploads(t testing.TB) []types.MultipartUpload {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s3Limit)
	defer cancel()
	out, err := e.c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
	if err != nil {
		t.Fatalf("ListMultipartUploads(%s): %v", e.bucket, err)
	}
	return out.Uploads
}

// uploadedBytes is the total size of the parts uploaded so far to a multipart upload.
func (e *s3Env) uploadedBytes(t testing.TB, u types.MultipartUpload) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s3Limit)
	defer cancel()
	out, err := e.c.ListParts(ctx, &s3.ListPartsInput{Bucket: &e.bucket, Key: u.Key, UploadId: u.UploadId})
	if err != nil {
		t.Fatalf("ListParts(s3://%s/%s, %s): %v", e.bucket, aws.ToString(u.Key), aws.ToString(u.UploadId), err)
	}
	var n int64
	for _, p := range out.Parts {
		n += aws.ToInt64(p.Size)
	}
	return n
}

// s3Site is a transferd on S3 storage with one LOGICAL user whose "/" is /BUCKET/home, a marker
// that exists.
type s3Site struct {
	*s3Env
	p    *proc
	port int
	user string
	key  *sshKey
}

func newS3Site(t *testing.T, setStat string) *s3Site {
	t.Helper()
	e := newS3Env(t)
	e.put(t, "home/", nil)
	s := &s3Site{s3Env: e, port: freePort(t), user: "s3_user", key: keyFor(t, "ed25519")}
	s.p = start(t, s3ConfigYAML(e.srv, serverConf{Port: s.port, SetStat: setStat, Users: []userConf{s3User(s.user, e.bucket, s.key)}}))
	return s
}

// path is the storage path of a name in the user's home, as activity records show it.
func (s *s3Site) path(name string) string { return "/" + s.bucket + "/home/" + name }

func TestS3Transfers(t *testing.T) {
	t.Parallel()
	s := newS3Site(t, "")
	local := t.TempDir()
	sizes := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one-byte", 1},
		{"5MiB-minus-1", 5<<20 - 1},
		{"5MiB", 5 << 20},
		{"5MiB-plus-1", 5<<20 + 1},
		{"8MiB-plus-1", 8<<20 + 1}, // one byte past the default first part
		{"64MiB", 64 << 20},
	}
	t.Run("upload and download", func(t *testing.T) {
		for _, tc := range sizes {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				src := filepath.Join(local, tc.name+".src")
				dst := filepath.Join(local, tc.name+".dst")
				remote := "f-" + tc.name
				sum := writeRandom(t, src, tc.size)
				out := mustSFTP(t, s.port, s.user, s.key, fmt.Sprintf("put %s %s\nget %s %s\nls -l %s\n", src, remote, remote, dst, remote))

				if got := fileSHA256(t, dst); got != sum {
					t.Errorf("size %d: downloaded sha256 %s, want %s", tc.size, got, sum)
				}
				size, osum, ok := s.object(t, "home/"+remote)
				switch {
				case !ok:
					t.Errorf("size %d: no object s3://%s/home/%s after put", tc.size, s.bucket, remote)
				case size != int64(tc.size) || osum != sum:
					t.Errorf("size %d: object s3://%s/home/%s has %d bytes, sha256 %s; want %d, %s", tc.size, s.bucket, remote, size, osum, tc.size, sum)
				}
				if got, ok := lsSizes(out)[remote]; !ok || got != int64(tc.size) {
					t.Errorf("ls -l %s: size %d (listed: %v), want %d; output:\n%s", remote, got, ok, tc.size, out)
				}

				sp, n := s.path(remote), strconv.Itoa(tc.size)
				recs := s.p.session(t, "OPEN of "+sp, func(r *activity.Record) bool {
					return r.ActivityType == activity.Open && r.Path == sp
				})
				expectInOrder(t, recs, s.user,
					like{Type: activity.Connected},
					like{Type: activity.Open, Path: sp, Mode: "CREATE|TRUNCATE|WRITE"},
					like{Type: activity.Close, Path: sp, BytesIn: n},
					like{Type: activity.Open, Path: sp, Mode: "READ"},
					like{Type: activity.Close, Path: sp, BytesOut: n},
					like{Type: activity.Disconnected},
				)
				for _, r := range recs {
					if r.ActivityType == activity.Error || r.ActivityType == activity.PartialClose {
						t.Errorf("size %d: unexpected %s record: %+v", tc.size, r.ActivityType, r)
					}
				}
			})
		}
	})
	t.Run("no multipart upload left", func(t *testing.T) {
		// Runs after every upload above has finished.
		if ups := s.uploads(t); len(ups) != 0 {
			t.Errorf("after the uploads: %d multipart uploads in progress, want 0: %+v", len(ups), ups)
		}
	})
}

func TestS3KilledUpload(t *testing.T) {
	t.Parallel()
	needTool(t, "sftp")
	s := newS3Site(t, "")
	const (
		size     = 64 << 20
		killFrom = 16 << 20 // parts in S3 before the client is killed
	)
	src := filepath.Join(t.TempDir(), "big")
	writeRandom(t, src, size)

	// 64 Mbit/s: the upload takes 8 s, long enough to kill it half-way.
	args := append([]string{"-v", "-b", "-", "-P", strconv.Itoa(s.port), "-l", "65536"}, clientOpts(s.key)...)
	cmd := exec.Command("sftp", append(args, s.user+"@127.0.0.1")...)
	cmd.Stdin = strings.NewReader("put " + src + " big\n")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // sftp and its ssh, killed together
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	killed := false
	t.Cleanup(func() {
		if !killed {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	var sent int64
	deadline := time.Now().Add(clientLimit)
	for sent < killFrom {
		select {
		case err := <-exited:
			killed = true
			t.Fatalf("sftp put of %d bytes ended (%v) before %d bytes were in S3; output:\n%s", size, err, killFrom, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %d bytes of the upload are in S3, want %d; output:\n%s", clientLimit, sent, killFrom, out.String())
		}
		for _, u := range s.uploads(t) {
			if aws.ToString(u.Key) == "home/big" {
				sent = s.uploadedBytes(t, u)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing sftp: %v", err)
	}
	<-exited
	killed = true

	sp := s.path("big")
	rec := s.p.waitRecord(t, "PARTIAL_CLOSE of "+sp, func(r *activity.Record) bool {
		return r.ActivityType == activity.PartialClose && r.Path == sp
	})
	if in, err := strconv.ParseInt(rec.BytesIn, 10, 64); err != nil || in < sent || in >= size {
		t.Errorf("PARTIAL_CLOSE has bytes-in %q, want from %d (in S3 at the kill) to less than %d", rec.BytesIn, sent, size)
	}
	recs := s.p.session(t, "PARTIAL_CLOSE of "+sp, func(r *activity.Record) bool {
		return r.ActivityType == activity.PartialClose && r.Path == sp
	})
	expectInOrder(t, recs, s.user,
		like{Type: activity.Open, Path: sp, Mode: "CREATE|TRUNCATE|WRITE"},
		like{Type: activity.PartialClose, Path: sp},
		like{Type: activity.Disconnected},
	)
	for _, r := range recs {
		if r.ActivityType == activity.Close {
			t.Errorf("a CLOSE record for the killed upload: %+v", r)
		}
	}
	// PARTIAL_CLOSE is written once the abort is done.
	if ups := s.uploads(t); len(ups) != 0 {
		t.Errorf("after killing the client %d bytes into a %d-byte put: multipart uploads %+v, want none", sent, size, ups)
	}
	if keys := s.mustKeys(t, ""); !slices.Equal(keys, []string{"home/"}) {
		t.Errorf("after killing the client %d bytes into a %d-byte put: the bucket holds %q, want only the home marker", sent, size, keys)
	}
}

// listCount is how many objects TestS3Listing lists.
const listCount = 10_000

func TestS3Listing(t *testing.T) {
	t.Parallel()
	s := newS3Site(t, "")

	// Files f00000 ... and two directories among them: one with a marker, one only implied by
	// the object below it. Their names sort as their keys do.
	var want []string
	for i := range listCount {
		want = append(want, fmt.Sprintf("f%05d", i))
	}
	keys := make([]string, 0, listCount+2)
	for _, n := range want {
		keys = append(keys, "home/"+n)
	}
	keys = append(keys, "home/f00100.d/", "home/f05000.d/inner")
	want = append(want, "f00100.d", "f05000.d")
	slices.Sort(want)

	began := time.Now()
	work := make(chan string)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for k := range work {
				ctx, cancel := context.WithTimeout(context.Background(), s3Limit)
				_, err := s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: aws.String(k),
					Body: bytes.NewReader(nil), ContentLength: aws.Int64(0)})
				cancel()
				if err != nil {
					errs <- fmt.Errorf("PutObject(%s): %w", k, err)
					for range work {
					}
					return
				}
			}
		})
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d objects in %v", len(keys), time.Since(began))

	// -f keeps the server's order: sftp sorts names itself otherwise.
	began = time.Now()
	out := mustSFTP(t, s.port, s.user, s.key, "ls -1f\n")
	t.Logf("listed them over SFTP in %v", time.Since(began))
	nameRE := regexp.MustCompile(`^f\d{5}(\.d)?$`)
	var got []string
	for line := range strings.Lines(out) {
		if line = strings.TrimSpace(line); nameRE.MatchString(line) {
			got = append(got, line)
		}
	}
	if len(got) != len(want) {
		t.Errorf("ls -1f of %d entries listed %d", len(want), len(got))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("ls -1f: entry %d is %q, want %q (the listing is out of order or misses entries)", i, got[i], want[i])
			break
		}
	}
}

func TestS3Directories(t *testing.T) {
	t.Parallel()
	s := newS3Site(t, "")
	src := filepath.Join(t.TempDir(), "small")
	sum := writeRandom(t, src, 10)

	mustSFTP(t, s.port, s.user, s.key, strings.Join([]string{
		"mkdir d1", "put " + src + " d1/f",
		"put " + src + " c1", "rename c1 c2",
		"mkdir d2", "mkdir d2/sub", "put " + src + " d2/a", "put " + src + " d2/sub/b",
	}, "\n")+"\n")
	if _, _, ok := s.object(t, "home/d1/"); !ok {
		t.Errorf("after mkdir d1: no marker object home/d1/")
	}

	out, err := sftpBatch(t, s.port, s.user, s.key, "rmdir d1\n")
	if err == nil {
		t.Errorf("rmdir of a directory holding a file succeeded; output:\n%s", out)
	}
	if keys := s.mustKeys(t, "home/d1/"); !slices.Equal(keys, []string{"home/d1/", "home/d1/f"}) {
		t.Errorf("after a refused rmdir d1: keys under home/d1/ are %q, want the marker and the file", keys)
	}

	mustSFTP(t, s.port, s.user, s.key, "rename d2 d3\nrm d1/f\nrmdir d1\n")
	want := []string{"home/", "home/c2", "home/d3/", "home/d3/a", "home/d3/sub/", "home/d3/sub/b"}
	if got := s.mustKeys(t, ""); !slices.Equal(got, want) {
		t.Errorf("after mkdir, put, rename of a file and of a directory, rm and rmdir: the bucket holds\n%q\nwant\n%q", got, want)
	}
	for _, k := range []string{"home/c2", "home/d3/a", "home/d3/sub/b"} {
		if size, osum, ok := s.object(t, k); !ok || size != 10 || osum != sum {
			t.Errorf("%s: %d bytes, sha256 %s, present %v; want the 10 bytes put", k, size, osum, ok)
		}
	}

	recs := s.p.session(t, "MKDIR of d1", func(r *activity.Record) bool {
		return r.ActivityType == activity.Mkdir && r.Path == s.path("d1")
	})
	expectInOrder(t, recs, s.user,
		like{Type: activity.Mkdir, Path: s.path("d1")},
		like{Type: activity.Close, Path: s.path("d1/f"), BytesIn: "10"},
		like{Type: activity.Close, Path: s.path("c1"), BytesIn: "10"},
		like{Type: activity.Rename, Path: s.path("c1"), NewPath: s.path("c2")},
		like{Type: activity.Mkdir, Path: s.path("d2")},
		like{Type: activity.Mkdir, Path: s.path("d2/sub")},
	)
	recs = s.p.session(t, "the refused RMDIR", func(r *activity.Record) bool {
		return r.ActivityType == activity.Error && r.Operation == activity.Rmdir
	})
	expectInOrder(t, recs, s.user, like{Type: activity.Error, Operation: activity.Rmdir, Path: s.path("d1")})
	recs = s.p.session(t, "RENAME of d2", func(r *activity.Record) bool {
		return r.ActivityType == activity.Rename && r.Path == s.path("d2")
	})
	expectInOrder(t, recs, s.user,
		like{Type: activity.Rename, Path: s.path("d2"), NewPath: s.path("d3")},
		like{Type: activity.Delete, Path: s.path("d1/f")},
		like{Type: activity.Rmdir, Path: s.path("d1")},
	)
}

// TestS3RenameLimit runs servers whose configuration limits directory renames: to 2 objects, and
// to none.
func TestS3RenameLimit(t *testing.T) {
	t.Parallel()
	e := newS3Env(t)
	e.put(t, "home/", nil)
	for _, k := range []string{"home/two/a", "home/two/b", "home/three/a", "home/three/b", "home/three/c", "home/file"} {
		e.put(t, k, []byte(k))
	}
	user, key := "s3_user", keyFor(t, "ed25519")
	limited := func(limit string) int {
		port := freePort(t)
		conf := s3ConfigYAML(e.srv, serverConf{Port: port, Users: []userConf{s3User(user, e.bucket, key)}})
		start(t, strings.Replace(conf, "    ForcePathStyle: true\n", "    ForcePathStyle: true\n    MaxRenameObjects: "+limit+"\n", 1))
		return port
	}
	two, none := limited("2"), limited("0")

	if out, err := sftpBatch(t, two, user, key, "rename three three-renamed\n"); err == nil {
		t.Errorf("renaming a directory of 3 objects with MaxRenameObjects 2 succeeded; output:\n%s", out)
	}
	if out, err := sftpBatch(t, none, user, key, "rename two two-renamed\n"); err == nil {
		t.Errorf("renaming a directory with MaxRenameObjects 0 succeeded; output:\n%s", out)
	}
	mustSFTP(t, none, user, key, "rename file file-renamed\n")
	mustSFTP(t, two, user, key, "rename two two-renamed\n")
	want := []string{"home/", "home/file-renamed", "home/three/a", "home/three/b", "home/three/c", "home/two-renamed/a", "home/two-renamed/b"}
	if got := e.mustKeys(t, ""); !slices.Equal(got, want) {
		t.Errorf("after the renames the bucket holds\n%q\nwant\n%q", got, want)
	}
}

func TestS3SetStat(t *testing.T) {
	t.Parallel()
	e := newS3Env(t)
	e.put(t, "home/", nil)
	e.put(t, "home/f", []byte("unchanged"))
	key := keyFor(t, "ed25519")
	const user = "s3_user"
	refuse, noop, store := freePort(t), freePort(t), freePort(t)
	p := start(t, s3ConfigYAML(e.srv,
		serverConf{Port: refuse, SetStat: "DEFAULT", Users: []userConf{s3User(user, e.bucket, key)}},
		serverConf{Port: noop, SetStat: "ENABLE_NO_OP", Users: []userConf{s3User(user, e.bucket, key)}},
		serverConf{Port: store, SetStat: "STORE_METADATA", Users: []userConf{s3User(user, e.bucket, key)}},
	))
	src := filepath.Join(t.TempDir(), "src")
	sum := writeRandom(t, src, 100)
	fpath := "/" + e.bucket + "/home/f"

	t.Run("DEFAULT refuses", func(t *testing.T) {
		out, err := sftpBatch(t, refuse, user, key, "chmod 600 f\n")
		if err == nil || !strings.Contains(out, "Operation unsupported") {
			t.Errorf("chmod 600 f under SetStatOption DEFAULT: %v, want an Operation unsupported failure; output:\n%s", err, out)
		}
		recs := p.session(t, "ERROR of SETSTAT on "+fpath, func(r *activity.Record) bool {
			return r.ActivityType == activity.Error && r.Operation == activity.Setstat && r.Path == fpath
		})
		for _, r := range recs {
			if r.ActivityType == activity.Setstat {
				t.Errorf("a refused chmod wrote a SETSTAT record: %+v", r)
			}
		}

		// put -p: OpenSSH reports the refused fsetstat and keeps the upload.
		out = mustSFTP(t, refuse, user, key, "put -p "+src+" kept\n")
		if !strings.Contains(out, "fsetstat") || !strings.Contains(out, "Operation unsupported") {
			t.Errorf("put -p under SetStatOption DEFAULT: the output does not report the refused fsetstat:\n%s", out)
		}
		if _, osum, ok := e.object(t, "home/kept"); !ok || osum != sum {
			t.Errorf("put -p under SetStatOption DEFAULT: object home/kept present %v with sha256 %s, want %s", ok, osum, sum)
		}
		kp := "/" + e.bucket + "/home/kept"
		recs = p.session(t, "ERROR of SETSTAT on "+kp, func(r *activity.Record) bool {
			return r.ActivityType == activity.Error && r.Operation == activity.Setstat && r.Path == kp
		})
		expectInOrder(t, recs, user,
			like{Type: activity.Open, Path: kp},
			like{Type: activity.Error, Operation: activity.Setstat, Path: kp},
			like{Type: activity.Close, Path: kp, BytesIn: "100"},
		)
	})

	t.Run("ENABLE_NO_OP ignores", func(t *testing.T) {
		out := mustSFTP(t, noop, user, key, "chmod 600 f\nput -p "+src+" noop\n")
		if strings.Contains(out, "Operation unsupported") {
			t.Errorf("chmod and put -p under SetStatOption ENABLE_NO_OP: output reports a refusal:\n%s", out)
		}
		if size, osum, ok := e.object(t, "home/f"); !ok || size != int64(len("unchanged")) {
			t.Errorf("after chmod under ENABLE_NO_OP: home/f present %v, %d bytes (sha256 %s), want it unchanged", ok, size, osum)
		}
		np := "/" + e.bucket + "/home/noop"
		recs := p.session(t, "SETSTAT of "+fpath, func(r *activity.Record) bool {
			return r.ActivityType == activity.Setstat && r.Path == fpath
		})
		expectInOrder(t, recs, user,
			like{Type: activity.Setstat, Path: fpath},
			like{Type: activity.Open, Path: np},
			like{Type: activity.Setstat, Path: np},
			like{Type: activity.Close, Path: np, BytesIn: "100"},
		)
		for _, r := range recs {
			if r.ActivityType == activity.Error {
				t.Errorf("under ENABLE_NO_OP: ERROR record %+v", r)
			}
		}
	})

	// STORE_METADATA: `put -p` and `get -p` carry the file's time through S3, chmod sticks, and
	// ls -l shows both; the object keeps them as rclone does (x-amz-meta-mtime).
	t.Run("STORE_METADATA keeps", func(t *testing.T) {
		old := time.Date(2019, 7, 1, 12, 0, 0, 0, time.UTC)
		if err := os.Chtimes(src, old, old); err != nil {
			t.Fatal(err)
		}
		back := filepath.Join(t.TempDir(), "back")
		out := mustSFTP(t, store, user, key, "put -p "+src+" timed\nchmod 640 timed\nls -l timed\nget -p timed "+back+"\n")
		if !strings.Contains(out, "-rw-r-----") || !strings.Contains(out, "Jul  1  2019") {
			t.Errorf("ls -l after put -p and chmod 640 under STORE_METADATA: want -rw-r----- and Jul  1  2019 in:\n%s", out)
		}
		if fi, err := os.Stat(back); err != nil || !fi.ModTime().Equal(old) {
			t.Errorf("get -p of the file: %v, mtime %v, want %v", err, fi.ModTime(), old)
		}
		ctx, cancel := context.WithTimeout(context.Background(), s3Limit)
		defer cancel()
		head, err := e.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("home/timed")})
		if err != nil {
			t.Fatal(err)
		}
		if want := strconv.FormatInt(old.Unix(), 10); head.Metadata["mtime"] != want || head.Metadata["mode"] != "100640" {
			t.Errorf("object metadata %v, want mtime %s and mode 100640", head.Metadata, want)
		}
		if _, osum, ok := e.object(t, "home/timed"); !ok || osum != sum {
			t.Errorf("home/timed present %v with sha256 %s, want %s", ok, osum, sum)
		}
		// The same object through the DEFAULT server shows S3's own time and mode.
		out = mustSFTP(t, refuse, user, key, "ls -l timed\n")
		if strings.Contains(out, "2019") || !strings.Contains(out, "-rw-r--r--") {
			t.Errorf("ls -l under DEFAULT shows the stored attributes:\n%s", out)
		}
	})
}

func TestS3RandomAccessRefused(t *testing.T) {
	t.Parallel()
	s := newS3Site(t, "")

	t.Run("write far ahead", func(t *testing.T) {
		c := dialSFTP(t, s.port, s.user, s.key)
		f, err := c.OpenFile("/ra", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			t.Fatal(err)
		}
		block := bytes.Repeat([]byte("x"), 1024)
		if _, err := f.WriteAt(block, 0); err != nil {
			t.Fatalf("WriteAt(1 KiB, 0): %v", err)
		}
		_, err = f.WriteAt(block, 100<<20)
		if se, ok := errors.AsType[*sftp.StatusError](err); !ok || se.FxCode() != sftp.ErrSSHFxOpUnsupported {
			t.Errorf("WriteAt(1 KiB, 100 MiB) after a write at 0: %v, want status OP_UNSUPPORTED", err)
		}
		if err := f.Close(); err == nil {
			t.Errorf("Close after a refused write: nil, want the upload's failure")
		}
		if _, _, ok := s.object(t, "home/ra"); ok {
			t.Errorf("after a refused random-access write: object home/ra exists, want none")
		}
		if ups := s.uploads(t); len(ups) != 0 {
			t.Errorf("after a refused random-access write: multipart uploads %+v, want none", ups)
		}
		sp := s.path("ra")
		rec := s.p.waitRecord(t, "ERROR of the write at 100 MiB", func(r *activity.Record) bool {
			return r.ActivityType == activity.Error && r.Path == sp
		})
		if !strings.Contains(rec.Message, "random-access") {
			t.Errorf("ERROR record of the refused write has message %q, want one about random-access writes", rec.Message)
		}
		// The upload has one ERROR, the write's: the CLOSE that fails for the same reason adds
		// none, and PARTIAL_CLOSE says the file was not stored.
		c.Close()
		c.ssh.Close()
		recs := s.p.session(t, "ERROR of the write at 100 MiB", func(r *activity.Record) bool {
			return r.ActivityType == activity.Error && r.Path == sp
		})
		expectInOrder(t, recs, s.user,
			like{Type: activity.Open, Path: sp, Mode: "CREATE|TRUNCATE|WRITE"},
			like{Type: activity.Error, Operation: activity.OperationWrite, Path: sp},
			like{Type: activity.PartialClose, Path: sp},
		)
		for _, r := range recs {
			if r.ActivityType == activity.Error && r.Operation == activity.Close && r.Path == sp {
				t.Errorf("an ERROR of CLOSE after the failed write's: %+v", r)
			}
		}
		// The file was never stored: no CLOSE record may say otherwise.
		for _, r := range recs {
			if r.ActivityType == activity.Close && r.Path == sp {
				t.Errorf("a CLOSE record for a file whose upload failed: %+v", r)
			}
		}
	})

	t.Run("reput", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "resumed")
		writeRandom(t, src, 3<<20)
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		first := data[:1<<20]
		s.put(t, "home/resumed", first)
		out, err := sftpBatch(t, s.port, s.user, s.key, "reput "+src+" resumed\n")
		if err == nil || !strings.Contains(out, "Operation unsupported") {
			t.Errorf("reput onto a 1 MiB object: %v, want an Operation unsupported failure; output:\n%s", err, out)
		}
		firstSum := sha256.Sum256(first)
		if size, osum, ok := s.object(t, "home/resumed"); !ok || size != 1<<20 || osum != hex.EncodeToString(firstSum[:]) {
			t.Errorf("after a refused reput: home/resumed present %v, %d bytes, want the first 1 MiB unchanged", ok, size)
		}
		sp := s.path("resumed")
		rec := s.p.waitRecord(t, "ERROR of the reput", func(r *activity.Record) bool {
			return r.ActivityType == activity.Error && r.Path == sp
		})
		if rec.Operation != activity.Open || !strings.Contains(rec.Message, "append") {
			t.Errorf("ERROR record of the refused reput: operation %q message %q, want OPEN and a message about appending", rec.Operation, rec.Message)
		}
	})
}

// TestS3LogicalRootMissing documents what a LOGICAL user whose root target has no marker object
// sees. The login succeeds and transferd does not create the marker (Transfer Family requires the
// root to exist beforehand). Listing "/" fails with No such file (OpenSSH sftp prints
// `remote readdir("/"): No such file or directory` and still exits 0), and mkdir fails because its
// parent does not exist. A put succeeds, as S3 needs no parent, and the object it makes brings the
// root into existence: "/" then lists it.
func TestS3LogicalRootMissing(t *testing.T) {
	t.Parallel()
	e := newS3Env(t)
	key := keyFor(t, "ed25519")
	const user = "homeless"
	port := freePort(t)
	p := start(t, s3ConfigYAML(e.srv, serverConf{Port: port, Users: []userConf{s3User(user, e.bucket, key)}}))

	out, _ := sftpBatch(t, port, user, key, "ls\n")
	if !strings.Contains(out, "Authenticated to") || !strings.Contains(out, `remote readdir("/"): No such file or directory`) {
		t.Errorf("ls of a missing root target: want a login and a No such file failure; output:\n%s", out)
	}
	if keys := e.mustKeys(t, ""); len(keys) != 0 {
		t.Errorf("after a login with a missing root target: the bucket holds %q, want nothing (the home is not created)", keys)
	}

	out, err := sftpBatch(t, port, user, key, "mkdir d\n")
	if err == nil || !strings.Contains(out, "No such file") {
		t.Errorf("mkdir d in a missing root target: %v, want a No such file failure; output:\n%s", err, out)
	}
	p.waitRecord(t, "ERROR of MKDIR", func(r *activity.Record) bool {
		return r.ActivityType == activity.Error && r.Operation == activity.Mkdir && r.Path == "/"+e.bucket+"/home/d"
	})

	src := filepath.Join(t.TempDir(), "f")
	writeRandom(t, src, 10)
	out, err = sftpBatch(t, port, user, key, "put "+src+" f\nls -1\n")
	if err != nil || !regexp.MustCompile(`(?m)^f$`).MatchString(out) {
		t.Errorf("put f then ls -1 in a missing root target: %v, want the put to succeed and ls to list f; output:\n%s", err, out)
	}
	if keys := e.mustKeys(t, ""); !slices.Equal(keys, []string{"home/f"}) {
		t.Errorf("after put f in a missing root target: the bucket holds %q, want only home/f (no marker)", keys)
	}
}

// TestStatInFlight has paramiko ask the size of a file it is uploading, by handle (FSTAT) and by
// path (STAT), before CLOSE, on local and on S3 storage: the answer is what it wrote so far, though
// S3 has no object until CLOSE.
func TestStatInFlight(t *testing.T) {
	t.Parallel()
	for _, storage := range []string{"local", "s3"} {
		t.Run(storage, func(t *testing.T) {
			t.Parallel()
			key := keyFor(t, "ed25519")
			port := freePort(t)
			if storage == "s3" {
				e := newS3Env(t)
				e.put(t, "home/", nil)
				start(t, s3ConfigYAML(e.srv, serverConf{Port: port, Users: []userConf{s3User("alice", e.bucket, key)}}))
			} else {
				start(t, configYAML(t.TempDir(), serverConf{Port: port, Users: []userConf{chrootUser("alice", key)}}))
			}
			out, code := paramikoLogin(t, port, "alice", key, "", false, "upload-stat /up.bin 100000", "ls /")
			if code != 0 || !strings.Contains(out, "ok upload-stat fstat=100000 stat=100000") || !strings.Contains(out, "ok ls up.bin") {
				t.Errorf("paramiko's stat of a file in flight (exit %d):\n%s", code, out)
			}
		})
	}
}

// TestS3Problems checks that S3 problems are visible: at start a warning names a bucket that
// users point at but S3 does not have (and credentials S3 refuses, or an endpoint that does not
// answer); an upload into the missing bucket gets one ERROR record with S3's error code, not one
// per WRITE, and the operational log names the bucket once; a change to Storage.S3 on SIGHUP is
// reported as needing a restart.
func TestS3Problems(t *testing.T) {
	t.Parallel()
	e := newS3Env(t)
	key := keyFor(t, "ed25519")
	missing := e.bucket + "-missing"
	port := freePort(t)
	cfg := s3ConfigYAML(e.srv, serverConf{Port: port, Users: []userConf{s3User("has_bucket", e.bucket, key), s3User("no_bucket", missing, key)}})
	p := start(t, cfg)
	p.waitLog(t, "S3 bucket "+missing+" does not exist at "+e.srv.Endpoint)
	if strings.Contains(p.stderrText(), "S3 bucket "+e.bucket+" ") {
		t.Errorf("a warning about the bucket that exists:\n%s", p.stderrText())
	}

	src := filepath.Join(t.TempDir(), "big")
	writeRandom(t, src, 40<<20)
	if out, _ := sftpBatch(t, port, "no_bucket", key, "-put "+src+" big\n-mkdir d\n"); !strings.Contains(out, "No such file") {
		t.Errorf("an upload into a missing bucket: no No such file:\n%s", out)
	}
	path := "/" + missing + "/home/big"
	p.waitRecord(t, "PARTIAL_CLOSE of the upload", func(r *activity.Record) bool {
		return r.ActivityType == activity.PartialClose && r.Path == path
	})
	var errs []activity.Record
	for _, r := range p.records(t) {
		if r.ActivityType == activity.Error && r.Path == path {
			errs = append(errs, r)
		}
		if r.ActivityType == activity.PartialClose && r.Path == path && !strings.Contains(r.Message, "S3 NoSuchBucket") {
			t.Errorf("PARTIAL_CLOSE message %q lacks the S3 error code", r.Message)
		}
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "(S3 NoSuchBucket)") {
		t.Errorf("the failed upload wrote %d ERROR records, want 1 with (S3 NoSuchBucket):\n%s", len(errs), dumpRecords(errs))
	}
	p.waitRecord(t, "ERROR of MKDIR with the S3 code", func(r *activity.Record) bool {
		return r.ActivityType == activity.Error && r.Path == "/"+missing+"/home/d" && strings.Contains(r.Message, "(S3 NoSuchBucket)")
	})
	const logged = "S3 bucket does not exist: requests for it fail (NoSuchBucket)"
	if n := strings.Count(p.stderrText(), logged); n != 1 || !strings.Contains(p.stderrText(), "bucket="+missing) {
		t.Errorf("the operational log says %q %d times (want once, naming bucket %s):\n%s", logged, n, missing, p.stderrText())
	}

	if err := os.WriteFile(p.cfgPath, []byte(strings.Replace(cfg, "    ForcePathStyle: true\n", "    ForcePathStyle: true\n    PartSizeMiB: 16\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	p.reload(t)
	p.waitLog(t, "Storage.S3 changed; restart transferd to use the new settings")

	t.Run("refused credentials", func(t *testing.T) {
		t.Parallel()
		bad := e.srv
		bad.SecretKey += "x"
		q := start(t, s3ConfigYAML(bad, serverConf{Port: freePort(t), Users: []userConf{s3User("has_bucket", e.bucket, key)}}))
		q.waitLog(t, "refuses the credentials (SignatureDoesNotMatch)")
	})
	t.Run("endpoint that does not answer", func(t *testing.T) {
		t.Parallel()
		gone := e.srv
		gone.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		q := start(t, s3ConfigYAML(gone, serverConf{Port: freePort(t), Users: []userConf{s3User("has_bucket", e.bucket, key)}}))
		q.waitLog(t, "S3 storage at "+gone.Endpoint+" does not answer")
	})
}

// TestS3DiskFree checks that OpenSSH's `df` (statvfs@openssh.com) on S3 storage reports vast free
// space, not an error or zero, which clients that check before uploading would read as full.
func TestS3DiskFree(t *testing.T) {
	t.Parallel()
	s := newS3Site(t, "")
	out := mustSFTP(t, s.port, s.user, s.key, "df\ndf -i\n")
	// "Size Used Avail (root) %Capacity" in KiB: 4 PiB is 4294967296 KiB; then inodes.
	if !strings.Contains(out, "4294967296") || !strings.Contains(out, "1099511627776") {
		t.Errorf("df on S3 storage:\n%s\nwant 4 PiB (4294967296 KiB) free and 2^40 inodes", out)
	}
}
