package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/activity"
)

// leftovers lists the temporary upload files under dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".transferd-upload-") {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// TestConcurrentUploadsOnePath: two OpenSSH clients upload different files to one path at once on
// an S3-domain server with local storage; the file is one of them whole, as on S3.
func TestConcurrentUploadsOnePath(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser("sftp_user", key)}}))
	dir := t.TempDir()
	const size = 24 << 20
	sums := map[string]string{}
	for _, n := range []string{"a", "b"} {
		sums[writeRandom(t, filepath.Join(dir, n), size)] = n
	}
	for round := range 3 {
		var wg sync.WaitGroup
		outs := make([]string, 2)
		for i, n := range []string{"a", "b"} {
			wg.Go(func() {
				out, err := runSFTP(port, "sftp_user", key, "put "+filepath.Join(dir, n)+" same\n")
				if err != nil {
					outs[i] = fmt.Sprintf("upload of %s failed: %v\n%s", n, err, out)
				}
			})
		}
		wg.Wait()
		for _, o := range outs {
			if o != "" {
				t.Fatal(o)
			}
		}
		got := fileSHA256(t, filepath.Join(p.userDir("sftp_user"), "same"))
		if _, ok := sums[got]; !ok {
			t.Fatalf("round %d: after two concurrent uploads the file matches neither (sha256 %s)", round, got)
		}
	}
	if l := leftovers(t, p.root); len(l) > 0 {
		t.Errorf("temporary files left: %q", l)
	}
}

// TestKillDuringUpload: transferd killed with SIGKILL in the middle of an upload leaves the old
// file under the final name, and its next start removes the temporary file.
func TestKillDuringUpload(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser("sftp_user", key)}}))
	dir := t.TempDir()
	oldSum := writeRandom(t, filepath.Join(dir, "old"), 100<<10)
	writeRandom(t, filepath.Join(dir, "new"), 64<<20)
	mustSFTP(t, port, "sftp_user", key, "put "+filepath.Join(dir, "old")+" file\n")
	final := filepath.Join(p.userDir("sftp_user"), "file")

	// 16 Mbit/s: the upload takes half a minute; it is killed after a few MiB.
	cmd := sftpCommand(t.Context(), port, "sftp_user", key, "-l", "16000")
	cmd.Stdin = strings.NewReader("put " + filepath.Join(dir, "new") + " file\n")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := leftovers(t, p.userDir("sftp_user"))
		if len(l) == 1 {
			if fi, err := os.Stat(l[0]); err == nil && fi.Size() > 2<<20 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no upload in progress after 30 s: %q", l)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.signal(syscall.SIGKILL)
	if !p.wait(stopLimit) {
		t.Fatal("transferd did not die of SIGKILL")
	}
	cmd.Wait()
	if got := fileSHA256(t, final); got != oldSum {
		t.Errorf("after SIGKILL mid-upload the file is not the old one (sha256 %s)", got)
	}
	p.launch(t)
	if l := leftovers(t, p.root); len(l) > 0 {
		t.Errorf("temporary files left after the restart: %q", l)
	}
	if !strings.Contains(p.stderrText(), `msg="removed the temporary files of uploads left unfinished when transferd last stopped" count=1`) {
		t.Errorf("the restart did not say it removed the unfinished upload")
	}
	if got := fileSHA256(t, final); got != oldSum {
		t.Errorf("after the restart the file is not the old one (sha256 %s)", got)
	}
}

// TestDiskFullMidUpload: local storage on a 2 MiB tmpfs fills up during an upload. On the S3-domain
// server the old file stays whole; on the EFS-domain one what was written stays, as on EFS. Either
// way the client's CLOSE fails, the upload ends with PARTIAL_CLOSE (never CLOSE) and its failed
// writes are one ERROR record with their count.
func TestDiskFullMidUpload(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	root := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", root).CombinedOutput(); err != nil {
		t.Fatalf("mounting a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", root).Run() })
	key := keyFor(t, "ed25519")
	s3Port, efsPort := freePort(t), freePort(t)
	p := start(t, configYAML(root,
		serverConf{Port: s3Port, Users: []userConf{chrootUser("s3_user", key)}},
		serverConf{Port: efsPort, Domain: "EFS", Users: []userConf{chrootUser("efs_user", key)}}))
	dir := t.TempDir()
	oldSum := writeRandom(t, filepath.Join(dir, "old"), 10<<10)
	writeRandom(t, filepath.Join(dir, "big"), 4<<20)

	for _, tc := range []struct {
		user string
		port int
	}{{"s3_user", s3Port}, {"efs_user", efsPort}} {
		mustSFTP(t, tc.port, tc.user, key, "put "+filepath.Join(dir, "old")+" file\n")
		out, err := sftpBatch(t, tc.port, tc.user, key, "put "+filepath.Join(dir, "big")+" file\n")
		if err == nil {
			t.Errorf("%s: an upload larger than the disk succeeded:\n%s", tc.user, out)
		}
		final := filepath.Join(root, "bucket1", tc.user, "file")
		recs := p.session(t, "PARTIAL_CLOSE of "+tc.user+"'s big upload", func(r *activity.Record) bool {
			return r.ActivityType == activity.PartialClose && r.User == tc.user
		})
		var errs []activity.Record
		for _, r := range recs {
			switch {
			case r.ActivityType == activity.Close && strings.HasSuffix(r.Path, "/file"):
				t.Errorf("%s: the failed upload wrote a CLOSE record: %+v", tc.user, r)
			case r.ActivityType == activity.Error:
				errs = append(errs, r)
			case r.ActivityType == activity.PartialClose && !strings.Contains(r.Message, "writes failed") && !strings.Contains(r.Message, "a write failed"):
				t.Errorf("%s: PARTIAL_CLOSE message %q does not say writes failed", tc.user, r.Message)
			}
		}
		if len(errs) != 1 || errs[0].Operation != activity.OperationWrite || !strings.Contains(strings.ToLower(errs[0].Message), "space") {
			t.Errorf("%s: ERROR records of the session: %+v; want one for the failed writes, about space", tc.user, errs)
		} else {
			t.Logf("%s: ERROR %q count %d", tc.user, errs[0].Message, errs[0].Count)
		}
		switch fi, err := os.Stat(final); {
		case tc.user == "s3_user" && fileSHA256(t, final) != oldSum:
			t.Errorf("s3_user: the old file was not kept whole")
		case tc.user == "efs_user" && (err != nil || fi.Size() <= 10<<10):
			t.Errorf("efs_user: what was written in place is gone: %v %v", fi, err)
		}
		mustSFTP(t, tc.port, tc.user, key, "rm file\n")
	}
	if l := leftovers(t, root); len(l) > 0 {
		t.Errorf("temporary files left: %q", l)
	}
}
