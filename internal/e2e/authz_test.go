package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/transferd/transferd/internal/activity"
)

// policyFor is the session policy the authorization tests give alice and bob: the listings on the
// way to BUCKET/home/USER/, and everything under it, through the user-name variable, but no
// deleting from any archive/ directory.
func policyFor(bucket string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[`+
		`{"Sid":"ListToHomes","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::%[1]s","Condition":{"StringEquals":{"s3:prefix":["","home/"]}}},`+
		`{"Sid":"ListOwnHome","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::%[1]s","Condition":{"StringLike":{"s3:prefix":"home/${transfer:UserName}/*"}}},`+
		`{"Sid":"OwnHome","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::%[1]s/home/${transfer:UserName}/*"},`+
		`{"Sid":"KeepArchives","Effect":"Deny","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::%[1]s/home/*/archive/*"}]}`, bucket)
}

// readOnlyFor allows listing and reading BUCKET, and nothing else.
func readOnlyFor(bucket string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[`+
		`{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::%[1]s"},`+
		`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::%[1]s/*"}]}`, bucket)
}

// TestSessionPolicies runs OpenSSH's sftp against users confined by session policies rather than
// by their home directories (a PATH home of the whole bucket), on local and on S3 storage: a
// read-only policy lets ls and get work and refuses put, rm, rename and mkdir; a per-user prefix
// policy lets each user work under home/USER/ and nowhere else. Every refusal is
// SSH_FX_PERMISSION_DENIED and an ERROR record naming the S3 action.
func TestSessionPolicies(t *testing.T) {
	t.Parallel()
	for _, storage := range []string{"local", "s3"} {
		t.Run(storage, func(t *testing.T) {
			t.Parallel()
			key := keyFor(t, "ed25519")
			port := freePort(t)
			bucket := "bucket1"
			var cfg func(...serverConf) string
			var seed func(key, body string)
			var exists func(key string) bool
			if storage == "s3" {
				e := newS3Env(t)
				bucket = e.bucket
				cfg = func(s ...serverConf) string { return s3ConfigYAML(e.srv, s...) }
				seed = func(key, body string) { e.put(t, key, []byte(body)) }
				exists = func(key string) bool { _, _, ok := e.object(t, key); return ok }
			} else {
				root := t.TempDir()
				cfg = func(s ...serverConf) string { return configYAML(root, s...) }
				seed = func(key, body string) {
					p := filepath.Join(root, bucket, key)
					if strings.HasSuffix(key, "/") {
						os.MkdirAll(p, 0o755)
						return
					}
					os.MkdirAll(filepath.Dir(p), 0o755)
					if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				exists = func(key string) bool { _, err := os.Stat(filepath.Join(root, bucket, key)); return err == nil }
			}
			for _, k := range []string{"home/", "home/alice/", "home/bob/"} {
				seed(k, "")
			}
			seed("home/bob/secret.txt", "bob's")
			seed("home/alice/inbox/archive/old.txt", "kept")
			seed("shared/report.csv", "1,2,3\n")
			home := "/" + bucket
			user := func(name, policy string) userConf {
				return userConf{Name: name, Role: testRole, Type: "PATH", Home: home, Keys: []*sshKey{key}, Policy: policy}
			}
			p := start(t, cfg(serverConf{Port: port, Users: []userConf{
				user("alice", policyFor(bucket)), user("bob", policyFor(bucket)), user("reader", readOnlyFor(bucket)),
			}}))
			local := t.TempDir()
			up := filepath.Join(local, "up.txt")
			if err := os.WriteFile(up, []byte("uploaded"), 0o644); err != nil {
				t.Fatal(err)
			}
			denied := func(who, want string) {
				t.Helper()
				p.waitRecord(t, "ERROR of "+who+" naming "+want, func(r *activity.Record) bool {
					return r.ActivityType == activity.Error && r.User == who && strings.Contains(r.Message, "access denied: "+want)
				})
			}

			// The read-only user: listing and reading work, every change is refused.
			out := mustSFTP(t, port, "reader", key, fmt.Sprintf(
				"ls %[1]s/shared\nget %[1]s/shared/report.csv %[2]s/report.csv\n"+
					"-put %[3]s %[1]s/shared/new.txt\n-rm %[1]s/shared/report.csv\n-rename %[1]s/shared/report.csv %[1]s/shared/r.csv\n"+
					"-mkdir %[1]s/shared/dir\n", home, local, up))
			if b, err := os.ReadFile(filepath.Join(local, "report.csv")); err != nil || string(b) != "1,2,3\n" {
				t.Errorf("reader's get: %q, %v", b, err)
			}
			for _, want := range []string{`dest open "` + home + `/shared/new.txt": Permission denied`,
				`remote delete ` + home + `/shared/report.csv: Permission denied`, `remote rename "` + home + `/shared/report.csv" to "` + home + `/shared/r.csv": Permission denied`,
				`remote mkdir "` + home + `/shared/dir": Permission denied`} {
				if !strings.Contains(out, want) {
					t.Errorf("reader: the output lacks %q:\n%s", want, out)
				}
			}
			for _, key := range []string{"shared/new.txt", "shared/r.csv", "shared/dir/"} {
				if exists(key) {
					t.Errorf("reader: %s exists after a refused request", key)
				}
			}
			if !exists("shared/report.csv") {
				t.Error("reader: a refused rm or rename removed shared/report.csv")
			}
			for _, want := range []string{
				"s3:PutObject on arn:aws:s3:::" + bucket + "/shared/new.txt: no statement of the session policy allows it",
				"s3:DeleteObject on arn:aws:s3:::" + bucket + "/shared/report.csv",
				"s3:PutObject on arn:aws:s3:::" + bucket + "/shared/r.csv",
				"s3:PutObject on arn:aws:s3:::" + bucket + "/shared/dir/",
			} {
				denied("reader", want)
			}

			// alice works in her own prefix and nowhere else.
			out = mustSFTP(t, port, "alice", key, fmt.Sprintf(
				"ls %[1]s\nls %[1]s/home\nput %[2]s %[1]s/home/alice/mine.txt\nmkdir %[1]s/home/alice/d\n"+
					"rename %[1]s/home/alice/mine.txt %[1]s/home/alice/d/mine.txt\nls %[1]s/home/alice/d\n"+
					"-ls %[1]s/home/bob\n-get %[1]s/home/bob/secret.txt %[3]s/stolen\n-put %[2]s %[1]s/home/bob/planted.txt\n"+
					"-put %[2]s %[1]s/shared/planted.txt\n-rename %[1]s/home/alice/d/mine.txt %[1]s/home/bob/mine.txt\n", home, up, local))
			if !strings.Contains(out, "mine.txt") {
				t.Errorf("alice's listing of her own directory does not show mine.txt:\n%s", out)
			}
			if _, err := os.Stat(filepath.Join(local, "stolen")); err == nil {
				t.Error("alice downloaded bob's file")
			}
			for _, key := range []string{"home/bob/planted.txt", "shared/planted.txt", "home/bob/mine.txt"} {
				if exists(key) {
					t.Errorf("alice: %s exists after a refused request", key)
				}
			}
			if !exists("home/alice/d/mine.txt") || !exists("home/bob/secret.txt") {
				t.Error("alice's own file or bob's file is missing")
			}
			for _, want := range []string{
				`s3:GetObject on arn:aws:s3:::` + bucket + `/home/bob or s3:ListBucket on arn:aws:s3:::` + bucket + ` with s3:prefix "home/bob/": the session policy allows none of them`,
				`s3:GetObject on arn:aws:s3:::` + bucket + `/home/bob/secret.txt or s3:ListBucket`,
				"s3:PutObject on arn:aws:s3:::" + bucket + "/home/bob/planted.txt",
				"s3:PutObject on arn:aws:s3:::" + bucket + "/shared/planted.txt",
				"s3:PutObject on arn:aws:s3:::" + bucket + "/home/bob/mine.txt",
			} {
				denied("alice", want)
			}
			// Renaming a directory moves what is under it: a Deny on an archive below holds.
			out = mustSFTP(t, port, "alice", key, fmt.Sprintf("-rename %[1]s/home/alice/inbox %[1]s/home/alice/moved\n", home))
			if !strings.Contains(out, "Permission denied") || !exists("home/alice/inbox/archive/old.txt") || exists("home/alice/moved/archive/old.txt") {
				t.Errorf("alice renamed a directory holding a protected archive:\n%s", out)
			}
			p.waitRecord(t, "ERROR of the directory rename", func(r *activity.Record) bool {
				return r.ActivityType == activity.Error && r.User == "alice" && r.Operation == activity.Rename &&
					strings.Contains(r.Message, "archive/") && strings.Contains(r.Message, "explicitly denied by Statement[3] of the session policy (Sid KeepArchives)")
			})

			// The CLOSE of alice's upload counts it, and bob sees his own files only.
			p.waitRecord(t, "CLOSE of alice's upload", func(r *activity.Record) bool {
				return r.ActivityType == activity.Close && r.User == "alice" && r.Path == home+"/home/alice/mine.txt" && r.BytesIn == "8"
			})
			out = mustSFTP(t, port, "bob", key, fmt.Sprintf("get %[1]s/home/bob/secret.txt %[2]s/secret\n-ls %[1]s/home/alice/d\n", home, local))
			if b, _ := os.ReadFile(filepath.Join(local, "secret")); string(b) != "bob's" {
				t.Errorf("bob's own file: %q", b)
			}
			if strings.Contains(out, "mine.txt") {
				t.Errorf("bob listed alice's directory:\n%s", out)
			}
			denied("bob", `s3:GetObject on arn:aws:s3:::`+bucket+`/home/alice/d or s3:ListBucket`)
		})
	}
}

// TestPosixProfiles runs OpenSSH's sftp on an EFS-domain server whose users have POSIX profiles:
// what a user uploads or creates is owned by its uid and gid on disk, the client sees that owner,
// and another uid cannot read a 0600 file nor write into a 0755 directory that is not its own.
func TestPosixProfiles(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("giving files to the profiles' uids needs root, as on a real server; run the tests as root (CI does)")
	}
	key := keyFor(t, "ed25519")
	port := freePort(t)
	root := t.TempDir()
	user := func(name, uid string) userConf {
		return userConf{Name: name, Role: testRole, Type: "PATH", Home: "/fs-1", Keys: []*sshKey{key},
			Posix: fmt.Sprintf("{Uid: %s, Gid: %s}", uid, uid)}
	}
	p := start(t, configYAML(root, serverConf{Port: port, Domain: "EFS", Users: []userConf{user("alice", "1001"), user("bob", "1002")}}))
	if err := os.MkdirAll(filepath.Join(root, "fs-1"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(root, "fs-1"), 0o777)
	local := t.TempDir()
	up := filepath.Join(local, "up.txt")
	if err := os.WriteFile(up, []byte("alice's"), 0o644); err != nil {
		t.Fatal(err)
	}

	out := mustSFTP(t, port, "alice", key, fmt.Sprintf("put %s /fs-1/private.txt\nchmod 600 /fs-1/private.txt\nput %s /fs-1/public.txt\nmkdir /fs-1/alice\nls -ln /fs-1\n", up, up))
	for _, name := range []string{"private.txt", "public.txt", "alice"} {
		fi, err := os.Stat(filepath.Join(root, "fs-1", name))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1001 || st.Gid != 1001 {
			t.Errorf("%s is owned by %d:%d on disk, want alice's profile 1001:1001", name, st.Uid, st.Gid)
		}
	}
	if !strings.Contains(out, "1001     1001") {
		t.Errorf("ls -ln does not show the owner 1001 1001:\n%s", out)
	}

	out = mustSFTP(t, port, "bob", key, fmt.Sprintf("get /fs-1/public.txt %[1]s/public\n-get /fs-1/private.txt %[1]s/private\n-put %[2]s /fs-1/alice/bob.txt\nput %[2]s /fs-1/bob.txt\n", local, up))
	if _, err := os.Stat(filepath.Join(local, "public")); err != nil {
		t.Errorf("bob could not read alice's 0644 file: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(local, "private")); err == nil {
		t.Errorf("bob read alice's 0600 file:\n%s", out)
	}
	if !strings.Contains(out, `dest open "/fs-1/alice/bob.txt": Permission denied`) {
		t.Errorf("bob's put into alice's 0755 directory was not refused:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(root, "fs-1", "alice", "bob.txt")); err == nil {
		t.Error("bob's put into alice's 0755 directory created the file")
	}
	p.waitRecord(t, "ERROR of bob's read", func(r *activity.Record) bool {
		return r.ActivityType == activity.Error && r.User == "bob" && r.Operation == activity.Open &&
			strings.Contains(r.Message, "uid 1002 (gid 1002) may not read /fs-1/private.txt (mode 0600, owner 1001:1001)")
	})
	fi, err := os.Stat(filepath.Join(root, "fs-1", "bob.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1002 {
		t.Errorf("bob's upload is owned by uid %d, want 1002", st.Uid)
	}
	// As root, the users' calls were made as the users (the kernel checked them too).
	if strings.Contains(p.stderrText(), "enforced by transferd's own checks only") {
		t.Errorf("transferd did not act as the users:\n%s", p.stderrText())
	}
}
