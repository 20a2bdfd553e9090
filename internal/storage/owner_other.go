//go:build !unix

package storage

import "io/fs"

// OwnerOf reports no owner on systems without POSIX owners.
func OwnerOf(fi fs.FileInfo) (Owner, bool) { return Owner{}, false }
