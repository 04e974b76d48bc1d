package pcapgen

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the example captures in testdata/")

// ExampleCalls is the capture the README demonstrates: a call that works
// and the seed story, a caller whose SDP leaks 192.168.1.10 and who cannot
// hear the other side.
func exampleCalls() []Call {
	return []Call{
		{Kind: Normal, Start: 0, Media: 3 * time.Second},
		{Kind: LeakCaller, Start: 5 * time.Second, Media: 3 * time.Second},
	}
}

// TestExampleCaptureUpToDate keeps testdata/one-way-private-sdp.pcap what
// the generator makes (go test ./internal/pcapgen -update rewrites it).
func TestExampleCaptureUpToDate(t *testing.T) {
	var buf bytes.Buffer
	if _, err := Write(&buf, exampleCalls(), Options{Seed: 42}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "testdata", "one-way-private-sdp.pcap")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/pcapgen -update)", err)
	}
	if !bytes.Equal(have, buf.Bytes()) {
		t.Errorf("%s differs from the generator's output; run go test ./internal/pcapgen -update", path)
	}
}

func TestDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if _, err := Write(&a, AllKinds(), Options{Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(&b, AllKinds(), Options{Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("same seed, different bytes")
	}
}
