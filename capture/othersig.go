package capture

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/natdoc/natdoc/report"
)

// Call signalling natdoc does not read. A capture from a Cisco shop, an
// Asterisk trunk or a carrier's gateways may hold its calls' media with
// their signalling in MGCP, Skinny (SCCP), H.323, Megaco or IAX2 instead
// of SIP. natdoc judges SIP calls only; such a capture's RTP is media
// without signalling, and the report says which signalling it saw, so no
// one goes looking for SIP that was never sent. Each is recognised by its
// well-known port and the first bytes of its messages, so other traffic
// on those ports does not count.

// otherProtocol is a call signalling protocol natdoc does not read.
type otherProtocol uint8

const (
	noOtherProtocol otherProtocol = iota
	protoMGCP
	protoMegaco
	protoSCCP
	protoH323
	protoIAX2
	otherProtocols // the number of them, plus one
)

// otherProtocolNames name them, by otherProtocol, for the report; the
// decoded counts use their lower-case forms.
var otherProtocolNames = [otherProtocols]string{"", "MGCP", "Megaco", "SCCP", "H.323", "IAX2"}

// otherSignalling counts the packets of each protocol and keeps the
// first frames of them, as evidence.
type otherSignalling struct {
	packets [otherProtocols]uint64
	frames  [otherProtocols][]uint64
}

// maxOtherFrames bounds the frames kept of each protocol.
const maxOtherFrames = 4

func (o *otherSignalling) note(p otherProtocol, frame uint64) {
	o.packets[p]++
	if len(o.frames[p]) < maxOtherFrames {
		o.frames[p] = append(o.frames[p], frame)
	}
}

// seen says whether the capture holds any of them.
func (o *otherSignalling) seen() bool {
	for p := protoMGCP; p < otherProtocols; p++ {
		if o.packets[p] > 0 {
			return true
		}
	}
	return false
}

// names lists the protocols seen ("MGCP and SCCP").
func (o *otherSignalling) names() string {
	var names []string
	for p := protoMGCP; p < otherProtocols; p++ {
		if o.packets[p] > 0 {
			names = append(names, otherProtocolNames[p])
		}
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// counts lists each protocol's packets for the decoded counts.
func (o *otherSignalling) counts() []report.KeyValue {
	var kv []report.KeyValue
	for p := protoMGCP; p < otherProtocols; p++ {
		if n := o.packets[p]; n > 0 {
			kv = append(kv, report.KeyValue{Key: strings.ToLower(strings.ReplaceAll(otherProtocolNames[p], ".", "")), Value: fmt.Sprint(n)})
		}
	}
	return kv
}

// finding says which signalling the capture holds that natdoc does not
// read, with its first frames; sipCalls is how many SIP calls it holds
// beside (a gateway's SIP side and its Megaco or MGCP control).
func (o *otherSignalling) finding(sipCalls int) (report.Finding, bool) {
	if !o.seen() {
		return report.Finding{}, false
	}
	title := fmt.Sprintf("The capture holds call signalling natdoc does not read (%s): those calls are not judged, and their RTP is media without signalling", o.names())
	if sipCalls > 0 {
		title = fmt.Sprintf("Beside its SIP, the capture holds call signalling natdoc does not read (%s): the calls it sets up are not judged", o.names())
	}
	f := report.Finding{ID: IDOtherSignalling, Severity: report.SeverityInfo, Title: title,
		Remedy: "natdoc reads SIP: judge these calls by their media below, and read their " + o.names() + " in Wireshark; " +
			"capture the SIP side of a gateway, or of a server that converts, to have them judged."}
	for p := protoMGCP; p < otherProtocols; p++ {
		if n := o.packets[p]; n > 0 {
			f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("%s: %s", otherProtocolNames[p], report.Plural(int(n), "packet")), Frames: o.frames[p]})
		}
	}
	return f, true
}

// udpSignalling says which protocol a UDP payload that is neither SIP
// nor media is, by its port and its first bytes.
func udpSignalling(p *packet) otherProtocol {
	b := p.Payload
	switch {
	case onPort(p, 2427) || onPort(p, 2727):
		if mgcpStart(b) {
			return protoMGCP
		}
	case onPort(p, 2944) || onPort(p, 2945):
		if megacoStart(b) {
			return protoMegaco
		}
	case onPort(p, 4569):
		// An IAX2 full frame (RFC 5456 §8.1.1): the F bit, and a frame
		// type of DTMF to comfort noise (1-10).
		if len(b) >= 12 && b[0]&0x80 != 0 && b[10] >= 1 && b[10] <= 10 {
			return protoIAX2
		}
	}
	return noOtherProtocol
}

// tcpSignalling says which protocol a TCP payload that is not SIP is.
func tcpSignalling(p *packet) otherProtocol {
	b := p.Payload
	switch {
	case onPort(p, 2000):
		if sccpStart(b) {
			return protoSCCP
		}
	case onPort(p, 1720):
		// H.225 call signalling: a TPKT (RFC 1006) holding Q.931, whose
		// protocol discriminator is 8.
		if len(b) >= 5 && b[0] == 3 && b[1] == 0 && b[4] == 0x08 {
			return protoH323
		}
	case onPort(p, 2944) || onPort(p, 2945):
		if megacoStart(b) {
			return protoMegaco
		}
	}
	return noOtherProtocol
}

func onPort(p *packet, port uint16) bool { return p.Src.Port() == port || p.Dst.Port() == port }

// mgcpVerbs are MGCP's commands (RFC 3435 §3.2.2).
var mgcpVerbs = []string{"CRCX", "MDCX", "DLCX", "RQNT", "NTFY", "AUEP", "AUCX", "RSIP", "EPCF"}

// mgcpStart: a command ("CRCX 1234 ...") or a response ("200 1234 OK").
func mgcpStart(b []byte) bool {
	if len(b) < 6 || b[4] != ' ' && b[3] != ' ' {
		return false
	}
	if b[3] == ' ' && allDigits(string(b[:3])) {
		return true
	}
	return b[4] == ' ' && slices.Contains(mgcpVerbs, string(b[:4]))
}

// megacoStart: a text H.248 message (RFC 3525 §A.2), long or compact.
func megacoStart(b []byte) bool {
	s := string(b[:min(len(b), 8)])
	return strings.HasPrefix(s, "MEGACO/") || strings.HasPrefix(s, "!/")
}

// sccpStart: a Skinny header: a little-endian length of what follows the
// reserved word (the message ID and data, at least 4 bytes), a header
// version (0 for basic, 0x11-0x17 for later ones), and a message ID.
func sccpStart(b []byte) bool {
	if len(b) < 12 {
		return false
	}
	n := binary.LittleEndian.Uint32(b)
	version := binary.LittleEndian.Uint32(b[4:])
	id := binary.LittleEndian.Uint32(b[8:])
	return n >= 4 && n <= 4096 && (version == 0 || version >= 0x11 && version <= 0x17) && (id < 0x200 || id >= 0x8000 && id < 0x8200)
}

// decodedCounts are the capture's decoded packets by kind, the other
// call signalling among them, in the order of their names.
func (s *state) decodedCounts() []report.KeyValue {
	kv := append(s.counts.list(), s.otherSig.counts()...)
	slices.SortStableFunc(kv, func(a, b report.KeyValue) int { return strings.Compare(a.Key, b.Key) })
	return kv
}
