//go:build unix

package storage

import (
	"io/fs"
	"syscall"
)

// OwnerOf returns the POSIX owner that fi reports (a Chowner's Stat results carry one), and false
// when it reports none.
func OwnerOf(fi fs.FileInfo) (Owner, bool) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return Owner{UID: st.Uid, GID: st.Gid}, true
	}
	return Owner{}, false
}
