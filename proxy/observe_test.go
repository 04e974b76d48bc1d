package proxy

import (
	"io"
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/metrics"
	"github.com/natdoc/natdoc/relay"
)

const (
	tapInvite = "INVITE sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK1\r\nFrom: <sip:alice@192.0.2.10>;tag=a\r\n" +
		"To: <sip:bob@192.0.2.2>\r\nCall-ID: tap-1@192.0.2.1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@192.0.2.1>\r\nMax-Forwards: 70\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: 14\r\n\r\nv=0\r\no=x 1 1\r\n"
	tapOK = "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK1\r\nFrom: <sip:alice@192.0.2.10>;tag=a\r\n" +
		"To: <sip:bob@192.0.2.2>;tag=b\r\nCall-ID: tap-1@192.0.2.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
)

// hepCollector receives HEP on loopback and decodes it.
func hepCollector(t *testing.T) (*hep.Sender, <-chan hep.Packet) {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	out := make(chan hep.Packet, 16)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			var p hep.Packet
			if _, err := hep.Decode(buf[:n], &p); err == nil {
				p.Payload, p.CorrelationID, p.AuthKey, p.NodeName = []byte(string(p.Payload)), []byte(string(p.CorrelationID)), nil, nil
				out <- p
			}
		}
	}()
	s, err := hep.Dial("udp", conn.LocalAddr().String(), hep.SenderOptions{CaptureID: 77})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, out
}

func nextHEP(t *testing.T, got <-chan hep.Packet) hep.Packet {
	t.Helper()
	select {
	case p := <-got:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no HEP packet arrived")
		return hep.Packet{}
	}
}

