package capture_test

import (
	"os"
	"path/filepath"
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

// TestPassedOnPrivateSDPToldOnce: a proxy that does not anchor media
// passes each phone's private SDP on to the other. With both legs in the
// capture, each private address is one finding, the phone's own, on the
// leg where it starts; with one leg only, each is still told once.
func TestPassedOnPrivateSDPToldOnce(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.SameNATDirect, Media: 4 * time.Second}}, pcapgen.Options{Seed: 3})
	privateFindings := func(path string) (own, passedOn map[string]int) {
		own, passedOn = map[string]int{}, map[string]int{}
		res := capture.AnalyzePath(t, path)
		if len(res.Calls) != 1 {
			t.Fatalf("%d calls, want 1", len(res.Calls))
		}
		for _, f := range res.Calls[0].Findings {
			if f.ID != capture.IDSDPPrivateAddress {
				continue
			}
			if addr := f.Evidence[0].Addrs[0]; strings.Contains(f.Title, "passes on") {
				passedOn[addr]++
			} else {
				own[addr]++
			}
		}
		return own, passedOn
	}
	own, passedOn := privateFindings(path)
	if len(own) != 2 || len(passedOn) != 0 || own["192.168.1.10:10000"] != 1 {
		t.Errorf("both legs: own findings %v, passed-on %v; want each phone's address once, its own", own, passedOn)
	}
	// Leg 1 only: the caller and the proxy (the callee signals from
	// 203.0.113.1:40000 and up, the caller from :20000).
	leg1 := rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		if pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default); pkt.TransportLayer() != nil {
			if udp, ok := pkt.TransportLayer().(*layers.UDP); ok && (udp.SrcPort >= 40000 || udp.DstPort >= 40000) && (udp.SrcPort == 5060 || udp.DstPort == 5060) {
				return nil
			}
		}
		return data
	})
	own, passedOn = privateFindings(leg1)
	if own["192.168.1.10:10000"] != 1 || own["192.168.1.110:30000"]+passedOn["192.168.1.110:30000"] != 1 {
		t.Errorf("leg 1 only: own findings %v, passed-on %v; want each address once", own, passedOn)
	}
}

// TestOneWayPastTheProxy: a proxy passes the phones' SDP on and the media
// goes between them directly; the callee sends none. Both legs bind the
// same media, and the call's report says once, naming the two phones,
// who cannot hear whom, not that media "from the proxy" fails.
func TestOneWayPastTheProxy(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.ProxyDirectOneWay, Media: 4 * time.Second}}, pcapgen.Options{Seed: 3})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	var titles []string
	for _, f := range res.Calls[0].Findings {
		if f.ID == report.IDOneWayAudio {
			titles = append(titles, f.Title)
		}
	}
	want := "One-way audio: the caller 100@natdoc.test cannot hear the callee 200@natdoc.test (media goes directly between them, past the proxy 198.51.100.20)"
	if len(titles) != 1 || titles[0] != want {
		t.Errorf("one-way findings %q, want one: %q", titles, want)
	}
}

// TestNoMediaPastTheProxy: captured on the proxy's host, a call whose
// media goes between the phones directly holds none of it, while the
// capture holds other calls' RTP: the call cannot be judged, it is no
// no-way audio.
func TestNoMediaPastTheProxy(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{
		{Kind: pcapgen.Normal, Media: 4 * time.Second},
		{Kind: pcapgen.ProxyDirectOneWay, Start: time.Second, Media: 4 * time.Second},
	}, pcapgen.Options{Seed: 3})
	atProxy := rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if ip, ok := pkt.NetworkLayer().(*layers.IPv4); ok && ip.DstIP.String() == "198.51.100.30" && pkt.ApplicationLayer() != nil {
			if udp, ok := pkt.TransportLayer().(*layers.UDP); ok && udp.DstPort != 5060 {
				return nil // the direct media, which does not cross the proxy's host
			}
		}
		return data
	})
	res := capture.AnalyzePath(t, atProxy)
	if len(res.Calls) != 2 {
		t.Fatalf("%d calls, want 2", len(res.Calls))
	}
	if c := res.Calls[0]; c.Verdict != report.VerdictTwoWay {
		t.Errorf("the normal call: %s (%s)", c.Verdict, c.Explain)
	}
	c := res.Calls[1]
	if c.Verdict != report.VerdictIncompleteCapture || !strings.Contains(c.Explain, "the intermediary at 198.51.100.20 passes each party's SDP on") {
		t.Errorf("the call past the proxy: %s (%s), want incomplete-capture, the media past the proxy", c.Verdict, c.Explain)
	}
}

// TestPBXDirectMedia: a PBX anchors a call's media for a second, then
// re-INVITEs each phone to send straight to the other (Asterisk's
// direct_media); its host's capture sees the first second only. The call
// is two-way, and the relay's streams of one leg are not taken for the
// other leg's media because that leg's later SDP hands it the far phone's
// address.
func TestPBXDirectMedia(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.PBXDirectMedia, Media: 4 * time.Second}}, pcapgen.Options{Seed: 3})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	for _, c := range res.Calls {
		for _, f := range c.Findings {
			if f.ID == capture.IDRTPSourceDiffers || f.Severity != report.SeverityInfo {
				t.Errorf("%s %s: %s", f.Severity, f.ID, f.Title)
			}
		}
		for i, l := range c.Legs {
			if n := len(l.Streams[0].Flows); n != 2 {
				t.Errorf("leg %d carries %d flows, want its own 2", i+1, n)
			}
		}
	}
}

// TestPBXDirectMediaNAT: the PBX anchors a NATed caller's media (it sends
// to where the caller's RTP comes from), then hands the caller's private
// address to the callee (direct media): the anchored second was two-way,
// and the hand-over is a warning naming who will hear nothing.
func TestPBXDirectMediaNAT(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.PBXDirectMediaNAT, Media: 4 * time.Second}}, pcapgen.Options{Seed: 3})
	if dir := os.Getenv("NATDOC_KEEP_GEN"); dir != "" {
		data, _ := os.ReadFile(path)
		_ = os.WriteFile(filepath.Join(dir, "pbx-direct-media-nat.pcap"), data, 0o644)
	}
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	var titles []string
	for _, f := range res.Calls[0].Findings {
		if f.ID == capture.IDDirectMediaUnreachable || f.ID == capture.IDSDPPrivateAddress {
			titles = append(titles, string(f.ID)+": "+f.Title)
		}
	}
	want := "direct-media-unreachable: The b2bua 198.51.100.20 hands the callee 200@natdoc.test the caller 100@natdoc.test's private address 192.168.1.10:10000 (direct media): " +
		"the callee cannot reach it from outside the caller's NAT, so from then on the caller hears nothing"
	if !slices.Contains(titles, want) {
		t.Errorf("findings %q, want %q", titles, want)
	}
}
