package pcapgen

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/natdoc/natdoc/report"
)

// What the SDP negotiated: one-way media from the start, and T.38 fax
// switched to by a re-INVITE (RFC 6913's m=image udptl t38, usually with
// the audio line's port set to 0).

// faxSDP is an offer or answer that declines audio and asks for T.38 on a
// port of the fax range (60000 and up), apart from every call's RTP.
func (g *callGen) faxSDP(p party) string {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=%s %d 2 IN IP4 %s\r\ns=natdoc\r\nc=IN IP4 %s\r\nt=0 0\r\n", p.user, 1000+g.i, p.sdp.Addr(), p.sdp.Addr())
	fmt.Fprintf(&b, "m=audio 0 RTP/AVP 0\r\nm=image %d udptl t38\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\na=T38FaxRateManagement:transferredTCF\r\na=T38FaxUdpEC:t38UDPRedundancy\r\n", g.faxAddr(p).Port())
	return b.String()
}

func (g *callGen) faxAddr(p party) netip.AddrPort {
	return netip.AddrPortFrom(p.sdp.Addr(), uint16(60000+2*(g.i%2500)))
}

// negotiated builds the calls whose SDP is the point: an announcement
// (recvonly offer, sendonly answer) and a fax. It reports whether the kind
// was one of them.
func (g *callGen) negotiated(t time.Time, offer string, truth Truth) bool {
	n := packetsFor(g.c.Media)
	answerAt := t.Add(2 * time.Second)
	mediaAt := answerAt.Add(20 * time.Millisecond)
	end := mediaAt.Add(g.c.Media)
	switch g.c.Kind {
	case Announcement:
		g.request(t, "INVITE", g.a, g.b, "", strings.Replace(offer, "a=sendrecv", "a=recvonly", 1))
		g.response(answerAt, 200, "OK", "INVITE", g.b, g.a, g.toTag, g.sdp(g.b, "sendonly", false))
		g.request(answerAt.Add(10*time.Millisecond), "ACK", g.a, g.b, g.toTag, "")
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, n, 0, 0)
		truth.Verdict, truth.Packets = report.VerdictOneWayNegotiated, [2]uint64{0, uint64(n)}
	case Fax, FaxOneWay, FaxToAudioPort:
		g.request(t, "INVITE", g.a, g.b, "", offer)
		g.response(answerAt, 200, "OK", "INVITE", g.b, g.a, g.toTag, g.sdp(g.b, "sendrecv", false))
		g.request(answerAt.Add(10*time.Millisecond), "ACK", g.a, g.b, g.toTag, "")
		g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, 50, 0, 0)
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, 50, 0, 0)
		faxAt := mediaAt.Add(time.Second + 100*time.Millisecond) // the fax tones were heard: switch to T.38
		g.cseq++
		g.request(faxAt, "INVITE", g.a, g.b, g.toTag, g.faxSDP(g.a))
		g.response(faxAt.Add(20*time.Millisecond), 200, "OK", "INVITE", g.b, g.a, g.toTag, g.faxSDP(g.b))
		g.request(faxAt.Add(30*time.Millisecond), "ACK", g.a, g.b, g.toTag, "")
		truth.Verdict, truth.Packets = report.VerdictTwoWay, [2]uint64{50, 50 + uint64(n)}
		switch g.c.Kind {
		case Fax:
			g.faxStream(g.faxAddr(g.b), g.faxAddr(g.a), faxAt.Add(50*time.Millisecond), n)
			g.faxStream(g.faxAddr(g.a), g.faxAddr(g.b), faxAt.Add(50*time.Millisecond), n)
			truth.Packets[0] += uint64(n)
		case FaxToAudioPort:
			// The callee's T.38 goes where the caller's audio came from;
			// the caller's fax, on its own port, never hears it.
			g.faxStream(g.faxAddr(g.b), g.a.rtpSrc, faxAt.Add(50*time.Millisecond), n)
			g.faxStream(g.faxAddr(g.a), g.faxAddr(g.b), faxAt.Add(50*time.Millisecond), n)
			truth.Verdict, truth.CannotHear = report.VerdictOneWay, "caller"
			truth.Packets = [2]uint64{50 + uint64(n), 50}
			truth.Unproven[1] = uint64(n)
		default:
			g.faxStream(g.faxAddr(g.b), g.faxAddr(g.a), faxAt.Add(50*time.Millisecond), n)
			// The caller's fax machine never gets its T.38 out: the audio
			// before it flowed both ways, the fax only one way.
			truth.Verdict, truth.CannotHear = report.VerdictOneWay, "callee"
		}
		end = faxAt.Add(g.c.Media)
	default:
		return false
	}
	g.cseq++
	g.request(end.Add(100*time.Millisecond), "BYE", g.a, g.b, g.toTag, "")
	g.response(end.Add(110*time.Millisecond), 200, "OK", "BYE", g.b, g.a, g.toTag, "")
	g.truths = append(g.truths, truth)
	return true
}

// faxStream sends n UDPTL packets (ITU-T T.38 §9.1: a 16-bit sequence
// number, then the IFP) every 20 ms.
func (g *callGen) faxStream(src, dst netip.AddrPort, at time.Time, n int) {
	if g.sc.noMedia {
		return
	}
	g.sources = append(g.sources, &rtpSource{src: src, dst: dst, vlan: g.vlan, at: at, left: n, udptl: true,
		payload: []byte{0x06, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}})
}