func scrapeMetrics(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestSIPStreamCutsMessages: a TCP direction cut anywhere, keep-alive
// CRLFs between messages, two messages in one write: each message is
// copied whole, once, with its Call-ID, and counted.
func TestSIPStreamCutsMessages(t *testing.T) {
	sender, got := hepCollector(t)
	m := metrics.New()
	obs := newObserver(m, sender)
	client, server := netip.MustParseAddrPort("192.0.2.1:5060"), netip.MustParseAddrPort("192.0.2.2:5060")
	in := &sipStream{obs: obs, src: client, dst: server, received: true}
	out := &sipStream{obs: obs, src: server, dst: client}
	stream := "\r\n\r\n" + tapInvite + "\r\n" + tapInvite
	for _, cut := range []int{1, 10, 40, 200, len(tapInvite) + 3, len(stream)} {
		in.write([]byte(stream[:min(cut, len(stream))]))
		stream = stream[min(cut, len(stream)):]
	}
	out.write([]byte(tapOK + tapOK[:30]))
	out.write([]byte(tapOK[30:]))
	for _, want := range []struct {
		msg      string
		src, dst netip.AddrPort
	}{{tapInvite, client, server}, {tapInvite, client, server}, {tapOK, server, client}, {tapOK, server, client}} {
		p := nextHEP(t, got)
		if string(p.Payload) != want.msg || p.Src != want.src || p.Dst != want.dst || p.Proto != hepTCP ||
			string(p.CorrelationID) != "tap-1@192.0.2.1" || p.Type != hep.TypeSIP || p.CaptureID != 77 {
			t.Errorf("copy %s→%s proto %d corr %q type %v:\n%q\nwant %s→%s:\n%q", p.Src, p.Dst, p.Proto, p.CorrelationID, p.Type, p.Payload, want.src, want.dst, want.msg)
		}
	}
	obs.hep.close()
	body := scrapeMetrics(t, m)
	for _, want := range []string{`natdoc_sip_requests_total{method="INVITE"} 2`, `natdoc_sip_responses_total{class="2xx"} 2`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// A stream that is no SIP stops being copied; nothing else breaks.
	bad := &sipStream{obs: obs, src: client, dst: server, received: true}
	bad.write([]byte("\x16\x03\x01\x02\x00 not SIP at all\r\n\r\n"))
	if !bad.broken || len(bad.buf) != 0 {
		t.Errorf("garbage kept: broken %v, %d bytes", bad.broken, len(bad.buf))
	}
}

// TestTapPacketConn: datagrams read and written on the server's socket
// are copied with the server's address.
func TestTapPacketConn(t *testing.T) {
	sender, got := hepCollector(t)
	obs := newObserver(nil, sender)
	defer obs.hep.close()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	phone, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	public := netip.MustParseAddrPort("203.0.113.10:5060")
	pc, _ := obs.wrap(udp, nil, public)
	if _, err := phone.WriteTo([]byte(tapInvite), udp.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != tapInvite {
		t.Fatalf("read %q from %v: %v", buf[:n], from, err)
	}
	if _, err := pc.WriteTo([]byte(tapOK), from); err != nil {
		t.Fatal(err)
	}
	phoneAddr := addrPortOf(phone.LocalAddr())
	for _, want := range [][2]netip.AddrPort{{phoneAddr, public}, {public, phoneAddr}} {
		if p := nextHEP(t, got); p.Src != want[0] || p.Dst != want[1] || p.Proto != hepUDP {
			t.Errorf("copy %s→%s proto %d, want %s→%s", p.Src, p.Dst, p.Proto, want[0], want[1])
		}
	}
}

// TestCallEndedLog: an ended call's outcome goes to HOMER as a JSON log
// on its Call-ID, and its findings are counted.
func TestCallEndedLog(t *testing.T) {
	sender, got := hepCollector(t)
	m := metrics.New()
	obs := newObserver(m, sender)
	rec := CallRecord{CallID: "end-1@x", Caller: "alice", Callee: "bob", State: "ended", EndReason: "bye",
		CallerAddr: netip.MustParseAddrPort("203.0.113.1:5060"), CalleeAddr: netip.MustParseAddrPort("198.51.100.20:5060"),
		Start: time.Unix(1700000000, 0), Answer: time.Unix(1700000001, 0), End: time.Unix(1700000010, 0),
		Relay: &relay.SessionStats{A: relay.LegStats{RTP: relay.StreamStats{Packets: 450}}}}
	obs.callEnded(rec, netip.MustParseAddr("203.0.113.10"))
	obs.hep.close()
	p := nextHEP(t, got)
	if p.Type != hep.TypeLog || string(p.CorrelationID) != "end-1@x" || p.Src != rec.CallerAddr || p.Dst != rec.CalleeAddr {
		t.Errorf("log %+v", p)
	}
	for _, want := range []string{`"source":"natdoc serve"`, `"call_id":"end-1@x"`, `"ended":"bye"`, `"id":"` + string(IDRelayNoMediaFromParty) + `"`} {
		if !strings.Contains(string(p.Payload), want) {
			t.Errorf("log lacks %s: %s", want, p.Payload)
		}
	}
	if body := scrapeMetrics(t, m); !strings.Contains(body, `natdoc_findings_total{id="`+string(IDRelayNoMediaFromParty)+`"} 1`) {
		t.Errorf("findings not counted:\n%s", body)
	}
}

func TestSameFamily(t *testing.T) {
	v4, v6 := netip.MustParseAddrPort("192.0.2.1:5060"), netip.MustParseAddrPort("[2001:db8::1]:5060")
	for _, tc := range []struct {
		name               string
		src, dst, wsrc, wd netip.AddrPort
	}{
		{"both IPv4", v4, v4, v4, v4},
		{"both IPv6", v6, v6, v6, v6},
		{"mixed", v4, v6, netip.MustParseAddrPort("[::]:5060"), v6},
		{"one unknown", netip.AddrPort{}, v4, netip.MustParseAddrPort("0.0.0.0:0"), v4},
	} {
		if s, d := sameFamily(tc.src, tc.dst); s != tc.wsrc || d != tc.wd {
			t.Errorf("%s: %s %s, want %s %s", tc.name, s, d, tc.wsrc, tc.wd)
		}
	}
}
