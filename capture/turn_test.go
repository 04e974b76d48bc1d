package capture

import (
	"net/netip"
	"testing"

	"github.com/pion/stun/v3"
)

var (
	turnClient = netip.MustParseAddrPort("203.0.113.1:40000")
	turnSrv    = netip.MustParseAddrPort("198.51.100.9:3478")
	turnRelay  = netip.MustParseAddrPort("198.51.100.9:50000")
	turnPeer   = netip.MustParseAddrPort("192.0.2.20:30000")
)

// turnMessage builds a STUN message of method and class with an ID and
// XOR addresses by attribute.
func turnMessage(t testing.TB, method stun.Method, class stun.MessageClass, id byte, extra ...stun.Setter) []byte {
	t.Helper()
	setters := append([]stun.Setter{stun.NewTransactionIDSetter([stun.TransactionIDSize]byte{id}), stun.NewType(method, class)}, extra...)
	m, err := stun.Build(setters...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

type xorAttr struct {
	a netip.AddrPort
	t stun.AttrType
}

func (x xorAttr) AddTo(m *stun.Message) error {
	return (&stun.XORMappedAddress{IP: x.a.Addr().AsSlice(), Port: int(x.a.Port())}).AddToAs(m, x.t)
}

func channelAttr(ch uint16) stun.Setter {
	return stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{byte(ch >> 8), byte(ch), 0, 0}}
}

type countingSink map[string]int

func (c countingSink) anomaly(kind string, _ int64, _ uint64, _ string) { c[kind]++ }

// TestTURNUnwrap follows an allocation and a channel as a client sets
// them up (RFC 8656), and unwraps only what was set up: ChannelData of a
// bound channel both ways, Send and Data indications in their own
// direction; a channel never confirmed, or data on another 5-tuple,
// stays as it is.
func TestTURNUnwrap(t *testing.T) {
	tt := newTURNTable()
	sink := countingSink{}
	step := func(src, dst netip.AddrPort, b []byte) (netip.AddrPort, netip.AddrPort, []byte, bool) {
		if !turnLike(b) {
			t.Fatalf("% x is not TURN-like", b[:4])
		}
		return tt.unwrap(src, dst, b, sink, 0, 1)
	}
	rtp := []byte{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0xff}
	data := func(ch uint16, pad int) []byte {
		b := append([]byte{byte(ch >> 8), byte(ch), 0, byte(len(rtp))}, rtp...)
		return append(b, make([]byte, pad)...)
	}
	// Before the allocation is seen: nothing is unwrapped.
	if _, _, _, ok := step(turnClient, turnSrv, data(0x4000, 0)); ok {
		t.Error("data unwrapped before any allocation")
	}
	step(turnClient, turnSrv, turnMessage(t, stun.MethodAllocate, stun.ClassRequest, 1))
	step(turnSrv, turnClient, turnMessage(t, stun.MethodAllocate, stun.ClassSuccessResponse, 1, xorAttr{turnRelay, stun.AttrXORRelayedAddress}))
	// A channel bound by a request whose answer is an error is not bound.
	step(turnClient, turnSrv, turnMessage(t, stun.MethodChannelBind, stun.ClassRequest, 2, channelAttr(0x4001), xorAttr{turnPeer, stun.AttrXORPeerAddress}))
	step(turnSrv, turnClient, turnMessage(t, stun.MethodChannelBind, stun.ClassErrorResponse, 2))
	if _, _, _, ok := step(turnClient, turnSrv, data(0x4001, 0)); ok {
		t.Error("data of a refused channel unwrapped")
	}
	step(turnClient, turnSrv, turnMessage(t, stun.MethodChannelBind, stun.ClassRequest, 3, channelAttr(0x4000), xorAttr{turnPeer, stun.AttrXORPeerAddress}))
	step(turnSrv, turnClient, turnMessage(t, stun.MethodChannelBind, stun.ClassSuccessResponse, 3))
	for _, tc := range []struct {
		name     string
		src, dst netip.AddrPort
		b        []byte
		from, to netip.AddrPort
	}{
		{"client to peer", turnClient, turnSrv, data(0x4000, 0), turnRelay, turnPeer},
		{"peer to client, padded", turnSrv, turnClient, data(0x4000, 3), turnPeer, turnRelay},
		{"Send indication", turnClient, turnSrv, turnMessage(t, stun.MethodSend, stun.ClassIndication, 4,
			xorAttr{turnPeer, stun.AttrXORPeerAddress}, stun.RawAttribute{Type: stun.AttrData, Value: rtp}), turnRelay, turnPeer},
		{"Data indication", turnSrv, turnClient, turnMessage(t, stun.MethodData, stun.ClassIndication, 5,
			xorAttr{turnPeer, stun.AttrXORPeerAddress}, stun.RawAttribute{Type: stun.AttrData, Value: rtp}), turnPeer, turnRelay},
	} {
		from, to, got, ok := step(tc.src, tc.dst, tc.b)
		if !ok || from != tc.from || to != tc.to || string(got) != string(rtp) {
			t.Errorf("%s: %v %s → %s % x", tc.name, ok, from, to, got)
		}
	}
	other := netip.MustParseAddrPort("203.0.113.1:40002")
	for name, b := range map[string][]byte{
		"another 5-tuple": data(0x4000, 0),
		"a Data indication sent to the server": turnMessage(t, stun.MethodData, stun.ClassIndication, 6,
			xorAttr{turnPeer, stun.AttrXORPeerAddress}, stun.RawAttribute{Type: stun.AttrData, Value: rtp}),
	} {
		src := turnClient
		if name == "another 5-tuple" {
			src = other
		}
		if _, _, _, ok := tt.unwrap(src, turnSrv, b, sink, 0, 1); ok {
			t.Errorf("%s: unwrapped", name)
		}
	}
	if key, ok := tt.relayOf(flowKey{Src: turnRelay, Dst: turnPeer}); !ok || key != (turnKey{turnClient, turnSrv}) {
		t.Errorf("relayOf: %v %+v", ok, key)
	}
	if len(sink) != 0 {
		t.Errorf("anomalies %v", sink)
	}
}

// TestChannelDataFraming: a channel number in 0x4000-0x4FFF, and a length
// that the datagram holds with at most 3 bytes of padding; RTP (version
// 2) is never ChannelData.
func TestChannelDataFraming(t *testing.T) {
	for _, tc := range []struct {
		b  []byte
		ok bool
	}{
		{[]byte{0x40, 0x00, 0, 2, 1, 2}, true},
		{[]byte{0x4f, 0xff, 0, 2, 1, 2, 0, 0}, true},
		{[]byte{0x40, 0x00, 0, 2, 1}, false},                // cut short
		{[]byte{0x40, 0x00, 0, 2, 1, 2, 0, 0, 0, 0}, false}, // four bytes more than padding
		{[]byte{0x50, 0x00, 0, 2, 1, 2}, false},             // reserved channel range
		{[]byte{0x80, 0x00, 0, 2, 1, 2}, false},             // RTP
		{[]byte{0x40, 0x00, 0}, false},
	} {
		if _, _, ok := channelData(tc.b); ok != tc.ok {
			t.Errorf("% x: %v, want %v", tc.b, ok, tc.ok)
		}
	}
	// A Binding request (ICE's checks) is STUN, but no TURN to follow.
	if turnLike(turnMessage(t, stun.MethodBinding, stun.ClassRequest, 1)) {
		t.Error("a Binding request taken for TURN")
	}
	for _, m := range []stun.Method{stun.MethodAllocate, stun.MethodChannelBind, stun.MethodSend, stun.MethodData, stun.MethodRefresh} {
		b := turnMessage(t, m, stun.ClassRequest, 1)
		if got := stunMethod(uint16(b[0])<<8 | uint16(b[1])); got != m {
			t.Errorf("method %v read as %v", m, got)
		}
	}
}

// TestTURNAllocationsBounded: past maxTURNAllocations, allocations are
// not followed, and that is reported once.
func TestTURNAllocationsBounded(t *testing.T) {
	tt := newTURNTable()
	sink := countingSink{}
	resp := func(i int) []byte {
		relay := netip.AddrPortFrom(turnRelay.Addr(), uint16(10000+i%50000))
		return turnMessage(t, stun.MethodAllocate, stun.ClassSuccessResponse, byte(i), xorAttr{relay, stun.AttrXORRelayedAddress})
	}
	for i := range maxTURNAllocations + 10 {
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000)
		tt.unwrap(turnSrv, client, resp(i), sink, 0, uint64(i))
	}
	if len(tt.allocs) != maxTURNAllocations || sink["turn-allocations-over-limit"] != 1 {
		t.Errorf("%d allocations followed, anomalies %v", len(tt.allocs), sink)
	}
}

