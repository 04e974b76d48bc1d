package capture

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// bindingAnswer is an RFC 5389 Binding success response naming mapped.
func bindingAnswer(t testing.TB, mapped netip.AddrPort) []byte {
	t.Helper()
	m, err := stun.Build(stun.TransactionID, stun.BindingSuccess,
		&stun.XORMappedAddress{IP: net.IP(mapped.Addr().AsSlice()), Port: int(mapped.Port())})
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

// classicAnswer is an RFC 3489 Binding response: no magic cookie, a
// plain MAPPED-ADDRESS (IPv4).
func classicAnswer(mapped netip.AddrPort) []byte {
	b := make([]byte, 20, 32)
	binary.BigEndian.PutUint16(b[0:2], 0x0101)
	binary.BigEndian.PutUint16(b[2:4], 12)
	copy(b[4:20], "classic-stun-tid")
	attr := []byte{0, 1, 0, 8, 0, 1, 0, 0}
	binary.BigEndian.PutUint16(attr[6:8], mapped.Port())
	a := mapped.Addr().As4()
	return append(append(b, attr...), a[:]...)
}

func TestBindingMapped(t *testing.T) {
	want := netip.MustParseAddrPort("83.36.48.212:14833")
	for name, b := range map[string][]byte{"RFC 5389": bindingAnswer(t, want), "RFC 3489": classicAnswer(want)} {
		if got, ok := bindingMapped(b); !ok || got != want {
			t.Errorf("%s: %s %v, want %s", name, got, ok, want)
		}
		if _, ok := bindingMapped(b[:len(b)-1]); ok {
			t.Errorf("%s: a cut answer was read", name)
		}
	}
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, ok := bindingMapped(req.Raw); ok {
		t.Error("a Binding request was read as an answer")
	}
}

// TestMappingProof: one local socket answered two different public
// addresses by two servers within moments proves the NAT maps per
// destination; the same server twice, answers far apart, an answer from
// a LAN peer (a private mapped address) or a capture beyond the NAT (a
// public local socket) prove nothing.
func TestMappingProof(t *testing.T) {
	local := netip.MustParseAddrPort("192.168.1.34:5061")
	s1, s2 := netip.MustParseAddrPort("194.39.182.241:3478"), netip.MustParseAddrPort("194.39.182.230:3478")
	m1, m2 := netip.MustParseAddrPort("83.36.48.212:14833"), netip.MustParseAddrPort("83.36.48.212:14834")
	t0 := time.Date(2007, 1, 10, 0, 51, 0, 0, time.UTC)
	answer := func(from, to, mapped netip.AddrPort, frame uint64, at time.Duration) *packet {
		return &packet{Src: from, Dst: to, Payload: bindingAnswer(t, mapped), Frame: frame, Time: t0.Add(at)}
	}
	for _, tc := range []struct {
		name   string
		second *packet
		proof  bool
	}{
		{"two servers, two ports", answer(s2, local, m2, 34, 5*time.Second), true},
		{"the same server", answer(s1, local, m2, 34, 5*time.Second), false},
		{"two servers, one port", answer(s2, local, m1, 34, 5*time.Second), false},
		{"an hour apart", answer(s2, local, m2, 34, time.Hour), false},
		{"another socket", answer(s2, netip.MustParseAddrPort("192.168.1.34:5062"), m2, 34, 5*time.Second), false},
		{"a LAN peer's answer", answer(netip.MustParseAddrPort("192.168.1.20:5000"), local, netip.MustParseAddrPort("192.168.1.34:5061"), 34, time.Second), false},
	} {
		var m stunMappings
		if !m.observe(answer(s1, local, m1, 27, 0)) {
			t.Fatalf("%s: the first answer was not read", tc.name)
		}
		m.observe(tc.second)
		p, ok := m.proofs[local.Addr()]
		if ok != tc.proof {
			t.Errorf("%s: proof %v, want %v", tc.name, ok, tc.proof)
			continue
		}
		if ok && (p.local != local || p.a.mapped != m1 || p.b.mapped != m2 || p.a.frame != 27 || p.b.frame != 34) {
			t.Errorf("%s: proof %+v", tc.name, p)
		}
	}

	// Seen beyond the NAT the local socket is public: nothing is kept.
	var m stunMappings
	pub := netip.MustParseAddrPort("83.36.48.212:14833")
	if m.observe(answer(s1, pub, m1, 1, 0)) || len(m.sockets) != 0 {
		t.Error("an answer to a public socket was kept")
	}
	// A socket silent for longer than the window is forgotten.
	m.observe(answer(s1, local, m1, 1, 0))
	m.prune(t0.Add(time.Minute))
	if len(m.sockets) != 0 {
		t.Errorf("%d sockets after the prune", len(m.sockets))
	}
}

func FuzzBindingMapped(f *testing.F) {
	f.Add(bindingAnswer(f, netip.MustParseAddrPort("83.36.48.212:14833")))
	f.Add(classicAnswer(netip.MustParseAddrPort("83.36.48.212:14833")))
	f.Add(stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw)
	f.Fuzz(func(t *testing.T, b []byte) {
		mapped, ok := bindingMapped(b)
		if ok && (!mapped.IsValid() || mapped.Port() == 0) {
			t.Fatalf("read %s from %x", mapped, b)
		}
		var m stunMappings
		local := netip.MustParseAddrPort("192.168.1.34:5061")
		m.observe(&packet{Src: netip.MustParseAddrPort("194.39.182.241:3478"), Dst: local, Payload: b})
		m.observe(&packet{Src: netip.MustParseAddrPort("194.39.182.230:3478"), Dst: local, Payload: b})
		if len(m.proofs) != 0 {
			t.Fatalf("one answer twice proved %+v", m.proofs)
		}
	})
}
