//go:build !unix

package disk

import (
	"io"
	"os"
)

// lockRoot opens name in the root; without flock, nothing stops a second process.
func lockRoot(root *os.Root, name string) (io.Closer, error) {
	return root.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
}
