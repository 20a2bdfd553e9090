//go:build !linux

package disk

import (
	"context"
	"time"

	"github.com/transferd/transferd/internal/storage"
)

// Space is supported on Linux only.
func (s *Store) Space(ctx context.Context, loc storage.Location) (_ storage.SpaceInfo, err error) {
	defer s.observed("Space", time.Now(), &err)
	return storage.SpaceInfo{}, storage.Errorf("statvfs", loc, storage.KindNotSupported, "", nil)
}
