package capture_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestSnapLengthKeepsTheCall: a capture taken with a short snap length
// (tcpdump -s 300) cuts the SIP messages after their first header lines,
// which carry the call: it is still followed, its setup and end read. Its
// SDP is lost, so the media is called unjudgeable rather than "no media
// expected", and the call is no longer missing (its messages were dropped
// as unreadable before). Cut inside the m= lines' payload types, the
// ports are whole: the streams are judged, as on the whole capture.
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
	for _, tc := range []struct {
		snap    int
		verdict report.Verdict
	}{
		{snap: 300, verdict: report.VerdictIncompleteCapture},
		{snap: m + 2 + end - 2, verdict: report.VerdictTwoWay},
		{snap: 1500, verdict: report.VerdictTwoWay},
	} {
		res := capture.AnalyzePath(t, cutCapture(t, path, tc.snap, false))
		if len(res.Calls) != 1 {
			t.Errorf("-s %d: %d calls, want 1", tc.snap, len(res.Calls))
			continue
		}
		c := res.Calls[0]
		if c.Status != 200 || c.State != "ended" || c.Verdict != tc.verdict {
			t.Errorf("-s %d: status %d, state %s, verdict %s; want 200, ended, %s (%s)", tc.snap, c.Status, c.State, c.Verdict, tc.verdict, c.Explain)
		}
	}
}
