package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
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
	// maxLostSIPTold bounds the distinct lost messages told apart (by
	// Call-ID and CSeq); past it they are counted as transmissions only.
	maxLostSIPTold = 4096
)

// sipFragment is the SIP message a datagram's first fragment begins.
type sipFragment struct {
	line string // its start line, at most 120 bytes
	// callID and cseq are the message's, when the fragment holds their
	// whole lines (at most 128 bytes each): its resends share them.
	callID, cseq string
	src, dst     netip.AddrPort
	at           time.Time
	frame        uint64
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
	f := &sipFragment{line: string(line), src: src, dst: dst, at: at, frame: frame}
	f.callID, f.cseq = fragmentDialogIDs(body)
	return f
}

// fragmentDialogIDs finds the Call-ID and CSeq lines (long or compact
// form) among the whole header lines of a first fragment.
func fragmentDialogIDs(body []byte) (callID, cseq string) {
	for rest := body; ; {
		i := bytes.Index(rest, []byte("\r\n"))
		if i <= 0 { // the header block's end, or a line the fragment cuts
			return callID, cseq
		}
		name, value, ok := bytes.Cut(rest[:i], []byte(":"))
		rest = rest[i+2:]
		if !ok || len(value) > 128 {
			continue
		}
		switch v := string(bytes.TrimSpace(value)); strings.ToLower(string(bytes.TrimSpace(name))) {
		case "call-id", "i":
			callID = v
		case "cseq":
			cseq = v
		}
		if callID != "" && cseq != "" {
			return callID, cseq
		}
	}
}

// lostFragments counts the SIP messages among the datagrams whose
// fragments never all came, and keeps the first ones.
type lostFragments struct {
	sent int // transmissions lost
	// messages maps each distinct lost message (Call-ID and CSeq, or
	// start line and source when the fragment lacks those) to its index
	// in examples, or -1 past maxLostSIPKept; up to maxLostSIPTold.
	messages map[string]int
	examples []lostMessage
}

// lostMessage is one lost SIP message and its transmissions' frames.
type lostMessage struct {
	first  sipFragment
	sent   int
	frames []uint64 // at most maxLostSIPKept
}

// note records the datagram c as lost: an anomaly (its fragments are
// not read), and a lost SIP message when its first fragment began one.
func (l *lostFragments) note(c *fragCount, sink anomalySink) {
	sink.anomaly("ip-fragments-incomplete", c.offset, c.frame,
		"an IP datagram whose fragments never all arrived: the rest was lost before the capture point")
	if c.sip == nil {
		return
	}
	l.sent++
	if l.messages == nil {
		l.messages = map[string]int{}
	}
	key := c.sip.callID + "\x00" + c.sip.cseq
	if c.sip.callID == "" {
		key = c.sip.line + "\x00" + c.sip.src.String()
	}
	i, seen := l.messages[key]
	switch {
	case !seen && len(l.messages) >= maxLostSIPTold:
		return
	case !seen:
		i = -1
		if len(l.examples) < maxLostSIPKept {
			i = len(l.examples)
			l.examples = append(l.examples, lostMessage{first: *c.sip})
		}
		l.messages[key] = i
	}
	if i >= 0 {
		m := &l.examples[i]
		m.sent++
		if len(m.frames) < maxLostSIPKept {
			m.frames = append(m.frames, c.sip.frame)
		}
	}
}

// findings names the SIP messages that arrived only in part.
func (l *lostFragments) findings() []report.Finding {
	if l.sent == 0 {
		return nil
	}
	first := l.examples[0].first
	ev := make([]report.Evidence, 0, len(l.examples))
	for _, m := range l.examples {
		e := m.first
		text := fmt.Sprintf("%s → %s: %s, first fragment only", e.src, e.dst, e.line)
		if m.sent > 1 {
			text += fmt.Sprintf(", %d times", m.sent)
		}
		if e.callID != "" {
			text += " (Call-ID " + e.callID + ")"
		}
		ev = append(ev, report.Evidence{Text: text, Frames: m.frames, Time: e.at})
	}
	// Resends of one message are one lost message: say both counts.
	count := fmt.Sprintf("%d SIP message(s) over UDP", l.sent)
	if n := len(l.messages); n < l.sent && n < maxLostSIPTold {
		count = fmt.Sprintf("%d SIP message(s) over UDP (%d transmissions)", n, l.sent)
	}
	return []report.Finding{{
		ID: IDSIPFragmentsLost, Severity: report.SeverityWarning,
		Title: fmt.Sprintf("%s arrived only in part (the first: %q from %s): their later IP fragments never reached the capture point, "+
			"so a router, firewall or NAT on the way drops fragments and every message too big for one packet is lost", count, first.line, first.src),
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
