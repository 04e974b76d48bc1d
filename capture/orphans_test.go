package capture_test

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// withoutSIP copies the capture at path with every SIP packet (UDP port
// 5060) blanked to an ARP frame: the RTP of calls whose SIP the capture
// cannot read, as over TLS without the keys.
func withoutSIP(t *testing.T, path string) string {
	return rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		const udpAt = 14 + 20
		if len(data) < udpAt+8 || binary.BigEndian.Uint16(data[12:14]) != 0x0800 || data[14+9] != 17 {
			return data
		}
		if binary.BigEndian.Uint16(data[udpAt:]) != 5060 && binary.BigEndian.Uint16(data[udpAt+2:]) != 5060 {
			return data
		}
		return append(append([]byte(nil), data[:12]...), 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1)
	})
}

// TestMediaWithoutSignalling: with the SIP gone, a two-way call's RTP is a
// session both ways; a call whose callee sends to the caller's private SDP
// address is RTP one way only, with the callee's RTP to that address as
// what explains it; a call no RTP flowed in shows nothing.
func TestMediaWithoutSignalling(t *testing.T) {
	calls := []pcapgen.Call{{Kind: pcapgen.Normal, Media: 4 * time.Second},
		{Kind: pcapgen.LeakCaller, Start: 10 * time.Second, Media: 4 * time.Second},
		{Kind: pcapgen.NoWay, Start: 20 * time.Second, Media: 4 * time.Second}}
	path, _ := generate(t, calls, pcapgen.Options{Seed: 5})
	res := capture.AnalyzePath(t, withoutSIP(t, path))
	if len(res.Calls) != 0 {
		t.Fatalf("%d calls without any SIP", len(res.Calls))
	}
	byID := map[report.FindingID]report.Finding{}
	for _, f := range res.Findings {
		byID[f.ID] = f
		t.Logf("%s %s: %s", f.Severity, f.ID, f.Title)
		for _, e := range f.Evidence {
			t.Logf("  - %s", e.Text)
		}
	}
	all, ok := byID[capture.IDMediaWithoutSignalling]
	if !ok || !strings.Contains(all.Title, "1 both ways, 2 one way") || len(all.Evidence) != 3 {
		t.Fatalf("media-without-signalling: %+v", all)
	}
	if !strings.Contains(all.Evidence[0].Text, "both ways, 200 RTP packets → and 200 ←") {
		t.Errorf("the two-way call's session: %q", all.Evidence[0].Text)
	}
	one, ok := byID[capture.IDMediaOneWayNoSignalling]
	if !ok || one.Severity != report.SeverityWarning || !strings.HasPrefix(one.Title, "RTP flowed one way only in 1 session") {
		t.Fatalf("media-one-way-without-signalling: %+v", one)
	}
	var elsewhere bool
	for _, e := range one.Evidence {
		elsewhere = elsewhere || strings.Contains(e.Text, "a private address: the one the far end announced")
	}
	if !elsewhere || one.Remedy == "" {
		t.Errorf("no evidence of the callee answering the private address: %+v", one.Evidence)
	}
}

// TestOneWayMediaWithoutSignallingNeedsAVantage: RTP one way only with no
// call is a warning when the capture shows it would have seen replies (it
// saw another session both ways), not in a capture of that stream alone,
// which may have been filtered to it.
func TestOneWayMediaWithoutSignallingNeedsAVantage(t *testing.T) {
	lone := []pcapgen.Call{{Kind: pcapgen.LANOneWay, Media: 4 * time.Second}}
	beside := append(lone, pcapgen.Call{Kind: pcapgen.Normal, Start: 10 * time.Second, Media: 4 * time.Second})
	for _, tc := range []struct {
		name  string
		calls []pcapgen.Call
		warn  bool
	}{{"alone", lone, false}, {"beside a two-way session", beside, true}} {
		path, _ := generate(t, tc.calls, pcapgen.Options{Seed: 8})
		res := capture.AnalyzePath(t, withoutSIP(t, path))
		warned := slices.ContainsFunc(res.Findings, func(f report.Finding) bool { return f.ID == capture.IDMediaOneWayNoSignalling })
		listed := slices.ContainsFunc(res.Findings, func(f report.Finding) bool {
			return f.ID == capture.IDMediaWithoutSignalling && strings.Contains(f.Title, "one way")
		})
		if warned != tc.warn || !listed {
			t.Errorf("%s: warned %v (want %v), listed %v: %+v", tc.name, warned, tc.warn, listed, res.Findings)
		}
	}
}
