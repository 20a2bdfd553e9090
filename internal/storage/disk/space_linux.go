package disk

import (
	"context"
	"os"
	"syscall"
	"time"

	"github.com/transferd/transferd/internal/storage"
)

// stRDONLY is ST_RDONLY in statfs(2)'s f_flags.
const stRDONLY = 0x1

// Space reports statvfs-style figures for the file system holding loc.
func (s *Store) Space(ctx context.Context, loc storage.Location) (_ storage.SpaceInfo, err error) {
	defer s.observed("Space", time.Now(), &err)
	if u := s.confined(); u != nil {
		return u.Space(ctx, loc)
	}
	const op = "statvfs"
	name, err := s.name(op, loc)
	if err != nil {
		return storage.SpaceInfo{}, err
	}
	f, err := s.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return storage.SpaceInfo{}, s.fail(op, loc, err)
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return storage.SpaceInfo{}, s.fail(op, loc, err)
	}
	var st syscall.Statfs_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstatfs(int(fd), &st) }); err != nil {
		return storage.SpaceInfo{}, s.fail(op, loc, err)
	}
	if serr != nil {
		return storage.SpaceInfo{}, s.fail(op, loc, serr)
	}
	frsize := uint64(st.Frsize)
	if frsize == 0 {
		frsize = uint64(st.Bsize)
	}
	return storage.SpaceInfo{
		BlockSize:    uint64(st.Bsize),
		FragmentSize: frsize,
		Blocks:       st.Blocks,
		BlocksFree:   st.Bfree,
		BlocksAvail:  st.Bavail,
		Files:        st.Files,
		FilesFree:    st.Ffree,
		FilesAvail:   st.Ffree, // statfs has no f_favail; Linux's statvfs reports f_ffree
		MaxName:      uint64(st.Namelen),
		ReadOnly:     uint64(st.Flags)&stRDONLY != 0,
	}, nil
}
