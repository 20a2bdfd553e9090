// Package homedir turns the paths a user sends into storage locations, for LOGICAL and PATH home
// directories, and refuses everything outside the user's targets.
//
// Every SFTP request path goes through a Resolver; nothing else builds storage locations from
// client input. A PATH home directory H is handled as a LOGICAL tree with the single mapping
// {Entry: H, Target: H}: the user sees the real storage namespace but reaches only H and below,
// plus the directories on the way to H, which list only the branch towards H.
package homedir

import (
	"slices"

	"strings"

	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/transfer"
)

// Limits on the paths a client sends, as on Linux: NAME_MAX and PATH_MAX.
const (
	MaxNameLength = transfer.MaxNameLength
	MaxPathLength = 4096
)

// Resolver resolves one user's paths. It is immutable after New and safe for concurrent use.
type Resolver struct {
	logical bool
	start   string
	homeDir string
	// entries maps each clean entry path (the PATH home, or "/" for a chroot or the whole
	// storage) to its target.
	entries map[string]target
	// longest is the length of the longest key of entries: no longer prefix of a path can match.
	longest int
	// implied maps each strict ancestor of an entry to its children, sorted by name.
	implied map[string][]Child
	roots   []storage.Location
}

type target struct {
	loc  storage.Location
	file bool
}

// Resolved is what a user-visible path resolves to.
type Resolved struct {
	// Path is the clean, absolute user-visible path.
	Path string
	// Virtual is set for a directory that exists only in the mapping tree: "/" of a LOGICAL tree
	// without an Entry "/", the directories implied by deeper entries, and the directories above a
	// PATH home. Location is then the zero Location and must not be used; Children lists it.
	Virtual bool
	// Children are the entries of a Virtual directory, sorted by name. The slice is shared by
	// every resolution of that directory: read it, do not modify it.
	Children []Child
	// Location is where a non-virtual path is in storage. It is the zero Location (the storage
	// root, the list of buckets) only for "/" of a PATH user whose home is the whole storage.
	Location storage.Location
	// File is set when the path is exactly a Type FILE mapping entry: Location is that object.
	File bool
	// EntryPoint is set when the path is exactly a mapping Entry (a chroot's "/", a PATH home):
	// it may be listed, read and written into, but never removed, renamed or rmdir'd.
	EntryPoint bool
}

// Child is one entry of a virtual directory.
type Child struct {
	Name string
	// Mapped is set when the child is itself a mapping entry (or the PATH home): Location is its
	// target and File tells whether that is a Type FILE mapping. Otherwise the child is an implied
	// directory, itself Virtual, and Location is the zero Location.
	Mapped   bool
	File     bool
	Location storage.Location
}

// New builds the resolver of u. It expands ${transfer:UserName} in the home directory and the
// mapping targets, validates them with transfer.ValidateHome and a few checks of its own, and
// precomputes the lookups. Errors are *transfer.Error of kind KindInvalid naming the field.
func New(u *transfer.User) (*Resolver, error) {
	if u == nil {
		return nil, transfer.Invalid("User", "is missing")
	}
	if err := transfer.ValidateHome(u); err != nil {
		return nil, err
	}
	if err := checkExpansion(u); err != nil {
		return nil, err
	}
	r := &Resolver{entries: make(map[string]target, max(len(u.HomeDirectoryMappings), 1))}
	switch u.HomeDirectoryType {
	case transfer.HomeLogical:
		r.logical = true
		r.start = "/"
		seen := make(map[storage.Location]bool)
		for _, m := range u.HomeDirectoryMappings {
			entry := m.Entry
			if entry != "/" {
				entry = strings.TrimSuffix(entry, "/")
			}
			t := target{loc: storage.ParseLocation(transfer.ExpandTarget(m.Target, u.UserName)), file: m.Type == transfer.MappingFile}
			r.add(entry, t)
			if !t.file && !seen[t.loc] {
				seen[t.loc] = true
				r.roots = append(r.roots, t.loc)
			}
		}
	case transfer.HomePath:
		home := transfer.ExpandTarget(u.HomeDirectory, u.UserName)
		if home == "" {
			home = "/"
		}
		r.start = home
		loc := storage.ParseLocation(home)
		r.add(home, target{loc: loc})
		if !loc.IsRoot() {
			r.roots = []storage.Location{loc}
		}
	}
	r.homeDir = u.ActivityHomeDir()
	r.buildImplied()
	return r, nil
}

// checkExpansion refuses a user name that would change the shape of a target it is expanded
// into: ${transfer:UserName} must stay one path segment, so that no user reaches another's folder.
func checkExpansion(u *transfer.User) error {
	uses := func(s string) bool { return transfer.ExpandTarget(s, "") != s }
	used := uses(u.HomeDirectory)
	for _, m := range u.HomeDirectoryMappings {
		used = used || uses(m.Target)
	}
	if !used {
		return nil
	}
	name := u.UserName
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return transfer.Invalid("UserName", "%q cannot be used for %s: it must be one path segment", name, transfer.UserNameVariable)
	}
	return nil
}

func (r *Resolver) add(entry string, t target) {
	r.entries[entry] = t
	r.longest = max(r.longest, len(entry))
}

// buildImplied fills r.implied with the children of every strict ancestor of an entry. The lists
// share one backing array, each capped at its length.
func (r *Resolver) buildImplied() {
	type edge struct {
		dir   string
		child Child
	}
	edges := make([]edge, 0, 2*len(r.entries))
	implied := make(map[string]bool)
	for entry, t := range r.entries {
		if entry == "/" {
			continue
		}
		dir, name := split(entry)
		edges = append(edges, edge{dir, Child{Name: name, Mapped: true, File: t.file, Location: t.loc}})
		// Register the implied directories up to "/", stopping at one already registered: its
		// ancestors were registered with it. Entries do not nest (ValidateMappings), so a name is
		// never both an entry and an implied directory, and no edge is added twice.
		for dir != "/" && !implied[dir] {
			implied[dir] = true
			parent, name := split(dir)
			edges = append(edges, edge{parent, Child{Name: name}})
			dir = parent
		}
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := strings.Compare(a.dir, b.dir); c != 0 {
			return c
		}
		return strings.Compare(a.child.Name, b.child.Name)
	})
	kids := make([]Child, len(edges))
	r.implied = make(map[string][]Child, len(implied)+1)
	for i := 0; i < len(edges); {
		j := i
		for ; j < len(edges) && edges[j].dir == edges[i].dir; j++ {
			kids[j] = edges[j].child
		}
		r.implied[edges[i].dir] = kids[i:j:j]
		i = j
	}
}

// split splits a clean absolute path other than "/" into its parent directory and last name.
func split(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

// Start returns the directory a session starts in: "/" for LOGICAL users, the expanded home
// directory for PATH users ("/" when it is empty).
func (r *Resolver) Start() string { return r.start }

// HomeDir returns what the CONNECTED activity record shows as home-dir: "LOGICAL" for LOGICAL
// users, as Transfer Family's logs do, and the expanded home directory for PATH users ("/" when it
// is empty).
func (r *Resolver) HomeDir() string { return r.homeDir }

// Roots returns the storage locations of the DIRECTORY mapping targets (each once, in mapping
// order), or of the PATH home directory, so that the caller can create them on first login. It is
// empty for a PATH user whose home is the whole storage.
func (r *Resolver) Roots() []storage.Location { return slices.Clone(r.roots) }
