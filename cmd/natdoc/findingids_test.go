package main

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// A finding ID is a name the world scripts against, so it is written once:
// as a report.FindingID constant in the package that makes the finding, and
// everything else (the HTML renderer, the commands, remedies) refers to that
// constant. The compiler proves a constant reference exists; these tests read
// natdoc's own source, type-checked, for the two things it cannot see: an ID
// spelled as a string where a constant should be named, and one ID string
// defined as two constants.

func TestFindingIDsAreConstants(t *testing.T) {
	src := loadFindingIDSource(t)
	for _, pkg := range slices.Sorted(maps.Keys(src.literals)) {
		for _, u := range src.literals[pkg] {
			t.Errorf("%s: finding ID %q spelled as a string; name the constant of the package that makes the finding", u.pos, u.value)
		}
	}
	if len(src.consts) == 0 {
		t.Fatal("no report.FindingID constant found: the source was not read")
	}
}

func TestFindingIDsDefinedOnce(t *testing.T) {
	src := loadFindingIDSource(t)
	byValue := map[string][]idConst{}
	for _, c := range src.consts {
		byValue[c.value] = append(byValue[c.value], c)
	}
	for _, value := range slices.Sorted(maps.Keys(byValue)) {
		defs := byValue[value]
		if len(defs) > 1 {
			var where []string
			for _, d := range defs {
				where = append(where, d.String())
			}
			t.Errorf("finding ID %q defined %d times: %s", value, len(defs), strings.Join(where, ", "))
		}
	}
}

// idConst is one report.FindingID constant.
type idConst struct {
	pkg, name, value string
	pos              token.Position
}

func (c idConst) String() string {
	return fmt.Sprintf("%s.%s (%s:%d)", filepath.Base(c.pkg), c.name, c.pos.Filename, c.pos.Line)
}

// idLiteral is a finding ID spelled as a string outside a constant's
// definition.
type idLiteral struct {
	pos   string // file:line
	value string
}

// findingIDSource is what natdoc's non-test source says about finding IDs.
type findingIDSource struct {
	consts   []idConst
	literals map[string][]idLiteral // by import path
}

var (
	findingIDOnce sync.Once
	findingIDSrc  *findingIDSource
	findingIDErr  error
)

// loadFindingIDSource type-checks every natdoc package once per test binary,
// importing dependencies from the compiler's export data.
func loadFindingIDSource(t *testing.T) *findingIDSource {
	t.Helper()
	findingIDOnce.Do(func() {
		pkgs := goList(t, append([]string{"-export", "-deps"}, buildFlags()...)...)
		findingIDSrc, findingIDErr = readFindingIDs(pkgs)
	})
	if findingIDErr != nil {
		t.Fatal(findingIDErr)
	}
	return findingIDSrc
}

// buildFlags makes `go list -export` ask for the export data the test
// binary's own build left in the cache, rather than compile everything again.
func buildFlags() []string {
	if raceBuild {
		return []string{"-race"}
	}
	return nil
}

func readFindingIDs(pkgs []listedPackage) (*findingIDSource, error) {
	exports := map[string]string{}
	for _, p := range pkgs {
		exports[p.ImportPath] = p.Export
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		if exports[path] == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(exports[path])
	})
	src := &findingIDSource{literals: map[string][]idLiteral{}}
	for _, p := range pkgs {
		if !isNatdoc(p.ImportPath) {
			continue
		}
		if err := src.read(fset, imp, p); err != nil {
			return nil, err
		}
	}
	return src, nil
}

// read type-checks one package and records its FindingID constants and the
// IDs it spells as strings.
func (src *findingIDSource) read(fset *token.FileSet, imp types.Importer, p listedPackage) error {
	var files []*ast.File
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Defs: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: imp}
	if _, err := conf.Check(p.ImportPath, fset, files, info); err != nil {
		return fmt.Errorf("type-check %s: %w", p.ImportPath, err)
	}
	for id, obj := range info.Defs {
		if c, ok := obj.(*types.Const); ok && isFindingID(c.Type()) {
			src.consts = append(src.consts, idConst{pkg: p.ImportPath, name: id.Name, value: constant.StringVal(c.Val()), pos: relPosition(fset, id.Pos())})
		}
	}
	constValues := constSpecValues(files)
	lines := map[string]bool{}
	for expr, tv := range info.Types {
		if tv.Value == nil || !isFindingID(tv.Type) || namesConstant(expr) || inRanges(expr.Pos(), constValues) {
			continue
		}
		if constant.StringVal(tv.Value) == "" { // "no finding", not an ID
			continue
		}
		pos := relPosition(fset, expr.Pos())
		at := fmt.Sprintf("%s:%d", pos.Filename, pos.Line)
		if !lines[at] {
			lines[at] = true
			src.literals[p.ImportPath] = append(src.literals[p.ImportPath], idLiteral{pos: at, value: constant.StringVal(tv.Value)})
		}
	}
	sort.Slice(src.literals[p.ImportPath], func(i, j int) bool {
		return src.literals[p.ImportPath][i].pos < src.literals[p.ImportPath][j].pos
	})
	return nil
}

// isFindingID says whether t is report.FindingID.
func isFindingID(t types.Type) bool {
	named, ok := t.(*types.Named)
	return ok && named.Obj().Name() == "FindingID" && named.Obj().Pkg() != nil &&
		named.Obj().Pkg().Path() == modulePath+"/report"
}

// namesConstant says whether expr refers to a constant by name (IDFoo,
// pkg.IDFoo, (IDFoo)) rather than spelling a value.
func namesConstant(expr ast.Expr) bool {
	switch expr.(type) {
	case *ast.Ident, *ast.SelectorExpr, *ast.ParenExpr:
		return true
	}
	return false
}

// constSpecValues are the source ranges of the values in const declarations,
// where an ID is spelled once to define it.
func constSpecValues(files []*ast.File) [][2]token.Pos {
	var ranges [][2]token.Pos
	for _, f := range files {
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				for _, v := range spec.(*ast.ValueSpec).Values {
					ranges = append(ranges, [2]token.Pos{v.Pos(), v.End()})
				}
			}
		}
	}
	return ranges
}

func inRanges(pos token.Pos, ranges [][2]token.Pos) bool {
	return slices.ContainsFunc(ranges, func(r [2]token.Pos) bool { return pos >= r[0] && pos < r[1] })
}

// relPosition names a file by its path in the module, so messages point at
// it from the repository root.
func relPosition(fset *token.FileSet, p token.Pos) token.Position {
	pos := fset.Position(p)
	if root, err := moduleRoot(); err == nil {
		if rel, err := filepath.Rel(root, pos.Filename); err == nil {
			pos.Filename = rel
		}
	}
	return pos
}

// moduleRoot is the directory of go.mod: the test runs in cmd/natdoc.
func moduleRoot() (string, error) {
	return filepath.Abs(filepath.Join("..", ".."))
}
