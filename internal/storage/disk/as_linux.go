//go:build linux && (amd64 || arm64)

package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/transferd/transferd/internal/storage"
)

// Capabilities a thread keeps while it acts as a user: those it needs to become itself again.
// Every other one (CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_SYS_RESOURCE, ...) would let it
// do what the user may not.
const keptCaps = 1<<unix.CAP_SETUID | 1<<unix.CAP_SETGID

// The process's own file-system identity, which every thread returns to.
var (
	ownOnce   sync.Once
	ownUID    int
	ownGID    int
	ownGroups []uint32
	ownErr    error
)

// canImpersonate reports whether this process can change a thread's file-system identity and
// drop the capabilities that would override the user's permissions: it tries once.
func canImpersonate() error {
	ownOnce.Do(func() {
		ownUID, ownGID = unix.Geteuid(), unix.Getegid()
		gs, err := unix.Getgroups()
		if err != nil {
			ownErr = fmt.Errorf("reading the process's groups: %w", err)
			return
		}
		for _, g := range gs {
			ownGroups = append(ownGroups, uint32(g))
		}
		probe := storage.Identity{UID: 65534, GID: 65534}
		if ownUID == int(probe.UID) {
			probe = storage.Identity{UID: 65533, GID: 65533}
		}
		ownErr = runAs(probe, func() error {
			caps, err := threadCaps()
			if err != nil {
				return err
			}
			if caps[0].Effective&^keptCaps != 0 || caps[1].Effective != 0 {
				return fmt.Errorf("the thread kept capabilities %#x %#x", caps[0].Effective, caps[1].Effective)
			}
			return nil
		})
		if ownErr != nil {
			ownErr = fmt.Errorf("acting as another POSIX user needs root (or CAP_SETUID and CAP_SETGID): %w", ownErr)
		}
	})
	return ownErr
}

func threadCaps() ([2]unix.CapUserData, error) {
	var caps [2]unix.CapUserData
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3} // Pid 0: this thread
	err := unix.Capget(&hdr, &caps[0])
	return caps, err
}

func setThreadCaps(caps [2]unix.CapUserData) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	return unix.Capset(&hdr, &caps[0])
}

// runAs runs fn on a thread of its own that acts as id: its file-system user, group and groups
// are id's, and its only effective capabilities are those it needs to become itself again. The
// thread becomes itself again after fn, even if fn panics. A thread that cannot stays locked to
// the goroutine and goes when the goroutine does: no other goroutine ever runs on it, and the Go
// runtime starts new threads from one it keeps clean.
func runAs(id storage.Identity, fn func() error) (err error) {
	runtime.LockOSThread()
	saved, err := threadCaps()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("capget: %w", err)
	}
	defer func() {
		if rerr := becomeSelf(saved); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restoring the thread's identity: %w", rerr)) // the thread stays locked
			return
		}
		runtime.UnlockOSThread()
	}()
	kept := saved
	kept[0].Effective &= keptCaps
	kept[1].Effective = 0
	if err := setThreadCaps(kept); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := setFSIdentity(int(id.UID), int(id.GID), id.Groups); err != nil {
		return err
	}
	return fn()
}

// becomeSelf gives the thread back the process's identity and its own capabilities.
func becomeSelf(caps [2]unix.CapUserData) error {
	if err := setFSIdentity(ownUID, ownGID, ownGroups); err != nil {
		return err
	}
	return setThreadCaps(caps)
}

// setFSIdentity sets the calling thread's supplementary groups (the raw system call, which
// changes one thread; Go's syscall.Setgroups changes them all), file-system group and file-system
// user, and checks that the kernel took them: setfsuid and setfsgid report no error when they
// refuse.
func setFSIdentity(uid, gid int, groups []uint32) error {
	var p unsafe.Pointer
	if len(groups) > 0 {
		p = unsafe.Pointer(&groups[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(p), 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	unix.Setfsgid(gid)
	if got, _ := unix.SetfsgidRetGid(gid); got != gid {
		return fmt.Errorf("setfsgid(%d) left the file-system group %d", gid, got)
	}
	unix.Setfsuid(uid)
	if got, _ := unix.SetfsuidRetUid(uid); got != uid {
		return fmt.Errorf("setfsuid(%d) left the file-system user %d", uid, got)
	}
	return nil
}

// openPathFD opens the storage root as a path (O_PATH), for resolving paths beneath it.
func openPathFD(root string) (int, error) {
	return unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

func closePathFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// resolve opens dir (a path relative to the root) as the identity: openat2 beneath the root,
// through no symbolic link at all, so the kernel checks search permission on every directory on
// the way for the user, and no link planted in the tree leads anywhere. It returns an O_PATH
// descriptor of the directory.
func (u *asUser) resolve(op string, loc storage.Location, dir string) (int, error) {
	fd := -1
	err := u.do(func() (err error) {
		fd, err = unix.Openat2(u.s.pathFD, dir, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
		})
		return err
	})
	switch {
	case errors.Is(err, unix.EXDEV):
		return -1, storage.Errorf(op, loc, storage.KindPermission, "path leads outside the storage", err)
	case errors.Is(err, unix.ELOOP):
		return -1, errSymlink(op, loc)
	case errors.Is(err, unix.ENOSYS):
		return -1, storage.Errorf(op, loc, storage.KindNotSupported, "", fmt.Errorf("openat2 needs Linux 5.6 or later: %w", err))
	case err != nil:
		return -1, u.s.fail(op, loc, err)
	}
	return fd, nil
}

// reach opens dir as the identity (see resolve) and returns it as an os.Root, opened by the
// process through the descriptor the user obtained: it is the directory the user reached,
// whatever happens to the path afterwards.
func (u *asUser) reach(op string, loc storage.Location, dir string) (*os.Root, error) {
	fd, err := u.resolve(op, loc, dir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	r, err := os.OpenRoot("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return nil, u.s.fail(op, loc, fmt.Errorf("reopening a directory through /proc: %w", err))
	}
	return r, nil
}

// Rename moves from to to as the identity, between the directories the user reached; without
// replace an existing destination is an error of kind Exist (RENAME_NOREPLACE: no window).
func (u *asUser) Rename(ctx context.Context, from, to storage.Location, replace bool) error {
	const op = "rename"
	fromName, err := u.s.name(op, from)
	if err != nil {
		return err
	}
	toName, err := u.s.name(op, to)
	if err != nil {
		return err
	}
	if from.IsRoot() || to.IsRoot() {
		return storage.Errorf(op, from, storage.KindPermission, "the storage root cannot be renamed", nil)
	}
	split := func(name string) (string, string) {
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			return name[:i], name[i+1:]
		}
		return ".", name
	}
	fromDir, fromBase := split(fromName)
	toDir, toBase := split(toName)
	ffd, err := u.resolve(op, from, fromDir)
	if err != nil {
		return err
	}
	defer unix.Close(ffd)
	tfd, err := u.resolve(op, to, toDir)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	var flags uint
	if !replace {
		flags = unix.RENAME_NOREPLACE
	}
	err = u.do(func() error { return unix.Renameat2(ffd, fromBase, tfd, toBase, flags) })
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST) && !replace:
		return storage.Errorf(op, to, storage.KindExist, "", nil)
	}
	return u.s.fail(op, from, err)
}
