//go:build !unix

package metastore

func umask(int) int { return 0 }
