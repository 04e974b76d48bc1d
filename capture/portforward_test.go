package capture_test

import (
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestRTPPortsNotForwarded: a PBX behind its router, captured on its own
// host, takes eight calls from a trunk on RTP ports 10000-10700; the
// router forwards only up to 10399. Each call is judged on its own (four
// two-way, four one-way: the PBX cannot hear), and the capture names the
// cause the calls show together: the heard calls' ports lie below the
// unheard ones'. Fewer unheard calls name nothing: the split could be
// chance.
func TestRTPPortsNotForwarded(t *testing.T) {
	calls := func(n int) []pcapgen.Call {
		var cs []pcapgen.Call
		for k := range n {
			cs = append(cs, pcapgen.Call{Kind: pcapgen.ServerPortForward, Start: time.Duration(k) * 10 * time.Second})
		}
		return cs
	}
	path, truths := generate(t, calls(8), pcapgen.Options{Seed: 3})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	var found []report.Finding
	for _, f := range res.Findings {
		if f.ID == capture.IDRTPRangePartlyForwarded {
			found = append(found, f)
		}
	}
	if len(found) != 1 || !strings.Contains(found[0].Title, "RTP reaches 192.168.60.20 (its SDP names 203.0.113.60) only on some of its ports: "+
		"4 calls on ports 10000-10300 were heard, 4 calls on ports 10400-10700 above them were not") {
		t.Errorf("findings %+v, want one naming the ports", found)
	}
	// It explains the four one-way calls: its remedy comes before their own.
	if len(res.Remedies) == 0 || res.Remedies[0].ID != "forward-the-whole-rtp-range" {
		t.Errorf("remedies %+v, want forward-the-whole-rtp-range first", res.Remedies)
	}

	// Calls 0-4: four heard, one not; calls 0-6: four heard, three not,
	// which ports picked at random split so one time in 17.
	for _, n := range []int{5, 7} {
		path, _ = generate(t, calls(n), pcapgen.Options{Seed: 3})
		for _, f := range capture.AnalyzePath(t, path).Findings {
			if f.ID == capture.IDRTPRangePartlyForwarded {
				t.Errorf("%d calls, %d unheard: %s", n, n-4, f.Title)
			}
		}
	}
}

// TestRTPPortWindowForwarded: the same PBX's router forwards only a
// window inside its range (10300-10699 of 10000-10900): ten calls, the
// four inside heard, the six below and above not.
func TestRTPPortWindowForwarded(t *testing.T) {
	var calls []pcapgen.Call
	for k := range 10 {
		calls = append(calls, pcapgen.Call{Kind: pcapgen.ServerPortWindow, Start: time.Duration(k) * 10 * time.Second})
	}
	path, truths := generate(t, calls, pcapgen.Options{Seed: 3})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	var found []string
	for _, f := range res.Findings {
		if f.ID == capture.IDRTPRangePartlyForwarded {
			found = append(found, f.Title)
		}
	}
	want := "RTP reaches 192.168.60.20 (its SDP names 203.0.113.60) only on some of its ports: " +
		"4 calls on ports 10300-10600 were heard, 6 calls on ports 10000-10900 below and above them were not"
	if len(found) != 1 || !strings.HasPrefix(found[0], want) {
		t.Errorf("findings %q, want one starting %q", found, want)
	}
}

// TestServerPublicToLAN: a PBX with an external address set names the
// router's public address to a phone on its own LAN too. Captured on the
// PBX's host, the phone's RTP never shows: one-way, the PBX cannot hear,
// explained by the public address named to a LAN peer, with the
// LAN-peers remedy first.
func TestServerPublicToLAN(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.ServerPublicToLAN}}, pcapgen.Options{Seed: 3})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	c := res.Calls[0]
	var named, oneWay *report.Finding
	for i, f := range c.Findings {
		switch f.ID {
		case capture.IDLANMediaViaPublicAddress:
			named = &c.Findings[i]
		case report.IDOneWayAudio:
			oneWay = &c.Findings[i]
		}
	}
	if named == nil || named.Severity != report.SeverityWarning ||
		!strings.Contains(named.Title, "(SIP from 192.168.60.20) asks for media at 203.0.113.60, a public address, though the party that sends it is on its own LAN (192.168.60.30)") {
		t.Errorf("%s finding %+v, want a warning naming 203.0.113.60 to 192.168.60.30", capture.IDLANMediaViaPublicAddress, named)
	}
	if oneWay == nil || len(oneWay.Evidence) < 2 || !strings.Contains(oneWay.Evidence[1].Text, "the callee's SDP names 203.0.113.60:") {
		t.Errorf("one-way finding %+v, want the public address named to the LAN as its cause", oneWay)
	}
	if len(res.Remedies) == 0 || res.Remedies[0].ID != "lan-peers-on-lan-addresses" {
		t.Errorf("remedies %+v, want lan-peers-on-lan-addresses first", res.Remedies)
	}

	// Filtered to signalling, the capture cannot show whether the router
	// looped the media back in: the same SDP is a note, not a problem.
	path, _ = generate(t, []pcapgen.Call{{Kind: pcapgen.ServerPublicToLAN}}, pcapgen.Options{Seed: 3, SignallingOnly: true})
	res = capture.AnalyzePath(t, path)
	named = findingByID(res.Calls[0].Findings, capture.IDLANMediaViaPublicAddress)
	if named == nil || named.Severity != report.SeverityInfo || named.Remedy != "" || res.Calls[0].Verdict != report.VerdictIncompleteCapture {
		t.Errorf("signalling only: %s, finding %+v; want incomplete-capture and a note", res.Calls[0].Verdict, named)
	}
}
