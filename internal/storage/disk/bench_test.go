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

// BenchmarkStat is one STAT of a file two directories deep: the cost of each request's path
// resolution (confined: openat2 without symbolic links, then the file's own directory).
func BenchmarkStat(b *testing.B) {
	root := b.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bucket", "user", "dir"), 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bucket", "user", "dir", "f"), []byte("x"), 0o600); err != nil {
		b.Fatal(err)
	}
	s, err := disk.New(root)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	loc := storage.Location{Bucket: "bucket", Key: "user/dir/f"}
	for b.Loop() {
		if _, err := s.Stat(b.Context(), loc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSmallUpload uploads a 1 KiB file: open, write, close (with fsync) — per-file cost.
func BenchmarkSmallUpload(b *testing.B) {
	for _, atomic := range []bool{false, true} {
		name := "in-place"
		if atomic {
			name = "atomic"
		}
		b.Run(name, func(b *testing.B) {
			root := b.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "bucket", "user"), 0o700); err != nil {
				b.Fatal(err)
			}
			s, err := disk.New(root)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			st := s
			if atomic {
				st = s.AtomicUploads()
			}
			loc := storage.Location{Bucket: "bucket", Key: "user/f"}
			data := make([]byte, 1024)
			for b.Loop() {
				h, err := st.OpenWrite(b.Context(), loc, storage.OpenFlags{Create: true, Truncate: true})
				if err != nil {
					b.Fatal(err)
				}
				h.WriteAt(data, 0)
				if err := h.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
