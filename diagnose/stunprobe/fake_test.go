package stunprobe

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
	"github.com/pion/stun/v3"
)

// fakeServer is a misbehaving STUN server on loopback: it answers every
// Binding request through reply (which may lie about what it did).
type fakeServer struct {
	conn  *net.UDPConn
	other *net.UDPConn // a second socket to answer from, for spoofing
}

func startFake(t *testing.T, reply func(f *fakeServer, from netip.AddrPort, req *stun.Message)) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	o, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{conn: c, other: o}
	t.Cleanup(func() { c.Close(); o.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if m, err := DecodeMessage(buf[:n]); err == nil {
				reply(f, from, m)
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func answer(t *testing.T, req *stun.Message, mapped netip.AddrPort, extra ...stun.Setter) []byte {
	setters := append([]stun.Setter{stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
		&stun.XORMappedAddress{IP: mapped.Addr().AsSlice(), Port: int(mapped.Port())}}, extra...)
	m, err := stun.Build(setters...)
	if err != nil {
		t.Error(err)
	}
	return m.Raw
}

// A one-address server that claims an alternate (OTHER-ADDRESS) and
// answers CHANGE-REQUEST from its only address must not make the filter
// look open: the probe sees that the source did not change.
func TestOneAddressServerCannotFakeOpenFilter(t *testing.T) {
	addr := startFake(t, func(f *fakeServer, from netip.AddrPort, req *stun.Message) {
		f.conn.WriteToUDPAddrPort(answer(t, req, from, &stun.OtherAddress{IP: net.IPv4(127, 0, 0, 2), Port: 9}), from)
	})
	res := runFake(t, addr)
	if res.Filtering.Behaviour != report.BehaviourUnknown || res.Filtering.ChangeIPAndPort != OutcomeUnchanged {
		t.Errorf("filtering %q (%+v), want unknown because the answer came from the unchanged address", res.Filtering.Behaviour, res.Filtering)
	}
	if !hasAnomaly(res, "change-request-ignored") {
		t.Errorf("anomalies %+v, want change-request-ignored", res.Anomalies)
	}
}

// An answer from another address than the request went to is not believed
// (an off-path injector, or a NAT in front of the server rewriting).
func TestAnswerFromWrongSourceNotBelieved(t *testing.T) {
	addr := startFake(t, func(f *fakeServer, from netip.AddrPort, req *stun.Message) {
		f.other.WriteToUDPAddrPort(answer(t, req, netip.MustParseAddrPort("198.51.100.66:1")), from)
	})
	res := runFake(t, addr)
	if res.Servers[0].Answered() || !hasAnomaly(res, "unexpected-source") {
		t.Errorf("server %+v anomalies %+v: a spoofed answer was believed", res.Servers[0], res.Anomalies)
	}
	if ids := findingIDsOf(res); len(ids) != 1 || ids[0] != IDNoUDP {
		t.Errorf("findings %v", ids)
	}
}

// A server that loses the first two copies of each request is still read
// right: retransmission, not one try.
func TestRetransmissionRecoversLoss(t *testing.T) {
	seen := map[[stun.TransactionIDSize]byte]int{}
	addr := startFake(t, func(f *fakeServer, from netip.AddrPort, req *stun.Message) {
		seen[req.TransactionID]++
		if seen[req.TransactionID] > 2 {
			f.conn.WriteToUDPAddrPort(answer(t, req, from), from)
		}
	})
	res := runFake(t, addr)
	if !res.Servers[0].Answered() || res.Servers[0].Sent != 3 {
		t.Errorf("server %+v, want an answer to the third send", res.Servers[0])
	}
}

func runFake(t *testing.T, addr netip.AddrPort) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Run(ctx, Config{Servers: []string{addr.String()}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func hasAnomaly(res *Result, kind string) bool {
	for _, a := range res.Anomalies {
		if a.Kind == kind {
			return true
		}
	}
	return false
}

func findingIDsOf(res *Result) []report.FindingID {
	var ids []report.FindingID
	for _, f := range Findings(res) {
		ids = append(ids, f.ID)
	}
	return ids
}

// The positive hairpin case: a server that reports the mapped address as
// 127.0.0.2 with the socket's port (as if a NAT translated the IP only).
// Sending there reaches the main socket (bound to all addresses), which is
// what a hairpinning NAT does.
func TestHairpinDetected(t *testing.T) {
	addr := startFake(t, func(f *fakeServer, from netip.AddrPort, req *stun.Message) {
		mapped := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), from.Port())
		f.conn.WriteToUDPAddrPort(answer(t, req, mapped), from)
	})
	res := runFake(t, addr)
	if res.Hairpin.Works != report.TriYes {
		t.Errorf("hairpin %q (%s), want yes", res.Hairpin.Works, res.Hairpin.Note)
	}
}

// A server whose change-IP answers never arrive (as behind an
// address-dependent filter) but whose change-port answers do, from the
// primary IP and the alternate port: address-dependent filtering, judged
// through the whole probe.
func TestAddressDependentFilteringThroughProbe(t *testing.T) {
	addr := startFake(t, func(f *fakeServer, from netip.AddrPort, req *stun.Message) {
		altPort := f.other.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		other := &stun.OtherAddress{IP: net.IPv4(127, 0, 0, 2), Port: int(altPort)}
		var c ChangeRequest
		_ = c.GetFrom(req)
		switch {
		case c.ChangeIP: // dropped by the "filter"
		case c.ChangePort:
			f.other.WriteToUDPAddrPort(answer(t, req, from, other), from)
		default:
			f.conn.WriteToUDPAddrPort(answer(t, req, from, other), from)
		}
	})
	res := runFake(t, addr)
	if res.Filtering.Behaviour != report.BehaviourAddressDependent || !res.Filtering.ControlAfter {
		t.Errorf("filtering %+v, want address-dependent after an answered control", res.Filtering)
	}
}
