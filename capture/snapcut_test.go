package capture_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
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

// TestSnapLengthB2BUALegs: a B2BUA's two legs whose SDP the snap length
// cut. Each stream is bound by its two hosts, the B2BUA's and the leg's
// other party's: each leg keeps its own media each way, not the other
// leg's too (the B2BUA's host is a party of both), and the call stays
// two-way without a finding of lost media.
func TestSnapLengthB2BUALegs(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.B2BUA, Media: 4 * time.Second}}, pcapgen.Options{Seed: 7})
	whole := capture.AnalyzePath(t, path)
	cut := capture.AnalyzePath(t, cutCapture(t, path, 300, false))
	if len(whole.Calls) != 1 || len(cut.Calls) != 1 {
		t.Fatalf("calls: %d whole, %d cut; want 1 each", len(whole.Calls), len(cut.Calls))
	}
	w, c := whole.Calls[0], cut.Calls[0]
	if c.Verdict != report.VerdictTwoWay {
		t.Errorf("cut: verdict %s, want two-way", c.Verdict)
	}
	if pw, _ := capture.DirectionCounts(w); true {
		if pc, _ := capture.DirectionCounts(c); pc != pw {
			t.Errorf("cut: RTP each way %v, want %v as in the whole capture", pc, pw)
		}
	}
	for _, f := range c.Findings {
		if f.Severity != report.SeverityInfo {
			t.Errorf("cut: finding %s %q", f.ID, f.Title)
		}
	}
}

// TestSnapLengthNoCallReadable: a capture whose snap length cut every SIP
// message before its Call-ID says so in its verdict, not that it holds no
// call, and its media's orphan finding names the cut messages.
func TestSnapLengthNoCallReadable(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 2 * time.Second}}, pcapgen.Options{Seed: 3})
	res := capture.AnalyzePath(t, cutCapture(t, path, 96, false))
	if len(res.Calls) != 0 {
		t.Fatalf("%d calls read from SIP cut at 96 bytes", len(res.Calls))
	}
	if !strings.Contains(res.Verdict, "snap length cut") || !strings.Contains(res.Verdict, "tcpdump -s 0") {
		t.Errorf("verdict %q does not name the snap length", res.Verdict)
	}
	var orphan *report.Finding
	for i := range res.Findings {
		if res.Findings[i].ID == "media-without-signalling" {
			orphan = &res.Findings[i]
		}
	}
	if orphan == nil || !strings.Contains(orphan.Title, "snap length cut") {
		t.Errorf("media-without-signalling does not name the cut SIP: %+v", orphan)
	}
}

// TestSnapLengthRealPBX: the voipshark FreePBX call cut at 400 and 200
// bytes. Its phone 192.168.20.132 tried SIP over TCP, was refused and
// registered over UDP: with the REGISTER cut (400: its Contact lost; 200:
// its Call-ID too) the UDP REGISTER still shows it reached the server, so
// the refused connections are no warning. At 400 the call's two legs
// through Asterisk keep their own streams (1345/1346 packets, as whole).
func TestSnapLengthRealPBX(t *testing.T) {
	dir := capture.RealPcapDirOrEmpty()
	if dir == "" {
		t.Skip("../shared/realpcaps not present")
	}
	src := filepath.Join(dir, "voipshark__SIP-RTP-Normal_Call_two_parties.pcap")
	if _, err := os.Stat(src); err != nil {
		t.Skip("voipshark__SIP-RTP-Normal_Call_two_parties.pcap not present")
	}
	whole := capture.AnalyzePath(t, src)
	for _, snap := range []int{400, 200} {
		res := capture.AnalyzePath(t, cutCapture(t, src, snap, false))
		for _, f := range res.Findings {
			if f.ID == capture.IDTCPConnectFailed && f.Severity != report.SeverityInfo {
				t.Errorf("-s %d: %s %s %q", snap, f.Severity, f.ID, f.Title)
			}
		}
		if snap != 400 {
			continue
		}
		if len(res.Calls) != 1 || len(whole.Calls) != 1 {
			t.Fatalf("-s 400: %d calls, whole %d; want 1", len(res.Calls), len(whole.Calls))
		}
		pw, _ := capture.DirectionCounts(whole.Calls[0])
		if pc, _ := capture.DirectionCounts(res.Calls[0]); pc != pw {
			t.Errorf("-s 400: RTP each way %v, want %v as whole", pc, pw)
		}
		for _, f := range res.Calls[0].Findings {
			if f.Severity != report.SeverityInfo {
				t.Errorf("-s 400: %s %s %q", f.Severity, f.ID, f.Title)
			}
		}
	}
}

