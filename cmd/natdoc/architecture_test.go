package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The package table of docs/ARCHITECTURE.md is how a newcomer learns the
// layers, so it must list every import between natdoc packages as it is,
// with each package above the ones it imports. bench/ is tooling outside
// the table.
func TestArchitectureImports(t *testing.T) {
	rows := architectureTable(t)
	index := map[string]int{}
	for i, r := range rows {
		index[r.pkg] = i
	}
	listed := map[string]bool{}
	for _, p := range goList(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, modulePath), "/")
		if strings.HasPrefix(rel, "bench/") {
			continue
		}
		listed[rel] = true
		i, ok := index[rel]
		if !ok {
			t.Errorf("docs/ARCHITECTURE.md has no row for `%s`", rel)
			continue
		}
		imports := natdocImports(p)
		if !slices.Equal(imports, rows[i].imports) {
			t.Errorf("docs/ARCHITECTURE.md: `%s` imports %s; the table says %s", rel, quoteList(imports), quoteList(rows[i].imports))
		}
		for _, imp := range imports {
			if j, ok := index[imp]; ok && j <= i {
				t.Errorf("docs/ARCHITECTURE.md: `%s` imports `%s`, which the table lists above it", rel, imp)
			}
		}
	}
	for _, r := range rows {
		if !listed[r.pkg] {
			t.Errorf("docs/ARCHITECTURE.md has a row for `%s`, which is no package", r.pkg)
		}
	}
}

// tableRow is one package of the table and the natdoc packages it says that
// package imports, sorted.
type tableRow struct {
	pkg     string
	imports []string
}

var (
	backticked = regexp.MustCompile("`([^`]+)`")
	// A note on an import, "(`--upnp`)", names no package.
	parenthesised = regexp.MustCompile(`\([^)]*\)`)
)

// architectureTable reads the package table: the rows under "## Packages"
// whose first cell names one package.
func architectureTable(t *testing.T) []tableRow {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []tableRow
	inPackages := false
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			inPackages = line == "## Packages"
		}
		if !inPackages || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		names := backticked.FindAllStringSubmatch(cells[0], -1)
		if len(names) != 1 || len(cells) < 3 {
			t.Fatalf("docs/ARCHITECTURE.md: a row names one package and ends with its imports: %q", line)
		}
		var imports []string
		last := parenthesised.ReplaceAllString(cells[len(cells)-1], "")
		for _, m := range backticked.FindAllStringSubmatch(last, -1) {
			imports = append(imports, m[1])
		}
		slices.Sort(imports)
		rows = append(rows, tableRow{pkg: names[0][1], imports: imports})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("docs/ARCHITECTURE.md: no package table under ## Packages")
	}
	return rows
}

// natdocImports are the natdoc packages p's non-test files import, relative
// to the module and sorted.
func natdocImports(p listedPackage) []string {
	var out []string
	for _, imp := range p.Imports {
		if isNatdoc(imp) {
			out = append(out, strings.TrimPrefix(imp, modulePath+"/"))
		}
	}
	slices.Sort(out)
	return out
}

func quoteList(pkgs []string) string {
	if len(pkgs) == 0 {
		return "none"
	}
	return "`" + strings.Join(pkgs, "`, `") + "`"
}
