package homedir

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/transfer"
)

// The users the tests and the fuzzer resolve paths for.
func chrootUser() *transfer.User {
	return &transfer.User{UserName: "jane", HomeDirectoryType: transfer.HomeLogical,
		HomeDirectoryMappings: []transfer.Mapping{{Entry: "/", Target: "/bucket/home/${transfer:UserName}"}}}
}

func treeUser() *transfer.User {
	return &transfer.User{UserName: "jane", HomeDirectoryType: transfer.HomeLogical,
		HomeDirectoryMappings: []transfer.Mapping{
			{Entry: "/pics/", Target: "/bucket/images", Type: transfer.MappingDirectory},
			{Entry: "/doc", Target: "/docbucket"},
			{Entry: "/anotherpath/subpath/financials", Target: "/bucket/fin/${Transfer:UserName}"},
			{Entry: "/reports/q1.csv", Target: "/bucket/reports/2024-q1.csv", Type: transfer.MappingFile},
		}}
}

func pathUser() *transfer.User {
	return &transfer.User{UserName: "jane", HomeDirectoryType: transfer.HomePath, HomeDirectory: "/bucket1/shared"}
}

func wholeStorageUser() *transfer.User {
	return &transfer.User{UserName: "jane", HomeDirectoryType: transfer.HomePath}
}