// TestSnapLengthCutsFragments: an INVITE in IP fragments, the capture's
// snap length cutting its first fragment. Its fragments were not lost on
// the way (no sip-fragments-lost, no ip-fragments-incomplete): the
// datagram is noted cut, and its first fragment read as far as it goes,
// so the call has its INVITE (its setup read, not "not captured").
func TestSnapLengthCutsFragments(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Fragmented, Media: 2 * time.Second}}, pcapgen.Options{Seed: 5})
	whole := capture.AnalyzePath(t, path)
	if len(whole.Calls) != 1 || whole.Calls[0].Verdict != report.VerdictTwoWay {
		t.Fatalf("the whole capture: %d calls, want one two-way", len(whole.Calls))
	}
	res := capture.AnalyzePath(t, cutCapture(t, path, 600, false))
	kinds := map[string]uint64{}
	for _, a := range res.Capture.Anomalies {
		kinds[a.Kind] = a.Count
	}
	if kinds["truncated-ip-fragment"] == 0 || kinds["ip-fragments-incomplete"] != 0 {
		t.Errorf("anomalies %v: want truncated-ip-fragment, no ip-fragments-incomplete", kinds)
	}
	for _, f := range res.Findings {
		if f.ID == "sip-fragments-lost" {
			t.Errorf("fragments cut by the snap length said lost: %q", f.Title)
		}
	}
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	if c.Verdict != report.VerdictTwoWay || c.Status != 200 {
		t.Errorf("verdict %s, status %d; want two-way, 200 (%s)", c.Verdict, c.Status, c.Explain)
	}
	for _, f := range c.Findings {
		if f.ID == capture.IDInviteNotCaptured {
			t.Errorf("the INVITE whose first fragment was cut is said not captured: %q", f.Title)
		}
	}
}

// TestSnapLengthCutsTCP: SIP over TCP, segments cut by the snap length.
// A segment's bytes kept are read as a message cut short, and the next
// segment that starts a message resumes the stream: the call is followed
// to its end as over UDP, no segment is said missing, and its RTP is
// bound by the parties' hosts though the cut SDP lost its m= lines.
func TestSnapLengthCutsTCP(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.TCP, Media: 2 * time.Second}}, pcapgen.Options{Seed: 9})
	whole := capture.AnalyzePath(t, path)
	if len(whole.Calls) != 1 || whole.Calls[0].Transport != "TCP" {
		t.Fatalf("the whole capture: %d calls, want one over TCP", len(whole.Calls))
	}
	// pcapgen sends each message in segments of 200 bytes: at 300 the
	// second segment of each longer one is cut, inside the INVITE's and
	// the 200 OK's SDP.
	res := capture.AnalyzePath(t, cutCapture(t, path, 300, false))
	for _, a := range res.Capture.Anomalies {
		if a.Kind == "tcp-gap" {
			t.Errorf("segments cut by the snap length said missing: %d × tcp-gap", a.Count)
		}
	}
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	w, c := whole.Calls[0], res.Calls[0]
	if c.Status != w.Status || c.State != w.State || c.Verdict != w.Verdict || len(c.Messages) != len(w.Messages) {
		t.Errorf("cut: status %d, state %s, verdict %s, %d messages; whole: %d, %s, %s, %d",
			c.Status, c.State, c.Verdict, len(c.Messages), w.Status, w.State, w.Verdict, len(w.Messages))
	}
}
