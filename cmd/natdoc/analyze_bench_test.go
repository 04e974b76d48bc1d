package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

// BenchmarkAnalyzeCommand runs natdoc analyze whole, report rendering
// included, on the capture NATDOC_BENCH_PCAP names (bench/analyze.sh
// writes them), once per output format: with -cpuprofile it profiles what
// the command spends beyond the capture package's BenchmarkAnalyze.
func BenchmarkAnalyzeCommand(b *testing.B) {
	path := os.Getenv("NATDOC_BENCH_PCAP")
	if path == "" {
		b.Skip("NATDOC_BENCH_PCAP names no capture")
	}
	for _, format := range []string{"text", "json"} {
		b.Run(format, func(b *testing.B) {
			for b.Loop() {
				if code := Main([]string{"analyze", "--progress=false", "--format", format, path}, strings.NewReader(""), io.Discard, io.Discard); code > exitProblems {
					b.Fatalf("exit %d", code)
				}
			}
		})
	}
}
