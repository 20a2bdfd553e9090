//go:build !(linux && (amd64 || arm64))

package disk

import (
	"context"
	"errors"
	"os"

	"github.com/transferd/transferd/internal/storage"
)

var errNoImpersonation = errors.New("acting as another POSIX user is supported on Linux (amd64, arm64) only")

// canImpersonate: acting as another user is built for Linux on amd64 and arm64 only.
func canImpersonate() error { return errNoImpersonation }

func runAs(storage.Identity, func() error) error { return errNoImpersonation }

func openPathFD(string) (int, error) { return -1, nil }

func closePathFD(int) {}

func (u *asUser) reach(op string, loc storage.Location, dir string) (*os.Root, error) {
	return nil, errNoImpersonation
}

func (u *asUser) Rename(ctx context.Context, from, to storage.Location, replace bool) error {
	return errNoImpersonation
}
