package capture

import (
	"encoding/binary"
	"net/netip"

	"github.com/pion/stun/v3"
)

// Media relayed by a TURN server (RFC 8656), captured at the client: the
// client's RTP goes to the server in ChannelData (a 4-byte header: channel
// number and length) or in Send indications, and the peer's comes back
// in ChannelData or Data indications. Left wrapped, a WebRTC or softphone
// call relayed because of a strict NAT or firewall shows no RTP at all.
// natdoc follows each allocation (its relayed address, from the Allocate
// success response) and the channels bound on it (ChannelBind request and
// success response), and hands each relayed packet on as the server
// forwards it: from the relayed address to the peer, or from the peer to
// the relayed address, which are the addresses the call's SDP names (its
// relay candidate and the peer's address). A packet of a channel or
// allocation the capture did not show being set up stays an ordinary
// datagram.

// Bounds of the TURN state: allocations followed, channels per
// allocation, ChannelBind requests awaiting their answer.
const (
	maxTURNAllocations = 4096
	maxTURNChannels    = 64
	maxTURNPending     = 4096
)

// turnKey is an allocation's 5-tuple: the client's address as the server
// sees it (as captured) and the server's.
type turnKey struct{ client, server netip.AddrPort }

type turnAllocation struct {
	relay    netip.AddrPort
	channels map[uint16]netip.AddrPort // channel number → peer
}

type turnBind struct {
	key     turnKey
	channel uint16
	peer    netip.AddrPort
}

// turnTable is the TURN state of one capture, kept by the decoder that
// sees every packet in order.
type turnTable struct {
	allocs  map[turnKey]*turnAllocation
	relays  map[netip.AddrPort]turnKey // relayed address → allocation
	pending map[[stun.TransactionIDSize]byte]turnBind
	msg     stun.Message
	full    bool // an allocation was not followed: reported once
}

func newTURNTable() *turnTable {
	return &turnTable{allocs: map[turnKey]*turnAllocation{}, relays: map[netip.AddrPort]turnKey{}, pending: map[[stun.TransactionIDSize]byte]turnBind{}}
}

