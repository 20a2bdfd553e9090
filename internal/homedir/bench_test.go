package homedir

import (
	"fmt"
	"testing"

	"github.com/transferd/transferd/internal/transfer"
)

// manyMappingsUser has transfer.MaxMappings entries /dNNN/uNNNNN (500 implied directories of 100
// entries each), mapped onto /bucket/tNNNNN.
func manyMappingsUser() *transfer.User {
	ms := make([]transfer.Mapping, transfer.MaxMappings)
	for i := range ms {
		ms[i] = transfer.Mapping{Entry: fmt.Sprintf("/d%03d/u%05d", i/100, i), Target: fmt.Sprintf("/bucket/t%05d", i)}
	}
	return &transfer.User{UserName: "jane", HomeDirectoryType: transfer.HomeLogical, HomeDirectoryMappings: ms}
}

func BenchmarkResolve(b *testing.B) {
	chroot := mustNew(b, chrootUser())
	many := mustNew(b, manyMappingsUser())
	for _, bc := range []struct {
		name string
		r    *Resolver
		in   string
	}{
		{"chroot/clean", chroot, "/projects/2026/report.pdf"},
		{"chroot/unclean", chroot, "projects//2026/./../2026/report.pdf"},
		{"50000/entry", many, "/d250/u25000"},
		{"50000/inside", many, "/d250/u25000/projects/2026/report.pdf"},
		{"50000/root", many, "/"},
		{"50000/implied", many, "/d250"},
		{"50000/unmapped", many, "/d250/u00001/x"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.r.Resolve(bc.in); err != nil && bc.name != "50000/unmapped" {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNew(b *testing.B) {
	u := manyMappingsUser()
	b.Run("50000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := New(u); err != nil {
				b.Fatal(err)
			}
		}
	})
}
