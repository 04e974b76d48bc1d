package capture_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestSenderHostSilent: captured on the caller's own PC, every packet to
// or from it, the PBX's RTP arriving and none of the caller's leaving:
// one-way, and the remedy is the caller's own host, not the network. The
// same call with the PC's traffic mixed with another host's (a capture on
// a link) keeps the network's remedy.
func TestSenderHostSilent(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.HostSilent}}, pcapgen.Options{Seed: 4})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	f := findingByID(res.Calls[0].Findings, report.IDOneWayAudio)
	if f == nil || len(f.Evidence) < 2 || !strings.HasPrefix(f.Evidence[1].Text, "every packet of the capture is to or from 192.168.") ||
		len(res.Remedies) == 0 || res.Remedies[0].ID != "check-the-sending-host" {
		t.Errorf("finding %+v, remedies %+v", f, res.Remedies)
	}

	path, _ = generate(t, []pcapgen.Call{{Kind: pcapgen.HostSilent}, {Kind: pcapgen.Normal}}, pcapgen.Options{Seed: 4})
	res = capture.AnalyzePath(t, path)
	f = findingByID(res.Calls[0].Findings, report.IDOneWayAudio)
	if f == nil || strings.Contains(f.Remedy, "own host") || len(res.Remedies) == 0 || res.Remedies[0].ID == "check-the-sending-host" {
		t.Errorf("two hosts' traffic: finding %+v, remedies %+v", f, res.Remedies)
	}
}

// TestProxyLANHairpin: through a proxy on the office LAN that passes the
// phones' SDP on, the callee's RTP reaches the caller looped back in by
// their NAT, from its public address: no SDP names that flow, and the
// proxy's leg it was not bound to must see it too, or the call is
// one-way ("no hairpinning") while the capture shows the loop working.
func TestProxyLANHairpin(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.ProxyLANHairpin}}, pcapgen.Options{Seed: 7})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	for _, l := range res.Calls[0].Legs {
		if l.Verdict != report.VerdictTwoWay {
			t.Errorf("leg %+v", l)
		}
	}
	looped := false
	for _, f := range res.Calls[0].Findings {
		looped = looped || f.ID == capture.IDRTPSourceDiffers && strings.Contains(f.Title, "the caller's NAT, which the callee is behind too, looped it back in")
	}
	if !looped {
		t.Errorf("no finding says the NAT looped the callee's RTP back in: %+v", res.Calls[0].Findings)
	}
}

// TestLoopbackCapture: the SIP of a call as a capture on a proxy's
// loopback interface holds it (Npcap's NPF_Loopback, lo): every packet
// from the host's address to itself, none of the RTP the phones on other
// hosts exchanged. The call cannot be judged, and the report says where
// the capture was taken, not that it was filtered to signalling.
func TestLoopbackCapture(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 4 * time.Second}}, pcapgen.Options{Seed: 2})
	host := net.IPv4(192, 0, 2, 77)
	path = rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && !bytes.Contains(udp.Payload, []byte("SIP/2.0")) {
			return nil // the media between the phones' hosts
		}
		return data
	})
	path = rewriteUDP(t, path, func(ip *layers.IPv4, udp *layers.UDP) []byte {
		ip.SrcIP, ip.DstIP = host, host
		return udp.Payload
	})
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	if c.Verdict != report.VerdictIncompleteCapture || !strings.Contains(c.Explain, "taken on a loopback interface") {
		t.Errorf("verdict %s (%s), want incomplete-capture on a loopback interface", c.Verdict, c.Explain)
	}
	if !strings.HasPrefix(res.Capture.Vantage, "on a loopback interface") || !strings.Contains(res.Capture.Vantage, "(192.0.2.77)") {
		t.Errorf("vantage %q", res.Capture.Vantage)
	}
}
