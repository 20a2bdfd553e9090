package sftpd

import (
	"context"
	"fmt"
	"io/fs"
	"slices"

	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/transfer"
)

// Permission bits, as in a mode's rwx triplets.
const (
	permRead  = 4
	permWrite = 2
	permExec  = 1 // search, for a directory
)

// identity is a POSIX identity: a user, its primary group and its secondary groups.
type identity struct {
	uid, gid uint32
	groups   []uint32
}

func (id identity) inGroup(gid uint32) bool {
	return gid == id.gid || slices.Contains(id.groups, gid)
}

// may reports whether id has every permission of want on an entry owned by o with mode m, as the
// kernel decides for a file system without ACLs: the owner's bits apply to the owner, the group's
// to a member of the group, the others' to everyone else; uid 0 may read and write anything and
// search any directory.
func (id identity) may(o storage.Owner, m fs.FileMode, want uint32) bool {
	if id.uid == 0 {
		return want&permExec == 0 || m.IsDir() || m.Perm()&0o111 != 0
	}
	perm := uint32(m.Perm())
	var bits uint32
	switch {
	case o.UID == id.uid:
		bits = perm >> 6 & 7
	case id.inGroup(o.GID):
		bits = perm >> 3 & 7
	default:
		bits = perm & 7
	}
	return bits&want == want
}

// posixGuard checks every request against the mode bits and owners of the files it touches for
// the user's POSIX profile, as EFS (an NFS server) checks them for the uid and gids a client
// sends: search (x) on every directory on the way, read or write on the file, write and search on
// the directory whose entries change, the sticky bit's rule for removals and renames, and only
// the owner (or uid 0) changing modes and times.
type posixGuard struct {
	id      identity
	backend storage.Backend
}

func newPosixGuard(p *transfer.PosixProfile, backend storage.Backend) (*posixGuard, error) {
	if _, ok := backend.(storage.Chowner); !ok {
		return nil, fmt.Errorf("the user has a PosixProfile, and this server's storage has no POSIX owners")
	}
	return &posixGuard{id: identity{uid: p.UID, gid: p.GID, groups: slices.Clone(p.SecondaryGIDs)}, backend: backend}, nil
}

// identity is the user's identity for storage that acts as it.
func (g *posixGuard) identity() storage.Identity {
	return storage.Identity{UID: g.id.uid, GID: g.id.gid, Groups: slices.Clone(g.id.groups)}
}

// owner is what files and directories the user creates are owned by.
func (g *posixGuard) owner() *storage.Owner {
	return &storage.Owner{UID: g.id.uid, GID: g.id.gid}
}

// entry is what a check needs of a file or directory.
type entry struct {
	loc   storage.Location
	fi    fs.FileInfo
	owner storage.Owner
}

