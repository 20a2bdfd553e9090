//go:build !(linux && (amd64 || arm64))

package disk

import (
	"errors"

	"github.com/transferd/transferd/internal/storage"
)

// canImpersonate: acting as another user is built for Linux on amd64 and arm64 only.
func canImpersonate() error {
	return errors.New("acting as another POSIX user is supported on Linux (amd64, arm64) only")
}

func runAs(storage.Identity, func() error) error { return canImpersonate() }
