package pcapgen

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
)

// The proxy scenes are captured on the proxy host (198.51.100.20), which
// anchors media at its relay: the caller (behind NAT, STUN) talks to the
// proxy, the proxy to the callee (198.51.100.30, or behind NAT at
// 203.0.113.2 when it leaks its private address), each hop with its own
// SDP and RTP. The SBC scene's B2BUA sends its second leg from an outside
// address (192.0.2.220) whose media the capture does not hold.

// legIdentity is what names one leg in its headers.
type legIdentity struct {
	callID, fromTag, toTag string
	a, b                   party
}

// onLeg runs fn with the generator's headers set for leg l.
func (g *callGen) onLeg(l legIdentity, fn func()) {
	saved := legIdentity{g.callID, g.fromTag, g.toTag, g.a, g.b}
	g.callID, g.fromTag, g.toTag, g.a, g.b = l.callID, l.fromTag, l.toTag, l.a, l.b
	fn()
	g.callID, g.fromTag, g.toTag, g.a, g.b = saved.callID, saved.fromTag, saved.toTag, saved.a, saved.b
}

// proxied builds a call through the proxy: one Call-ID on both legs for a
// proxy, a new Call-ID and tags on the second leg for a B2BUA.
func (g *callGen) proxied(t time.Time, truth Truth) {
	n := packetsFor(g.c.Media)
	relayPort := 40000 + 4*(g.i%5000)
	proxy := party{user: "proxy", sig: addrPort("198.51.100.20", 5060), local: "198.51.100.20"}
	relayA, relayB := proxy, proxy
	outside := "198.51.100.20"
	if g.c.Kind == SBCOutsideUnseen {
		outside = "192.0.2.220" // the SBC's outside interface
		relayB = party{user: "proxy", sig: addrPort(outside, 5060), local: outside}
		relayA.user = "200" // the caller dials the callee at the SBC
	}
	relayA.sdp, relayA.rtpSrc = addrPort("198.51.100.20", relayPort), addrPort("198.51.100.20", relayPort)
	relayB.sdp, relayB.rtpSrc = addrPort(outside, relayPort+2), addrPort(outside, relayPort+2)
	callee := party{user: "200", sig: addrPort("198.51.100.30", 5060), local: "198.51.100.30",
		sdp: addrPort("198.51.100.30", 30000+2*(g.i%10000)), rtpSrc: addrPort("198.51.100.30", 30000+2*(g.i%10000))}
	if g.c.Kind == SameNAT || g.c.Kind == SameNATDirect {
		// The callee is behind the caller's NAT too (the proxy tells them
		// apart by port). Anchoring, the proxy relays its STUN-fixed
		// media; not anchoring, it passes each phone's private SDP on as
		// it is and the media stays on their LAN.
		lan := fmt.Sprintf("192.168.1.%d", 10+(g.i+100)%200)
		port := 30000 + 2*(g.i%10000)
		callee = party{user: "200", sig: addrPort("203.0.113.1", 40000+g.i%20000), local: lan, natted: true,
			publicA: netip.MustParseAddr("203.0.113.1"), sdp: addrPort("203.0.113.1", port), rtpSrc: addrPort("203.0.113.1", port)}
		if g.c.Kind == SameNATDirect {
			callee.sdp, callee.rtpSrc = addrPort(lan, port), addrPort(lan, port)
			g.a.sdp = addrPort(g.a.local, int(g.a.sdp.Port()))
			relayA.sdp, relayB.sdp = callee.sdp, g.a.sdp
		}
	}
	if g.c.Kind == PBXDirectMediaNAT {
		g.a.sdp = addrPort(g.a.local, int(g.a.sdp.Port())) // no STUN: its private address
	}
	if g.c.Kind == ProxyLANHairpin {
		port := 30000 + 2*(g.i%10000)
		proxy = party{user: "proxy", sig: addrPort("192.168.1.5", 5060), local: "192.168.1.5"}
		relayA, relayB = proxy, proxy
		g.a = party{user: g.a.user, sig: addrPort("192.168.1.10", 5060), local: "192.168.1.10",
			sdp: addrPort("203.0.113.1", port), rtpSrc: addrPort("192.168.1.10", port)}
		callee = party{user: "200", sig: addrPort("192.168.1.20", 5060), local: "192.168.1.20",
			sdp: addrPort("192.168.1.20", port), rtpSrc: addrPort("192.168.1.20", port)}
	}
	if g.c.Kind == ProxyDirectOneWay || g.c.Kind == ProxyLANHairpin {
		relayA.sdp, relayB.sdp = callee.sdp, g.a.sdp // passed on as they are
	}
	if g.c.Kind == ProxyLeakCallee {
		lan := fmt.Sprintf("10.0.0.%d", 10+g.i%200)
		callee = party{user: "200", sig: addrPort("203.0.113.2", 20000+g.i%20000), local: lan, natted: true,
			publicA: netip.MustParseAddr("203.0.113.2"), sdp: addrPort(lan, 30000+2*(g.i%10000)), rtpSrc: addrPort("203.0.113.2", 30000+2*(g.i%10000))}
	}
	leg1 := legIdentity{g.callID, g.fromTag, g.toTag, g.a, relayA}
	leg2 := legIdentity{g.callID, g.fromTag, g.toTag + "2", relayB, callee}
	if g.c.Kind == B2BUA || g.c.Kind == SBCOutsideUnseen || g.c.Kind == PBXDirectMedia || g.c.Kind == PBXDirectMediaNAT {
		leg2.callID, leg2.fromTag = fmt.Sprintf("b2b-%08x-%d@natdoc.test", g.rng.Uint32(), g.i), fmt.Sprintf("c%06x", g.rng.Uint32()&0xffffff)
	}
	leg2.a.user = g.a.user // the caller's identity passes on in From
	answerAt := t.Add(2 * time.Second)
	g.onLeg(leg1, func() {
		g.request(t, "INVITE", g.a, g.b, "", g.sdp(g.a, "sendrecv", false))
		g.response(t.Add(5*time.Millisecond), 100, "Trying", "INVITE", g.b, g.a, "", "")
	})
	g.onLeg(leg2, func() {
		g.request(t.Add(50*time.Millisecond), "INVITE", g.a, g.b, "", g.sdp(g.a, "sendrecv", false))
		g.response(t.Add(time.Second), 180, "Ringing", "INVITE", g.b, g.a, g.toTag, "")
		g.response(answerAt, 200, "OK", "INVITE", g.b, g.a, g.toTag, g.sdp(g.b, "sendrecv", false))
		g.request(answerAt.Add(15*time.Millisecond), "ACK", g.a, g.b, g.toTag, "")
	})
	g.onLeg(leg1, func() {
		g.response(t.Add(time.Second+time.Millisecond), 180, "Ringing", "INVITE", g.b, g.a, g.toTag, "")
		g.response(answerAt.Add(5*time.Millisecond), 200, "OK", "INVITE", g.b, g.a, g.toTag, g.sdp(g.b, "sendrecv", false))
		g.request(answerAt.Add(10*time.Millisecond), "ACK", g.a, g.b, g.toTag, "")
	})
	mediaAt := answerAt.Add(20 * time.Millisecond)
	switch g.c.Kind {
	case SameNATDirect: // its media never reaches the proxy
	case ProxyDirectOneWay:
		g.stream(g.a.rtpSrc, callee.sdp, mediaAt, n, 0, 0)
	case ProxyLANHairpin:
		// The callee's RTP to the caller's public address, as the NAT
		// loops it back in: from its public address, a port of its own.
		g.stream(g.a.rtpSrc, callee.sdp, mediaAt, n, 0, 0)
		g.stream(addrPort("203.0.113.1", 50000+2*(g.i%5000)), g.a.rtpSrc, mediaAt, n, 0, 0)
	case PBXDirectMedia, PBXDirectMediaNAT:
		n = g.directMedia(leg1, leg2, mediaAt)
	default:
		g.stream(g.a.rtpSrc, relayA.sdp, mediaAt, n, 0, 0)
		g.stream(relayA.rtpSrc, g.a.sdp, mediaAt, n, 0, 0)
	}
	if g.c.Kind != SBCOutsideUnseen && g.c.Kind != SameNATDirect && g.c.Kind != ProxyDirectOneWay && g.c.Kind != PBXDirectMedia && g.c.Kind != PBXDirectMediaNAT && g.c.Kind != ProxyLANHairpin {
		g.stream(relayB.rtpSrc, callee.sdp, mediaAt, n, 0, 0)
		g.stream(callee.rtpSrc, relayB.sdp, mediaAt, n, 0, 0)
	}
	end := mediaAt.Add(g.c.Media)
	g.onLeg(leg1, func() {
		g.request(end.Add(100*time.Millisecond), "BYE", g.a, g.b, g.toTag, "")
		g.response(end.Add(105*time.Millisecond), 200, "OK", "BYE", g.b, g.a, g.toTag, "")
	})
	g.onLeg(leg2, func() {
		g.request(end.Add(110*time.Millisecond), "BYE", g.a, g.b, g.toTag, "")
		g.response(end.Add(115*time.Millisecond), 200, "OK", "BYE", g.b, g.a, g.toTag, "")
	})
	truth.Legs, truth.Verdict, truth.Packets = 2, report.VerdictTwoWay, [2]uint64{uint64(n), uint64(n)}
	if g.c.Kind == ProxyLeakCallee {
		// The proxy's relay sends to the callee's private address: on the
		// second leg the callee cannot hear, and so cannot the call.
		truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictOneWay, "callee", capture.IDSDPPrivateAddress
		truth.Packets, truth.Undeliverable = [2]uint64{0, uint64(n)}, [2]uint64{uint64(n), 0}
	}
	if g.c.Kind == PBXDirectMediaNAT {
		truth.Finding = capture.IDDirectMediaUnreachable
	}
	if g.c.Kind == ProxyDirectOneWay {
		truth.Verdict, truth.CannotHear, truth.Packets = report.VerdictOneWay, "caller", [2]uint64{uint64(n), 0}
	}
	if g.c.Kind == SBCOutsideUnseen || g.c.Kind == SameNATDirect {
		// The outside leg's media is not in the capture, but the SBC
		// relays the callee's audio to the caller: it flowed unseen. Or
		// the phones' media flows on their LAN.
		truth.Verdict, truth.Packets = report.VerdictIncompleteCapture, [2]uint64{}
	}
	g.truths = append(g.truths, truth)
}

