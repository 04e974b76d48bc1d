package capture_test

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
)

// TestProxyEgressOnly: the inbound-unfixed-server lab seen where only the
// proxy's own packets and the callee side's are (the caller's left out, as
// a capture of one direction at the proxy). The proxy's 100 and 408 to the
// caller answer an INVITE the capture lacks, not the proxy's INVITE to the
// phone's private Contact: it was no response reaching the wrong place
// (sip-responses-lost), it was never answered (request-to-private-address).
func TestProxyEgressOnly(t *testing.T) {
	res := capture.AnalyzePath(t, withoutSource(t, "natlab-inbound-unfixed-server.pcap", "203.0.113.10"))
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	if capture.HasFinding(c, "sip-responses-lost") || !capture.HasFinding(c, "request-to-private-address") {
		t.Errorf("findings %v: want request-to-private-address, no sip-responses-lost", capture.FindingIDs(c))
	}
}

// TestProxyAnswerOutOfSight: the record-route-private lab seen without the
// callee's packets (one direction of the proxy's hop to it, as on one
// interface of a host that sends on another). The proxy passed the
// callee's 180 and 200 OK on to the caller after its INVITE to the
// callee: that hop was answered out of sight, not left unanswered.
func TestProxyAnswerOutOfSight(t *testing.T) {
	res := capture.AnalyzePath(t, withoutSource(t, "natlab-record-route-private.pcap", "203.0.113.11"))
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	if capture.HasFinding(c, "request-unanswered") || !capture.HasFinding(c, "answer-never-acknowledged") {
		t.Errorf("findings %v: want answer-never-acknowledged, no request-unanswered", capture.FindingIDs(c))
	}
	if len(c.Legs) != 2 || c.Legs[1].Verdict != report.VerdictIncompleteCapture || !strings.Contains(c.Legs[1].Explain, "passed a 180 on to") {
		t.Errorf("legs %+v: want the second incomplete-capture, its answer passed on out of sight", c.Legs)
	}
}

// withoutSource writes the testdata capture name again without the
// packets sent from src (Ethernet, IPv4): what a capture of one
// direction of its hops holds.
func withoutSource(t *testing.T, name, src string) string {
	t.Helper()
	from := netip.MustParseAddr(src)
	const ipSrc = 26
	return rewriteCapture(t, filepath.Join("..", "testdata", name), func(data []byte, _ *gopacket.CaptureInfo) []byte {
		if len(data) >= ipSrc+4 && netip.AddrFrom4([4]byte(data[ipSrc:ipSrc+4])) == from {
			return nil
		}
		return data
	})
}
