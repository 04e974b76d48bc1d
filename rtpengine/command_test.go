package rtpengine

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestAddressFlag(t *testing.T) {
	for _, tc := range []struct {
		name, sdp, source, want string
	}{
		{"private address in SDP behind NAT", "192.168.1.10", "203.0.113.1", "SIP-source-address"},
		{"shared address space behind CGNAT", "100.64.3.4", "203.0.113.1", "SIP-source-address"},
		{"loopback in SDP from outside", "127.0.0.1", "198.51.100.20", "SIP-source-address"},
		{"two private networks (phone behind a second NAT)", "10.0.0.5", "192.168.1.1", "SIP-source-address"},
		{"SDP is the SIP source", "198.51.100.20", "198.51.100.20", "trust-address"},
		{"same LAN as the server", "192.168.1.10", "192.168.1.10", "trust-address"},
		{"STUN-learned public address", "203.0.113.1", "203.0.113.1", "trust-address"},
		{"media gateway on another public address", "198.51.100.30", "198.51.100.20", "trust-address"},
		{"hold (c=0.0.0.0)", "0.0.0.0", "203.0.113.1", "trust-address"},
		{"no SDP address read", "", "203.0.113.1", "trust-address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sdp, _ := netip.ParseAddr(tc.sdp)
			if got := addressFlag(sdp, netip.MustParseAddr(tc.source)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCommand(t *testing.T) {
	leak := Message{CallID: "c1", FromTag: "a", SDP: []byte("v=0"), Source: netip.MustParseAddr("203.0.113.1"),
		SDPAddr: netip.MustParseAddr("192.168.1.10"), SenderSide: "pub", ReceiverSide: "priv"}
	want := map[string]any{"command": "offer", "call-id": "c1", "from-tag": "a", "sdp": []byte("v=0"),
		"replace": []any{"origin", "session-connection"}, "ICE": "remove", "transport-protocol": "RTP/AVP",
		"flags": []any{"SIP-source-address"}, "record call": "no", "received-from": []any{"IP4", "203.0.113.1"},
		"direction": []any{"pub", "priv"}}
	if got := Command(leak); !reflect.DeepEqual(got, want) {
		t.Errorf("offer\n got %v\nwant %v", got, want)
	}
	answer := Message{Answer: true, CallID: "c1", FromTag: "a", ToTag: "b", SDP: []byte("v=0"), Source: netip.MustParseAddr("198.51.100.20"),
		SDPAddr: netip.MustParseAddr("198.51.100.20"), SenderSide: "pub", ReceiverSide: "priv", Record: true}
	got := Command(answer)
	if got["command"] != "answer" || got["to-tag"] != "b" || got["direction"] != nil || got["record call"] != "yes" ||
		!reflect.DeepEqual(got["flags"], []any{"trust-address"}) {
		t.Errorf("answer: %v", got)
	}
}

func TestParseEngine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want EngineConfig
	}{
		{"udp:127.0.0.1:2223", EngineConfig{Addr: netip.MustParseAddrPort("127.0.0.1:2223"), Weight: 1}},
		{"udp:10.0.0.2:2223,weight=3", EngineConfig{Addr: netip.MustParseAddrPort("10.0.0.2:2223"), Weight: 3}},
		{"udp:10.0.0.2:2223,main=pub,local=priv", EngineConfig{Addr: netip.MustParseAddrPort("10.0.0.2:2223"), Weight: 1, Main: "pub", Local: "priv"}},
	} {
		got, err := ParseEngine(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.in, got, err, tc.want)
		}
		if again, _ := ParseEngine(got.String()); again != got {
			t.Errorf("%s: String %q reads back as %+v", tc.in, got.String(), again)
		}
	}
	for _, bad := range []string{"127.0.0.1:2223", "udp:127.0.0.1", "udp:127.0.0.1:2223,weight=0", "udp:127.0.0.1:2223,weight=x",
		"udp:127.0.0.1:2223,bogus=1", "udp:127.0.0.1:2223,main=pub", "tcp:127.0.0.1:2223"} {
		if got, err := ParseEngine(bad); err == nil {
			t.Errorf("%s accepted as %+v", bad, got)
		}
	}
}
