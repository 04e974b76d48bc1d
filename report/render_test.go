package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sampleReport has one of every section, with fixed times so output is
// stable.
func sampleReport() *Report {
	t0 := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	r := New("analyze", "v0.0.0-test")
	r.Verdict = "1 of 2 calls had one-way audio: the caller could not hear the callee."
	r.Capture = &CaptureInfo{Files: []string{"trace.pcap"}, Packets: 3012, Bytes: 612345, First: t0, Last: t0.Add(65 * time.Second),
		Vantage:   "LAN side of the NAT (private addresses visible)",
		Counts:    []KeyValue{{"sip", "14"}, {"rtp", "2990"}},
		Comments:  []CaptureComment{{Text: "taken on the phone's LAN, ticket 4711"}, {Frame: 20, Text: "no audio from here on"}},
		Anomalies: []Anomaly{{Kind: "truncated-record", Count: 1, Detail: "file ends inside a record", Offsets: []int64{612001}}}}
	oneWay := Call{ID: "C1", CallID: "a84b4c76e66710", Caller: Party{Role: "caller", User: "100", Host: "pbx.example.org"},
		Callee: Party{Role: "callee", User: "200", Host: "pbx.example.org"}, Start: t0, Answer: t0.Add(2 * time.Second), End: t0.Add(32 * time.Second),
		Status: 200, State: "ended", Verdict: VerdictOneWay, CannotHear: "caller",
		Streams: []MediaStream{{Index: 0, Media: "audio", Verdict: VerdictOneWay, Flows: []RTPFlow{
			{Direction: "caller->callee", Src: "203.0.113.1:10000", Dst: "198.51.100.20:20000", Packets: 1500, Lost: 12, PayloadTypes: PayloadTypes{0, 101},
				FirstFrame: 20, LastFrame: 3011, MaxGapMs: 40,
				Quality: &StreamQuality{Codec: "PCMU/8000", Expected: 1512, LossPct: 0.79, OutOfOrder: 2, Duplicates: 1,
					JitterMeanMs: 1.25, JitterMaxMs: 4.5, RFactor: 88.1, MOS: 4.29,
					Level: &AudioLevel{Packets: 1500, Active: 0, MeanDBov: -72, PeakDBov: -66, SilentDBov: -55, Silent: true}},
				Reports: &RTCPView{SenderReports: 6, SenderPackets: 1498, ReceiverHeardNothing: true,
					ReceiverRTCP: &RTCPReporter{From: "198.51.100.20:20001", Reports: 6, FirstFrame: 30, LastFrame: 2900}}},
		}}},
		Findings: []Finding{{ID: "sdp-private-address", Severity: SeverityError, Title: "Caller's SDP asks for audio at private address 192.168.1.10:10000",
			Evidence: []Evidence{{Text: "INVITE c=IN IP4 192.168.1.10", Frames: []uint64{1}}},
			Remedy:   "Set the phone's STUN server, or let the server relay media."}}}
	twoWay := Call{ID: "C2", CallID: "b2", Caller: Party{User: "101"}, Callee: Party{User: "201"}, Start: t0.Add(40 * time.Second), End: t0.Add(60 * time.Second), Verdict: VerdictTwoWay}
	r.Calls = []Call{oneWay, twoWay}
	r.NAT = &NATReport{LocalAddr: "192.168.1.10:5060", MappedAddr: "203.0.113.1:5060", Mapping: BehaviourEndpointIndependent,
		Filtering: BehaviourAddressAndPortDependent, RFC3489Name: "port restricted cone", PortPreserved: TriYes,
		Servers: []STUNServerResult{{Server: "203.0.113.10:3478", MappedAddr: "203.0.113.1:5060", RTT: 1200 * time.Microsecond}}}
	r.IGD = &IGDReport{Devices: []IGDDevice{{Location: "http://192.168.1.1:5000/rootDesc.xml", FriendlyName: "natlab router", ExternalIP: "203.0.113.1", Connection: "Connected", Protocol: "upnp-igd1"}},
		Limit: &MappingLimit{Asked: 31, Accepted: 30, Applied: 30, ReadBack: true, Reached: true, Removed: 30, ErrorCode: 606, ErrorText: "Action not authorized", Calls: 14}}
	r.Add(Finding{ID: "upnp-mapping-limit", Severity: SeverityWarning, Title: "The router accepts only 30 UPnP mappings",
		Evidence: []Evidence{{Text: "mapping 31 refused", Values: []KeyValue{{"error", "606"}}}}, Remedy: "Forward UDP 5060 and the RTP range by hand."})
	r.Remedies = []Remedy{{ID: "stun", Title: "Configure STUN on the phones", Detail: "The NAT keeps one mapping per socket, so STUN-learned addresses work."}}
	r.Checks = []Check{{Name: "nat", Status: CheckProblem}, {Name: "sip-alg", Status: CheckNotRun, Detail: "no --mirror given"}}
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file %s (run with -update if intended):\n%s", name, path, got)
	}
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Options
	}{
		{"text-plain", Options{Format: FormatText, Color: ColorNever}},
		{"text-tty", Options{Format: FormatText, Color: ColorAlways}},
		{"text-call", Options{Format: FormatText, Color: ColorNever, CallID: "C1"}},
		{"json", Options{Format: FormatJSON}},
		{"markdown", Options{Format: FormatMarkdown}},
		{"html", Options{Format: FormatHTML}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, sampleReport(), tc.opt); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, buf.Bytes())
		})
	}
}

