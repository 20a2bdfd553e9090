//go:build !linux

package disk

import (
	"io"
	"os"
)

// copyFile copies src into the empty file dst.
func copyFile(dst, src *os.File) error {
	_, err := io.Copy(dst, src)
	return err
}
