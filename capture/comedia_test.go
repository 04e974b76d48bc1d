package capture_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestSymmetricRTPWorksAround: the caller behind NAT leaks its private
// address in SDP, and the server sends its RTP to where the caller's RTP
// comes from (symmetric RTP, Asterisk's comedia) instead: the call is
// two-way, and the private-address finding says the server works around
// it.
func TestSymmetricRTPWorksAround(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.LeakCaller, Media: 4 * time.Second}}, pcapgen.Options{Seed: 3})
	comedia := rewriteUDP(t, path, func(ip *layers.IPv4, udp *layers.UDP) []byte {
		if !ip.DstIP.Equal(net.IPv4(192, 168, 1, 10)) {
			return nil
		}
		ip.DstIP = net.IPv4(203, 0, 113, 1) // the caller's NAT, where its RTP comes from
		return udp.Payload
	})
	res := capture.AnalyzePath(t, comedia)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	if c.Verdict != report.VerdictTwoWay {
		t.Errorf("verdict %s (%s), want two-way", c.Verdict, c.Explain)
	}
	found := false
	for _, f := range c.Findings {
		if f.ID != capture.IDSDPPrivateAddress {
			continue
		}
		for _, ev := range f.Evidence {
			found = found || strings.Contains(ev.Text, "the callee gw@natdoc.test sends its RTP to 203.0.113.1:10000, where the caller's own RTP comes from (symmetric RTP")
		}
		if f.Severity != report.SeverityInfo {
			t.Errorf("%s: %s", f.Severity, f.Title)
		}
	}
	if !found {
		t.Errorf("no sdp-private-address evidence of symmetric RTP: %+v", c.Findings)
	}
}
