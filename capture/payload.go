package capture

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/natdoc/natdoc/report"
)

// Each side of a call sends with the payload types the receiver's SDP
// lists, dynamic ones by the receiver's numbers (RFC 3264 §5.1, §6.1).
// RTP whose every payload type the receiver never listed is media it
// cannot tell the codec of: it plays nothing, or noise, although every
// packet arrives. A transcoder, SBC or PBX that rewrote the SDP but not
// the media, or a phone that ignored the answer, sends it.

// payloadFindings reports, for each direction of an audio stream of a
// two-way call, RTP that arrives, or could, in payload types the
// receiver's SDP never listed for that stream (comfort noise aside).
func payloadFindings(c *report.Call, cb *callBuild) []report.Finding {
	if c.Verdict != report.VerdictTwoWay {
		return nil
	}
	var fs []report.Finding
	for i := range c.Streams {
		ms := &c.Streams[i]
		if ms.Media != "audio" {
			continue
		}
		var done [2]bool
		listed := [2][]string{cb.listedPayloads(caller, ms.Index), cb.listedPayloads(callee, ms.Index)} // by receiver
		for k := range ms.Flows {
			f := &ms.Flows[k]
			p := slices.Index(directionNames[:], f.Direction)
			if p < 0 || done[p] || f.RTCP || f.UDPTL || f.Unreachable || f.Unproven || f.Packets <= barelySentPackets {
				continue
			}
			if len(listed[1-p]) == 0 || !allUnlisted(f.PayloadTypes, listed[1-p]) {
				continue
			}
			done[p] = true
			fs = append(fs, unlistedFinding(c, f, p, listed[1-p]))
		}
	}
	return fs
}

// listedPayloads are the SDP formats party p listed for m= line index in
// any of its SDP, as written ("0 PCMU/8000").
func (cb *callBuild) listedPayloads(p, index int) []string {
	var listed []string
	for _, ev := range cb.timeline() {
		if ev.Party != p || index >= len(ev.SDP.Media) {
			continue
		}
		if m := &ev.SDP.Media[index]; m.Media == "audio" && m.Port != 0 {
			for _, c := range m.Codecs {
				if !slices.Contains(listed, c) {
					listed = append(listed, c)
				}
			}
		}
	}
	return listed
}

// allUnlisted says whether every payload type in pts but comfort noise
// is missing from listed, and there is one.
func allUnlisted(pts []uint8, listed []string) bool {
	audio := false
	for _, pt := range pts {
		if isComfortNoise(pt) {
			continue
		}
		audio = true
		number := strconv.Itoa(int(pt))
		for _, c := range listed {
			if n, _, _ := strings.Cut(c, " "); n == number {
				return false
			}
		}
	}
	return audio
}

// audioPayloads lists payload types as "95" or "95, 96", comfort noise
// aside.
func audioPayloads(pts []uint8) string {
	var names []string
	for _, pt := range pts {
		if !isComfortNoise(pt) {
			names = append(names, strconv.Itoa(int(pt)))
		}
	}
	return strings.Join(names, ", ")
}

// unlistedFinding says what the receiver got: RTP it cannot decode.
func unlistedFinding(c *report.Call, f *report.RTPFlow, p int, listed []string) report.Finding {
	sender, receiver := partyNames[p], partyNames[1-p]
	pts := audioPayloads(f.PayloadTypes)
	return report.Finding{ID: IDPayloadNotListed, Severity: report.SeverityWarning, Subject: c.CallID, Remedy: remedyPayloadNotListed,
		Title: fmt.Sprintf("The %s sends RTP with payload type %s, which the %s's SDP never listed: the %s cannot tell its codec, "+
			"and may play nothing or noise although every packet arrives", sender, pts, receiver, receiver),
		Evidence: []report.Evidence{
			{Text: fmt.Sprintf("%s RTP %s → %s: %s, payload type %s", sender, f.Src, f.Dst, report.Plural(int(f.Packets), "packet"), pts),
				FrameRanges: []report.FrameRange{{First: f.FirstFrame, Last: f.LastFrame}}, Time: f.First},
			{Text: fmt.Sprintf("the %s's SDP lists %s", receiver, strings.Join(listed, ", "))},
		}}
}
