package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/natdoc/natdoc/report"
	"github.com/pion/stun/v3"
)

// A phone's STUN asks a server which public address its NAT gave a local
// socket (RFC 5389, or RFC 3489's classic form without the magic cookie).
// When two servers, asked from the same socket within moments, answer
// with different public addresses, the NAT maps per destination
// (address-dependent mapping, RFC 4787; RFC 3489: symmetric NAT): the
// address the phone learns by STUN is not the one the far end's media
// reaches, and STUN cannot fix one-way audio behind it. Only a capture
// taken before the NAT sees the one local socket, so only it proves this.

const (
	// maxSTUNSockets bounds the local sockets whose answers are kept.
	maxSTUNSockets = 1024
	// stunAnswersKept per socket: the last few servers' answers.
	stunAnswersKept = 4
	// stunVariesWithin: two answers further apart may differ because the
	// mapping expired and was made anew, not because of the destination.
	stunVariesWithin = 30 * time.Second
	// maxMappingProofs bounds the hosts a proof is kept for.
	maxMappingProofs = 16
	// stunMagicCookie marks an RFC 5389 message (pion/stun keeps its own
	// unexported).
	stunMagicCookie = 0x2112A442
)

// stunAnswer is one Binding success response to a local socket.
type stunAnswer struct {
	server, mapped netip.AddrPort
	frame          uint64
	at             time.Time
}

// mappingProof is what shows one host's NAT maps per destination: two
// servers' answers to the same local socket.
type mappingProof struct {
	local netip.AddrPort
	a, b  stunAnswer
}

// stunMappings keeps the recent Binding answers per local socket and the
// proofs of per-destination mapping they gave, by host.
type stunMappings struct {
	sockets map[netip.AddrPort][]stunAnswer
	proofs  map[netip.Addr]mappingProof
}

// observe reads pkt when it is a Binding success response (not an ICE
// check's: iceChecks took those) to a private socket, naming a public
// mapped address, and says whether it was one.
func (m *stunMappings) observe(pkt *packet) bool {
	mapped, ok := bindingMapped(pkt.Payload)
	if !ok || !IsPrivate(pkt.Dst.Addr()) || !isPublic(mapped.Addr()) {
		return false
	}
	local := pkt.Dst
	answers := m.sockets[local]
	if answers == nil {
		if len(m.sockets) >= maxSTUNSockets {
			return true
		}
		if m.sockets == nil {
			m.sockets = map[netip.AddrPort][]stunAnswer{}
		}
	}
	now := stunAnswer{server: pkt.Src, mapped: mapped, frame: pkt.Frame, at: pkt.Time}
	for _, a := range answers {
		if a.server != now.server && a.mapped != now.mapped && now.at.Sub(a.at) <= stunVariesWithin {
			m.prove(mappingProof{local: local, a: a, b: now})
			break
		}
	}
	if len(answers) == stunAnswersKept {
		answers = slices.Delete(answers, 0, 1)
	}
	m.sockets[local] = append(answers, now)
	return true
}

func (m *stunMappings) prove(p mappingProof) {
	host := p.local.Addr()
	if _, ok := m.proofs[host]; ok || len(m.proofs) >= maxMappingProofs {
		return
	}
	if m.proofs == nil {
		m.proofs = map[netip.Addr]mappingProof{}
	}
	m.proofs[host] = p
}

// prune forgets the sockets whose last answer came before cutoff: no
// later answer can be compared with theirs.
func (m *stunMappings) prune(cutoff time.Time) {
	for k, answers := range m.sockets {
		if answers[len(answers)-1].at.Before(cutoff) {
			delete(m.sockets, k)
		}
	}
}

// bindingMapped reads the mapped address of a Binding success response:
// XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS (all RFC 3489 servers send).
// pion/stun decodes only messages with the magic cookie; a classic one
// is decoded from a copy that carries it, which changes nothing of a
// MAPPED-ADDRESS (only XOR-MAPPED-ADDRESS is keyed by the cookie).
func bindingMapped(b []byte) (netip.AddrPort, bool) {
	if len(b) < 20 || binary.BigEndian.Uint16(b[0:2]) != stun.BindingSuccess.Value() || int(binary.BigEndian.Uint16(b[2:4]))+20 != len(b) {
		return netip.AddrPort{}, false
	}
	classic := binary.BigEndian.Uint32(b[4:8]) != stunMagicCookie
	msg := &stun.Message{Raw: append([]byte(nil), b...)}
	if classic {
		binary.BigEndian.PutUint32(msg.Raw[4:8], stunMagicCookie)
	}
	if err := msg.Decode(); err != nil {
		return netip.AddrPort{}, false
	}
	if !classic {
		var xa stun.XORMappedAddress
		if xa.GetFrom(msg) == nil {
			return addrPortOf(xa)
		}
	}
	var ma stun.MappedAddress
	if ma.GetFrom(msg) != nil {
		return netip.AddrPort{}, false
	}
	return addrPortOf(stun.XORMappedAddress(ma))
}

// list is the proofs in the order they were found.
func (m *stunMappings) list() []mappingProof {
	out := make([]mappingProof, 0, len(m.proofs))
	for _, p := range m.proofs {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b mappingProof) int { return int(a.b.frame) - int(b.b.frame) })
	return out
}

// evidence is the proof's two answers.
func (p mappingProof) evidence() []report.Evidence {
	ev := make([]report.Evidence, 0, 2)
	for _, a := range []stunAnswer{p.a, p.b} {
		ev = append(ev, report.Evidence{Text: fmt.Sprintf("STUN from %s: %s answered %s", p.local, a.server, a.mapped),
			Frames: []uint64{a.frame}, Addrs: []string{a.mapped.String()}, Time: a.at})
	}
	return ev
}

// mappingFindings are the capture's proofs of NATs that map per
// destination, one finding per host.
func mappingFindings(m *stunMappings) []report.Finding {
	var fs []report.Finding
	for _, p := range m.list() {
		fs = append(fs, report.Finding{
			ID: report.IDMappingVaries, Severity: report.SeverityWarning,
			Title: fmt.Sprintf("The NAT of %s gives each destination its own public port (address-dependent mapping; RFC 3489: symmetric NAT): "+
				"STUN cannot tell a phone behind it the address the far end's media must reach", p.local.Addr()),
			Evidence: p.evidence(), Remedy: remedyMappingVaries,
		})
	}
	return fs
}