// directMedia anchors a call's media at the PBX for a second on both
// legs, then re-INVITEs each phone, from the PBX, to send straight to the
// other (the re-INVITE comes from the callee's end of the first leg, so
// its From is the PBX's tag). It returns the packets sent each way
// before the move; the media after it is not on the PBX's host.
func (g *callGen) directMedia(leg1, leg2 legIdentity, mediaAt time.Time) int {
	n := packetsFor(time.Second)
	caller, relayA, relayB, callee := leg1.a, leg1.b, leg2.a, leg2.b
	g.stream(caller.rtpSrc, relayA.sdp, mediaAt, n, 0, 0)
	g.stream(relayA.rtpSrc, caller.rtpSrc, mediaAt, n, 0, 0) // where its media comes from (comedia)
	g.stream(relayB.rtpSrc, callee.sdp, mediaAt, n, 0, 0)
	g.stream(callee.rtpSrc, relayB.sdp, mediaAt, n, 0, 0)
	moveAt := mediaAt.Add(time.Second + 10*time.Millisecond)
	for i, l := range []legIdentity{leg1, leg2} {
		phone, pbx, far := l.a, l.b, callee
		if i == 1 {
			phone, pbx, far = l.b, l.a, caller
		}
		at := moveAt.Add(time.Duration(i) * 20 * time.Millisecond)
		direct := pbx
		direct.sdp = far.sdp
		// From the PBX's end: its tag is the From-tag of the request.
		fromPBX := legIdentity{callID: l.callID, fromTag: l.toTag, toTag: l.fromTag, a: pbx, b: phone}
		if i == 1 {
			fromPBX = l // the PBX is the caller of the second leg
		}
		g.onLeg(fromPBX, func() {
			g.cseq++
			g.request(at, "INVITE", pbx, phone, g.toTag, g.sdp(direct, "sendrecv", false))
			g.response(at.Add(10*time.Millisecond), 200, "OK", "INVITE", phone, pbx, g.toTag, g.sdp(phone, "sendrecv", false))
			g.request(at.Add(15*time.Millisecond), "ACK", pbx, phone, g.toTag, "")
		})
	}
	return n
}
