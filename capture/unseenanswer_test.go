package capture_test

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// dropSIP writes the capture at path without the SIP messages drop
// chooses: n counts, from 1, the messages that contain first.
func dropSIP(t *testing.T, path string, first string, drop func(n int, data []byte) bool) string {
	t.Helper()
	n := 0
	return rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		if !bytes.Contains(data, []byte(first)) {
			return data
		}
		n++
		if drop(n, data) {
			return nil
		}
		return data
	})
}

// isInvite200 says whether a SIP message is a 2xx to an INVITE.
func isInvite200(data []byte) bool {
	return bytes.Contains(data, []byte("SIP/2.0 200 OK")) && bytes.Contains(data, []byte(" INVITE\r\n"))
}

// TestAnswerNotCaptured: a capture that lost the callee's 200 OK (a SPAN
// port that dropped it, a capture started a moment late on that side)
// still holds the caller's ACK, the RTP and the BYE. The call was answered
// and its media flowed both ways; before, it read as a setup that never
// got an answer, and its media as no call's.
func TestAnswerNotCaptured(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 4 * time.Second}}, pcapgen.Options{})
	path = dropSIP(t, path, "SIP/2.0 200 OK", func(_ int, data []byte) bool { return isInvite200(data) })
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 {
		t.Fatalf("got %d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	if c.Verdict != report.VerdictTwoWay || c.Status != 200 || c.State != "ended" {
		t.Errorf("verdict %s, status %d, state %s, want two-way, 200, ended; %s", c.Verdict, c.Status, c.State, c.Explain)
	}
	f := findingOf(c, capture.IDAnswerNotCaptured)
	if f == nil || len(f.Evidence) != 2 {
		t.Fatalf("no %s finding with the ACK and the BYE: %+v", capture.IDAnswerNotCaptured, c.Findings)
	}
	if len(res.Findings) > 0 {
		t.Errorf("capture findings %v: the media belongs to the call", res.Findings)
	}
}

// TestAnswerCopiedLate: the 2xx a BYE made the call take as answered
// comes after it (a HEP copy out of order): it is in the capture after
// all, and the call is answered by it, with no answer-not-captured.
func TestAnswerCopiedLate(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 4 * time.Second}}, pcapgen.Options{})
	r := capture.PcapReader(t, path)
	out, w := createPcap(t, "late.pcap", r.LinkType())
	var answer []byte
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if isInvite200(data) {
			answer = append([]byte(nil), data...)
			continue
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
		if answer != nil && bytes.Contains(data, []byte("BYE sip:")) {
			ci.Timestamp = ci.Timestamp.Add(time.Millisecond)
			ci.CaptureLength, ci.Length = len(answer), len(answer)
			if err := w.WritePacket(ci, answer); err != nil {
				t.Fatal(err)
			}
			answer = nil
		}
	}
	res := capture.AnalyzePath(t, out)
	if len(res.Calls) != 1 {
		t.Fatalf("got %d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	if c.Status != 200 || c.Verdict != report.VerdictTwoWay || findingOf(c, capture.IDAnswerNotCaptured) != nil {
		t.Errorf("status %d, verdict %s, findings %v: want 200, two-way, the late 2xx taken", c.Status, c.Verdict, c.Findings)
	}
}

// TestCalleeByeShowsTheAnswer: with the 2xx and the ACK both missing, the
// callee's BYE is the proof: a callee sends none before it has answered.
func TestCalleeByeShowsTheAnswer(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.ByeLost, Media: 4 * time.Second}}, pcapgen.Options{})
	path = dropSIP(t, path, "SIP/2.0", func(_ int, data []byte) bool {
		return isInvite200(data) || bytes.Contains(data, []byte("ACK sip:"))
	})
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 {
		t.Fatalf("got %d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	f := findingOf(c, capture.IDAnswerNotCaptured)
	if c.Status != 200 || f == nil || len(f.Evidence) != 1 || !strings.Contains(f.Evidence[0].Text, "callee's BYE") {
		t.Errorf("status %d, findings %+v: want 200 and %s on the callee's BYE alone", c.Status, c.Findings, capture.IDAnswerNotCaptured)
	}
	if c.Verdict != report.VerdictTwoWay {
		t.Errorf("verdict %s, want two-way: %s", c.Verdict, c.Explain)
	}
}

// TestFailureNotCapturedStaysUnanswered: the ACK of a failure the capture
// lost carries a To-tag too, but no BYE follows it: nothing says the call
// was answered.
func TestFailureNotCapturedStaysUnanswered(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Rejected}}, pcapgen.Options{})
	path = dropSIP(t, path, "SIP/2.0 486", func(int, []byte) bool { return true })
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 {
		t.Fatalf("got %d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	if c.Status == 200 || findingOf(c, capture.IDAnswerNotCaptured) != nil {
		t.Errorf("status %d, findings %v: a lost failure taken for an answer", c.Status, c.Findings)
	}
}

// TestAnswerNotCapturedOnTheCallersHop: through a proxy, which keeps the
// dialog's tags (the generator's proxy gives its second hop a tag of its
// own, so the test makes them one), the capture holds the callee's 200 OK
// to the proxy but not the copy the proxy sent on; the caller's ACK with
// that To-tag shows the copy arrived. With no BYE in the capture, the
// other hop is the proof: the call is answered, not ringing.
func TestAnswerNotCapturedOnTheCallersHop(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Proxy, Media: 4 * time.Second}}, pcapgen.Options{})
	toTag := regexp.MustCompile(`\r\nTo: [^\r]*;tag=([^;\r]+)`)
	var tags []string // the To-tags, the callee's (on the second hop) first
	rewriteUDP(t, path, func(_ *layers.IPv4, udp *layers.UDP) []byte {
		if m := toTag.FindSubmatch(udp.Payload); m != nil && !slices.Contains(tags, string(m[1])) {
			tags = append(tags, string(m[1]))
		}
		return nil
	})
	if len(tags) != 2 {
		t.Fatalf("To-tags %q, want one per hop", tags)
	}
	path = rewriteUDP(t, path, func(_ *layers.IPv4, udp *layers.UDP) []byte {
		return bytes.ReplaceAll(udp.Payload, []byte("tag="+tags[1]+"\r\n"), []byte("tag="+tags[0]+"\r\n"))
	})
	answers := 0
	path = dropSIP(t, path, "SIP/2.0", func(_ int, data []byte) bool {
		if bytes.Contains(data, []byte("BYE")) { // the BYEs and their 200s
			return true
		}
		if isInvite200(data) {
			answers++
			return answers > 1 // the proxy's copy to the caller
		}
		return false
	})
	if answers != 2 {
		t.Fatalf("%d 2xx answers to the INVITE in the generated capture, want 2 (one per hop)", answers)
	}
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 || len(res.Calls[0].Legs) != 2 {
		t.Fatalf("got %d calls, want 1 with 2 legs", len(res.Calls))
	}
	c := res.Calls[0]
	if c.Status != 200 || c.State != "answered" || c.Verdict != report.VerdictTwoWay {
		t.Errorf("status %d, state %s, verdict %s, want 200, answered, two-way; %s", c.Status, c.State, c.Verdict, c.Explain)
	}
	if f := findingOf(c, capture.IDAnswerNotCaptured); f == nil || len(f.Evidence) != 2 {
		t.Errorf("no %s finding with the ACK and the other hop's 2xx: %+v", capture.IDAnswerNotCaptured, c.Findings)
	}
}