func mustNew(t testing.TB, u *transfer.User) *Resolver {
	t.Helper()
	r, err := New(u)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func loc(bucket, key string) storage.Location { return storage.Location{Bucket: bucket, Key: key} }

// row is one Resolve case: either want, or an error of kind errKind when fails is set.
type row struct {
	name    string
	in      string
	want    Resolved
	fails   bool
	errKind storage.Kind
}

func fails(name, in string, kind storage.Kind) row {
	return row{name: name, in: in, fails: true, errKind: kind}
}

func runRows(t *testing.T, r *Resolver, rows []row) {
	t.Helper()
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := r.Resolve(tc.in)
			if tc.fails {
				var se *storage.Error
				if !errors.As(err, &se) || se.Kind != tc.errKind || se.Op != "resolve" || se.Message == "" {
					t.Fatalf("Resolve(%q) = %+v, %v; want a resolve error of kind %q", tc.in, got, err, tc.errKind)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Resolve(%q)\n got %+v, %v\nwant %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestChroot(t *testing.T) {
	t.Parallel()
	r := mustNew(t, chrootUser())
	home := loc("bucket", "home/jane")
	root := Resolved{Path: "/", Location: home, EntryPoint: true}
	at := func(p, key string) Resolved { return Resolved{Path: p, Location: loc("bucket", "home/jane/"+key)} }
	long := strings.Repeat("n", MaxNameLength)
	runRows(t, r, []row{
		{name: "root", in: "/", want: root},
		{name: "empty", in: "", want: root},
		{name: "dot", in: ".", want: root},
		{name: "dotdot", in: "..", want: root},
		{name: "relative", in: "a/b", want: at("/a/b", "a/b")},
		{name: "above root", in: "/a/../../..", want: root},
		{name: "double slashes", in: "//a//b/", want: at("/a/b", "a/b")},
		{name: "dots", in: "/a/./b/.", want: at("/a/b", "a/b")},
		{name: "etc passwd", in: "/../etc/passwd", want: at("/etc/passwd", "etc/passwd")},
		{name: "relative escape", in: "../../../etc/passwd", want: at("/etc/passwd", "etc/passwd")},
		{name: "dotdot name", in: "/..a/b..", want: at("/..a/b..", "..a/b..")},
		{name: "backslash is a name", in: `/..\..\x`, want: at(`/..\..\x`, `..\..\x`)},
		{name: "longest name", in: "/" + long, want: at("/"+long, long)},
		{name: "long name dropped by dotdot still refused", in: "/" + long + "x/..", fails: true, errKind: storage.KindInvalid},
		fails("NUL", "/a\x00b", storage.KindInvalid),
		fails("NUL only", "\x00", storage.KindInvalid),
		fails("name too long", "/a/"+long+"x", storage.KindInvalid),
		fails("path too long", strings.Repeat("/"+long, 17), storage.KindInvalid),
		{name: "long input that cleans short", in: strings.Repeat("/"+long+"/..", 40) + "/x", want: at("/x", "x")},
	})
	if got := r.Start(); got != "/" {
		t.Errorf("Start() = %q, want /", got)
	}
	if got := r.HomeDir(); got != "LOGICAL" {
		t.Errorf("HomeDir() = %q, want LOGICAL", got)
	}
	if got, want := r.Roots(), []storage.Location{home}; !reflect.DeepEqual(got, want) {
		t.Errorf("Roots() = %v, want %v", got, want)
	}
}

func TestVirtualTree(t *testing.T) {
	t.Parallel()
	r := mustNew(t, treeUser())
	pics := loc("bucket", "images")
	doc := loc("docbucket", "")
	fin := loc("bucket", "fin/jane")
	q1 := loc("bucket", "reports/2024-q1.csv")
	rootKids := []Child{{Name: "anotherpath"}, {Name: "doc", Mapped: true, Location: doc},
		{Name: "pics", Mapped: true, Location: pics}, {Name: "reports"}}
	root := Resolved{Path: "/", Virtual: true, Children: rootKids}
	runRows(t, r, []row{
		{name: "root", in: "/", want: root},
		{name: "empty", in: "", want: root},
		{name: "dotdot", in: "..", want: root},
		{name: "implied", in: "/anotherpath", want: Resolved{Path: "/anotherpath", Virtual: true,
			Children: []Child{{Name: "subpath"}}}},
		{name: "implied deeper", in: "anotherpath/subpath/", want: Resolved{Path: "/anotherpath/subpath", Virtual: true,
			Children: []Child{{Name: "financials", Mapped: true, Location: fin}}}},
		{name: "implied above file", in: "/reports", want: Resolved{Path: "/reports", Virtual: true,
			Children: []Child{{Name: "q1.csv", Mapped: true, File: true, Location: q1}}}},
		{name: "entry", in: "/pics", want: Resolved{Path: "/pics", Location: pics, EntryPoint: true}},
		{name: "entry trailing slash", in: "/pics/", want: Resolved{Path: "/pics", Location: pics, EntryPoint: true}},
		{name: "inside entry", in: "/pics/x/y", want: Resolved{Path: "/pics/x/y", Location: loc("bucket", "images/x/y")}},
		{name: "inside bucket entry", in: "/doc/a", want: Resolved{Path: "/doc/a", Location: loc("docbucket", "a")}},
		{name: "bucket entry", in: "/doc", want: Resolved{Path: "/doc", Location: doc, EntryPoint: true}},
		{name: "deep entry", in: "/anotherpath/subpath/financials/2024/x.pdf",
			want: Resolved{Path: "/anotherpath/subpath/financials/2024/x.pdf", Location: loc("bucket", "fin/jane/2024/x.pdf")}},
		{name: "escape entry", in: "/pics/../../doc/../pics/a", want: Resolved{Path: "/pics/a", Location: loc("bucket", "images/a")}},
		{name: "file", in: "/reports/q1.csv", want: Resolved{Path: "/reports/q1.csv", Location: q1, File: true, EntryPoint: true}},
		{name: "file dot", in: "/reports/q1.csv/.", want: Resolved{Path: "/reports/q1.csv", Location: q1, File: true, EntryPoint: true}},
		fails("below file", "/reports/q1.csv/x", storage.KindNotExist),
		fails("name prefix of entry", "/picsX", storage.KindNotExist),
		fails("name prefix of implied", "/anotherpat", storage.KindNotExist),
		fails("file at root", "/file", storage.KindNotExist),
		fails("beside implied", "/anotherpath/other", storage.KindNotExist),
		fails("beside file", "/reports/q2.csv", storage.KindNotExist),
		fails("NUL", "/pics/\x00", storage.KindInvalid),
	})
	if got, want := r.Roots(), []storage.Location{pics, doc, fin}; !reflect.DeepEqual(got, want) {
		t.Errorf("Roots() = %v, want %v", got, want)
	}
	if r.Start() != "/" || r.HomeDir() != "LOGICAL" {
		t.Errorf("Start(), HomeDir() = %q, %q; want /, LOGICAL", r.Start(), r.HomeDir())
	}
}

func TestExpansion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		user      *transfer.User
		wantStart string
		wantHome  string
		wantRoots []storage.Location
	}{
		{"LOGICAL", &transfer.User{UserName: "bob.smith", HomeDirectoryType: transfer.HomeLogical,
			HomeDirectoryMappings: []transfer.Mapping{{Entry: "/", Target: "/b/${transfer:UserName}/in"}}},
			"/", "LOGICAL", []storage.Location{loc("b", "bob.smith/in")}},
		{"LOGICAL capitalised", &transfer.User{UserName: "bob", HomeDirectoryType: transfer.HomeLogical,
			HomeDirectoryMappings: []transfer.Mapping{{Entry: "/x", Target: "/b/u-${Transfer:UserName}"}}},
			"/", "LOGICAL", []storage.Location{loc("b", "u-bob")}},
		{"PATH", &transfer.User{UserName: "bob", HomeDirectoryType: transfer.HomePath, HomeDirectory: "/b/home/${transfer:UserName}"},
			"/b/home/bob", "/b/home/bob", []storage.Location{loc("b", "home/bob")}},
		{"PATH bucket per user", &transfer.User{UserName: "bob", HomeDirectoryType: transfer.HomePath, HomeDirectory: "/${transfer:UserName}"},
			"/bob", "/bob", []storage.Location{loc("bob", "")}},
		{"PATH root", &transfer.User{UserName: "bob", HomeDirectoryType: transfer.HomePath, HomeDirectory: "/"},
			"/", "/", nil},
		{"duplicate targets listed once", &transfer.User{UserName: "bob", HomeDirectoryType: transfer.HomeLogical,
			HomeDirectoryMappings: []transfer.Mapping{{Entry: "/a", Target: "/b/${transfer:UserName}"}, {Entry: "/c", Target: "/b/bob"},
				{Entry: "/f", Target: "/b/bob/f", Type: transfer.MappingFile}}},
			"/", "LOGICAL", []storage.Location{loc("b", "bob")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := mustNew(t, tc.user)
			if r.Start() != tc.wantStart || r.HomeDir() != tc.wantHome || !reflect.DeepEqual(r.Roots(), tc.wantRoots) {
				t.Errorf("user %+v\n got Start %q HomeDir %q Roots %v\nwant Start %q HomeDir %q Roots %v", tc.user,
					r.Start(), r.HomeDir(), r.Roots(), tc.wantStart, tc.wantHome, tc.wantRoots)
			}
		})
	}
	r := mustNew(t, &transfer.User{UserName: "bob", HomeDirectoryType: transfer.HomeLogical,
		HomeDirectoryMappings: []transfer.Mapping{{Entry: "/in", Target: "/b/${transfer:UserName}"}}})
	if got, err := r.Resolve("/in/x"); err != nil || got.Location != loc("b", "bob/x") {
		t.Errorf("Resolve(/in/x) = %+v, %v; want location /b/bob/x", got, err)
	}
}

func TestPath(t *testing.T) {
	t.Parallel()
	r := mustNew(t, pathUser())
	home := loc("bucket1", "shared")
	runRows(t, r, []row{
		{name: "empty is home", in: "", want: Resolved{Path: "/bucket1/shared", Location: home, EntryPoint: true}},
		{name: "home", in: "/bucket1/shared", want: Resolved{Path: "/bucket1/shared", Location: home, EntryPoint: true}},
		{name: "inside", in: "/bucket1/shared/a", want: Resolved{Path: "/bucket1/shared/a", Location: loc("bucket1", "shared/a")}},
		{name: "relative", in: "a/./b", want: Resolved{Path: "/bucket1/shared/a/b", Location: loc("bucket1", "shared/a/b")}},
		{name: "dotdot from start", in: "..", want: Resolved{Path: "/bucket1", Virtual: true,
			Children: []Child{{Name: "shared", Mapped: true, Location: home}}}},
		{name: "above", in: "/bucket1", want: Resolved{Path: "/bucket1", Virtual: true,
			Children: []Child{{Name: "shared", Mapped: true, Location: home}}}},
		{name: "root", in: "/", want: Resolved{Path: "/", Virtual: true, Children: []Child{{Name: "bucket1"}}}},
		{name: "out and back", in: "../../bucket1/shared/../shared/x", want: Resolved{Path: "/bucket1/shared/x", Location: loc("bucket1", "shared/x")}},
		fails("sibling", "/bucket1/other", storage.KindPermission),
		fails("sibling relative", "../other", storage.KindPermission),
		fails("name prefix", "/bucket1/shared2", storage.KindPermission),
		fails("other bucket", "/bucket2", storage.KindPermission),
		fails("other bucket deep", "/../../bucket2/shared/a", storage.KindPermission),
		fails("NUL", "a\x00", storage.KindInvalid),
	})
	if r.Start() != "/bucket1/shared" || r.HomeDir() != "/bucket1/shared" {
		t.Errorf("Start(), HomeDir() = %q, %q; want /bucket1/shared twice", r.Start(), r.HomeDir())
	}
}

func TestPathWholeStorage(t *testing.T) {
	t.Parallel()
	r := mustNew(t, wholeStorageUser())
	runRows(t, r, []row{
		{name: "root", in: "/", want: Resolved{Path: "/", Location: storage.Location{}, EntryPoint: true}},
		{name: "empty", in: "", want: Resolved{Path: "/", Location: storage.Location{}, EntryPoint: true}},
		{name: "dotdot", in: "/..", want: Resolved{Path: "/", Location: storage.Location{}, EntryPoint: true}},
		{name: "bucket", in: "b", want: Resolved{Path: "/b", Location: loc("b", "")}},
		{name: "key", in: "/b/k/../x/y", want: Resolved{Path: "/b/x/y", Location: loc("b", "x/y")}},
		fails("NUL", "/b/\x00", storage.KindInvalid),
	})
	if r.Start() != "/" || r.HomeDir() != "/" || len(r.Roots()) != 0 {
		t.Errorf("Start(), HomeDir(), Roots() = %q, %q, %v; want /, /, none", r.Start(), r.HomeDir(), r.Roots())
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("n", MaxNameLength+1)
	for _, tc := range []struct {
		name  string
		user  *transfer.User
		field string
	}{
		{"nil user", nil, "User"},
		{"no type", &transfer.User{UserName: "jane"}, "HomeDirectoryType"},
		{"no mappings", &transfer.User{UserName: "jane", HomeDirectoryType: transfer.HomeLogical}, "HomeDirectoryMappings"},
		{"nested entries", &transfer.User{UserName: "jane", HomeDirectoryType: transfer.HomeLogical,
			HomeDirectoryMappings: []transfer.Mapping{{Entry: "/a", Target: "/b/a"}, {Entry: "/a/b", Target: "/b/b"}}}, "HomeDirectoryMappings[1].Entry"},
		{"dotdot target", &transfer.User{UserName: "jane", HomeDirectoryType: transfer.HomeLogical,
			HomeDirectoryMappings: []transfer.Mapping{{Entry: "/", Target: "/b/../c"}}}, "HomeDirectoryMappings[0].Target"},
		{"user name with slash", &transfer.User{UserName: "jane/private", HomeDirectoryType: transfer.HomeLogical,
			HomeDirectoryMappings: []transfer.Mapping{{Entry: "/", Target: "/b/${transfer:UserName}"}}}, "UserName"},
		{"user name dotdot", &transfer.User{UserName: "..", HomeDirectoryType: transfer.HomePath, HomeDirectory: "/b/x${transfer:UserName}"}, "UserName"},
		{"long entry name", &transfer.User{UserName: "jane", HomeDirectoryType: transfer.HomeLogical,
			HomeDirectoryMappings: []transfer.Mapping{{Entry: "/ok", Target: "/b/a"}, {Entry: "/" + long, Target: "/b/b"}}}, "HomeDirectoryMappings[1].Entry"},
		{"long home name", &transfer.User{UserName: "jane", HomeDirectoryType: transfer.HomePath, HomeDirectory: "/b/" + long}, "HomeDirectory"},
		{"file mapping onto a bucket", &transfer.User{UserName: "jane", HomeDirectoryType: transfer.HomeLogical,
			HomeDirectoryMappings: []transfer.Mapping{{Entry: "/f", Target: "/b", Type: transfer.MappingFile}}}, "HomeDirectoryMappings[0].Target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := New(tc.user)
			var te *transfer.Error
			if !errors.As(err, &te) || te.Kind != transfer.KindInvalid || te.Field != tc.field {
				t.Fatalf("New(%+v) = %v, %v; want an invalid error about %s", tc.user, r, err, tc.field)
			}
		})
	}
}

// TestErrorsAreClientSafe checks the messages and shown paths of refusals: no NUL, bounded length.
func TestErrorsAreClientSafe(t *testing.T) {
	t.Parallel()
	r := mustNew(t, chrootUser())
	for _, tc := range []struct {
		name, in, wantPath, wantMessage string
	}{
		{"NUL", "/a\x00b", `"/a\x00b"`, "path contains a NUL byte"},
		{"long", "/" + strings.Repeat("x", 300), `"/` + strings.Repeat("x", 63) + `"...`, "file name too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := r.Resolve(tc.in)
			var se *storage.Error
			if !errors.As(err, &se) || se.Path != tc.wantPath || se.Message != tc.wantMessage {
				t.Fatalf("Resolve(%q) error = %#v\nwant Path %s Message %q", tc.in, err, tc.wantPath, tc.wantMessage)
			}
		})
	}
	tree := mustNew(t, treeUser())
	_, err := tree.Resolve("/x/../y/")
	var se *storage.Error
	if !errors.As(err, &se) || se.Path != "/y" || se.Error() != "resolve /y: no such file or directory" {
		t.Errorf("Resolve(/x/../y/) error = %v; want %q", err, "resolve /y: no such file or directory")
	}
}

// TestManyMappings resolves through a tree of 50,000 entries.
func TestManyMappings(t *testing.T) {
	t.Parallel()
	r := mustNew(t, manyMappingsUser())
	runRows(t, r, []row{
		{name: "entry", in: "/d123/u12345", want: Resolved{Path: "/d123/u12345", Location: loc("bucket", "t12345"), EntryPoint: true}},
		{name: "inside", in: "/d499/u49999/a/b", want: Resolved{Path: "/d499/u49999/a/b", Location: loc("bucket", "t49999/a/b")}},
		fails("wrong dir", "/d000/u12345", storage.KindNotExist),
		fails("unmapped", "/d500", storage.KindNotExist),
	})
	res, err := r.Resolve("/")
	if err != nil || !res.Virtual || len(res.Children) != 500 || res.Children[0].Name != "d000" {
		t.Fatalf("Resolve(/) = %d children, %v; want 500 from d000", len(res.Children), err)
	}
	res, err = r.Resolve("/d007")
	if err != nil || !res.Virtual || len(res.Children) != 100 || res.Children[0] != (Child{Name: "u00700", Mapped: true, Location: loc("bucket", "t00700")}) {
		t.Fatalf("Resolve(/d007) = %d children (%+v), %v; want 100 from u00700", len(res.Children), res.Children[:1], err)
	}
}
