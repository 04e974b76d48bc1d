package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/natdoc/natdoc/report"
)

// A NAT that loses a mapping mid-call (its connection table flushed by a
// WAN reconnect or a firewall reload, or an idle timeout while the phone
// paused its media) gives the phone's next packet a new mapping, often on
// another public port. The phone's media still arrives, from the new
// port; the far end, which sends to the port the SDP named or the phone's
// first packets came from, now sends into a mapping that is gone: from
// that moment the phone hears nothing. The capture shows the phone's RTP
// moving, with no SDP announcing it, from one port of its public address
// to another, while the far end's keeps going to the old one.

// Thresholds of a mid-call move: each side of it at least a second of
// 20 ms packets, the new flow starting within rebindGap of the old one's
// end, and the far end still sending to the old port rebindStale later.
const (
	rebindPackets = 50
	rebindGap     = 10 * time.Second
	rebindOverlap = 200 * time.Millisecond
	rebindStale   = time.Second
)

// mediaMove is a party's RTP moving from one source port to another.
type mediaMove struct {
	party    int
	from, to *report.RTPFlow
	// stale is the far end's flow to the old port that went on after the
	// move; followed, its flow to the new port.
	stale, followed *report.RTPFlow
}

// remapFindings reports the mid-call moves of the RTP of parties the
// signalling or SDP shows behind NAT. A move that left its party deaf
// (RemapProblem) makes a two-way call one-way; the move's new source is
// not reported again as differing from the SDP.
func remapFindings(c *report.Call, cb *callBuild) []report.Finding {
	var fs []report.Finding
	for i := range c.Streams {
		for p, dir := range directionNames {
			mv, ok := findMove(c.Streams[i].Flows, dir, p, cb)
			if !ok || !cb.behindNAT(p) {
				continue
			}
			f, oneWay := mv.finding(c.CallID)
			fs = append(fs, f)
			c.Findings = dropSourceDiffers(c.Findings, mv.to.Src)
			if oneWay && c.Verdict == report.VerdictTwoWay {
				c.Verdict, c.CannotHear = report.VerdictOneWay, partyNames[p]
				c.Explain = fmt.Sprintf("the %s could not hear from %s into the media on: its NAT moved its RTP to %s and the %s kept sending to %s",
					partyNames[p], mv.to.First.Sub(mv.from.First).Round(100*time.Millisecond), mv.to.Src, partyNames[1-p], mv.from.Src)
				c.Streams[i].Verdict = report.VerdictOneWay
			}
		}
	}
	return fs
}

// dropSourceDiffers leaves out the note that RTP comes from src, not from
// the SDP's address: the move explains it.
func dropSourceDiffers(fs []report.Finding, src string) []report.Finding {
	return slices.DeleteFunc(fs, func(f report.Finding) bool {
		return f.ID == IDRTPSourceDiffers && len(f.Evidence) > 0 && slices.Contains(f.Evidence[0].Addrs, src)
	})
}

// announced says whether an SDP of party p named a as its media address,
// or a private address with a's port: a NAT that keeps the port maps it
// to a (a re-INVITE that named the phone's own address).
func (cb *callBuild) announced(p int, a netip.AddrPort) bool {
	for _, ev := range cb.timeline() {
		if ev.Party != p {
			continue
		}
		for _, m := range ev.SDP.Media {
			if m.Addr == a || (m.Addr.Port() == a.Port() && IsPrivate(m.Addr.Addr())) {
				return true
			}
		}
	}
	return false
}

// behindNAT says whether the leg's signalling or SDP shows party p behind
// a NAT: a server's Via received= or rport= that differs from what its
// request's Via said (a received= that repeats it, as RFC 3581 asks for
// every rport request, shows nothing), a private Contact or Via in a
// message it sent from a public address, or a private o= or c= in an SDP
// it sent from one.
func (cb *callBuild) behindNAT(p int) bool {
	c := cb.call
	for _, tr := range c.traces.first {
		switch {
		case (tr.kind == traceContact || tr.kind == traceViaPrivate) && c.sender(tr.m) == p:
			return true
		case tr.kind == traceReceived && other(c.sender(tr.m)) == p: // a response to p's request
			return true
		}
	}
	for _, ev := range cb.timeline() {
		if ev.Party != p || !isPublic(ev.Src.Addr()) {
			continue
		}
		if ev.SDP.OriginAddr.IsValid() && IsPrivate(ev.SDP.OriginAddr) {
			return true
		}
		for _, m := range ev.SDP.Media {
			if m.Addr.IsValid() && IsPrivate(m.Addr.Addr()) {
				return true
			}
		}
	}
	return false
}

