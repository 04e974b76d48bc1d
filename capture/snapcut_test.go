package capture_test

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestSnapLengthKeepsTheCall: a capture taken with a short snap length
// (tcpdump -s 300) cuts the SIP messages after their first header lines,
// which carry the call: it is still followed, its setup and end read. Its
// SDP is lost, but its RTP between the parties' hosts is not: it flowed
// both ways, so the call is two-way, saying the SDP is missing (before it
// was "no media expected", then incomplete-capture, as a Cisco gateway's
// capture at -s 512 with 4885 RTP packets read); the call is no longer
// missing (its messages were dropped as unreadable before). RTP one way
// only says nothing without the SDP: incomplete-capture. Cut inside the
// m= lines' payload types, the ports are whole: the streams are judged,
// as on the whole capture.
func TestSnapLengthKeepsTheCall(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 4 * time.Second}}, pcapgen.Options{})
	whole := capture.AnalyzePath(t, path)
	if len(whole.Calls) != 1 || whole.Calls[0].Verdict != report.VerdictTwoWay {
		t.Fatalf("the whole capture: %d calls, want one two-way", len(whole.Calls))
	}
	// The INVITE is the first packet: cut two bytes before its m= line ends
	// ("m=audio 10000 RTP/AVP 0 1" of "... 0 101").
	data, _, err := capture.PcapReader(t, path).ReadPacketData()
	if err != nil {
		t.Fatal(err)
	}
	m := bytes.Index(data, []byte("\r\nm=audio "))
	end := bytes.Index(data[m+2:], []byte("\r\n"))
	if m < 0 || end < 0 {
		t.Fatal("no m= line in the generated INVITE")
	}
	calleeMedia := netip.MustParseAddrPort(whole.Calls[0].Streams[0].Answer.Addr).Addr()
	for _, tc := range []struct {
		snap       int
		calleeRTP  bool
		verdict    report.Verdict
		explaining string
	}{
		{300, true, report.VerdictTwoWay, "SDP is not in the capture"},
		{300, false, report.VerdictIncompleteCapture, "went one way"},
		{m + 2 + end - 2, true, report.VerdictTwoWay, ""},
		{1500, true, report.VerdictTwoWay, ""},
	} {
		src := path
		if !tc.calleeRTP {
			src = rewriteMedia(t, path, func(from netip.Addr, _ []byte) bool { return from != calleeMedia })
		}
		res := capture.AnalyzePath(t, cutCapture(t, src, tc.snap, false))
		if len(res.Calls) != 1 {
			t.Errorf("-s %d: %d calls, want 1", tc.snap, len(res.Calls))
			continue
		}
		c := res.Calls[0]
		if c.Status != 200 || c.State != "ended" || c.Verdict != tc.verdict || !strings.Contains(c.Explain, tc.explaining) {
			t.Errorf("-s %d, the callee's RTP %v: status %d, state %s, verdict %s (%s); want 200, ended, %s (%q)",
				tc.snap, tc.calleeRTP, c.Status, c.State, c.Verdict, c.Explain, tc.verdict, tc.explaining)
		}
	}
}
