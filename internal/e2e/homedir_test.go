package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// listing returns the names `ls -1 ARG` printed in an sftp batch's output: the lines after the
// echoed command up to the next command, without the client's debug lines.
func listing(out, command string) []string {
	var names []string
	in := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(line, "sftp> "):
			in = strings.TrimPrefix(line, "sftp> ") == command
		case !in || line == "" || strings.HasPrefix(line, "debug") || strings.HasPrefix(line, "Transferred:") ||
			strings.HasPrefix(line, "Bytes per second:"):
		default:
			for _, f := range strings.Fields(line) {
				names = append(names, filepath.Base(f))
			}
		}
	}
	slices.Sort(names)
	return names
}

func TestHomeDirectories(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{
		chrootUser("sftp_user", key),
		pathUser("path_user", key),
		treeUser("tree_user", key),
	}}))
	root := p.root
	readme := "read me: " + time.Now().String()
	for name, content := range map[string]string{
		"bucket1/README.txt":      readme,
		"bucket1/other/secret":    "other secret",
		"bucket2/unmapped/secret": "unmapped secret",
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	local := t.TempDir()
	src := filepath.Join(local, "src")
	writeRandom(t, src, 1000)
	exists := func(rel string) bool {
		_, err := os.Stat(filepath.Join(root, rel))
		return err == nil
	}
	t.Cleanup(func() { // after every row
		for _, rel := range []string{"bucket1/pics", "bucket2/reports", "bucket1/README.txt", "bucket1/shared", "bucket1/sftp_user"} {
			if !exists(rel) {
				t.Errorf("%s/%s is gone after the refused operations", root, rel)
			}
		}
	})

	for _, tc := range []struct {
		name  string
		user  string
		batch string
		fails bool
		want  []string // in the output
		// ls is the `ls -1 X` command of the batch whose names must be exactly names.
		ls    string
		names []string
		check func(t *testing.T)
	}{
		{name: "PATH user starts at home", user: "path_user", batch: "pwd\n",
			want: []string{"Remote working directory: /bucket1/shared"}},
		{name: "PATH user sees only the branch to home", user: "path_user", batch: "cd ..\nls -1\ncd /\nls -1 /\n",
			ls: "ls -1", names: []string{"shared"}},
		{name: "PATH user sees only the bucket of home at /", user: "path_user", batch: "ls -1 /\n",
			ls: "ls -1 /", names: []string{"bucket1"}},
		{name: "PATH user writes at home", user: "path_user", batch: "put " + src + " mine\n",
			check: func(t *testing.T) {
				if !exists("bucket1/shared/mine") {
					t.Errorf("put mine as path_user: %s/bucket1/shared/mine is missing", root)
				}
			}},
		{name: "PATH user cannot write beside home", user: "path_user", batch: "put " + src + " /bucket1/other/f\n",
			fails: true, want: []string{"Permission denied"},
			check: func(t *testing.T) {
				if exists("bucket1/other/f") {
					t.Errorf("put /bucket1/other/f as path_user created it")
				}
			}},
		{name: "PATH user cannot list beside home", user: "path_user", batch: "ls /bucket1/other\n",
			fails: true, want: []string{"Permission denied"}},
		{name: "PATH user cannot read beside home", user: "path_user", batch: "get /bucket1/other/secret " + filepath.Join(local, "stolen") + "\n",
			fails: true},
		{name: "PATH user cannot remove home", user: "path_user", batch: "rmdir /bucket1/shared\n", fails: true, want: []string{"Permission denied"}},
		{name: "PATH user cannot rename home", user: "path_user", batch: "rename /bucket1/shared /bucket1/moved\n", fails: true},
		{name: "PATH user cannot make a bucket", user: "path_user", batch: "mkdir /bucket9\n", fails: true,
			check: func(t *testing.T) {
				if exists("bucket9") {
					t.Errorf("mkdir /bucket9 as path_user created a bucket")
				}
			}},
		{name: "chroot user cannot remove /", user: "sftp_user", batch: "rmdir /\n", fails: true},
		{name: "chroot user cannot rename /", user: "sftp_user", batch: "rename / /x\n", fails: true},
		{name: "tree root lists the entries", user: "tree_user", batch: "ls -1 /\n",
			ls: "ls -1 /", names: []string{"docs", "pics", "readme.txt"}},
		{name: "tree implied directory", user: "tree_user", batch: "ls -1 /docs\n",
			ls: "ls -1 /docs", names: []string{"reports"}},
		{name: "tree put outside the mappings", user: "tree_user", batch: "put " + src + " /x\n",
			fails: true, want: []string{"No such file or directory"},
			check: func(t *testing.T) {
				if exists("x") || exists("bucket1/x") {
					t.Errorf("put /x as tree_user created a file")
				}
			}},
		{name: "tree put into a mapping", user: "tree_user", batch: "put " + src + " /pics/p1\n",
			check: func(t *testing.T) {
				if got, want := fileSHA256(t, filepath.Join(root, "bucket1/pics/p1")), fileSHA256(t, src); got != want {
					t.Errorf("put /pics/p1 as tree_user: %s/bucket1/pics/p1 has sha256 %s, want %s", root, got, want)
				}
			}},
		{name: "tree get a FILE mapping", user: "tree_user", batch: "get /readme.txt " + filepath.Join(local, "readme") + "\n",
			check: func(t *testing.T) {
				if b, err := os.ReadFile(filepath.Join(local, "readme")); err != nil || string(b) != readme {
					t.Errorf("get /readme.txt as tree_user: %q, %v; want %q", b, err, readme)
				}
			}},
		{name: "tree rm of an entry point", user: "tree_user", batch: "rm /pics\n", fails: true},
		{name: "tree rm of a FILE entry point", user: "tree_user", batch: "rm /readme.txt\n", fails: true, want: []string{"Permission denied"},
			check: func(t *testing.T) {
				if !exists("bucket1/README.txt") {
					t.Errorf("rm /readme.txt as tree_user removed the mapped object")
				}
			}},
		{name: "tree rmdir of an entry point", user: "tree_user", batch: "rmdir /pics\n", fails: true, want: []string{"Permission denied"}},
		{name: "tree rename of an entry point", user: "tree_user", batch: "rename /pics /pics2\n", fails: true, want: []string{"Permission denied"}},
		{name: "tree mkdir in an implied directory", user: "tree_user", batch: "mkdir /docs/new\n", fails: true,
			check: func(t *testing.T) {
				for _, rel := range []string{"docs/new", "new", "bucket1/docs/new", "bucket2/new", "bucket2/reports/new"} {
					if exists(rel) {
						t.Errorf("mkdir /docs/new as tree_user created %s", rel)
					}
				}
			}},
		{name: "tree unmapped part of a bucket", user: "tree_user", batch: "get /docs/unmapped/secret " + filepath.Join(local, "stolen2") + "\n", fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := sftpBatch(t, port, tc.user, key, tc.batch)
			if (err != nil) != tc.fails {
				t.Errorf("sftp as %s with batch %q: error %v, want failure %v; output:\n%s", tc.user, tc.batch, err, tc.fails, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("sftp as %s with batch %q: output lacks %q:\n%s", tc.user, tc.batch, w, out)
				}
			}
			if tc.ls != "" {
				if got := listing(out, tc.ls); !slices.Equal(got, tc.names) {
					t.Errorf("sftp as %s: %s lists %q, want %q; output:\n%s", tc.user, tc.ls, got, tc.names, out)
				}
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}

// fileState is what the traversal test remembers of each file outside the user's directory.
type fileState struct {
	mode    fs.FileMode
	size    int64
	modTime time.Time
	sum     string
}

// snapshot records every file and directory under base except those under skip.
func snapshot(t testing.TB, base, skip string) map[string]fileState {
	t.Helper()
	snap := map[string]fileState{}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fileState{mode: fi.Mode(), size: fi.Size(), modTime: fi.ModTime()}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			st.sum = hex.EncodeToString(sum[:])
		}
		if d.IsDir() {
			st.modTime = time.Time{} // listing a directory does not change it; creating in it does, and shows as a new path
		}
		snap[p] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestTraversal(t *testing.T) {
	t.Parallel()
	const user = "sftp_user"
	key := keyFor(t, "ed25519")
	port := freePort(t)
	// The storage root sits deep in base, so that even a naive join of ".." stays in base, where
	// the snapshot sees it.
	base := t.TempDir()
	root := filepath.Join(base, "a", "b", "c", "d", "storage")
	p := start(t, configYAML(root, serverConf{Port: port, Users: []userConf{chrootUser(user, key), chrootUser("other_user", key)}}))
	home := p.userDir(user)
	mustSFTP(t, port, user, key, "mkdir sub\n") // the home exists after a first login
	if err := os.WriteFile(filepath.Join(home, "victim"), []byte("victim"), 0o644); err != nil {
		t.Fatal(err)
	}

	secret := "canary " + time.Now().String()
	canaries := []string{
		filepath.Join(root, "..", "canary"),
		filepath.Join(root, "bucket2", "secret"),
		filepath.Join(root, "bucket1", "other_user", "secret"),
		filepath.Join(root, "etc", "passwd"),
		filepath.Join(root, "bucket1", "etc", "passwd"),
		filepath.Join(base, "a", "b", "c", "etc", "passwd"),
		filepath.Join(base, "a", "b", "etc", "passwd"),
		filepath.Join(root, "bucket1", "x"),
		filepath.Join(root, "x"),
	}
	for _, c := range canaries {
		if err := os.MkdirAll(filepath.Dir(c), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c, []byte(secret), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A symbolic link planted in the user's directory (by someone with shell access) must not
	// lead out either.
	if err := os.Symlink(filepath.Join(root, "..", "canary"), filepath.Join(home, "planted")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, base, home)

	long := strings.Repeat("n", 300)
	deep := strings.Repeat("d/", 2500)
	paths := []struct {
		p string
		// write is false for paths that a server treating client paths as host paths would
		// resolve to real system files: those are only read.
		write bool
	}{
		{"../../../../etc/passwd", true},
		{"/../../etc/passwd", false},
		{"../../../../../../../../../../../../etc/passwd", false},
		{"..//..//x", true},
		{"/./../bucket2/x", true},
		{"../../bucket2/secret", true},
		{"/../../bucket2/secret", true},
		{"../other_user/secret", true},
		{"../../../canary", true},
		{"/../../../canary", true},
		{"sub/../../../../canary", true},
		{"....//....//canary", true},
		{`..\..\..\canary`, true},
		{"%2e%2e/%2e%2e/%2e%2e/canary", true},
		{"a\x00b", true},
		{"../../../canary\x00", true},
		{"sub/\x00/../../../canary", true},
		{long, true},
		{"sub/" + long, true},
		{deep + "x", true},
		{"/" + deep, true},
		{"sub/.", true},
		{"/.", true},
		{".", true},
		{"/sub/./.", true},
		{"planted", true},
		{"", true},
	}

	t.Run("pkg/sftp", func(t *testing.T) {
		c := dialSFTP(t, port, user, key)
		for _, tc := range paths {
			p := tc.p
			if f, err := c.Open(p); err == nil {
				b, _ := io.ReadAll(f)
				f.Close()
				if strings.Contains(string(b), "canary") {
					t.Errorf("Open(%q) read a canary: %q", p, b)
				}
			}
			if entries, err := c.ReadDir(p); err == nil {
				for _, e := range entries {
					if e.Name() == "canary" || e.Name() == "secret" || e.Name() == "a" || e.Name() == "storage" {
						t.Errorf("ReadDir(%q) lists %q, which is outside the home", p, e.Name())
					}
				}
			}
			c.Stat(p)
			c.Lstat(p)
			c.RealPath(p)
			c.ReadLink(p)
			if !tc.write {
				continue
			}
			if f, err := c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC); err == nil {
				f.Write([]byte("pwned"))
				f.Close()
			}
			if f, err := c.OpenFile(p, os.O_RDWR); err == nil {
				f.WriteAt([]byte("pwned"), 0)
				f.Close()
			}
			c.Chmod(p, 0o777)
			c.Chtimes(p, time.Unix(0, 0), time.Unix(0, 0))
			c.Truncate(p, 0)
			c.Mkdir(p)
			c.Rename(p, "renamed-away")
			c.PosixRename(p, "renamed-away-2")
			if err := os.WriteFile(filepath.Join(home, "victim"), []byte("victim"), 0o644); err != nil {
				t.Fatal(err)
			}
			c.PosixRename("victim", p)
			c.Symlink("victim", p)
			c.Link("victim", p)
			c.Remove(p)
			c.RemoveDirectory(p)
		}
		if _, err := c.Stat("/"); err != nil {
			t.Errorf("the pkg/sftp session no longer works after the traversal attempts: %v", err)
		}
	})

	t.Run("OpenSSH sftp", func(t *testing.T) {
		local := t.TempDir()
		src := filepath.Join(local, "pwned")
		if err := os.WriteFile(src, []byte("pwned"), 0o644); err != nil {
			t.Fatal(err)
		}
		var batch strings.Builder
		for i, tc := range paths {
			if strings.ContainsAny(tc.p, "\x00\"\\ ") || tc.p == "" || len(tc.p) > 1000 {
				continue // not expressible on an sftp batch line (at most 2048 bytes)
			}
			q := `"` + tc.p + `"`
			fmt.Fprintf(&batch, "-get %s %s\n-ls %s\n", q, filepath.Join(local, fmt.Sprint("got-", i)), q)
			if tc.write {
				fmt.Fprintf(&batch, "-put %s %s\n-chmod 777 %s\n-mkdir %s\n-rename %s renamed-%d\n-rm %s\n-rmdir %s\n",
					src, q, q, q, q, i, q, q)
			}
		}
		batch.WriteString("pwd\n")
		out, err := sftpBatch(t, port, user, key, batch.String())
		if err != nil || !strings.Contains(out, "sftp> pwd\nRemote working directory: /\n") || strings.Contains(out, "Invalid command") {
			t.Fatalf("the sftp batch did not run to its end (%v); output:\n%s", err, out)
		}
		got, _ := filepath.Glob(filepath.Join(local, "got-*"))
		for _, g := range got {
			if b, _ := os.ReadFile(g); strings.Contains(string(b), "canary") {
				t.Errorf("sftp get into %s fetched a canary: %q", g, b)
			}
		}
	})

	t.Run("nothing outside the home changed", func(t *testing.T) {
		after := snapshot(t, base, home)
		for p, b := range before {
			a, ok := after[p]
			switch {
			case !ok:
				t.Errorf("%s is gone", p)
			case a != b:
				t.Errorf("%s changed: %+v, was %+v", p, a, b)
			}
		}
		for p := range after {
			if _, ok := before[p]; !ok {
				t.Errorf("%s appeared outside the home directory %s", p, home)
			}
		}
		for _, c := range canaries {
			if b, err := os.ReadFile(c); err != nil || string(b) != secret {
				t.Errorf("canary %s: %q, %v; want it untouched", c, b, err)
			}
		}
	})

	t.Run("the server still serves", func(t *testing.T) {
		out := mustSFTP(t, port, "other_user", key, "pwd\nls\n")
		if !strings.Contains(out, "Remote working directory: /") {
			t.Errorf("a new session after the traversal attempts: output:\n%s", out)
		}
		c := dialSFTP(t, port, user, key)
		if _, err := c.Stat("/"); err != nil {
			t.Errorf("a new pkg/sftp session after the traversal attempts: Stat(/): %v", err)
		}
		if !p.running() {
			t.Errorf("transferd exited")
		}
	})
}

// TestPlantedLinksAcrossUsers: symbolic and hard links planted in alice's directory by someone
// with disk access, pointing into bob's, give alice nothing of bob's: she can neither read,
// list, overwrite, rename nor remove his files through them, on an S3-domain server (uploads
// published at CLOSE) or an EFS-domain one (writes in place).
func TestPlantedLinksAcrossUsers(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	for _, domain := range []string{"S3", "EFS"} {
		t.Run(domain, func(t *testing.T) {
			t.Parallel()
			port := freePort(t)
			p := start(t, configYAML("", serverConf{Port: port, Domain: domain, Users: []userConf{chrootUser("alice", key), chrootUser("bob_user", key)}}))
			mustSFTP(t, port, "alice", key, "ls\n")
			mustSFTP(t, port, "bob_user", key, "mkdir private\n")
			alice, bob := p.userDir("alice"), p.userDir("bob_user")
			const secret = "bob's secret"
			for _, f := range []string{"secret", "private/doc"} {
				if err := os.WriteFile(filepath.Join(bob, f), []byte(secret), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			plant := map[string]string{ // name in alice's directory -> target
				"bobdir":  "../bob_user",
				"bobfile": "../bob_user/secret",
				"absfile": filepath.Join(bob, "secret"),
				"sub":     "../bob_user/private",
			}
			for name, target := range plant {
				if err := os.Symlink(target, filepath.Join(alice, name)); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Link(filepath.Join(bob, "secret"), filepath.Join(alice, "hard")); err != nil {
				t.Fatal(err)
			}
			local := t.TempDir()
			src := filepath.Join(local, "pwned")
			if err := os.WriteFile(src, []byte("pwned"), 0o644); err != nil {
				t.Fatal(err)
			}
			var batch strings.Builder
			for i, target := range []string{"bobfile", "absfile", "hard", "bobdir/secret", "sub/doc"} {
				fmt.Fprintf(&batch, "-get %s %s\n-put %s %s\n-chmod 600 %s\n", target, filepath.Join(local, fmt.Sprint("got-", i)), src, target, target)
			}
			batch.WriteString("-ls bobdir\n-ls sub\n-put " + src + " bobdir/new\n-put " + src + " sub/new\n-rename bobdir/secret stolen\n-rename sub/doc stolen2\n-rm bobdir/secret\n-rm sub/doc\n-mkdir bobdir/newdir\n")
			out, _ := sftpBatch(t, port, "alice", key, batch.String())
			for _, d := range []string{"bobdir", "sub"} {
				if !strings.Contains(out, `Can't ls: "/`+d+`" not found`) {
					t.Errorf("alice listed bob's directory through %s:\n%s", d, out)
				}
			}
			for _, f := range []string{"secret", "private/doc"} {
				b, err := os.ReadFile(filepath.Join(bob, f))
				if err != nil || string(b) != secret {
					t.Errorf("bob's %s is now %q, %v", f, b, err)
				}
				if fi, err := os.Stat(filepath.Join(bob, f)); err == nil && fi.Mode().Perm() != 0o644 {
					t.Errorf("bob's %s has mode %v", f, fi.Mode())
				}
			}
			for _, d := range []string{bob, filepath.Join(bob, "private")} {
				es, _ := os.ReadDir(d)
				for _, e := range es {
					if n := e.Name(); n != "secret" && n != "private" && n != "doc" {
						t.Errorf("alice made %s in bob's directory %s", n, d)
					}
				}
			}
			gots, _ := filepath.Glob(filepath.Join(local, "got-*"))
			for _, g := range gots {
				if b, _ := os.ReadFile(g); strings.Contains(string(b), secret) {
					t.Errorf("alice downloaded bob's secret as %s", g)
				}
			}
			// Removing her own names for the links is hers to do, and leaves bob's file.
			mustSFTP(t, port, "alice", key, "rm hard\nrm bobfile\n")
			if b, err := os.ReadFile(filepath.Join(bob, "secret")); err != nil || string(b) != secret {
				t.Errorf("removing alice's links touched bob's file: %q, %v", b, err)
			}
		})
	}
}
