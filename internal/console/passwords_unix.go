//go:build unix

package console

import (
	"os"
	"syscall"
)

// lockPasswords holds an exclusive lock on file's lock file until unlock: two console-password
// runs at once each see the other's change.
func lockPasswords(file string) (unlock func(), err error) {
	f, err := os.OpenFile(file+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// keepOwner gives tmp the owner of like (the file it replaces, or its directory) when this
// process runs as root: a file written by `sudo transferd console-password` must stay readable
// by the user transferd serves as.
func keepOwner(tmp *os.File, like os.FileInfo) error {
	st, ok := like.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 || (st.Uid == 0 && st.Gid == 0) {
		return nil
	}
	return tmp.Chown(int(st.Uid), int(st.Gid))
}
