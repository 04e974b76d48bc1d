package capture_test

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// BenchmarkAnalyze measures the whole pipeline on a generated capture
// (NATDOC_BENCH_PCAP names a bigger file, e.g. from bench/analyze.sh).
func BenchmarkAnalyze(b *testing.B) {
	path := os.Getenv("NATDOC_BENCH_PCAP")
	if path == "" {
		calls := make([]pcapgen.Call, 20)
		for i := range calls {
			calls[i] = pcapgen.Call{Kind: pcapgen.Normal, Start: time.Duration(i) * 500 * time.Millisecond, Media: 20 * time.Second}
		}
		path, _ = generate(b, calls, pcapgen.Options{Seed: 3})
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := capture.Analyze(context.Background(), capture.Options{Files: []string{path}}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRTPPathAllocations guards the hot path: decoding a record and
// updating an existing RTP stream allocates nothing.
func TestRTPPathAllocations(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 2 * time.Second}}, pcapgen.Options{Seed: 5})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The last record of the file is RTP (the BYE comes 100 ms after
	// media); find an RTP record by decoding from the end.
	var rtpRec []byte
	for off := 24; off+16 <= len(data); {
		n := int(uint32(data[off+8]) | uint32(data[off+9])<<8 | uint32(data[off+10])<<16 | uint32(data[off+11])<<24)
		rec := data[off+16 : off+16+n]
		if len(rec) == 214 { // Ethernet+IPv4+UDP+RTP(172)
			rtpRec = rec
		}
		off += 16 + n
	}
	if rtpRec == nil {
		t.Fatal("no RTP record found")
	}
	// With and without the flows' packet timelines (Options.Detail); with
	// a sequence number whose packet is sampled whole and level-measured
	// (srtp.go, silence.go) and one that is neither.
	for _, seq := range []uint16{16, 17} {
		rec := append([]byte(nil), rtpRec...)
		rec[44], rec[45] = byte(seq>>8), byte(seq) // Ethernet 14 + IPv4 20 + UDP 8 + 2
		for _, detail := range []bool{false, true} {
			capture.RTPPathAllocations(t, rec, detail)
		}
	}
}

// BenchmarkAnalyzeStreamed measures what natdoc analyze does for its
// streamed reports: calls judged and written one by one as text (no call
// detail) or as JSON (Options.Detail), none kept. NATDOC_BENCH_PCAP names
// the capture (bench/analyze.sh --signalling or --unanswered writes them);
// without it a small signalling mix is generated.
func BenchmarkAnalyzeStreamed(b *testing.B) {
	path := os.Getenv("NATDOC_BENCH_PCAP")
	if path == "" {
		path, _ = generate(b, pcapgen.SignallingMix(2000, 200, time.Minute), pcapgen.Options{Seed: 7, SignallingOnly: true})
	}
	for _, f := range []report.Format{report.FormatText, report.FormatJSON} {
		b.Run(string(f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				analyzeStreamed(b, path, f)
			}
		})
	}
}

// analyzeStreamed runs one streamed analysis of path, written in format f
// to nowhere.
func analyzeStreamed(b *testing.B, path string, f report.Format) {
	cw, err := report.NewCallWriter(io.Discard, report.Options{Format: f, Color: report.ColorNever})
	if err != nil {
		b.Fatal(err)
	}
	rep := &report.Report{}
	if err := cw.Begin(rep); err != nil {
		b.Fatal(err)
	}
	opt := capture.Options{Files: []string{path}, Detail: f == report.FormatJSON, OnCall: cw.Call}
	res, err := capture.Analyze(context.Background(), opt)
	if err != nil {
		b.Fatal(err)
	}
	res.Fill(rep)
	if err := cw.End(rep); err != nil {
		b.Fatal(err)
	}
}
