package capture_test

import (
	"strings"
	"testing"

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
