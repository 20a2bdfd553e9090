package sftpd

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pkg/sftp"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/transfer"
)

// recorder keeps the activity records of a session.
type recorder struct {
	mu   sync.Mutex
	recs []activity.Record
}

func (r *recorder) Log(rec *activity.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, *rec)
}

// errors returns the messages of the ERROR records, each prefixed by its operation.
func (r *recorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		if rec.ActivityType == activity.Error {
			out = append(out, rec.Operation+" "+rec.Path+": "+rec.Message)
		}
	}
	return out
}

// wantDenied checks that err is SSH_FX_PERMISSION_DENIED and that an ERROR record of the
// operation holds want.
func wantDenied(t *testing.T, rec *recorder, what string, err error, op, want string) {
	t.Helper()
	// pkg/sftp's client turns SSH_FX_PERMISSION_DENIED into fs.ErrPermission.
	var se *sftp.StatusError
	if !errors.Is(err, fs.ErrPermission) && !(errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxPermissionDenied) {
		t.Errorf("%s: %v, want SSH_FX_PERMISSION_DENIED", what, err)
		return
	}
	for _, e := range rec.errors() {
		if strings.HasPrefix(e, op+" ") && strings.Contains(e, want) {
			return
		}
	}
	t.Errorf("%s: no ERROR record of %s holding %q; ERROR records:\n  %s", what, op, want, strings.Join(rec.errors(), "\n  "))
}

