// Package hepgen makes the HEP traffic of a busy SIP proxy for natdoc's
// benchmarks: complete calls (INVITE, 100, 180, 200, ACK, BYE, 200 OK),
// each with its own Call-ID and caller address, as its siptrace would send
// them.
package hepgen

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/natdoc/natdoc/hep"
)

// Addresses of the simulated parties: many callers behind one proxy.
var proxy = netip.MustParseAddrPort("198.51.100.5:5060")

func caller(n int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), 5060)
}

// packetFor addresses message k of call n: requests from the caller,
// responses from the proxy, the callee's side folded into the proxy.
func packetFor(n, k int, msg []byte, at time.Time) hep.Packet {
	src, dst := caller(n), proxy
	if k == 1 || k == 2 || k == 3 || k == 6 {
		src, dst = proxy, caller(n)
	}
	return hep.Packet{Proto: 17, Src: src, Dst: dst, Time: at, Type: hep.TypeSIP, Payload: msg, CaptureID: 1}
}

// Call returns the seven HEP packets of call n (INVITE, 100, 180, 200,
// ACK, BYE, 200 OK), each with its own bytes, stamped at.
func Call(n int, at time.Time) [MessagesPerCall]hep.Packet {
	var out [MessagesPerCall]hep.Packet
	for k, msg := range callMessages(n) {
		out[k] = packetFor(n, k, msg, at)
	}
	return out
}

// MessagesPerCall is how many SIP messages a generated call has.
const MessagesPerCall = 7

func callMessages(n int) [MessagesPerCall][]byte {
	id := fmt.Sprintf("%08x-bench@natdoc.test", n)
	c := caller(n).Addr()
	head := func(start, cseq, toTag string) string {
		return fmt.Sprintf("%s\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK%s%s;rport\r\nFrom: <sip:u%d@example.test>;tag=f%d\r\n"+
			"To: <sip:200@example.test>%s\r\nCall-ID: %s\r\nCSeq: %s\r\nContact: <sip:u%d@%s:5060>\r\n",
			start, c, id[:8], cseq[:1], n, n, toTag, id, cseq, n, c)
	}
	sdp := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", c, c)
	withBody := func(h, body string) []byte {
		return fmt.Appendf(nil, "%sContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", h, len(body), body)
	}
	empty := func(h string) []byte { return fmt.Appendf(nil, "%sContent-Length: 0\r\n\r\n", h) }
	return [MessagesPerCall][]byte{
		withBody(head("INVITE sip:200@example.test SIP/2.0", "1 INVITE", ""), sdp),
		empty(head("SIP/2.0 100 Trying", "1 INVITE", "")),
		empty(head("SIP/2.0 180 Ringing", "1 INVITE", ";tag=t1")),
		withBody(head("SIP/2.0 200 OK", "1 INVITE", ";tag=t1"), sdp),
		empty(head("ACK sip:200@example.test SIP/2.0", "1 ACK", ";tag=t1")),
		empty(head("BYE sip:200@example.test SIP/2.0", "2 BYE", ";tag=t1")),
		empty(head("SIP/2.0 200 OK", "2 BYE", ";tag=t1")),
	}
}
