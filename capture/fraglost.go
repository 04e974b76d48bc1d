package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
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
	// messages maps each distinct lost message (its dialogKey, or start
	// line and source when the fragment lacks those) to its tally; up to
	// maxLostSIPTold. untold counts the transmissions of the others.
	messages map[string]*lostTally
	untold   int
	examples []lostMessage
	// answered are the dialogKeys of messages a response answered: their
	// receiver got them whole, so whatever fragments the capture lacks
	// went missing in the capture, not on the way (fragHold.answered).
	answered map[string]bool
}

// lostTally is one lost message's transmissions, its first frame, and
// its index in examples (-1 past maxLostSIPKept).
type lostTally struct {
	sent, example int
	frame         uint64
}

// lostMessage is one lost SIP message and its transmissions' frames
// (its tally in messages counts them).
type lostMessage struct {
	key    string
	first  sipFragment
	frames []uint64 // at most maxLostSIPKept
}

// dialogKey names a SIP message by its Call-ID and CSeq, as a first
// fragment holds them (CSeq's number and method, spaces aside) and as
// its response repeats them.
func dialogKey(callID, cseq string) string {
	return callID + "\x00" + strings.Join(strings.Fields(cseq), " ")
}

// answeredKey is the dialogKey of the request a response answers (its
// Call-ID, and its CSeq's number and method).
func answeredKey(callID string, cseq uint32, method string) string {
	return dialogKey(callID, strconv.FormatUint(uint64(cseq), 10)+" "+method)
}

// messageKey is the key a lost message is told apart by.
func (f *sipFragment) messageKey() string {
	if f.callID == "" {
		return f.line + "\x00" + f.src.String()
	}
	return dialogKey(f.callID, f.cseq)
}

// note records the datagram c as lost: an anomaly (its fragments are
// not read), and a lost SIP message when its first fragment began one.
func (l *lostFragments) note(c *fragCount, sink anomalySink) {
	sink.anomaly("ip-fragments-incomplete", c.offset, c.frame,
		"an IP datagram whose fragments never all arrived: the rest was lost before the capture point")
	if c.sip == nil {
		return
	}
	if l.messages == nil {
		l.messages = map[string]*lostTally{}
	}
	key := c.sip.messageKey()
	t := l.messages[key]
	switch {
	case t == nil && len(l.messages) >= maxLostSIPTold:
		l.untold++
		return
	case t == nil:
		t = &lostTally{example: -1, frame: c.sip.frame}
		if len(l.examples) < maxLostSIPKept {
			t.example = len(l.examples)
			l.examples = append(l.examples, lostMessage{key: key, first: *c.sip})
		}
		l.messages[key] = t
	}
	t.sent++
	if t.example >= 0 {
		m := &l.examples[t.example]
		if len(m.frames) < maxLostSIPKept {
			m.frames = append(m.frames, c.sip.frame)
		}
	}
}

// findings names the SIP messages that arrived only in part and drew no
// answer: the fragments of an answered one reached its receiver.
func (l *lostFragments) findings() []report.Finding {
	sent, told := l.untold, 0
	for key, t := range l.messages {
		if !l.answered[key] {
			sent += t.sent
			told++
		}
	}
	if sent == 0 {
		return nil
	}
	var ev []report.Evidence
	var first *sipFragment
	for i := range l.examples {
		m := &l.examples[i]
		if l.answered[m.key] {
			continue
		}
		e := m.first
		if first == nil {
			first = &m.first
		}
		text := fmt.Sprintf("%s → %s: %s, first fragment only", e.src, e.dst, e.line)
		if sent := l.messages[m.key].sent; sent > 1 {
			text += fmt.Sprintf(", %d times", sent)
		}
		if e.callID != "" {
			text += " (Call-ID " + e.callID + ")"
		}
		ev = append(ev, report.Evidence{Text: text, Frames: m.frames, Time: e.at})
	}
	// Resends of one message are one lost message: say both counts.
	count := fmt.Sprintf("%d SIP message(s) over UDP", sent)
	if told < sent && l.untold == 0 {
		count = fmt.Sprintf("%d SIP message(s) over UDP (%d transmissions)", told, sent)
	}
	title := count + " arrived only in part"
	if first != nil {
		title += fmt.Sprintf(" (the first: %q from %s)", first.line, first.src)
	}
	return []report.Finding{{
		ID: IDSIPFragmentsLost, Severity: report.SeverityWarning,
		Title: title + ": their later IP fragments never reached the capture point, " +
			"so a router, firewall or NAT on the way drops fragments and every message too big for one packet is lost",
		Evidence: ev,
		Remedy:   remedyFragmentsLost,
	}}
}

// answered notes a response to the request with that Call-ID and CSeq
// (number and method): when the request's first fragment is all the
// capture holds of it, the rest reached its receiver all the same. A
// capture filtered by port (tcpdump 'udp port 5060') keeps only first
// fragments, as the others carry no UDP header. Cheap when the capture
// holds no SIP fragment, as most do.
func (h *fragHold) answered(callID string, cseq uint32, method string) {
	if h.sipFirsts == 0 || callID == "" {
		return
	}
	key := answeredKey(callID, cseq, method)
	if h.lost.answered[key] || h.firstFragmentOf(key) == 0 {
		return
	}
	if h.lost.answered == nil {
		h.lost.answered = map[string]bool{}
	}
	if len(h.lost.answered) < maxLostSIPTold {
		h.lost.answered[key] = true
	}
}

// firstFragment is the frame of the first fragment the capture holds of
// the SIP message with that Call-ID and CSeq whose other fragments it
// lacks (in reassembly still, or noted lost), or 0.
func (h *fragHold) firstFragment(callID string, cseq uint32, method string) uint64 {
	if h.sipFirsts == 0 {
		return 0
	}
	return h.firstFragmentOf(answeredKey(callID, cseq, method))
}

// firstFragmentOf is firstFragment for the message with that key.
func (h *fragHold) firstFragmentOf(key string) uint64 {
	if t := h.lost.messages[key]; t != nil {
		return t.frame
	}
	return h.pendingFirst(key)
}

// pendingFirst is the frame of the first fragment in reassembly of the
// message with that key, or 0.
func (h *fragHold) pendingFirst(key string) uint64 {
	var frame uint64
	for _, c := range h.pending {
		if c.sip != nil && c.sip.callID != "" && (frame == 0 || c.sip.frame < frame) && c.sip.messageKey() == key {
			frame = c.sip.frame
		}
	}
	return frame
}

// fragmentsLoseIt ends what the sender's findings say of a message that
// went in IP fragments and drew nothing.
const fragmentsLoseIt = "a router, firewall or NAT on the way that drops fragments loses it every time"

const remedyFragmentsLost = "SIP messages larger than one packet are sent in IP fragments, and something on the path drops them: send SIP over TCP " +
	"(RFC 3261 §18.1.1 asks for it above 1,300 bytes; on the phone or trunk, transport=tcp), make the INVITE smaller (fewer codecs, no video, fewer headers), " +
	"or let IP fragments through the firewall or NAT (turn off a SIP ALG that cannot reassemble them)."