// channelData reads ChannelData framing (RFC 8656 §12.4): a channel number
// in 0x4000-0x4FFF and the length of the data, which over UDP may be
// followed by up to 3 bytes of padding.
func channelData(b []byte) (channel uint16, data []byte, ok bool) {
	if len(b) < 4 || b[0]&0xf0 != 0x40 {
		return 0, nil, false
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if 4+n > len(b) || len(b) > 4+n+3 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint16(b[0:2]), b[4 : 4+n], true
}

// stunMethod is the method of a STUN message type (RFC 5389 §6: the
// method's 12 bits are split around the two class bits).
func stunMethod(v uint16) stun.Method {
	var t stun.MessageType
	t.ReadValue(v)
	return t.Method
}

// turnLike says, from one datagram alone, whether it may be TURN traffic
// natdoc follows: ChannelData, or a STUN message of the Allocate,
// ChannelBind, Send or Data method. Only these need the TURN state.
func turnLike(b []byte) bool {
	if _, _, ok := channelData(b); ok {
		return true
	}
	if !stun.IsMessage(b) || b[0]&0xc0 != 0 {
		return false
	}
	switch stunMethod(binary.BigEndian.Uint16(b[0:2])) {
	case stun.MethodAllocate, stun.MethodChannelBind, stun.MethodSend, stun.MethodData:
		return true
	}
	return false
}

// unwrap returns what the server forwards of a datagram between client
// and server: the relayed data with the addresses it travels between
// beyond the server (relayed address and peer). ok is false for anything
// else, which stays an ordinary datagram; TURN control messages update the
// state on the way. data may point into the table's own buffer (the DATA
// of an indication): it is valid until the next call, and the decoder
// hands it on before then.
func (t *turnTable) unwrap(src, dst netip.AddrPort, b []byte, sink anomalySink, offset int64, frame uint64) (from, to netip.AddrPort, data []byte, ok bool) {
	if ch, payload, isData := channelData(b); isData {
		if a, toServer := t.allocation(src, dst); a != nil {
			if peer, bound := a.channels[ch]; bound {
				return forwarded(a.relay, peer, toServer, payload)
			}
		}
		return from, to, nil, false
	}
	m := &t.msg
	m.Raw = append(m.Raw[:0], b...)
	if err := m.Decode(); err != nil {
		return from, to, nil, false
	}
	switch {
	case m.Type.Method == stun.MethodAllocate && m.Type.Class == stun.ClassSuccessResponse:
		t.allocated(turnKey{client: dst, server: src}, m, sink, offset, frame)
	case m.Type.Method == stun.MethodChannelBind && m.Type.Class == stun.ClassRequest:
		t.bindRequested(turnKey{client: src, server: dst}, m)
	case m.Type.Method == stun.MethodChannelBind && m.Type.Class == stun.ClassSuccessResponse:
		if bind, waiting := t.pending[m.TransactionID]; waiting && bind.key == (turnKey{client: dst, server: src}) {
			delete(t.pending, m.TransactionID)
			if a := t.allocs[bind.key]; a != nil && (len(a.channels) < maxTURNChannels || a.channels[bind.channel].IsValid()) {
				a.channels[bind.channel] = bind.peer
			}
		}
	case (m.Type.Method == stun.MethodSend || m.Type.Method == stun.MethodData) && m.Type.Class == stun.ClassIndication:
		a, toServer := t.allocation(src, dst)
		if a == nil || toServer != (m.Type.Method == stun.MethodSend) {
			return from, to, nil, false
		}
		var peer stun.XORMappedAddress
		payload, err := m.Get(stun.AttrData)
		if err != nil || peer.GetFromAs(m, stun.AttrXORPeerAddress) != nil {
			return from, to, nil, false
		}
		if p, okPeer := addrPortOf(peer); okPeer {
			return forwarded(a.relay, p, toServer, payload)
		}
	}
	return from, to, nil, false
}

// forwarded is the data as the server passes it on: the client's from its
// relayed address to the peer, the peer's to the relayed address.
func forwarded(relay, peer netip.AddrPort, toServer bool, data []byte) (from, to netip.AddrPort, _ []byte, ok bool) {
	if toServer {
		return relay, peer, data, true
	}
	return peer, relay, data, true
}

// allocation finds the allocation a datagram belongs to, and whether it
// goes from the client to the server.
func (t *turnTable) allocation(src, dst netip.AddrPort) (*turnAllocation, bool) {
	if a := t.allocs[turnKey{client: src, server: dst}]; a != nil {
		return a, true
	}
	return t.allocs[turnKey{client: dst, server: src}], false
}

// allocated follows the allocation an Allocate success response names.
func (t *turnTable) allocated(key turnKey, m *stun.Message, sink anomalySink, offset int64, frame uint64) {
	var relay stun.XORMappedAddress
	if relay.GetFromAs(m, stun.AttrXORRelayedAddress) != nil {
		return
	}
	r, ok := addrPortOf(relay)
	if !ok {
		return
	}
	if a := t.allocs[key]; a != nil {
		delete(t.relays, a.relay)
		a.relay = r // a new allocation on the same 5-tuple
		clear(a.channels)
		t.relays[r] = key
		return
	}
	if len(t.allocs) >= maxTURNAllocations {
		if !t.full {
			t.full = true
			sink.anomaly("turn-allocations-over-limit", offset, frame, "more than 4096 TURN allocations: the media of later ones is not unwrapped")
		}
		return
	}
	t.allocs[key] = &turnAllocation{relay: r, channels: map[uint16]netip.AddrPort{}}
	t.relays[r] = key
}

// relayOf is the allocation whose relayed address one end of a flow is:
// media the capture saw between client and server.
func (t *turnTable) relayOf(k flowKey) (turnKey, bool) {
	if t == nil {
		return turnKey{}, false
	}
	if key, ok := t.relays[k.Src]; ok {
		return key, true
	}
	key, ok := t.relays[k.Dst]
	return key, ok
}

// bindRequested remembers a ChannelBind request until its answer.
func (t *turnTable) bindRequested(key turnKey, m *stun.Message) {
	raw, err := m.Get(stun.AttrChannelNumber)
	var peer stun.XORMappedAddress
	if err != nil || len(raw) < 2 || peer.GetFromAs(m, stun.AttrXORPeerAddress) != nil || t.allocs[key] == nil {
		return
	}
	ch := binary.BigEndian.Uint16(raw[0:2])
	p, ok := addrPortOf(peer)
	if !ok || ch&0xf000 != 0x4000 {
		return
	}
	if len(t.pending) >= maxTURNPending {
		clear(t.pending) // requests never answered: start over
	}
	t.pending[m.TransactionID] = turnBind{key: key, channel: ch, peer: p}
}

func addrPortOf(a stun.XORMappedAddress) (netip.AddrPort, bool) {
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok || a.Port == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port)), true
}