// stat returns loc's entry, or nil when it does not exist.
func (g *posixGuard) stat(ctx context.Context, loc storage.Location) (*entry, error) {
	fi, err := g.backend.Stat(ctx, loc)
	if storage.KindOf(err) == storage.KindNotExist || storage.KindOf(err) == storage.KindNotDir {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	o, ok := storage.OwnerOf(fi)
	if !ok {
		return nil, storage.Errorf("authorize", loc, storage.KindInternal, "the storage reports no owner", nil)
	}
	return &entry{loc: loc, fi: fi, owner: o}, nil
}

// parent returns the location of loc's directory (the storage root for a bucket).
func parent(loc storage.Location) storage.Location {
	if loc.Key == "" {
		return storage.Location{}
	}
	i := len(loc.Key) - 1
	for i >= 0 && loc.Key[i] != '/' {
		i--
	}
	if i < 0 {
		return storage.Location{Bucket: loc.Bucket}
	}
	return storage.Location{Bucket: loc.Bucket, Key: loc.Key[:i]}
}

func (g *posixGuard) denied(a access, e *entry, what string) error {
	return refuse(a, fmt.Sprintf("access denied: uid %d (gid %d) may not %s %s (mode %04o, owner %d:%d)",
		g.id.uid, g.id.gid, what, e.loc, uint32(e.fi.Mode().Perm()), e.owner.UID, e.owner.GID))
}

// require checks want on e (nothing when e does not exist: storage then reports that).
func (g *posixGuard) require(a access, e *entry, want uint32, what string) error {
	if e == nil || g.id.may(e.owner, e.fi.Mode(), want) {
		return nil
	}
	return g.denied(a, e, what)
}

// search checks search permission on every directory above loc, from its bucket down; the storage
// root holds the buckets and is not checked.
func (g *posixGuard) search(ctx context.Context, a access, loc storage.Location) error {
	var dirs []storage.Location
	for p := parent(loc); !p.IsRoot(); p = parent(p) {
		dirs = append(dirs, p)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		e, err := g.stat(ctx, dirs[i])
		if err != nil || e == nil || !e.fi.IsDir() {
			return err // missing, or not a directory: storage says so
		}
		if err := g.require(a, e, permExec, "search"); err != nil {
			return err
		}
	}
	return nil
}

// changeEntry checks that loc may be added to or removed from its directory: write and search on
// the directory and, for a removal (victim set) from a sticky directory, ownership of the victim
// or of the directory.
func (g *posixGuard) changeEntry(ctx context.Context, a access, loc storage.Location, victim *entry) error {
	dir, err := g.stat(ctx, parent(loc))
	if err != nil {
		return err
	}
	if err := g.require(a, dir, permWrite|permExec, "change the entries of"); err != nil {
		return err
	}
	if victim != nil && dir != nil && dir.fi.Mode()&fs.ModeSticky != 0 && g.id.uid != 0 &&
		victim.owner.UID != g.id.uid && dir.owner.UID != g.id.uid {
		return g.denied(a, victim, "remove, from a sticky directory, the entry")
	}
	return nil
}

func (g *posixGuard) check(ctx context.Context, a access) error {
	loc := a.loc
	if err := g.search(ctx, a, loc); err != nil {
		return err
	}
	switch a.kind {
	case accessStat:
		return nil
	case accessList:
		e, err := g.stat(ctx, loc)
		if err != nil {
			return err
		}
		return g.require(a, e, permRead|permExec, "list")
	case accessOpen:
		e, err := g.stat(ctx, loc)
		if err != nil {
			return err
		}
		if e == nil {
			if a.write {
				return g.changeEntry(ctx, a, loc, nil)
			}
			return nil
		}
		var want uint32
		what := "read"
		if a.read {
			want |= permRead
		}
		if a.write {
			want |= permWrite
			what = "write"
			if a.read {
				what = "read and write"
			}
		}
		return g.require(a, e, want, what)
	case accessMkdir:
		return g.changeEntry(ctx, a, loc, nil)
	case accessRmdir, accessRemove:
		e, err := g.stat(ctx, loc)
		if err != nil {
			return err
		}
		return g.changeEntry(ctx, a, loc, e)
	case accessRename:
		if err := g.search(ctx, a, a.to); err != nil {
			return err
		}
		src, err := g.stat(ctx, loc)
		if err != nil {
			return err
		}
		if err := g.changeEntry(ctx, a, loc, src); err != nil {
			return err
		}
		dst, err := g.stat(ctx, a.to)
		if err != nil {
			return err
		}
		if err := g.changeEntry(ctx, a, a.to, dst); err != nil {
			return err
		}
		if src != nil && src.fi.IsDir() && parent(loc) != parent(a.to) {
			// A directory that moves to another parent has its ".." rewritten.
			return g.require(a, src, permWrite, "move to another directory")
		}
		return nil
	case accessSetstat:
		e, err := g.stat(ctx, loc)
		if err != nil || e == nil {
			return err
		}
		at := a.attrs
		if at.Size != nil {
			if err := g.require(a, e, permWrite, "truncate"); err != nil {
				return err
			}
		}
		owner := g.id.uid == 0 || e.owner.UID == g.id.uid
		if (at.Mode != nil || at.Atime != nil || at.Mtime != nil) && !owner {
			return g.denied(a, e, "change the mode or times (only the owner may) of")
		}
		if at.UID != nil && *at.UID != e.owner.UID && g.id.uid != 0 {
			return g.denied(a, e, "change the owner (only uid 0 may) of")
		}
		if at.GID != nil && *at.GID != e.owner.GID && g.id.uid != 0 && (!owner || !g.id.inGroup(*at.GID)) {
			return g.denied(a, e, fmt.Sprintf("give group %d (the owner may give only its own groups) to", *at.GID))
		}
		return nil
	}
	return refuse(a, "unknown request")
}
