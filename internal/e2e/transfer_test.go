package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/activity"
)

// writeRandom writes size random bytes to path and returns their SHA-256.
func writeRandom(t testing.TB, path string, size int) string {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// fileSHA256 returns the SHA-256 of a local file.
func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// lsSizes parses `ls -l` lines of OpenSSH sftp into name -> size.
func lsSizes(out string) map[string]int64 {
	sizes := map[string]int64{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || len(f[0]) != 10 || !strings.ContainsAny(f[0][:1], "-dl") {
			continue
		}
		n, err := strconv.ParseInt(f[4], 10, 64)
		if err != nil {
			continue
		}
		sizes[filepath.Base(strings.Join(f[8:], " "))] = n
	}
	return sizes
}

// like is the part of a record a test checks: empty fields are not compared.
type like struct {
	Type, Path, NewPath, Mode, BytesIn, BytesOut, Operation string
}

func (w like) match(r *activity.Record) bool {
	eq := func(want, got string) bool { return want == "" || want == got }
	return w.Type == r.ActivityType && eq(w.Path, r.Path) && eq(w.NewPath, r.NewPath) && eq(w.Mode, r.Mode) &&
		eq(w.BytesIn, r.BytesIn) && eq(w.BytesOut, r.BytesOut) && eq(w.Operation, r.Operation)
}

// expectInOrder checks that the session's records hold want, in order (other records may come
// between), and that every record names the session's user.
func expectInOrder(t testing.TB, recs []activity.Record, user string, want ...like) {
	t.Helper()
	i := 0
	for j := range recs {
		if recs[j].User != user {
			t.Errorf("record %s has user %q, want %q", recs[j].ActivityType, recs[j].User, user)
		}
		if i < len(want) && want[i].match(&recs[j]) {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("session records lack %+v (and what follows it, in order: %+v); got:\n%s", want[i], want[i:], dumpRecords(recs))
	}
}

func TestOpenSSHTransfers(t *testing.T) {
	t.Parallel()
	const user = "sftp_user"
	key := keyFor(t, "ed25519")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser(user, key)}}))
	home := p.userDir(user)
	local := t.TempDir()

	sizes := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one-byte", 1},
		{"1MiB-plus-7", 1<<20 + 7},
		{"20MiB", 20 << 20},
	}
	t.Run("upload and download", func(t *testing.T) {
		for _, tc := range sizes {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				src := filepath.Join(local, tc.name+".src")
				dst := filepath.Join(local, tc.name+".dst")
				remote := "f-" + tc.name
				sum := writeRandom(t, src, tc.size)
				batch := fmt.Sprintf("put %s %s\nget %s %s\nls -l %s\n", src, remote, remote, dst, remote)
				out := mustSFTP(t, port, user, key, batch)

				if got := fileSHA256(t, dst); got != sum {
					t.Errorf("size %d: downloaded sha256 %s, want %s", tc.size, got, sum)
				}
				if got := fileSHA256(t, filepath.Join(home, remote)); got != sum {
					t.Errorf("size %d: sha256 of %s on disk %s, want %s", tc.size, filepath.Join(home, remote), got, sum)
				}
				if got, ok := lsSizes(out)[remote]; !ok || got != int64(tc.size) {
					t.Errorf("ls -l %s: size %d (listed: %v), want %d; output:\n%s", remote, got, ok, tc.size, out)
				}

				storagePath := "/bucket1/sftp_user/" + remote
				size := strconv.Itoa(tc.size)
				recs := p.session(t, "OPEN of "+storagePath, func(r *activity.Record) bool {
					return r.ActivityType == activity.Open && r.Path == storagePath
				})
				expectInOrder(t, recs, user,
					like{Type: activity.Connected},
					like{Type: activity.Open, Path: storagePath, Mode: "CREATE|TRUNCATE|WRITE"},
					like{Type: activity.Close, Path: storagePath, BytesIn: size},
					like{Type: activity.Open, Path: storagePath, Mode: "READ"},
					like{Type: activity.Close, Path: storagePath, BytesOut: size},
					like{Type: activity.Disconnected},
				)
			})
		}
	})

	t.Run("ls -l lists names and sizes", func(t *testing.T) {
		out := mustSFTP(t, port, user, key, "ls -l\n")
		got := lsSizes(out)
		for _, tc := range sizes {
			if n, ok := got["f-"+tc.name]; !ok || n != int64(tc.size) {
				t.Errorf("ls -l: f-%s has size %d (listed: %v), want %d; output:\n%s", tc.name, n, ok, tc.size, out)
			}
		}
	})

	t.Run("put -p and get -p keep mode and times", func(t *testing.T) {
		src := filepath.Join(local, "preserved")
		writeRandom(t, src, 1000)
		mtime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
		if err := os.Chmod(src, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(src, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		back := filepath.Join(local, "preserved.back")
		mustSFTP(t, port, user, key, "put -p "+src+" preserved\nget -p preserved "+back+"\n")
		for _, f := range []string{filepath.Join(home, "preserved"), back} {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(mtime) {
				t.Errorf("after put -p and get -p of a file with mode 0640 and mtime %v: %s has mode %v mtime %v", mtime, f, fi.Mode().Perm(), fi.ModTime())
			}
		}
	})

	t.Run("reput and reget resume", func(t *testing.T) {
		src := filepath.Join(local, "resumed")
		writeRandom(t, src, 3<<20+5)
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		// A first part is already there, as after an interrupted upload or download.
		if err := os.WriteFile(filepath.Join(home, "resumed"), data[:1<<20], 0o644); err != nil {
			t.Fatal(err)
		}
		back := filepath.Join(local, "resumed.back")
		if err := os.WriteFile(back, data[:2<<20], 0o644); err != nil {
			t.Fatal(err)
		}
		mustSFTP(t, port, user, key, "reput "+src+" resumed\nreget resumed "+back+"\n")
		if got := fileSHA256(t, filepath.Join(home, "resumed")); got != fileSHA256(t, src) {
			t.Errorf("after reput of %d bytes onto the first 1 MiB: the remote file differs", len(data))
		}
		if got := fileSHA256(t, back); got != fileSHA256(t, src) {
			t.Errorf("after reget of %d bytes onto the first 2 MiB: the local file differs", len(data))
		}
		recs := p.session(t, "the reput OPEN", func(r *activity.Record) bool {
			return r.ActivityType == activity.Open && r.Path == "/bucket1/sftp_user/resumed"
		})
		expectInOrder(t, recs, user,
			like{Type: activity.Open, Path: "/bucket1/sftp_user/resumed", Mode: "CREATE|APPEND|WRITE"},
			like{Type: activity.Close, Path: "/bucket1/sftp_user/resumed", BytesIn: strconv.Itoa(len(data) - 1<<20)},
			like{Type: activity.Open, Path: "/bucket1/sftp_user/resumed", Mode: "READ"},
			like{Type: activity.Close, Path: "/bucket1/sftp_user/resumed", BytesOut: strconv.Itoa(len(data) - 2<<20)},
		)
	})

	t.Run("mkdir rename rm rmdir", func(t *testing.T) {
		src := filepath.Join(local, "small")
		writeRandom(t, src, 10)
		mustSFTP(t, port, user, key, "mkdir d1\nmkdir d2\nput "+src+" c1\nrename c1 c2\nrename d2 d3\n")
		for _, c := range []struct {
			name  string
			isDir bool
			there bool
		}{{"d1", true, true}, {"d2", true, false}, {"d3", true, true}, {"c1", false, false}, {"c2", false, true}} {
			fi, err := os.Stat(filepath.Join(home, c.name))
			switch {
			case c.there && err != nil:
				t.Errorf("after mkdir and rename: %s on disk: %v, want it present", c.name, err)
			case c.there && fi.IsDir() != c.isDir:
				t.Errorf("after mkdir and rename: %s on disk is a directory: %v, want %v", c.name, fi.IsDir(), c.isDir)
			case !c.there && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("after mkdir and rename: %s on disk: %v, want it gone", c.name, err)
			}
		}
		recs := p.session(t, "MKDIR of d1", func(r *activity.Record) bool {
			return r.ActivityType == activity.Mkdir && r.Path == "/bucket1/sftp_user/d1"
		})
		expectInOrder(t, recs, user,
			like{Type: activity.Connected},
			like{Type: activity.Mkdir, Path: "/bucket1/sftp_user/d1"},
			like{Type: activity.Mkdir, Path: "/bucket1/sftp_user/d2"},
			like{Type: activity.Open, Path: "/bucket1/sftp_user/c1", Mode: "CREATE|TRUNCATE|WRITE"},
			like{Type: activity.Close, Path: "/bucket1/sftp_user/c1", BytesIn: "10"},
			like{Type: activity.Rename, Path: "/bucket1/sftp_user/c1", NewPath: "/bucket1/sftp_user/c2"},
			like{Type: activity.Rename, Path: "/bucket1/sftp_user/d2", NewPath: "/bucket1/sftp_user/d3"},
			like{Type: activity.Disconnected},
		)

		mustSFTP(t, port, user, key, "rm c2\nrmdir d1\nrmdir d3\n")
		for _, name := range []string{"c2", "d1", "d3"} {
			if _, err := os.Stat(filepath.Join(home, name)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("after rm and rmdir: %s on disk: %v, want it gone", name, err)
			}
		}
		recs = p.session(t, "DELETE of c2", func(r *activity.Record) bool {
			return r.ActivityType == activity.Delete && r.Path == "/bucket1/sftp_user/c2"
		})
		expectInOrder(t, recs, user,
			like{Type: activity.Connected},
			like{Type: activity.Delete, Path: "/bucket1/sftp_user/c2"},
			like{Type: activity.Rmdir, Path: "/bucket1/sftp_user/d1"},
			like{Type: activity.Rmdir, Path: "/bucket1/sftp_user/d3"},
			like{Type: activity.Disconnected},
		)
	})
}

func TestPkgSFTPClient(t *testing.T) {
	t.Parallel()
	const user = "sftp_user"
	key := keyFor(t, "ed25519")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser(user, key)}}))
	home := p.userDir(user)
	c := dialSFTP(t, port, user, key)

	put := func(t *testing.T, name string, data []byte) {
		t.Helper()
		f, err := c.Create(name)
		if err != nil {
			t.Fatalf("Create(%q): %v", name, err)
		}
		if _, err := f.Write(data); err != nil {
			t.Fatalf("Write to %q: %v", name, err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("Close of %q: %v", name, err)
		}
	}
	get := func(t *testing.T, name string) []byte {
		t.Helper()
		f, err := c.Open(name)
		if err != nil {
			t.Fatalf("Open(%q): %v", name, err)
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			t.Fatalf("reading %q: %v", name, err)
		}
		return b
	}
	onDisk := func(t *testing.T, name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(home, name))
		if err != nil {
			t.Fatalf("reading %s on disk: %v", name, err)
		}
		return b
	}

	t.Run("random-offset writes", func(t *testing.T) {
		t.Parallel()
		const chunk = 32 << 10
		data := make([]byte, 40*chunk+13)
		rand.Read(data)
		offsets := make([]int, 0, len(data)/chunk+1)
		for off := 0; off < len(data); off += chunk {
			offsets = append(offsets, off)
		}
		mrand.Shuffle(len(offsets), func(i, j int) { offsets[i], offsets[j] = offsets[j], offsets[i] })
		for _, mode := range []struct {
			name  string
			flags int
		}{{"write-only", os.O_WRONLY | os.O_CREATE | os.O_TRUNC}, {"read-write", os.O_RDWR | os.O_CREATE | os.O_TRUNC}} {
			name := "random-" + mode.name
			f, err := c.OpenFile(name, mode.flags)
			if err != nil {
				t.Fatalf("OpenFile(%q, %s): %v", name, mode.name, err)
			}
			for _, off := range offsets {
				end := min(off+chunk, len(data))
				if n, err := f.WriteAt(data[off:end], int64(off)); err != nil || n != end-off {
					t.Fatalf("%s: WriteAt(%d bytes, %d) = %d, %v", name, end-off, off, n, err)
				}
			}
			if mode.flags&os.O_RDWR != 0 {
				back := make([]byte, len(data))
				if n, err := f.ReadAt(back, 0); n != len(data) || (err != nil && err != io.EOF) || !bytes.Equal(back, data) {
					t.Errorf("%s: ReadAt through the same handle = %d, %v; same data: %v", name, n, err, bytes.Equal(back, data))
				}
			}
			if err := f.Close(); err != nil {
				t.Fatalf("%s: Close: %v", name, err)
			}
			if got := get(t, name); !bytes.Equal(got, data) {
				t.Errorf("%s: read back %d bytes, want the %d written out of order", name, len(got), len(data))
			}
			if got := onDisk(t, name); !bytes.Equal(got, data) {
				t.Errorf("%s: on disk %d bytes, want the %d written out of order", name, len(got), len(data))
			}
		}
	})

	t.Run("stat and lstat", func(t *testing.T) {
		t.Parallel()
		put(t, "statfile", []byte("12345"))
		if err := c.Mkdir("statdir"); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			isDir bool
			size  int64
		}{{"statfile", false, 5}, {"statdir", true, -1}, {"/statfile", false, 5}, {"statdir/../statfile", false, 5}} {
			for op, stat := range map[string]func(string) (os.FileInfo, error){"Stat": c.Stat, "Lstat": c.Lstat} {
				fi, err := stat(tc.name)
				if err != nil {
					t.Errorf("%s(%q): %v", op, tc.name, err)
					continue
				}
				if fi.IsDir() != tc.isDir || (tc.size >= 0 && fi.Size() != tc.size) {
					t.Errorf("%s(%q): dir %v size %d, want dir %v size %d", op, tc.name, fi.IsDir(), fi.Size(), tc.isDir, tc.size)
				}
				if !tc.isDir && !fi.Mode().IsRegular() {
					t.Errorf("%s(%q): mode %v, want a regular file", op, tc.name, fi.Mode())
				}
			}
		}
		if _, err := c.Stat("nothing-here"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q) = %v, want not exist", "nothing-here", err)
		}
	})

	t.Run("readdir of 2000 files", func(t *testing.T) {
		t.Parallel()
		if err := c.Mkdir("many"); err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := range 2000 {
			name := fmt.Sprintf("file-%04d", i)
			want = append(want, name)
			if err := os.WriteFile(filepath.Join(home, "many", name), []byte(name), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		entries, err := c.ReadDir("many")
		if err != nil {
			t.Fatalf("ReadDir(many): %v", err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
			if e.Size() != int64(len(e.Name())) {
				t.Errorf("ReadDir(many): %s has size %d, want %d", e.Name(), e.Size(), len(e.Name()))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("ReadDir(many): %d names, want %d in order (first got %q, first want %q)", len(got), len(want), first(got), first(want))
		}
	})

	t.Run("chmod and chtimes", func(t *testing.T) {
		t.Parallel()
		put(t, "attrs", []byte("x"))
		if err := c.Chmod("attrs", 0o600); err != nil {
			t.Fatalf("Chmod: %v", err)
		}
		mtime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
		if err := c.Chtimes("attrs", mtime, mtime); err != nil {
			t.Fatalf("Chtimes: %v", err)
		}
		fi, err := c.Stat("attrs")
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(mtime) {
			t.Errorf("Stat after Chmod 0600 and Chtimes %v: mode %v mtime %v", mtime, fi.Mode(), fi.ModTime())
		}
		di, err := os.Stat(filepath.Join(home, "attrs"))
		if err != nil {
			t.Fatal(err)
		}
		if di.Mode().Perm() != 0o600 || !di.ModTime().Equal(mtime) {
			t.Errorf("on disk after Chmod 0600 and Chtimes %v: mode %v mtime %v", mtime, di.Mode(), di.ModTime())
		}
	})

	t.Run("statvfs", func(t *testing.T) {
		t.Parallel()
		st, err := c.StatVFS("/")
		if err != nil {
			t.Fatalf("StatVFS(/): %v", err)
		}
		if st.Bsize == 0 || st.Blocks == 0 || st.Namemax == 0 {
			t.Errorf("StatVFS(/) = %+v, want block size, blocks and name length", st)
		}
	})

	t.Run("posix rename replaces", func(t *testing.T) {
		t.Parallel()
		put(t, "pr-a", []byte("A"))
		put(t, "pr-b", []byte("B"))
		if err := c.PosixRename("pr-a", "pr-b"); err != nil {
			t.Fatalf("PosixRename onto an existing file: %v", err)
		}
		if got := onDisk(t, "pr-b"); string(got) != "A" {
			t.Errorf("after PosixRename(pr-a, pr-b): pr-b holds %q, want %q", got, "A")
		}
		if _, err := c.Stat("pr-a"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after PosixRename: Stat(pr-a) = %v, want not exist", err)
		}
	})

	t.Run("rename onto an existing file fails", func(t *testing.T) {
		t.Parallel()
		put(t, "rn-a", []byte("A"))
		put(t, "rn-b", []byte("B"))
		if err := c.Rename("rn-a", "rn-b"); err == nil {
			t.Errorf("Rename(rn-a, rn-b) onto an existing file succeeded, want an error")
		}
		if a, b := onDisk(t, "rn-a"), onDisk(t, "rn-b"); string(a) != "A" || string(b) != "B" {
			t.Errorf("after the refused Rename: rn-a %q rn-b %q, want %q %q", a, b, "A", "B")
		}
	})

	t.Run("remove of a directory fails", func(t *testing.T) {
		t.Parallel()
		if err := c.Mkdir("rmd"); err != nil {
			t.Fatal(err)
		}
		put(t, "rmd/inside", []byte("x"))
		if err := c.Remove("rmd"); err == nil {
			t.Errorf("Remove(rmd) of a non-empty directory succeeded, want an error")
		}
		if _, err := os.Stat(filepath.Join(home, "rmd", "inside")); err != nil {
			t.Errorf("after the refused Remove: rmd/inside: %v", err)
		}
		// pkg/sftp's Remove sends REMOVE, then RMDIR when that fails: REMOVE alone must refuse
		// even an empty directory.
		if err := c.Mkdir("rmd-empty"); err != nil {
			t.Fatal(err)
		}
		if err := c.Remove("rmd-empty"); err != nil {
			t.Fatalf("Remove(rmd-empty) (REMOVE, then RMDIR): %v", err)
		}
		p.waitRecord(t, "ERROR for REMOVE of the directory rmd-empty", func(r *activity.Record) bool {
			return r.ActivityType == activity.Error && r.Operation == activity.Delete && r.Path == "/bucket1/sftp_user/rmd-empty"
		})
		p.waitRecord(t, "RMDIR of rmd-empty", func(r *activity.Record) bool {
			return r.ActivityType == activity.Rmdir && r.Path == "/bucket1/sftp_user/rmd-empty"
		})
	})

	t.Run("links are refused", func(t *testing.T) {
		t.Parallel()
		put(t, "target", []byte("t"))
		if err := c.Symlink("target", "sym"); err == nil {
			t.Errorf("Symlink(target, sym) succeeded, want an error")
		}
		if err := c.Link("target", "hard"); err == nil {
			t.Errorf("Link(target, hard) succeeded, want an error")
		}
		for _, name := range []string{"sym", "hard"} {
			if _, err := os.Lstat(filepath.Join(home, name)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("after the refused link: %s on disk: %v, want it absent", name, err)
			}
		}
	})

	t.Run("truncate with setstat size", func(t *testing.T) {
		t.Parallel()
		put(t, "trunc", bytes.Repeat([]byte("z"), 100))
		for _, size := range []int64{10, 50, 0} {
			if err := c.Truncate("trunc", size); err != nil {
				t.Fatalf("Truncate(trunc, %d): %v", size, err)
			}
			fi, err := c.Stat("trunc")
			if err != nil {
				t.Fatal(err)
			}
			di, err := os.Stat(filepath.Join(home, "trunc"))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != size || di.Size() != size {
				t.Errorf("after Truncate(trunc, %d): Stat size %d, on disk %d", size, fi.Size(), di.Size())
			}
		}
		if got := onDisk(t, "trunc"); len(got) != 0 {
			t.Errorf("after Truncate to 0: %d bytes on disk", len(got))
		}
	})
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func TestSetStatNoOp(t *testing.T) {
	t.Parallel()
	const user = "sftp_user"
	key := keyFor(t, "ed25519")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{Port: port, SetStat: "ENABLE_NO_OP", Users: []userConf{chrootUser(user, key)}}))
	src := filepath.Join(t.TempDir(), "f")
	writeRandom(t, src, 100)
	mustSFTP(t, port, user, key, "put "+src+" f\n")
	onDisk := filepath.Join(p.userDir(user), "f")
	before, err := os.Stat(onDisk)
	if err != nil {
		t.Fatal(err)
	}
	if before.Mode().Perm() == 0o600 {
		t.Fatalf("a new file already has mode %v; the test needs another", before.Mode())
	}
	out := mustSFTP(t, port, user, key, "chmod 600 f\n")
	after, err := os.Stat(onDisk)
	if err != nil {
		t.Fatal(err)
	}
	if after.Mode() != before.Mode() {
		t.Errorf("chmod 600 with SetStatOption ENABLE_NO_OP: mode on disk %v, want %v unchanged; sftp output:\n%s", after.Mode(), before.Mode(), out)
	}
	r := p.waitRecord(t, "SETSTAT of /bucket1/sftp_user/f", func(r *activity.Record) bool {
		return r.ActivityType == activity.Setstat && r.Path == "/bucket1/sftp_user/f"
	})
	if r.User != user || r.SessionID == "" {
		t.Errorf("SETSTAT record: user %q session-id %q, want user %q and a session", r.User, r.SessionID, user)
	}
}
