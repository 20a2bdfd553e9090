//go:build unix

package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockDataDir takes the data directory for this process: an advisory lock (flock) on
// DATA_DIR/transferd.pid, which then holds the process ID. A second transferd on the same
// directory fails at once and names the first. The lock goes with the process, however it ends.
func lockDataDir(dir string) (io.Closer, error) {
	path := filepath.Join(dir, pidFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking the data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another transferd"
			if p := strings.TrimSpace(string(pid)); p != "" {
				who += " (pid " + p + ")"
			}
			return nil, fmt.Errorf("data directory %s is in use by %s: one transferd serves a data directory (it holds %s locked)", dir, who, path)
		}
		return nil, fmt.Errorf("locking the data directory: %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return &dirLock{f: f}, nil
}

type dirLock struct{ f *os.File }

// Close empties the pid file while still holding the lock, then lets the lock go. The file stays:
// removing it would let a process that opened it just before lock a file no longer in the
// directory while another locks a new one.
func (l *dirLock) Close() error {
	l.f.Truncate(0)
	return l.f.Close()
}
