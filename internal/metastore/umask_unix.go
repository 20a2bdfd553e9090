//go:build unix

package metastore

import "syscall"

// umask sets the process's file mode creation mask and returns the one before.
func umask(m int) int { return syscall.Umask(m) }
