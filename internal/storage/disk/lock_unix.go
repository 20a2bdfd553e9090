//go:build unix

package disk

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// lockRoot takes an advisory lock (flock) on name in the root, held until the returned Closer is
// closed or the process ends.
func lockRoot(root *os.Root, name string) (io.Closer, error) {
	f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking the storage root: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("it is in use by another transferd process (which holds %s locked): a local storage root belongs to one process", name)
		}
		return nil, fmt.Errorf("locking the storage root: %w", err)
	}
	return f, nil
}
