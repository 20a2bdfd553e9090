package transferd

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/transferd/transferd/"

// allowedImports is the package layout: which of transferd's own packages each package may import
// (tests included). Arrows flow one way: cmd -> daemon -> protocols -> domain -> storage contract.
var allowedImports = map[string][]string{
	"cmd/transferd":                   {"internal/daemon", "internal/config", "internal/policy", "internal/mgmtapi", "internal/explain", "internal/negotiate", "internal/procs", "internal/activity", "internal/console"},
	"internal/daemon":                 {"internal/identity", "internal/control", "internal/mgmtapi", "internal/activity", "internal/config", "internal/metastore", "internal/policy", "internal/sftpd", "internal/sshd", "internal/storage", "internal/storage/disk", "internal/storage/s3store", "internal/transfer", "internal/procs", "internal/limits", "internal/metrics", "internal/console", "internal/workflow"},
	"internal/config":                 {"internal/transfer", "internal/iampolicy"},
	"internal/sshd":                   {"internal/transfer", "internal/policy", "internal/activity", "internal/negotiate", "internal/procs", "internal/limits", "internal/metrics"},
	"internal/metrics":                {"internal/activity"},
	"internal/limits":                 {},
	"internal/sftpd":                  {"internal/transfer", "internal/homedir", "internal/storage", "internal/activity", "internal/storage/disk", "internal/procs", "internal/iampolicy"}, // disk: tests only
	"internal/iampolicy":              {"internal/transfer"},
	"internal/identity":               {"internal/transfer", "internal/iampolicy"},
	"internal/policy":                 {"internal/transfer"},
	"internal/negotiate":              {"internal/transfer"},
	"internal/explain":                {"internal/negotiate", "internal/policy", "internal/activity"},
	"internal/transfer":               {},
	"internal/homedir":                {"internal/transfer", "internal/storage"},
	"internal/activity":               {"internal/negotiate"},
	"internal/metastore":              {"internal/transfer", "internal/metastore/storetest", "internal/metastore/pgtest"},
	"internal/metastore/pgtest":       {"internal/testsrv"},
	"internal/testsrv":                {},
	"internal/control":                {"internal/transfer", "internal/metastore", "internal/policy", "internal/config", "internal/iampolicy", "internal/metastore/pgtest"},
	"internal/mgmtapi":                {"internal/transfer", "internal/control", "internal/policy", "internal/metastore"},
	"internal/workflow":               {"internal/activity", "internal/storage", "internal/transfer"},
	"internal/console":                {"internal/transfer", "internal/control", "internal/policy", "internal/metastore", "internal/activity", "internal/explain", "internal/negotiate"},
	"internal/metastore/storetest":    {"internal/transfer"},
	"internal/storage":                {},
	"internal/procs":                  {},
	"internal/storage/disk":           {"internal/storage", "internal/storage/storagetest"},
	"internal/storage/storagetest":    {"internal/storage"},
	"internal/storage/s3store":        {"internal/storage", "internal/storage/storagetest", "internal/storage/s3store/s3test"},
	"internal/storage/s3store/s3test": {"internal/testsrv"},
	"internal/e2e":                    {"internal/activity", "internal/mgmtapi", "internal/storage/s3store/s3test", "internal/metastore/pgtest", "internal/metrics"},
	".":                               {},
	"bench/load":                      {},
	"bench/s3direct":                  {},
	"bench/sessions":                  {},
	"examples/idp":                    {},
	"examples/workflow-step":          {},
}

// testImports are what a package's tests may import besides: the real parts they run it on.
var testImports = map[string][]string{
	"internal/workflow": {"internal/metastore", "internal/storage/disk"},
}

// TestLayout checks that every package has one package comment ("Command x" for commands) and imports only what
// allowedImports lets it.
func TestLayout(t *testing.T) {
	dirs := map[string][]string{} // dir -> Go files
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			dirs[filepath.Dir(p)] = append(dirs[filepath.Dir(p)], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir, files := range dirs {
		allowed, ok := allowedImports[filepath.ToSlash(dir)]
		if !ok {
			t.Errorf("%s: not in the layout; add it to allowedImports (and to the README's table)", dir)
			continue
		}
		docs := 0
		for _, f := range files {
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ParseComments|parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil && !strings.HasSuffix(af.Name.Name, "_test") {
				text := af.Doc.Text()
				if strings.HasPrefix(text, "Package "+af.Name.Name+" ") ||
					af.Name.Name == "main" && strings.HasPrefix(text, "Command "+filepath.Base(dir)+" ") {
					docs++
				}
			}
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				own, ok := strings.CutPrefix(path, module)
				if !ok || own == filepath.ToSlash(dir) {
					continue
				}
				if strings.HasSuffix(f, "_test.go") && slices.Contains(testImports[filepath.ToSlash(dir)], own) {
					continue
				}
				if !slices.Contains(allowed, own) {
					t.Errorf("%s imports %s; the layout allows %v", f, own, allowed)
				}
			}
		}
		if docs != 1 {
			t.Errorf("%s: %d package comments (\"// Package x ...\"); want exactly 1", dir, docs)
		}
	}
}
