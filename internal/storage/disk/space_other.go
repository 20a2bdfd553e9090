//go:build !linux

package disk

import (
	"context"

	"github.com/transferd/transferd/internal/storage"
)

// Space is supported on Linux only.
func (s *Store) Space(ctx context.Context, loc storage.Location) (storage.SpaceInfo, error) {
	return storage.SpaceInfo{}, storage.Errorf("statvfs", loc, storage.KindNotSupported, "", nil)
}
