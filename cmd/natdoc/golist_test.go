package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const modulePath = "github.com/natdoc/natdoc"

// listedPackage is the part of `go list -json` these tests read.
type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Export     string
	Standard   bool
}

// goList runs `go list -json` with args over the whole module and returns
// every package it lists, natdoc's and, with -deps, their dependencies.
func goList(t *testing.T, args ...string) []listedPackage {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list the module with")
	}
	cmd := exec.Command("go", append(append([]string{"list", "-json"}, args...), modulePath+"/...")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
}

// isNatdoc says whether an import path is one of this module's packages.
func isNatdoc(path string) bool {
	return path == modulePath || strings.HasPrefix(path, modulePath+"/")
}
