package console

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Password checks wait for one of a few slots, and give up with errBusy; without console users
// none is needed, since no bcrypt runs.
func TestPasswordCheckSlots(t *testing.T) {
	dir := t.TempDir()
	p := &passwords{file: filepath.Join(dir, PasswordFileName)}
	wait := bcryptWait
	bcryptWait = 100 * time.Millisecond
	defer func() { bcryptWait = wait }()
	for range cap(bcryptSlots) {
		bcryptSlots <- struct{}{}
	}
	defer func() {
		for range cap(bcryptSlots) {
			<-bcryptSlots
		}
	}()
	if _, ok, err := p.check("ops", "correct horse battery"); ok || err != nil {
		t.Errorf("without console users, all slots taken: %v, %v; want a plain refusal", ok, err)
	}
	if err := SetPassword(p.file, "ops", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ops", "nobody"} {
		if _, _, err := p.check(name, "correct horse battery"); !errors.Is(err, errBusy) {
			t.Errorf("%s, all slots taken: %v, want errBusy", name, err)
		}
	}
}

// Run as root (sudo transferd console-password), the file keeps the data directory's owner, so
// that transferd serve, running as that user, can still read it.
func TestPasswordFileOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away")
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, PasswordFileName)
	if err := SetPassword(file, "ops", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 || fi.Mode().Perm() != 0o600 {
		t.Errorf("the password file is owned by %d:%d, mode %v; want 65534:65534, 0600", st.Uid, st.Gid, fi.Mode().Perm())
	}
}
