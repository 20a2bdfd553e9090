//go:build !unix

package disk

import "io/fs"

// links is how many names a file has: 1, as this platform does not say.
func links(fs.FileInfo) uint64 { return 1 }
