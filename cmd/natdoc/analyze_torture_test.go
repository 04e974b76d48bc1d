package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestAnalyzeTorture: every RFC 4475 and RFC 5118 torture message
// (testdata/torture), each in a UDP datagram and all of them in one TCP
// stream, in the middle of three ordinary calls: analyze neither crashes
// nor loses the calls, judges them as without the torture, and counts
// what it could not read.
func TestAnalyzeTorture(t *testing.T) {
	calls := []pcapgen.Call{{Kind: pcapgen.Normal}, {Kind: pcapgen.LeakCaller, Start: time.Second}, {Kind: pcapgen.TCP, Start: 2 * time.Second}}
	var clean bytes.Buffer
	truth, err := pcapgen.Write(&clean, calls, pcapgen.Options{Seed: 17})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	plain, tortured := filepath.Join(dir, "plain.pcap"), filepath.Join(dir, "torture.pcap")
	if err := os.WriteFile(plain, clean.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	msgs := tortureMessages(t)
	writeTortured(t, clean.Bytes(), tortured, msgs)
	want, got := analyzeJSON(t, plain), analyzeJSON(t, tortured)
	if len(got.Calls) < len(truth) {
		t.Fatalf("%d calls with the torture messages, want at least the %d generated", len(got.Calls), len(truth))
	}
	for _, tc := range truth {
		g, w := findCall(got, tc.CallID), findCall(want, tc.CallID)
		if g == nil || w == nil {
			t.Errorf("call %s lost (with torture: %v, without: %v)", tc.CallID, g != nil, w != nil)
			continue
		}
		if g.Verdict != tc.Verdict || g.Verdict != w.Verdict || g.CannotHear != w.CannotHear {
			t.Errorf("call %s: %s/%q with the torture messages, %s/%q without, truth %s", tc.CallID, g.Verdict, g.CannotHear, w.Verdict, w.CannotHear, tc.Verdict)
		}
	}
	var malformed uint64
	for _, a := range got.Capture.Anomalies {
		// malformed-sip: dropped; malformed-sip-header: read without the
		// header field that could not be parsed.
		if a.Kind == "malformed-sip" || a.Kind == "malformed-sip-header" {
			malformed += a.Count
		}
		t.Logf("anomaly %s: %d (%s)", a.Kind, a.Count, a.Detail)
	}
	if unparsable := unparsableCount(msgs); malformed < uint64(unparsable) {
		t.Errorf("%d malformed-sip and malformed-sip-header anomalies, want at least the %d datagrams sipgo cannot parse", malformed, unparsable)
	}
}

// unparsableCount is how many of msgs sipgo's parser refuses.
func unparsableCount(msgs [][]byte) int {
	n := 0
	for _, m := range msgs {
		if _, err := sip.NewParser().ParseSIP(m); err != nil {
			n++
		}
	}
	return n
}

func tortureMessages(t *testing.T) [][]byte {
	t.Helper()
	paths, err := filepath.Glob("../../testdata/torture/*/*.dat")
	if err != nil || len(paths) != 61 {
		t.Fatalf("torture messages: %d files (%v)", len(paths), err)
	}
	sort.Strings(paths)
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// writeTortured copies the clean capture to path with the torture
// messages after its tenth packet: one UDP datagram each from
// 192.0.2.66, then all of them in one TCP stream from 192.0.2.67.
func writeTortured(t *testing.T, clean []byte, path string, msgs [][]byte) {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(clean))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, r.LinkType()); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			writeTorturePackets(t, w, ci.Timestamp, msgs)
		}
	}
}

func writeTorturePackets(t *testing.T, w *pcapgo.Writer, at time.Time, msgs [][]byte) {
	t.Helper()
	seq := uint32(1000)
	for i, m := range msgs {
		at = at.Add(time.Microsecond)
		writeFrame(t, w, at, "192.0.2.66", &layers.UDP{SrcPort: 5060, DstPort: 5060}, m)
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 5060, Seq: seq, ACK: true, PSH: true, Window: 65535}
		if i == 0 {
			seq++ // the SYN below took one
			writeFrame(t, w, at, "192.0.2.67", &layers.TCP{SrcPort: 40000, DstPort: 5060, Seq: seq - 1, SYN: true, Window: 65535}, nil)
			tcp.Seq = seq
		}
		writeFrame(t, w, at, "192.0.2.67", tcp, m)
		seq += uint32(len(m))
	}
}

// writeFrame writes one Ethernet/IPv4 frame from src to 198.51.100.1.
func writeFrame(t *testing.T, w *pcapgo.Writer, at time.Time, src string, l4 gopacket.SerializableLayer, payload []byte) {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	proto := layers.IPProtocolUDP
	if _, ok := l4.(*layers.TCP); ok {
		proto = layers.IPProtocolTCP
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.IPv4(198, 51, 100, 1).To4()}
	switch l := l4.(type) {
	case *layers.UDP:
		l.SetNetworkLayerForChecksum(ip)
	case *layers.TCP:
		l.SetNetworkLayerForChecksum(ip)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, l4, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

func analyzeJSON(t *testing.T, path string) *report.Report {
	t.Helper()
	code, out, stderr := run(t, "analyze", "--json", path)
	if code != exitOK && code != exitProblems {
		t.Fatalf("analyze %s: exit %d: %s", filepath.Base(path), code, stderr)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	return &rep
}

func findCall(rep *report.Report, callID string) *report.Call {
	for i := range rep.Calls {
		if rep.Calls[i].CallID == callID {
			return &rep.Calls[i]
		}
	}
	return nil
}