func mustWrite(t *testing.T, path, data string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

const readOnlyPolicy = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bucket1"},
 {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket1/*"}]}`

// userPrefixPolicy gives each user bucket1/home/USER/ and the listings on the way there.
const userPrefixPolicy = `{"Version":"2012-10-17","Statement":[
 {"Sid":"ListToHome","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bucket1",
  "Condition":{"StringEquals":{"s3:prefix":["","home/"]}}},
 {"Sid":"ListHome","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bucket1",
  "Condition":{"StringLike":{"s3:prefix":"home/${transfer:UserName}/*"}}},
 {"Sid":"Home","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::bucket1/home/${transfer:UserName}/*"}]}`

func policySession(user, home, policy string) *transfer.Session {
	return &transfer.Session{ID: "s", RemoteIP: "192.0.2.1", Server: transfer.Server{Domain: transfer.DomainS3},
		User: transfer.User{UserName: user, HomeDirectoryType: transfer.HomePath, HomeDirectory: home, Policy: policy}}
}

func TestSessionPolicyReadOnly(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "bucket1/alice/report.csv"), "1,2,3\n", 0o644)
	mustWrite(t, filepath.Join(root, "bucket1/alice/sub/keep"), "k", 0o644)
	rec := &recorder{}
	c := pipeSessionAs(t, Config{Activity: rec}, policySession("alice", "/bucket1/alice", readOnlyPolicy), root)

	if _, err := c.ReadDir("/bucket1/alice"); err != nil {
		t.Errorf("listing the home: %v", err)
	}
	if _, err := c.Stat("/bucket1/alice/report.csv"); err != nil {
		t.Errorf("stat: %v", err)
	}
	f, err := c.Open("/bucket1/alice/report.csv")
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	if b, err := io.ReadAll(f); err != nil || string(b) != "1,2,3\n" {
		t.Errorf("read %q, %v", b, err)
	}
	f.Close()

	_, err = c.Create("/bucket1/alice/new.txt")
	wantDenied(t, rec, "put", err, activity.Open, "s3:PutObject on arn:aws:s3:::bucket1/alice/new.txt: no statement of the session policy allows it")
	_, err = c.OpenFile("/bucket1/alice/report.csv", os.O_RDWR)
	wantDenied(t, rec, "open read-write", err, activity.Open, "s3:PutObject on arn:aws:s3:::bucket1/alice/report.csv")
	wantDenied(t, rec, "rm", c.Remove("/bucket1/alice/report.csv"), activity.Delete, "s3:DeleteObject on arn:aws:s3:::bucket1/alice/report.csv")
	wantDenied(t, rec, "mkdir", c.Mkdir("/bucket1/alice/d"), activity.Mkdir, "s3:PutObject on arn:aws:s3:::bucket1/alice/d/")
	wantDenied(t, rec, "rmdir", c.RemoveDirectory("/bucket1/alice/sub"), activity.Rmdir, "s3:DeleteObject on arn:aws:s3:::bucket1/alice/sub/")
	wantDenied(t, rec, "rename", c.Rename("/bucket1/alice/report.csv", "/bucket1/alice/r2.csv"), activity.Rename, "s3:PutObject on arn:aws:s3:::bucket1/alice/r2.csv")
	wantDenied(t, rec, "chmod", c.Chmod("/bucket1/alice/report.csv", 0o600), activity.Setstat, "s3:PutObject")
	for _, p := range []string{"bucket1/alice/new.txt", "bucket1/alice/d", "bucket1/alice/r2.csv"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s exists after a denied request", p)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "bucket1/alice/report.csv")); string(b) != "1,2,3\n" {
		t.Errorf("report.csv changed to %q", b)
	}
}

func TestSessionPolicyUserPrefix(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "bucket1/home/alice/mine"), "a", 0o644)
	mustWrite(t, filepath.Join(root, "bucket1/home/bob/his"), "b", 0o644)
	mustWrite(t, filepath.Join(root, "bucket1/top"), "t", 0o644)
	rec := &recorder{}
	// The home directory alone would let alice reach all of bucket1; the policy confines her.
	c := pipeSessionAs(t, Config{Activity: rec}, policySession("alice", "/bucket1", userPrefixPolicy), root)

	for _, dir := range []string{"/bucket1", "/bucket1/home", "/bucket1/home/alice"} {
		if _, err := c.ReadDir(dir); err != nil {
			t.Errorf("listing %s: %v", dir, err)
		}
	}
	w, err := c.Create("/bucket1/home/alice/new")
	if err != nil {
		t.Fatalf("put in own prefix: %v", err)
	}
	w.Write([]byte("n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir("/bucket1/home/alice/d"); err != nil {
		t.Errorf("mkdir in own prefix: %v", err)
	}
	if err := c.Rename("/bucket1/home/alice/new", "/bucket1/home/alice/d/new"); err != nil {
		t.Errorf("rename in own prefix: %v", err)
	}
	if err := c.Remove("/bucket1/home/alice/d/new"); err != nil {
		t.Errorf("rm in own prefix: %v", err)
	}

	_, err = c.ReadDir("/bucket1/home/bob")
	wantDenied(t, rec, "ls another prefix", err, activity.OperationList, `s3:ListBucket on arn:aws:s3:::bucket1 with s3:prefix "home/bob/"`)
	_, err = c.Open("/bucket1/home/bob/his")
	wantDenied(t, rec, "get another's file", err, activity.Open, "s3:GetObject on arn:aws:s3:::bucket1/home/bob/his")
	_, err = c.Stat("/bucket1/home/bob/his")
	wantDenied(t, rec, "stat another's file", err, activity.OperationStat,
		`s3:GetObject on arn:aws:s3:::bucket1/home/bob/his or s3:ListBucket on arn:aws:s3:::bucket1 with s3:prefix "home/bob/his/": the session policy allows none of them`)
	_, err = c.OpenFile("/bucket1/top2", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	wantDenied(t, rec, "put outside", err, activity.Open, "s3:PutObject on arn:aws:s3:::bucket1/top2")
	wantDenied(t, rec, "rename out of the prefix", c.Rename("/bucket1/home/alice/mine", "/bucket1/home/bob/mine"),
		activity.Rename, "s3:PutObject on arn:aws:s3:::bucket1/home/bob/mine")
	wantDenied(t, rec, "rename into the prefix", c.Rename("/bucket1/top", "/bucket1/home/alice/top"),
		activity.Rename, "s3:GetObject on arn:aws:s3:::bucket1/top")
	if _, err := os.Stat(filepath.Join(root, "bucket1/home/bob/mine")); err == nil {
		t.Error("a denied rename moved the file")
	}
}

func TestSessionPolicyDirectoryRename(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "b/keep/f"), "f", 0o644)
	mustWrite(t, filepath.Join(root, "b/free/f"), "f", 0o644)
	mustWrite(t, filepath.Join(root, "b/inbox/new/n"), "n", 0o644)
	mustWrite(t, filepath.Join(root, "b/inbox/archive/2025/old"), "o", 0o644)
	// Objects anywhere may move, except under keep/ and inbox/archive/.
	policy := `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":"s3:*","Resource":"*"},
	 {"Sid":"Keep","Effect":"Deny","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/keep/*"},
	 {"Sid":"Archive","Effect":"Deny","Action":["s3:DeleteObject","s3:PutObject"],"Resource":"arn:aws:s3:::b/inbox/archive/*"}]}`
	rec := &recorder{}
	c := pipeSessionAs(t, Config{Activity: rec}, policySession("alice", "/b", policy), root)
	wantDenied(t, rec, "rename a protected directory", c.Rename("/b/keep", "/b/kept"), activity.Rename,
		"s3:DeleteObject on arn:aws:s3:::b/keep/: explicitly denied by Statement[1] of the session policy (Sid Keep)")
	if err := c.Rename("/b/free", "/b/freed"); err != nil {
		t.Errorf("renaming an unprotected directory: %v", err)
	}
	// A Deny on a subtree holds when a directory above it is renamed: every object moves.
	wantDenied(t, rec, "rename a directory above a protected one", c.Rename("/b/inbox", "/b/outbox"), activity.Rename,
		"s3:DeleteObject on arn:aws:s3:::b/inbox/archive/: explicitly denied by Statement[2] of the session policy (Sid Archive)")
	if _, err := os.Stat(filepath.Join(root, "b/inbox/archive/2025/old")); err != nil {
		t.Errorf("the protected file moved: %v", err)
	}
}

func TestMayPosix(t *testing.T) {
	alice := identity{uid: 1001, gid: 100, groups: []uint32{200}}
	root := identity{uid: 0, gid: 0}
	file := func(perm fs.FileMode) fs.FileMode { return perm }
	dir := func(perm fs.FileMode) fs.FileMode { return fs.ModeDir | perm }
	for _, tc := range []struct {
		name  string
		id    identity
		owner storage.Owner
		mode  fs.FileMode
		want  uint32
		ok    bool
	}{
		{"owner reads 0600", alice, storage.Owner{UID: 1001, GID: 1}, file(0o600), permRead, true},
		{"other cannot read 0600", alice, storage.Owner{UID: 1002, GID: 100}, file(0o600), permRead, false},
		{"group reads 0640", alice, storage.Owner{UID: 1002, GID: 100}, file(0o640), permRead, true},
		{"secondary group writes 0660", alice, storage.Owner{UID: 1002, GID: 200}, file(0o660), permWrite, true},
		{"owner bits alone decide for the owner", alice, storage.Owner{UID: 1001, GID: 100}, file(0o077), permRead, false},
		{"group bits alone decide for a member", alice, storage.Owner{UID: 1002, GID: 100}, file(0o607), permRead, false},
		{"others read 0644", alice, storage.Owner{UID: 1002, GID: 300}, file(0o644), permRead, true},
		{"others cannot write 0644", alice, storage.Owner{UID: 1002, GID: 300}, file(0o644), permWrite, false},
		{"search needs x", alice, storage.Owner{UID: 1002, GID: 300}, dir(0o754), permExec, false},
		{"write and search", alice, storage.Owner{UID: 1001, GID: 300}, dir(0o700), permWrite | permExec, true},
		{"root reads 0000", root, storage.Owner{UID: 5, GID: 5}, file(0), permRead | permWrite, true},
		{"root searches 0000 directories", root, storage.Owner{UID: 5, GID: 5}, dir(0), permExec, true},
	} {
		if got := tc.id.may(tc.owner, tc.mode, tc.want); got != tc.ok {
			t.Errorf("%s: may(%+v, %v, %o) = %v, want %v", tc.name, tc.owner, tc.mode, tc.want, got, tc.ok)
		}
	}
}

// TestPosixProfile serves a user with a POSIX profile on an EFS server: what it creates is its own,
// another uid's 0600 file cannot be read, a 0700 directory of another uid cannot be entered, and
// a file in a sticky directory cannot be removed by another uid.
func TestPosixProfile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another uid needs root")
	}
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "fs1/shared/bob.txt"), "secret", 0o600)
	mustWrite(t, filepath.Join(root, "fs1/shared/open.txt"), "open", 0o644)
	mustWrite(t, filepath.Join(root, "fs1/private/x"), "x", 0o644)
	mustWrite(t, filepath.Join(root, "fs1/tmp/bobs"), "b", 0o666)
	for _, p := range []string{"fs1/shared/bob.txt", "fs1/shared/open.txt", "fs1/private", "fs1/private/x", "fs1/tmp/bobs"} {
		if err := os.Chown(filepath.Join(root, p), 2002, 2002); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(root, "fs1/shared"), 0o777)
	os.Chmod(filepath.Join(root, "fs1/private"), 0o700)
	os.Chmod(filepath.Join(root, "fs1/tmp"), 0o777|fs.ModeSticky)
	os.MkdirAll(filepath.Join(root, "fs1/project"), 0o755)
	os.Chown(filepath.Join(root, "fs1/project"), 0, 3003)
	os.Chmod(filepath.Join(root, "fs1/project"), 0o775|fs.ModeSetgid)
	sess := &transfer.Session{ID: "s", Server: transfer.Server{Domain: transfer.DomainEFS},
		User: transfer.User{UserName: "alice", HomeDirectoryType: transfer.HomePath, HomeDirectory: "/fs1",
			PosixProfile: &transfer.PosixProfile{UID: 1001, GID: 1001, SecondaryGIDs: []uint32{3003}}}}
	rec := &recorder{}
	c := pipeSessionAs(t, Config{Activity: rec}, sess, root)

	w, err := c.Create("/fs1/shared/alice.txt")
	if err != nil {
		t.Fatalf("creating a file in a 0777 directory: %v", err)
	}
	w.Write([]byte("hi"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir("/fs1/shared/alice-dir"); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	for _, p := range []string{"fs1/shared/alice.txt", "fs1/shared/alice-dir"} {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := storage.OwnerOf(fi); o != (storage.Owner{UID: 1001, GID: 1001}) {
			t.Errorf("%s is owned by %v, want the profile's 1001:1001", p, o)
		}
	}
	fi, err := c.Stat("/fs1/shared/alice.txt")
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := fi.Sys().(*sftp.FileStat); !ok || st.UID != 1001 || st.GID != 1001 {
		t.Errorf("the client sees owner %+v, want 1001:1001", fi.Sys())
	}
	if f, err := c.Open("/fs1/shared/open.txt"); err != nil {
		t.Errorf("reading another uid's 0644 file: %v", err)
	} else {
		f.Close()
	}

	_, err = c.Open("/fs1/shared/bob.txt")
	wantDenied(t, rec, "reading another uid's 0600 file", err, activity.Open,
		"uid 1001 (gid 1001) may not read /fs1/shared/bob.txt (mode 0600, owner 2002:2002)")
	_, err = c.OpenFile("/fs1/shared/open.txt", os.O_WRONLY|os.O_TRUNC)
	wantDenied(t, rec, "writing another uid's 0644 file", err, activity.Open, "may not write /fs1/shared/open.txt")
	_, err = c.ReadDir("/fs1/private")
	wantDenied(t, rec, "listing another uid's 0700 directory", err, activity.OperationList, "may not list /fs1/private")
	_, err = c.Stat("/fs1/private/x")
	wantDenied(t, rec, "stat through another uid's 0700 directory", err, activity.OperationStat, "may not search /fs1/private")
	_, err = c.Create("/fs1/private/y")
	wantDenied(t, rec, "creating in another uid's 0700 directory", err, activity.Open, "may not search /fs1/private")
	wantDenied(t, rec, "removing from a sticky directory", c.Remove("/fs1/tmp/bobs"), activity.Delete,
		"may not remove, from a sticky directory, the entry /fs1/tmp/bobs")
	wantDenied(t, rec, "chmod of another uid's file", c.Chmod("/fs1/shared/open.txt", 0o666), activity.Setstat,
		"may not change the mode or times (only the owner may) of /fs1/shared/open.txt")
	if err := c.Chmod("/fs1/shared/alice.txt", 0o600); err != nil {
		t.Errorf("chmod of an own file: %v", err)
	}
	// In a setgid directory of one of alice's groups, what she makes takes the directory's group.
	w, err = c.Create("/fs1/project/plan.txt")
	if err != nil {
		t.Fatalf("creating in a group-writable setgid directory: %v", err)
	}
	w.Close()
	if fi, err := os.Stat(filepath.Join(root, "fs1/project/plan.txt")); err != nil {
		t.Fatal(err)
	} else if o, _ := storage.OwnerOf(fi); o != (storage.Owner{UID: 1001, GID: 3003}) {
		t.Errorf("a file made in a setgid directory is owned by %v, want 1001:3003", o)
	}
	if err := c.Remove("/fs1/shared/open.txt"); err != nil {
		t.Errorf("removing another uid's file from a 0777 (not sticky) directory: %v", err)
	}
}

// TestSessionPolicyBucketsAndSpace checks the requests that touch buckets and free space: making
// a bucket needs s3:CreateBucket, and statvfs of a path the policy hides is refused like a stat.
func TestSessionPolicyBucketsAndSpace(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "b/open/f"), "f", 0o644)
	mustWrite(t, filepath.Join(root, "hidden/f"), "f", 0o644)
	policy := `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"},
	 {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"},
	 {"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}]}`
	rec := &recorder{}
	c := pipeSessionAs(t, Config{Activity: rec}, policySession("alice", "", policy), root)
	wantDenied(t, rec, "mkdir of a bucket", c.Mkdir("/newbucket"), activity.Mkdir, "s3:CreateBucket on arn:aws:s3:::newbucket")
	if _, err := os.Stat(filepath.Join(root, "newbucket")); err == nil {
		t.Error("a refused mkdir made the bucket")
	}
	if err := c.Mkdir("/b/open/d"); err != nil {
		t.Errorf("mkdir inside the allowed bucket: %v", err)
	}
	_, err := c.StatVFS("/hidden/f")
	wantDenied(t, rec, "statvfs of a hidden file", err, activity.OperationStat, "s3:GetObject on arn:aws:s3:::hidden/f")
	if _, err := c.StatVFS("/b/open/f"); err != nil {
		t.Errorf("statvfs of an allowed file: %v", err)
	}
}