func TestTextPlainHasNoEscapes(t *testing.T) {
	var plain, tty bytes.Buffer
	_ = Render(&plain, sampleReport(), Options{Format: FormatText, Color: ColorNever})
	_ = Render(&tty, sampleReport(), Options{Format: FormatText, Color: ColorAlways})
	if bytes.Contains(plain.Bytes(), []byte("\x1b[")) {
		t.Error("plain text output contains ANSI escapes")
	}
	if !bytes.Contains(tty.Bytes(), []byte("\x1b[")) {
		t.Error("terminal output has no styling")
	}
}

// A bytes.Buffer is no terminal, so the automatic mode must print plain text.
func TestAutoColorIsPlainForPipes(t *testing.T) {
	var buf bytes.Buffer
	_ = Render(&buf, sampleReport(), Options{Format: FormatText})
	if bytes.Contains(buf.Bytes(), []byte("\x1b[")) {
		t.Error("output to a non-terminal contains ANSI escapes")
	}
}

func TestJSONRoundTripKeepsSchema(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderJSON(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Schema != SchemaVersion || len(back.Calls) != 2 || back.Calls[0].Verdict != VerdictOneWay {
		t.Errorf("round trip lost data: schema %q, %d calls", back.Schema, len(back.Calls))
	}
}

func TestProblemsFound(t *testing.T) {
	for _, tc := range []struct {
		name string
		sev  []Severity
		want bool
	}{
		{"none", nil, false},
		{"info only", []Severity{SeverityInfo}, false},
		{"warning", []Severity{SeverityInfo, SeverityWarning}, true},
		{"error", []Severity{SeverityError}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New("x", "v")
			for _, s := range tc.sev {
				r.Add(Finding{ID: "f", Severity: s})
			}
			if got := r.ProblemsFound(); got != tc.want {
				t.Errorf("ProblemsFound = %v, want %v", got, tc.want)
			}
		})
	}
	r := New("x", "v")
	r.Calls = []Call{{Findings: []Finding{{ID: "one-way-audio", Severity: SeverityError}}}}
	if !r.ProblemsFound() {
		t.Error("a call's error finding must count as a problem")
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"text": FormatText, "JSON": FormatJSON, "md": FormatMarkdown, "html": FormatHTML} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Errorf("ParseFormat(xml) error = %v", err)
	}
}
