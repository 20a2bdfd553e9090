package disk_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/storage/disk"
)

// BenchmarkUpload writes a 32 MiB file as an SFTP upload does: 255 KiB writes at increasing
// offsets, then Close (which waits for the data to be on disk).
func BenchmarkUpload(b *testing.B) {
	root := b.TempDir()
	if err := os.Mkdir(filepath.Join(root, "bucket"), 0o700); err != nil {
		b.Fatal(err)
	}
	s, err := disk.New(root)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	upload(b, s)
}

// BenchmarkUploadAs is BenchmarkUpload through a store acting as another user (a POSIX profile):
// every write switches the thread's identity and back.
func BenchmarkUploadAs(b *testing.B) {
	root := b.TempDir()
	if err := os.Mkdir(filepath.Join(root, "bucket"), 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.Chown(filepath.Join(root, "bucket"), 4242, 4242); err != nil {
		b.Skip("needs root:", err)
	}
	s, err := disk.New(root)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	as, err := s.As(storage.Identity{UID: 4242, GID: 4242})
	if err != nil {
		b.Skip(err)
	}
	upload(b, as)
}

func upload(b *testing.B, s storage.Backend) {
	const size, chunk = 32 << 20, 261120
	p := make([]byte, chunk)
	loc := storage.Location{Bucket: "bucket", Key: "f"}
	ctx := context.Background()
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		w, err := s.OpenWrite(ctx, loc, storage.OpenFlags{Create: true, Truncate: true})
		if err != nil {
			b.Fatal(err)
		}
		for off := int64(0); off < size; off += chunk {
			if _, err := w.WriteAt(p[:min(chunk, size-off)], off); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
