package homedir

import (
	"errors"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/transfer"
)

// model is a slow, obviously correct resolver the fuzzer compares Resolve with: path.Clean and a
// linear scan over the mappings.
type model struct {
	name     string
	r        *Resolver
	logical  bool
	start    string
	mappings []modelMapping
}

type modelMapping struct {
	entry, target string // clean; target "/" is the whole storage
	file          bool
}

func newModel(t testing.TB, name string, u *transfer.User) model {
	m := model{name: name, r: mustNew(t, u), logical: u.HomeDirectoryType == transfer.HomeLogical, start: "/"}
	if !m.logical {
		home := transfer.ExpandTarget(u.HomeDirectory, u.UserName)
		if home == "" {
			home = "/"
		}
		m.start = home
		m.mappings = []modelMapping{{entry: home, target: home}}
		return m
	}
	for _, mp := range u.HomeDirectoryMappings {
		m.mappings = append(m.mappings, modelMapping{entry: path.Clean(mp.Entry),
			target: transfer.ExpandTarget(mp.Target, u.UserName), file: mp.Type == transfer.MappingFile})
	}
	return m
}

// outcome is what the model expects for a path.
type outcome struct {
	path       string
	kind       storage.Kind // KindInternal for success
	virtual    bool
	children   []string // names, sorted; "+" prefix marks a mapped child
	location   string   // storage path, for non-virtual
	file       bool
	entryPoint bool
}

func (m model) resolve(p string) outcome {
	if strings.Contains(p, "\x00") {
		return outcome{kind: storage.KindInvalid}
	}
	for _, name := range strings.Split(p, "/") {
		if name != "." && name != ".." && len(name) > MaxNameLength {
			return outcome{kind: storage.KindInvalid}
		}
	}
	if !strings.HasPrefix(p, "/") {
		p = m.start + "/" + p
	}
	c := path.Clean(p) // also takes ".." at "/" to "/"
	if len(c) > MaxPathLength {
		return outcome{kind: storage.KindInvalid}
	}
	for _, mp := range m.mappings {
		var rest string
		switch {
		case c == mp.entry:
			return outcome{path: c, location: mp.target, file: mp.file, entryPoint: true}
		case mp.entry == "/":
			rest = c
		case strings.HasPrefix(c, mp.entry+"/"):
			rest = c[len(mp.entry):]
		default:
			continue
		}
		if mp.file {
			return outcome{path: c, kind: storage.KindNotExist}
		}
		if mp.target == "/" {
			return outcome{path: c, location: c}
		}
		return outcome{path: c, location: mp.target + rest}
	}
	var kids []string
	for _, mp := range m.mappings {
		dir := strings.TrimSuffix(c, "/") + "/"
		if mp.entry == "/" || !strings.HasPrefix(mp.entry, dir) {
			continue
		}
		name, _, deeper := strings.Cut(mp.entry[len(dir):], "/")
		if !deeper {
			name = "+" + name
		}
		if !slices.Contains(kids, name) {
			kids = append(kids, name)
		}
	}
	if kids != nil {
		slices.SortFunc(kids, func(a, b string) int { return strings.Compare(strings.TrimPrefix(a, "+"), strings.TrimPrefix(b, "+")) })
		return outcome{path: c, virtual: true, children: kids}
	}
	if m.logical {
		return outcome{path: c, kind: storage.KindNotExist}
	}
	return outcome{path: c, kind: storage.KindPermission}
}

