package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// ICMP destination-unreachable errors (RFC 792 type 3, RFC 4443 type 1)
// quote the headers of the packet that could not be delivered: a host or
// router telling the sender that a SIP request or an RTP packet did not
// arrive, and why (port unreachable: nothing listens there; host
// unreachable; administratively prohibited: a firewall). An engineer reads
// them beside the request nobody answered and the stream nothing came back
// on; natdoc keeps them per quoted UDP source and destination, bounded,
// as evidence for those findings.

// IP protocol numbers of ICMP and ICMPv6.
const (
	protoICMP   = 1
	protoICMPv6 = 58
)

// maxUnreachables bounds the quoted source and destination pairs kept: a
// scan of closed ports must not grow the state without end.
const maxUnreachables = 4096

// unreachable is what the ICMP errors about one quoted pair said.
type unreachable struct {
	code                  uint8
	v6                    bool
	reporter              netip.Addr // the host or router that sent them
	count                 int
	firstFrame, lastFrame uint64
	firstNs, lastNs       int64 // capture times of the first and last
}

// unreachables are the ICMP destination-unreachable errors of a capture,
// by the UDP source and destination of the packet each quotes.
type unreachables struct {
	byPair map[[2]netip.AddrPort]*unreachable
	// tcp are the TCP connections tried, with the ICMP errors that
	// refused them (tcpconnect.go).
	tcp tcpConnects
}

// observe notes an ICMP or ICMPv6 packet (its payload from the type byte),
// when it is a destination-unreachable error quoting a UDP packet. full
// is true for an error not kept because maxUnreachables pairs were.
func (u *unreachables) observe(pkt *packet) (full bool) {
	proto, src, dst, code, ok := quotedTransport(pkt.Payload, pkt.Proto == protoICMPv6)
	if !ok {
		return false
	}
	if proto == protoTCP {
		u.tcp.unreachable(src, dst, unreachable{code: code, v6: pkt.Proto == protoICMPv6, reporter: pkt.Src.Addr(),
			firstFrame: pkt.Frame, firstNs: pkt.Time.UnixNano()})
		return false
	}
	key := [2]netip.AddrPort{src, dst}
	e := u.byPair[key]
	if e == nil {
		if len(u.byPair) >= maxUnreachables {
			return true
		}
		if u.byPair == nil {
			u.byPair = map[[2]netip.AddrPort]*unreachable{}
		}
		e = &unreachable{code: code, v6: pkt.Proto == protoICMPv6, reporter: pkt.Src.Addr(),
			firstFrame: pkt.Frame, firstNs: pkt.Time.UnixNano()}
		u.byPair[key] = e
	}
	e.count++
	e.lastFrame, e.lastNs = pkt.Frame, pkt.Time.UnixNano()
	return false
}

// refusedErrors is the fewest errors that show a stream refused: Linux
// sends a burst of about six, then one a second (icmp_ratelimit).
const refusedErrors = 3

// refusedFromStart is how soon after a flow's first packet the first
// error must come back for the flow to be refused: the first packet to a
// closed port draws one at once.
const refusedFromStart = 2 * time.Second

// refuses says why a flow's packets reached no application ("": they
// may have): ICMP errors about them came back from its start on
// (refusedFromStart), at least refusedErrors times, over at least half
// the flow's life. A receiver that opens its port a moment late draws a
// short burst only; one that closes it while the sender goes on (its
// BYE lost, or hung up first) draws errors from the middle on: the
// packets before them may have been heard.
func (e *unreachable) refuses(f *rtpFlow) string {
	if e == nil || e.count < refusedErrors || e.firstNs-f.firstNs > int64(refusedFromStart) ||
		2*(e.lastNs-e.firstNs) < f.lastNs-f.firstNs {
		return ""
	}
	return e.reason()
}

// connects are the TCP connections tried and reset (nil for no
// unreachables).
func (u *unreachables) connects() *tcpConnects {
	if u == nil {
		return nil
	}
	return &u.tcp
}

