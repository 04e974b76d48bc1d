package capture_test

import (
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestICEBehindNAT: a phone behind NAT that negotiates ICE puts its
// private host candidate in c= and its NAT mapping among the candidates.
// When the far end does ICE too and sends to that srflx candidate, the
// flow is bound by the SDP (not by heuristics) and the private c= is no
// finding; when the far end does not do ICE, it sends to c= and the
// caller cannot hear, and the finding names the candidate it ignored.
func TestICEBehindNAT(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{
		{Kind: pcapgen.ICENAT, Media: 4 * time.Second},
		// Another call from behind the same NAT, at the same time, without
		// SDP addresses: its media is bound by signalling address, and
		// must not go to the ICE call begun after it, which has its own.
		{Kind: pcapgen.TrickleICE, Start: time.Minute, Media: 4 * time.Second},
		{Kind: pcapgen.ICEOneSided, Start: time.Minute + time.Second, Media: 4 * time.Second},
		// Checks that a firewall leaves unanswered: no media, and why.
		{Kind: pcapgen.ICEBlocked, Start: 2 * time.Minute, Media: 4 * time.Second},
		// Checks the callee's agent refuses (401): no media, and why.
		{Kind: pcapgen.ICERefused, Start: 3 * time.Minute, Media: 4 * time.Second},
	}, pcapgen.Options{Seed: 5})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	for _, c := range res.Calls {
		kind := kindOf(truths, c.CallID)
		switch kind {
		case pcapgen.ICENAT:
			for _, f := range c.Findings {
				if f.ID == capture.IDSDPPrivateAddress || f.ID == capture.IDRTPSourceDiffers || f.ID == capture.IDICEChecksUnanswered || f.ID == capture.IDICEConnectedNoMedia {
					t.Errorf("%s: %s (%s)", kind, f.ID, f.Title)
				}
			}
			for _, fl := range c.Streams[0].Flows {
				if fl.Direction == "callee->caller" && (!fl.MatchedSDP || fl.ICECandidate != "srflx") {
					t.Errorf("%s: %s → %s bound with ICE candidate %q (matched %v), want srflx", kind, fl.Src, fl.Dst, fl.ICECandidate, fl.MatchedSDP)
				}
			}
			if got := c.Streams[0].Offer.ICECandidates; len(got) != 2 || !strings.HasPrefix(got[1], "srflx 203.0.113.1:") {
				t.Errorf("%s: offer's candidates %q", kind, got)
			}
		case pcapgen.ICEBlocked:
			f := findingOf(c, capture.IDICEChecksUnanswered)
			if f == nil || f.Severity != report.SeverityError || !strings.Contains(f.Evidence[0].Text, "5 checks from the caller") || !strings.Contains(f.Evidence[0].Text, "0 answered") {
				t.Errorf("%s: %+v", kind, f)
			}
			if findingOf(c, capture.IDSDPPrivateAddress) != nil {
				t.Errorf("%s: sdp-private-address, though both negotiate ICE", kind)
			}
		case pcapgen.ICERefused:
			f := findingOf(c, capture.IDICEChecksRefused)
			if f == nil || f.Severity != report.SeverityError || !strings.Contains(f.Title, "refused as unauthenticated (401 Unauthorized)") ||
				!strings.Contains(f.Evidence[0].Text, "5 checks from the caller") || !strings.Contains(f.Evidence[0].Text, "0 answered, 5 refused (401 Unauthorized)") ||
				!strings.Contains(f.Remedy, "ice-ufrag and ice-pwd") {
				t.Errorf("%s: %+v", kind, f)
			}
			if findingOf(c, capture.IDICEChecksUnanswered) != nil {
				t.Errorf("%s: ice-checks-unanswered, though the checks were refused", kind)
			}
		case pcapgen.ICEOneSided:
			f := findingOf(c, capture.IDSDPPrivateAddress)
			if f == nil || f.Severity != report.SeverityError || len(f.Evidence) != 2 ||
				!strings.Contains(f.Evidence[1].Text, "srflx candidate 203.0.113.1:") || !strings.Contains(f.Evidence[1].Text, "does not negotiate ICE") ||
				!strings.Contains(f.Remedy, "does not do ICE") {
				t.Errorf("%s: %+v", kind, f)
			}
		}
	}
}

func kindOf(truths []pcapgen.Truth, callID string) pcapgen.Kind {
	for _, tr := range truths {
		if tr.CallID == callID {
			return tr.Kind
		}
	}
	return ""
}

func findingOf(c report.Call, id report.FindingID) *report.Finding {
	return findingByID(c.Findings, id)
}

// TestBundleByPayloadType: audio and video on one port each side (BUNDLE,
// RFC 9143), as a WebRTC gateway negotiates them: each flow is judged on
// the m= line that lists its payload type, so both streams are two-way
// and no flow is a payload type its m= line never listed.
func TestBundleByPayloadType(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.Bundle, Media: 4 * time.Second}}, pcapgen.Options{Seed: 5})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	c := res.Calls[0]
	if len(c.Streams) != 2 {
		t.Fatalf("%d streams, want audio and video", len(c.Streams))
	}
	for i, want := range []uint8{0, 96} {
		s := c.Streams[i]
		rtp := 0
		for _, f := range s.Flows {
			if f.RTCP {
				continue
			}
			rtp++
			if len(f.PayloadTypes) != 1 || f.PayloadTypes[0] != want {
				t.Errorf("m=%s: flow %s → %s has payload types %v, want [%d]", s.Media, f.Src, f.Dst, f.PayloadTypes, want)
			}
		}
		if rtp != 2 || s.Verdict != report.VerdictTwoWay {
			t.Errorf("m=%s: %d RTP flows, %s; want 2, two-way", s.Media, rtp, s.Verdict)
		}
	}
	for _, f := range c.Findings {
		if f.Severity != report.SeverityInfo {
			t.Errorf("%s (%s)", f.ID, f.Title)
		}
	}
}
