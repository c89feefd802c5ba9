package architecture

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/towerhq/tower/"

// imports returns, per package directory under dir (module-relative), what
// its non-test files import.
func imports(t *testing.T, root, dir string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			out[filepath.ToSlash(rel)] = append(out[filepath.ToSlash(rel)], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The read side answers queries; what detection decides and how the node
// is configured are not its business (shared types live in domain/).
func TestReadSideImports(t *testing.T) {
	for pkg, ims := range imports(t, repoRoot(t), "internal/storage") {
		for _, p := range ims {
			if p == module+"internal/detection" || p == module+"internal/config" ||
				strings.HasPrefix(p, module+"internal/detection/") || strings.HasPrefix(p, module+"internal/config/") {
				t.Errorf("%s imports %s", pkg, p)
			}
		}
	}
}

// domain/ is plain Go: other domain packages, the standard library without
// I/O, and expr for the rules.
func TestDomainDoesNoIO(t *testing.T) {
	noIO := []string{"database", "net", "os", "io/fs", "syscall", "plugin"}
	ims := imports(t, repoRoot(t), "domain")
	if len(ims) == 0 {
		t.Fatal("no domain packages found")
	}
	for pkg, ps := range ims {
		for _, p := range ps {
			first, _, _ := strings.Cut(p, "/")
			switch {
			case strings.HasPrefix(p, module+"domain/"), strings.HasPrefix(p, "github.com/expr-lang/expr"):
			case strings.Contains(first, "."):
				t.Errorf("%s imports %s: domain/ may import only the standard library, expr and domain/", pkg, p)
			default:
				for _, bad := range noIO {
					if p == bad || strings.HasPrefix(p, bad+"/") {
						t.Errorf("%s imports %s: domain/ does no I/O", pkg, p)
					}
				}
			}
		}
	}
}