// FuzzTURN feeds arbitrary datagrams both ways through one allocation
// and channel: never a panic, and unwrapped data is part of the datagram.
func FuzzTURN(f *testing.F) {
	f.Add([]byte{0x40, 0x00, 0, 2, 1, 2}, true)
	f.Add(turnMessage(f, stun.MethodSend, stun.ClassIndication, 4, xorAttr{turnPeer, stun.AttrXORPeerAddress}, stun.RawAttribute{Type: stun.AttrData, Value: []byte{1}}), true)
	f.Add(turnMessage(f, stun.MethodChannelBind, stun.ClassRequest, 3, channelAttr(0x4002), xorAttr{turnPeer, stun.AttrXORPeerAddress}), true)
	f.Add(turnMessage(f, stun.MethodAllocate, stun.ClassSuccessResponse, 1, xorAttr{turnRelay, stun.AttrXORRelayedAddress}), false)
	f.Fuzz(func(t *testing.T, b []byte, toServer bool) {
		tt := newTURNTable()
		sink := countingSink{}
		tt.unwrap(turnSrv, turnClient, turnMessage(t, stun.MethodAllocate, stun.ClassSuccessResponse, 1, xorAttr{turnRelay, stun.AttrXORRelayedAddress}), sink, 0, 1)
		tt.unwrap(turnClient, turnSrv, turnMessage(t, stun.MethodChannelBind, stun.ClassRequest, 3, channelAttr(0x4000), xorAttr{turnPeer, stun.AttrXORPeerAddress}), sink, 0, 2)
		tt.unwrap(turnSrv, turnClient, turnMessage(t, stun.MethodChannelBind, stun.ClassSuccessResponse, 3), sink, 0, 3)
		src, dst := turnSrv, turnClient
		if toServer {
			src, dst = dst, src
		}
		if !turnLike(b) {
			return
		}
		if _, _, data, ok := tt.unwrap(src, dst, b, sink, 0, 4); ok && len(data) > len(b) {
			t.Fatalf("%d bytes unwrapped of a %d-byte datagram", len(data), len(b))
		}
	})
}