// about is what the errors said about packets from src to dst (nil: none).
func (u *unreachables) about(src, dst netip.AddrPort) *unreachable {
	if u == nil {
		return nil
	}
	return u.byPair[[2]netip.AddrPort{src, dst}]
}

// quotedTransport reads an ICMP destination-unreachable message, b from
// its type byte: its code, and the protocol (UDP or TCP, whose ports open
// their headers alike), source and destination of the packet it quotes.
// ok is false for any other ICMP message, and for a quote cut short or of
// another protocol (an IPv6 quote with extension headers included).
func quotedTransport(b []byte, v6 bool) (proto uint8, src, dst netip.AddrPort, code uint8, ok bool) {
	const icmpHeader = 8
	unreachableType := byte(3)
	if v6 {
		unreachableType = 1
	}
	if len(b) < icmpHeader || b[0] != unreachableType {
		return 0, src, dst, 0, false
	}
	q := b[icmpHeader:]
	var s, d netip.Addr
	var ports []byte
	if v6 {
		if len(q) < 40+8 || q[0]>>4 != 6 || (q[6] != protoUDP && q[6] != protoTCP) {
			return 0, src, dst, 0, false
		}
		proto = q[6]
		s, d, ports = netip.AddrFrom16([16]byte(q[8:24])), netip.AddrFrom16([16]byte(q[24:40])), q[40:48]
	} else {
		if len(q) < 20 || q[0]>>4 != 4 {
			return 0, src, dst, 0, false
		}
		ihl := int(q[0]&0x0f) * 4
		if ihl < 20 || len(q) < ihl+8 || (q[9] != protoUDP && q[9] != protoTCP) {
			return 0, src, dst, 0, false
		}
		proto = q[9]
		s, d, ports = netip.AddrFrom4([4]byte(q[12:16])), netip.AddrFrom4([4]byte(q[16:20])), q[ihl:ihl+8]
	}
	src = netip.AddrPortFrom(s, binary.BigEndian.Uint16(ports[0:2]))
	dst = netip.AddrPortFrom(d, binary.BigEndian.Uint16(ports[2:4]))
	return proto, src, dst, b[1], true
}

// allAlongICMP says that packets drew ICMP errors from their first to their
// last, with the errors' reason: the one wording after "refused" for a
// call's flow, a stray flow and a session no call claims.
func allAlongICMP(reason string) string {
	return "all along (ICMP " + reason + ")"
}

// portClosedBy says whether the errors are port unreachable from the
// destination host itself: nothing listens there, and (at a NAT's public
// address) no mapping or forward leads on.
func (e *unreachable) portClosedBy(dst netip.Addr) bool {
	return e != nil && e.reporter == dst && ((!e.v6 && e.code == 3) || (e.v6 && e.code == 4))
}

// reason says what the code means for the packets that drew it.
func (e *unreachable) reason() string {
	if e.v6 {
		switch e.code {
		case 0:
			return "no route: the destination network cannot be reached"
		case 1:
			return "administratively prohibited: a firewall refuses them"
		case 3:
			return "address unreachable: no host answers at that address"
		case 4:
			return "port unreachable: no program listens on that port there, and no router forwards or maps it"
		}
	} else {
		switch e.code {
		case 0:
			return "network unreachable: the destination network cannot be reached"
		case 1:
			return "host unreachable: no host answers at that address"
		case 3:
			return "port unreachable: no program listens on that port there, and no router forwards or maps it"
		case 9, 10, 13:
			return "administratively prohibited: a firewall refuses them"
		}
	}
	return "code " + strconv.Itoa(int(e.code))
}

// evidence words the errors for a finding about packets sent to dst.
func (e *unreachable) evidence(dst netip.AddrPort) string {
	kind := "ICMP"
	if e.v6 {
		kind = "ICMPv6"
	}
	return fmt.Sprintf("%s destination unreachable came back from %s %s for packets to %s: %s", kind, e.reporter, timesText(e.count), dst, e.reason())
}
