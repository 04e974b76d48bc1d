package capture_test

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestResponsesLost: captured at the callee, the caller went on resending
// its INVITE after the 200 OK, and the callee answered each copy with its
// 200 OK again a few milliseconds from its own timer's copy. Those sends
// are each counted (another IP identification: not a captured copy), and
// the unacknowledged answer is put down to the responses not reaching the
// caller, not to the ACK going astray.
func TestResponsesLost(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.ResponsesLost}}, pcapgen.Options{Seed: 3})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	if res.Capture.Duplicates != 0 {
		t.Errorf("%d packets taken for captured copies, want none: every resend is a send of its own", res.Capture.Duplicates)
	}
	f := findingByID(res.Calls[0].Findings, capture.IDAnswerNotAcknowledged)
	if f == nil {
		t.Fatalf("no %s: %+v", capture.IDAnswerNotAcknowledged, res.Calls[0].Findings)
	}
	// 200 OK at 2 s; the timer's copies until 32 s (10 of them) and one
	// on each of the 4 INVITE copies after it (3.5 s ... 31.5 s).
	if !strings.Contains(f.Title, "The callee's 200 OK was sent 15 times") ||
		!strings.Contains(f.Title, "the caller went on resending its INVITE (4 times after the 200 OK), so no response reached it") {
		t.Errorf("title %q", f.Title)
	}
	if !strings.HasPrefix(f.Remedy, "No response reached the party that sent the INVITE") {
		t.Errorf("remedy %q, want the responses' way back", f.Remedy)
	}
	if ev := fmt.Sprint(f.Evidence); !strings.Contains(ev, "the caller resent its INVITE (CSeq 1) 4 times after the first 200 OK") {
		t.Errorf("evidence %s", ev)
	}
}

// TestRingingLost: the same before the answer. The callee's 100 Trying
// and 180 Ringing never reached the caller, which resent its INVITE until
// Timer B; the callee gave up with a 480. The setup is put down to the
// lost responses, with the responses' way back as the remedy.
func TestRingingLost(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.RingingLost}}, pcapgen.Options{Seed: 3})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	f := findingByID(res.Calls[0].Findings, capture.IDResponsesLost)
	if f == nil || f.Severity != report.SeverityError {
		t.Fatalf("no %s error: %+v", capture.IDResponsesLost, res.Calls[0].Findings)
	}
	// INVITE copies at 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s after it; the
	// first response, the 100 Trying, 5 ms after it.
	if want := "The caller went on resending its INVITE after the callee had responded (6 times after its 100)"; !strings.HasPrefix(f.Title, want) {
		t.Errorf("title %q, want %q...", f.Title, want)
	}
	if !strings.HasPrefix(f.Remedy, "No response reached the party that sent the INVITE") {
		t.Errorf("remedy %q", f.Remedy)
	}
	if ev := fmt.Sprint(f.Evidence); !strings.Contains(ev, "the first response, 100, went to 203.0.113.1:20000") || strings.Contains(ev, "where the INVITE came from") {
		t.Errorf("evidence %s", ev)
	}
}

// TestReinviteRejected: a re-INVITE whose offer was rejected leaves the
// session as it was (RFC 3261 §14.1): its hold and its new port do not
// count, and the media that flowed on both ways is two-way, with no
// finding about the stream.
func TestReinviteRejected(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.ReinviteRejected}}, pcapgen.Options{Seed: 3})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	for _, f := range res.Calls[0].Findings {
		if f.Severity != report.SeverityInfo {
			t.Errorf("finding %s %s: %s", f.Severity, f.ID, f.Title)
		}
	}
	// The stream shows the SDP in force, not the offer turned down.
	if st := res.Calls[0].Streams[0]; st.Offer == nil || st.Offer.Frame != 1 || st.Offer.Direction != "sendrecv" {
		t.Errorf("the caller's SDP shown is %+v, want the INVITE's (frame 1, sendrecv)", st.Offer)
	}
}

// TestRingingLostFromAnotherAddress: the callee answers the caller's
// INVITE from another of its addresses than the one it was sent to (a
// multi-homed server bound to all of them): the caller's NAT lets in only
// what comes from where it sent, and the finding says so, with the
// remedy to answer from the address asked.
func TestRingingLostFromAnotherAddress(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.RingingLost}}, pcapgen.Options{Seed: 3})
	var callee net.IP
	path = rewriteUDP(t, path, func(ip *layers.IPv4, udp *layers.UDP) []byte {
		if callee == nil && bytes.HasPrefix(udp.Payload, []byte("INVITE ")) {
			callee = append(net.IP(nil), ip.DstIP...)
		}
		if bytes.HasPrefix(udp.Payload, []byte("SIP/2.0 ")) && ip.SrcIP.Equal(callee) {
			ip.SrcIP = net.IPv4(198, 51, 100, 99).To4()
			return udp.Payload
		}
		return nil
	})
	res := capture.AnalyzePath(t, path)
	var f *report.Finding
	for _, c := range res.Calls {
		if g := findingByID(c.Findings, capture.IDResponsesLost); g != nil {
			f = g
		}
	}
	if f == nil || !strings.Contains(f.Title, "; it came from 198.51.100.99:5060, not from "+callee.String()+":5060 where the request went") ||
		!strings.HasPrefix(f.Remedy, "Make the server answer from the address the request was sent to") {
		t.Fatalf("finding %+v", f)
	}
}
