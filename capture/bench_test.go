package capture

import (
	"context"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/natdoc/natdoc/internal/pcapgen"
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
		if _, err := Analyze(context.Background(), Options{Files: []string{path}}); err != nil {
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
			rtpPathAllocations(t, rec, detail)
		}
	}
}

func rtpPathAllocations(t *testing.T, rtpRec []byte, detail bool) {
	s := newState()
	s.setDetail(detail)
	p := &producer{full: make(chan *eventBatch, 1), free: make(chan *eventBatch, 1)}
	p.dec = newDecoder(&p.anomalies)
	p.batch = &eventBatch{events: make([]event, 0, batchEvents), arena: make([]byte, 0, batchArena)}
	rec := Record{Data: rtpRec, Time: time.Unix(1, 0), WireLen: len(rtpRec), LinkType: layers.LinkTypeEthernet}
	raw := newRawRecord(rec, 0, len(rtpRec))
	// One packet through both stages: decode and classify, then the
	// stream update; by the pipeline's path (decodeRecord: the
	// fixed-offset walk straight to an event) and by the decoder's.
	for _, path := range []struct {
		name   string
		decode func(frame uint64)
	}{
		{"decodeRecord", func(frame uint64) { p.decodeRecord(rtpRec, &raw, frame) }},
		{"decoder", func(frame uint64) { p.dec.decode(rec, frame, p.emit) }},
	} {
		step := func(frame uint64) {
			path.decode(frame)
			s.consume(p.batch)
			p.batch.events, p.batch.infos, p.batch.arena = p.batch.events[:0], p.batch.infos[:0], p.batch.arena[:0]
		}
		step(1) // creates the stream
		frame := uint64(2)
		allocs := testing.AllocsPerRun(1000, func() {
			rec.Time = rec.Time.Add(20 * time.Millisecond)
			raw.at = rec.Time.UnixNano()
			step(frame)
			frame++
		})
		if allocs != 0 {
			t.Errorf("%s (detail %v): %.1f allocations per RTP packet, want 0", path.name, detail, allocs)
		}
	}
	if s.counts.rtp < 1000 {
		t.Errorf("RTP not recognised: %d", s.counts.rtp)
	}
	for _, f := range s.flows {
		if got := len(f.activity) > 0; got != detail {
			t.Errorf("detail %v: stream keeps a timeline: %v", detail, got)
		}
	}
}

// TestHostFilter: with hosts set, only packets to or from them are analysed.
func TestHostFilter(t *testing.T) {
	p := &producer{hosts: map[netip.Addr]bool{netip.MustParseAddr("10.0.0.1"): true}}
	p.batch = &eventBatch{events: make([]event, 0, batchEvents), arena: make([]byte, 0, batchArena)}
	rtpPayload := []byte{0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9, 0xff, 0xff}
	for _, tc := range []struct {
		src, dst string
		kept     bool
	}{
		{"10.0.0.1:4000", "10.0.0.2:4000", true},
		{"10.0.0.3:4000", "10.0.0.1:4000", true},
		{"10.0.0.3:4000", "10.0.0.4:4000", false},
	} {
		before := len(p.batch.events)
		p.emit(&packet{Src: netip.MustParseAddrPort(tc.src), Dst: netip.MustParseAddrPort(tc.dst), Proto: protoUDP, Payload: rtpPayload})
		if kept := len(p.batch.events) > before; kept != tc.kept {
			t.Errorf("%s → %s kept %v, want %v", tc.src, tc.dst, kept, tc.kept)
		}
	}
}
