package s3store

import (
	"context"

	"github.com/transferd/transferd/internal/storage"
)

var _ storage.SpaceReporter = (*Store)(nil)

// s3Space is what statvfs@openssh.com reports for S3: a bucket has no size limit, so the space
// is reported as vast and free (4 PiB in 4 KiB blocks, and as many files) rather than zero, which
// clients that check free space before an upload (WinSCP, lftp's df) would read as full. A name
// may be up to 1,024 bytes, S3's limit on a whole key.
var s3Space = storage.SpaceInfo{
	BlockSize: 4096, FragmentSize: 4096,
	Blocks: 1 << 40, BlocksFree: 1 << 40, BlocksAvail: 1 << 40,
	Files: 1 << 40, FilesFree: 1 << 40, FilesAvail: 1 << 40,
	MaxName: 1024,
}

// Space reports S3's space (see s3Space); it asks S3 nothing.
func (s *Store) Space(ctx context.Context, loc storage.Location) (storage.SpaceInfo, error) {
	if err := check("statvfs", loc); err != nil {
		return storage.SpaceInfo{}, err
	}
	return s3Space, nil
}
