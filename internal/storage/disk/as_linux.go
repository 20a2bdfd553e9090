//go:build linux && (amd64 || arm64)

package disk

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/transferd/transferd/internal/storage"
)

// The process's own file-system identity, which every thread returns to.
var (
	ownOnce   sync.Once
	ownUID    int
	ownGID    int
	ownGroups []uint32
	ownErr    error
)

// canImpersonate reports whether this process can change a thread's file-system identity: it
// tries once, on a thread of its own.
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
		ownErr = runAs(probe, func() error { return nil })
		if ownErr != nil {
			ownErr = fmt.Errorf("acting as another POSIX user needs root (or CAP_SETUID and CAP_SETGID): %w", ownErr)
		}
	})
	return ownErr
}

// runAs runs fn on a thread of its own whose file-system user, group and groups are id's, and
// gives the thread back its own identity after. A thread that cannot be given it back stays locked
// to the goroutine, and goes when the goroutine does: no other goroutine ever runs on it.
func runAs(id storage.Identity, fn func() error) error {
	runtime.LockOSThread()
	if err := setFSIdentity(int(id.UID), int(id.GID), id.Groups); err != nil {
		if rerr := setFSIdentity(ownUID, ownGID, ownGroups); rerr != nil {
			return errors.Join(err, rerr) // thread stays locked
		}
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if rerr := setFSIdentity(ownUID, ownGID, ownGroups); rerr != nil {
		return errors.Join(ferr, fmt.Errorf("restoring the thread's identity: %w", rerr)) // thread stays locked
	}
	runtime.UnlockOSThread()
	return ferr
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
