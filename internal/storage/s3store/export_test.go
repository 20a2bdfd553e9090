package s3store

// SetTestLimits lowers the sizes at which s pages listings, switches to multipart copy and
// doubles upload part sizes, so that tests exercise them with little data. Zero keeps a value.
func SetTestLimits(s *Store, listPage int32, copyThreshold, copyPart int64, partsPerDoubling int32) {
	if listPage > 0 {
		s.listPageSize = listPage
	}
	if copyThreshold > 0 {
		s.copyThreshold = copyThreshold
	}
	if copyPart > 0 {
		s.copyPartSize = copyPart
	}
	if partsPerDoubling > 0 {
		s.partsPerDoubleSize = partsPerDoubling
	}
}

// PartSize is the size of upload part n (from 1).
func PartSize(s *Store, n int32) int64 { return s.partSize(n) }

// SetStraggle sets how far behind the stream a read may start and still get a GET of its own
// rather than moving the stream.
func SetStraggle(s *Store, n int64) { s.straggle = n }

// Gets is the number of GETs s's read handles made.
func Gets(s *Store) int64 { return s.gets.Load() }