// unwrapUDP hands on what a UDP datagram wraps (a mirrored frame, a HEP
// message), reporting whether it did; TURN-relayed data it unwraps in
// place, the datagram then handed on as usual. rec is the datagram's
// record, which a decoder that routes hands on whole for TURN.
func (d *decoder) unwrapUDP(rec *Record, pkt *packet, emit func(*packet)) bool {
	if d.unwrapMirror(pkt, emit) || d.unwrapHEP(pkt, emit) {
		return true
	}
	if !turnLike(pkt.Payload) {
		return false
	}
	if d.route {
		// The TURN state must see every packet in order: the analyser's
		// decoder decodes this one.
		if rec == nil {
			return false
		}
		pkt.Raw, pkt.RawLink, pkt.WireLen = rec.Data, rec.LinkType, rec.WireLen
		emit(pkt)
		return true
	}
	if from, to, data, ok := d.turnTable().unwrap(pkt.Src, pkt.Dst, pkt.Payload, d.sink, pkt.Offset, pkt.Frame); ok {
		pkt.Src, pkt.Dst, pkt.Payload = from, to, data
	}
	return false
}

// turnStreamStart says whether a TCP connection's first payload starts
// TURN over TCP (RFC 8656 §3.1): a client's Allocate request.
func turnStreamStart(b []byte) bool {
	return stun.IsMessage(b) && b[0]&0xc0 == 0 &&
		binary.BigEndian.Uint16(b[0:2]) == stun.NewType(stun.MethodAllocate, stun.ClassRequest).Value()
}

// turnFrameLen is the length of the TURN frame buf starts with on a TCP
// connection (RFC 8656 §12.5: a STUN message, or ChannelData padded to 4
// bytes); need says more bytes must come first, ok false that buf starts
// with neither.
func turnFrameLen(buf []byte) (n int, need, ok bool) {
	if len(buf) < 4 {
		return 0, true, true
	}
	switch {
	case buf[0]&0xc0 == 0: // STUN: a 20-byte header and its attributes
		n = 20 + int(binary.BigEndian.Uint16(buf[2:4]))
	case buf[0]&0xf0 == 0x40:
		n = (4 + int(binary.BigEndian.Uint16(buf[2:4])) + 3) &^ 3
	default:
		return 0, false, false
	}
	return n, len(buf) < n, true
}

// drainTURN unwraps each complete TURN frame a TCP connection buffered:
// relayed data is analysed as the datagram the server forwards (the relay
// itself sends and receives UDP), control messages update the TURN state.
func (s *state) drainTURN(pkt *packet, st *tcpStream) {
	t := s.side.dec.turnTable()
	for len(st.buf) > 0 {
		n, need, ok := turnFrameLen(st.buf)
		if !ok {
			s.anomaly("malformed-turn", pkt.Offset, pkt.Frame, "TURN over TCP: a frame neither STUN nor ChannelData; the connection is no longer followed")
			st.buf, st.skipping = st.buf[:0], true
			return
		}
		if need {
			return
		}
		if from, to, data, ok := t.unwrap(pkt.Src, pkt.Dst, st.buf[:n], s, pkt.Offset, pkt.Frame); ok {
			relayed := packet{Frame: pkt.Frame, Time: pkt.Time, Offset: pkt.Offset, Proto: protoUDP, Src: from, Dst: to, Payload: data}
			s.side.emit(&relayed)
		}
		st.buf = append(st.buf[:0], st.buf[n:]...)
	}
	s.side.flush()
}

// turnTable is the decoder's TURN state, made on first use.
func (d *decoder) turnTable() *turnTable {
	if d.turn == nil {
		d.turn = newTURNTable()
	}
	return d.turn
}
