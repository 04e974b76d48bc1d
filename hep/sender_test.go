package hep

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestSenderTCP: over TCP the packets arrive framed by their length, and
// the sender reconnects after the collector dropped it.
func TestSenderTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := Dial("tcp", l.Addr().String(), SenderOptions{CaptureID: 9, AuthKey: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src, dst := netip.MustParseAddrPort("192.0.2.1:5060"), netip.MustParseAddrPort("192.0.2.2:5060")
	at := time.Unix(1700000000, 0)
	got := make(chan Packet, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r := NewStreamReader(c)
			for {
				b, err := r.Next()
				if err != nil {
					break
				}
				var p Packet
				if _, err := Decode(b, &p); err == nil {
					p.Payload, p.CorrelationID, p.AuthKey = append([]byte(nil), p.Payload...), append([]byte(nil), p.CorrelationID...), nil
					got <- p
				}
			}
			c.Close()
		}
	}()
	s.SendSIP(src, dst, 6, at, []byte(sipInvite), "abc@192.168.1.10")
	s.SendLog(src, dst, at, []byte(`{"verdict":"two-way"}`), "abc@192.168.1.10")
	for _, want := range []PayloadType{TypeSIP, TypeLog} {
		select {
		case p := <-got:
			if p.Type != want || p.CaptureID != 9 || string(p.CorrelationID) != "abc@192.168.1.10" || p.Src != src {
				t.Errorf("got %+v", p)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("nothing arrived")
		}
	}
	if sent, failed, _ := s.Stats(); sent != 2 || failed != 0 {
		t.Errorf("sent %d failed %d", sent, failed)
	}
}

func TestSenderRejectsNetwork(t *testing.T) {
	if _, err := Dial("sctp", "127.0.0.1:9060", SenderOptions{}); err == nil {
		t.Error("sctp accepted")
	}
}
