package capture_test

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"

	"github.com/natdoc/natdoc/capture"
)

// TestProxyEgressOnly: the inbound-unfixed-server lab seen where only the
// proxy's own packets and the callee side's are (the caller's left out, as
// a capture of one direction at the proxy). The proxy's 100 and 408 to the
// caller answer an INVITE the capture lacks, not the proxy's INVITE to the
// phone's private Contact: it was no response reaching the wrong place
// (sip-responses-lost), it was never answered (request-to-private-address).
func TestProxyEgressOnly(t *testing.T) {
	caller := netip.MustParseAddr("203.0.113.10")
	const ipSrc = 26 // Ethernet, IPv4
	path := rewriteCapture(t, filepath.Join("..", "testdata", "natlab-inbound-unfixed-server.pcap"), func(data []byte, _ *gopacket.CaptureInfo) []byte {
		if len(data) >= ipSrc+4 && netip.AddrFrom4([4]byte(data[ipSrc:ipSrc+4])) == caller {
			return nil
		}
		return data
	})
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	if capture.HasFinding(c, "sip-responses-lost") || !capture.HasFinding(c, "request-to-private-address") {
		t.Errorf("findings %v: want request-to-private-address, no sip-responses-lost", capture.FindingIDs(c))
	}
}