// TestTURNOverTCPFraming: on a TCP connection a STUN message is its
// header and length, ChannelData is padded to 4 bytes (RFC 8656 §12.5),
// and a connection is taken for TURN when it starts with an Allocate
// request.
func TestTURNOverTCPFraming(t *testing.T) {
	alloc := turnMessage(t, stun.MethodAllocate, stun.ClassRequest, 1)
	for _, tc := range []struct {
		name     string
		b        []byte
		n        int
		need, ok bool
	}{
		{"Allocate request", alloc, len(alloc), false, true},
		{"Allocate request, cut", alloc[:10], len(alloc), true, true},
		{"ChannelData of 5 bytes, padded", []byte{0x40, 0, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0}, 12, false, true},
		{"ChannelData of 5 bytes, padding still to come", []byte{0x40, 0, 0, 5, 1, 2, 3, 4, 5}, 12, true, true},
		{"three bytes", []byte{0x40, 0, 0}, 0, true, true},
		{"RTP", []byte{0x80, 0, 0, 1, 0}, 0, false, false},
	} {
		n, need, ok := turnFrameLen(tc.b)
		if n != tc.n || need != tc.need || ok != tc.ok {
			t.Errorf("%s: %d %v %v, want %d %v %v", tc.name, n, need, ok, tc.n, tc.need, tc.ok)
		}
	}
	if !turnStreamStart(alloc) || turnStreamStart(turnMessage(t, stun.MethodBinding, stun.ClassRequest, 1)) || turnStreamStart([]byte("INVITE sip:a@b SIP/2.0\r\n")) {
		t.Error("turnStreamStart takes the wrong first payloads")
	}
}

// TestTCPGapNamesTheStream: a gap in a TURN, WebSocket or TLS connection
// is not called a gap in SIP over TCP.
func TestTCPGapNamesTheStream(t *testing.T) {
	for _, tc := range []struct {
		st   tcpStream
		want string
	}{
		{tcpStream{turn: true}, "TURN over TCP"},
		{tcpStream{ws: true}, "SIP over WebSocket"},
		{tcpStream{tls: &tlsSession{}}, "SIP over TLS"},
		{tcpStream{}, "SIP over TCP"},
	} {
		if got := tc.st.carries(); got != tc.want {
			t.Errorf("%+v carries %q, want %q", tc.st, got, tc.want)
		}
	}
}
