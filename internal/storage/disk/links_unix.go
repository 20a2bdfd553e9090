//go:build unix

package disk

import (
	"io/fs"
	"syscall"
)

// links is how many names a file has (1 where the platform does not say).
func links(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