// check resolves p with m.r and reports every way the result breaks the package's promises.
func (m model) check(t *testing.T, p string) {
	got, err := m.r.Resolve(p)
	want := m.resolve(p)
	if err != nil {
		var se *storage.Error
		if !errors.As(err, &se) || se.Op != "resolve" || se.Message == "" || strings.Contains(se.Error(), "\x00") {
			t.Fatalf("%s: Resolve(%q) error %#v is not a client-safe resolve error", m.name, p, err)
		}
		if se.Kind != want.kind {
			t.Fatalf("%s: Resolve(%q) = %v; model wants %+v", m.name, p, err, want)
		}
		if se.Kind != storage.KindInvalid {
			// The error shows the cleaned path; resolving that must fail the same way.
			if se.Path != want.path {
				t.Fatalf("%s: Resolve(%q) error path %q, want %q", m.name, p, se.Path, want.path)
			}
			if _, err2 := m.r.Resolve(se.Path); storage.KindOf(err2) != se.Kind {
				t.Fatalf("%s: Resolve(%q) = %v but Resolve(%q) = %v", m.name, p, err, se.Path, err2)
			}
		}
		return
	}
	if want.kind != storage.KindInternal {
		t.Fatalf("%s: Resolve(%q) = %+v; model wants an error: %+v", m.name, p, got, want)
	}
	if got.Path != want.path || got.Virtual != want.virtual || got.File != want.file || got.EntryPoint != want.entryPoint {
		t.Fatalf("%s: Resolve(%q)\n  got %+v\nmodel %+v", m.name, p, got, want)
	}
	if got.Virtual {
		var names []string
		for _, c := range got.Children {
			n := c.Name
			if c.Mapped {
				n = "+" + n
			}
			names = append(names, n)
		}
		if !reflect.DeepEqual(names, want.children) || got.Location != (storage.Location{}) {
			t.Fatalf("%s: Resolve(%q) children %v, location %v; model wants children %v", m.name, p, names, got.Location, want.children)
		}
	} else {
		checkLocation(t, m, p, got.Location)
		if s := got.Location.String(); s != want.location {
			t.Fatalf("%s: Resolve(%q) location %s, model wants %s", m.name, p, s, want.location)
		}
	}
	again, err := m.r.Resolve(got.Path)
	if err != nil || !reflect.DeepEqual(again, got) {
		t.Fatalf("%s: Resolve(%q) = %+v but Resolve(%q) = %+v, %v", m.name, p, got, got.Path, again, err)
	}
}

// checkLocation checks that loc is well formed and is a target or inside a DIRECTORY target.
func checkLocation(t *testing.T, m model, p string, loc storage.Location) {
	segs := []string{loc.Bucket}
	if loc.Key != "" {
		segs = append(segs, strings.Split(loc.Key, "/")...)
	}
	for _, s := range segs {
		if s == "." || s == ".." || strings.ContainsAny(s, "/\x00") || (s == "" && !loc.IsRoot()) {
			t.Fatalf("%s: Resolve(%q) location %#v has segment %q", m.name, p, loc, s)
		}
	}
	if loc.Key != "" && loc.Bucket == "" {
		t.Fatalf("%s: Resolve(%q) location %#v has a key without a bucket", m.name, p, loc)
	}
	s := loc.String()
	for _, mp := range m.mappings {
		if s == mp.target || mp.target == "/" || (!mp.file && strings.HasPrefix(s, mp.target+"/")) {
			return
		}
	}
	t.Fatalf("%s: Resolve(%q) location %s is outside every target", m.name, p, s)
}

func fuzzModels(t testing.TB) []model {
	return []model{
		newModel(t, "chroot", chrootUser()),
		newModel(t, "tree", treeUser()),
		newModel(t, "path", pathUser()),
		newModel(t, "whole storage", wholeStorageUser()),
	}
}

var nastySeeds = []string{
	"", "/", ".", "..", "...", "/..", "../..", "/../etc/passwd", "../../../../etc/shadow", "./.././../",
	"//", "///a///", "/./", "/a/./b/.", "/a/b/..", "/a/../../..", "a/b/../../../c",
	"\x00", "/\x00", "/a\x00/b", "a/\x00..", "..\x00/x",
	"/pics", "/pics/", "/pics/..", "/pics/../..", "/pics/../doc/x", "/picsX", "/pics/x/../../anotherpath/subpath",
	"/anotherpath", "/anotherpath/subpath/financials/..", "/anotherpath/subpath/financials/../../subpath/financials/a",
	"/reports/q1.csv", "/reports/q1.csv/", "/reports/q1.csv/.", "/reports/q1.csv/..", "/reports/q1.csv/x",
	"/bucket1", "/bucket1/shared", "/bucket1/shared/../other", "/bucket1/shared2", "../other", "../shared/./a",
	`..\..\windows`, "/%2e%2e/%2e%2e", "/ /", "/ ../x", "/\u202e/x", "/\xff\xfe", "/a\nb", "\\", "~", "~/x",
	"/" + strings.Repeat("a", 255), "/" + strings.Repeat("a", 256), strings.Repeat("a/", 2049),
	strings.Repeat("../", 2000) + "x", strings.Repeat("/"+strings.Repeat("b", 255), 16) + "/c",
	strings.Repeat("/"+strings.Repeat("b", 255), 16) + "/c/..",
}

// FuzzResolve checks, for a chroot, a virtual tree and two PATH users, that any path either fails
// with a resolve error or resolves as the slow model does, to a well-formed location inside a
// target, and that resolving the cleaned path gives the same result.
func FuzzResolve(f *testing.F) {
	for _, s := range nastySeeds {
		f.Add(s)
	}
	models := fuzzModels(f)
	f.Fuzz(func(t *testing.T, p string) {
		for _, m := range models {
			m.check(t, p)
		}
	})
}
