package capture

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestEveryRemedyHasAName: each remedy text the package declares (a
// constant named remedy...) has an entry in remedyNames, or the report
// lists it under the ID "other" with its whole text for a title.
func TestEveryRemedyHasAName(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared, named []string
	for _, f := range pkgs["capture"].Files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GenDecl:
				if n.Tok != token.CONST {
					return true
				}
				for _, spec := range n.Specs {
					for _, name := range spec.(*ast.ValueSpec).Names {
						if strings.HasPrefix(name.Name, "remedy") {
							declared = append(declared, name.Name)
						}
					}
				}
			case *ast.ValueSpec:
				if len(n.Names) == 1 && n.Names[0].Name == "remedyNames" && len(n.Values) == 1 {
					for _, elt := range n.Values[0].(*ast.CompositeLit).Elts {
						if id, ok := elt.(*ast.KeyValueExpr).Key.(*ast.Ident); ok {
							named = append(named, id.Name)
						}
					}
				}
			}
			return true
		})
	}
	if len(declared) < 10 || len(named) < 10 {
		t.Fatalf("found %d remedies and %d names: the test no longer reads the package", len(declared), len(named))
	}
	for _, r := range declared {
		if !slices.Contains(named, r) {
			t.Errorf("%s has no ID and title in remedyNames", r)
		}
	}
}
