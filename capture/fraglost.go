package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/natdoc/natdoc/report"
)

// A SIP message too big for one packet (an INVITE with a long SDP: many
// codecs, video, ICE candidates) goes over UDP in IP fragments. Routers,
// firewalls and NATs that drop fragments (all but the first, or all of
// them when a SIP ALG cannot reassemble) lose such a message whole, every
// time it is resent, while the small ones of the same phone get through:
// calls fail and registrations work. Seen where the fragments arrive, the
// first fragment of each transmission comes and the rest never does; the
// first fragment still shows which message it was.

// IDSIPFragmentsLost: SIP messages arrived as a first IP fragment only.
const IDSIPFragmentsLost report.FindingID = "sip-fragments-lost"

const (
	// fragmentGap: a datagram's fragments are sent back to back, so one
	// whose next fragment is this late lost it.
	fragmentGap = time.Second
	// maxLostSIPKept bounds the lost SIP messages kept as examples.
	maxLostSIPKept = 16
)

// sipFragment is the SIP message a datagram's first fragment begins.
type sipFragment struct {
	line     string // its start line, at most 120 bytes
	src, dst netip.AddrPort
	at       time.Time
	frame    uint64
}

// firstSIPFragment returns the SIP message a fragment begins, or nil: a
// first fragment (offset 0) of a UDP datagram whose payload starts like
// SIP (looksLikeSIP).
func firstSIPFragment(offset uint16, proto layers.IPProtocol, payload []byte, k fragKey, at time.Time, frame uint64) *sipFragment {
	const udpHeader = 8
	if offset != 0 || proto != layers.IPProtocolUDP || len(payload) <= udpHeader || !looksLikeSIP(payload[udpHeader:]) {
		return nil
	}
	body := payload[udpHeader:]
	line := body[:bytes.IndexByte(body, '\n')] // looksLikeSIP found it
	line = bytes.TrimRight(line[:min(len(line), 120)], "\r")
	src := netip.AddrPortFrom(k.src, binary.BigEndian.Uint16(payload[0:2]))
	dst := netip.AddrPortFrom(k.dst, binary.BigEndian.Uint16(payload[2:4]))
	return &sipFragment{line: string(line), src: src, dst: dst, at: at, frame: frame}
}

// lostFragments counts the SIP messages among the datagrams whose
// fragments never all came, and keeps the first ones.
type lostFragments struct {
	sip      int
	examples []sipFragment
}

// note records the datagram c as lost: an anomaly (its fragments are
// not read), and a lost SIP message when its first fragment began one.
func (l *lostFragments) note(c *fragCount, sink anomalySink) {
	sink.anomaly("ip-fragments-incomplete", c.offset, c.frame,
		"an IP datagram whose fragments never all arrived: the rest was lost before the capture point")
	if c.sip == nil {
		return
	}
	l.sip++
	if len(l.examples) < maxLostSIPKept {
		l.examples = append(l.examples, *c.sip)
	}
}

// findings names the SIP messages that arrived only in part.
func (l *lostFragments) findings() []report.Finding {
	if l.sip == 0 {
		return nil
	}
	first := l.examples[0]
	ev := make([]report.Evidence, 0, len(l.examples))
	for _, e := range l.examples {
		ev = append(ev, report.Evidence{Text: fmt.Sprintf("%s → %s: %s, first fragment only", e.src, e.dst, e.line),
			Frames: []uint64{e.frame}, Time: e.at})
	}
	return []report.Finding{{
		ID: IDSIPFragmentsLost, Severity: report.SeverityWarning,
		Title: fmt.Sprintf("%d SIP message(s) over UDP arrived only in part (the first: %q from %s): their later IP fragments never reached the capture point, "+
			"so a router, firewall or NAT on the way drops fragments and every message too big for one packet is lost", l.sip, first.line, first.src),
		Evidence: ev,
		Remedy:   remedyFragmentsLost,
	}}
}

// fragmentsLoseIt ends what the sender's findings say of a message that
// went in IP fragments and drew nothing.
const fragmentsLoseIt = "a router, firewall or NAT on the way that drops fragments loses it every time"

const remedyFragmentsLost = "SIP messages larger than one packet are sent in IP fragments, and something on the path drops them: send SIP over TCP " +
	"(RFC 3261 §18.1.1 asks for it above 1,300 bytes; on the phone or trunk, transport=tcp), make the INVITE smaller (fewer codecs, no video, fewer headers), " +
	"or let IP fragments through the firewall or NAT (turn off a SIP ALG that cannot reassemble them)."
