//go:build !unix

package daemon

import (
	"errors"
	"io"
)

func lockDataDir(string) (io.Closer, error) {
	return nil, errors.New("transferd serve runs on Unix systems only: it locks its data directory with flock")
}