// findMove finds the first move of the RTP flows of direction dir (sent by
// party p) to a port p's SDP never named, with the far end's flows to the
// old and the new port. Flows are few: it allocates only for two or more.
func findMove(flows []report.RTPFlow, dir string, p int, cb *callBuild) (mediaMove, bool) {
	candidate := func(f *report.RTPFlow) bool {
		return f.Direction == dir && !f.RTCP && !f.UDPTL && !f.Unreachable && f.Packets >= rebindPackets
	}
	n := 0
	for k := range flows {
		if candidate(&flows[k]) {
			n++
		}
	}
	if n < 2 {
		return mediaMove{}, false
	}
	sent := make([]*report.RTPFlow, 0, n)
	for k := range flows {
		if candidate(&flows[k]) {
			sent = append(sent, &flows[k])
		}
	}
	slices.SortFunc(sent, func(a, b *report.RTPFlow) int { return a.First.Compare(b.First) })
	for k := 1; k < len(sent); k++ {
		a, b := sent[k-1], sent[k]
		from, err1 := netip.ParseAddrPort(a.Src)
		to, err2 := netip.ParseAddrPort(b.Src)
		if err1 != nil || err2 != nil || from.Addr() != to.Addr() || from.Port() == to.Port() || a.Dst != b.Dst ||
			!isPublic(from.Addr()) || cb.announced(p, to) {
			continue
		}
		if b.First.Before(a.Last.Add(-rebindOverlap)) || b.First.Sub(a.Last) > rebindGap {
			continue
		}
		mv := mediaMove{party: p, from: a, to: b}
		for j := range flows {
			f := &flows[j]
			if f.Direction == dir || f.RTCP {
				continue
			}
			switch f.Dst {
			case a.Src:
				if f.Last.After(b.First.Add(rebindStale)) {
					mv.stale = f
				}
			case b.Src:
				mv.followed = f
			}
		}
		return mv, true
	}
	return mediaMove{}, false
}

// finding says what the move means (RemapProblem): one-way from then when
// the far end kept sending to the old port, a note when it followed.
func (mv mediaMove) finding(subject string) (report.Finding, bool) {
	who, far := partyNames[mv.party], partyNames[1-mv.party]
	at := mv.to.First.Sub(mv.from.First) // into the flow, for the title
	var keptFor time.Duration
	if mv.stale != nil {
		keptFor = mv.stale.Last.Sub(mv.to.First)
	}
	oneWay, sev := RemapProblem(keptFor, mv.followed != nil)
	f := report.Finding{ID: IDMediaRemapped, Severity: sev, Subject: subject, Remedy: remedyRemapped,
		Title: fmt.Sprintf("The %s's RTP moved from %s to %s %s into its media, with no SDP announcing it: its NAT gave it a new mapping",
			who, mv.from.Src, mv.to.Src, at.Round(100*time.Millisecond))}
	f.Evidence = []report.Evidence{
		{Text: fmt.Sprintf("%s RTP %s → %s: %d packets, until %s", who, mv.from.Src, mv.from.Dst, mv.from.Packets, mv.from.Last.Format("15:04:05.000")),
			FrameRanges: []report.FrameRange{{First: mv.from.FirstFrame, Last: mv.from.LastFrame}}, Time: mv.from.First},
		{Text: fmt.Sprintf("%s RTP %s → %s: %d packets, from %s", who, mv.to.Src, mv.to.Dst, mv.to.Packets, mv.to.First.Format("15:04:05.000")),
			FrameRanges: []report.FrameRange{{First: mv.to.FirstFrame, Last: mv.to.LastFrame}}, Time: mv.to.First},
	}
	switch {
	case mv.followed != nil:
		f.Title += fmt.Sprintf("; the %s followed it (symmetric RTP)", far)
		f.Remedy = ""
		f.Evidence = append(f.Evidence, report.Evidence{
			Text:        fmt.Sprintf("%s RTP %s → %s: %d packets", far, mv.followed.Src, mv.followed.Dst, mv.followed.Packets),
			FrameRanges: []report.FrameRange{{First: mv.followed.FirstFrame, Last: mv.followed.LastFrame}}, Time: mv.followed.First,
		})
	case keptFor > 0:
		f.Title += fmt.Sprintf("; the %s kept sending to the old port, a mapping that is gone: the %s heard nothing from then on", far, who)
		f.Evidence = append(f.Evidence, report.Evidence{
			Text: fmt.Sprintf("%s RTP %s → %s went on until %s, %s after the move: nothing shows the NAT still forwards it",
				far, mv.stale.Src, mv.stale.Dst, mv.stale.Last.Format("15:04:05.000"), keptFor.Round(100*time.Millisecond)),
			FrameRanges: []report.FrameRange{{First: mv.stale.FirstFrame, Last: mv.stale.LastFrame}}, Time: mv.stale.First,
		})
	}
	return f, oneWay
}
