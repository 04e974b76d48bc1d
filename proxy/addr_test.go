package proxy

import (
	"net/netip"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestAddrForPeer(t *testing.T) {
	s := &Server{cfg: Config{PublicAddr: "voip.example.net", PublicIP: netip.MustParseAddr("203.0.113.10"),
		LocalAddr: netip.MustParseAddr("192.168.1.2"), LAN: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}}, listenPort: 5060,
		listenIP: netip.MustParseAddr("0.0.0.0")}
	for _, tt := range []struct {
		peer, host, ip string
	}{
		{"192.168.1.50", "192.168.1.2", "192.168.1.2"},        // in --lan: the additional address
		{"10.0.0.5", "voip.example.net", "203.0.113.10"},      // private but not in --lan: main address
		{"198.51.100.20", "voip.example.net", "203.0.113.10"}, // outside
	} {
		host, ip := s.addrFor(netip.AddrPortFrom(netip.MustParseAddr(tt.peer), 5060))
		if host != tt.host || ip.String() != tt.ip {
			t.Errorf("%s: got %s %s, want %s %s", tt.peer, host, ip, tt.host, tt.ip)
		}
	}
	for _, tt := range []struct {
		uri  sip.Uri
		ours bool
	}{
		{sip.Uri{Host: "voip.example.net"}, true}, // port 5060 implied
		{sip.Uri{Host: "192.168.1.2", Port: 5060}, true},
		{sip.Uri{Host: "203.0.113.10", Port: 5080}, false},
		{sip.Uri{Host: "pbx.example.org", Port: 5060}, false},
	} {
		if got := s.isOurs(tt.uri); got != tt.ours {
			t.Errorf("isOurs(%v) = %v", tt.uri, got)
		}
	}
	// Without --lan, private and loopback peers count as LAN.
	s.cfg.LAN = nil
	if host, _ := s.addrFor(netip.MustParseAddrPort("10.0.0.5:5060")); host != "192.168.1.2" {
		t.Errorf("private peer without --lan got %s", host)
	}
}

// TestNAT64Peer: a REGISTER from an IPv4 source whose Via is IPv6 and
// whose Request-URI names the server's public address in an IPv6 prefix
// came through NAT64: that peer (and only it) is given the server's
// address in its prefix, in Via, Record-Route and SDP alike, and a Route
// naming it is the server's own.
func TestNAT64Peer(t *testing.T) {
	s := &Server{cfg: Config{PublicAddr: "203.0.113.5", PublicIP: netip.MustParseAddr("203.0.113.5")}, listenPort: 5060,
		listenIP: netip.MustParseAddr("203.0.113.5")}
	phone, other := netip.MustParseAddrPort("203.0.113.64:5060"), netip.MustParseAddrPort("203.0.113.64:5062")
	req, err := sip.ParseMessage([]byte("REGISTER sip:[2001:db8:64::cb00:7105]:5060 SIP/2.0\r\nVia: SIP/2.0/UDP [2001:db8:1::10]:5060;branch=z9hG4bK1\r\n" +
		"From: <sip:bob@[2001:db8:64::cb00:7105]>;tag=1\r\nTo: <sip:bob@[2001:db8:64::cb00:7105]>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	s.nat64.note(req.(*sip.Request), phone, s.publicIP())
	if host, ip := s.addrFor(phone); host != "2001:db8:64::cb00:7105" || ip.String() != "2001:db8:64::cb00:7105" {
		t.Errorf("NAT64 peer given %s %s", host, ip)
	}
	if host, _ := s.addrFor(other); host != "203.0.113.5" {
		t.Errorf("another peer of that NAT64's address given %s", host)
	}
	if !s.isOurs(sip.Uri{Host: "[2001:db8:64::cb00:7105]", Port: 5060}) || s.isOurs(sip.Uri{Host: "[2001:db8:64::cb00:7106]", Port: 5060}) {
		t.Error("isOurs does not tell the server's NAT64 address")
	}
	for _, tc := range []struct {
		ruri, via, src string
		ok             bool
	}{
		{"[2001:db8:64::cb00:7105]", "2001:db8:1::10", "203.0.113.64:5060", true},
		{"[64:ff9b::cb00:7105]", "[2001:db8:1::10]", "203.0.113.64:5060", true},
		{"[2001:db8:64::cb00:7106]", "2001:db8:1::10", "203.0.113.64:5060", false},     // not our address inside
		{"[2001:db8:64::cb00:7105]", "192.168.1.10", "203.0.113.64:5060", false},       // an IPv4 Via: no IPv6 phone
		{"[2001:db8:64::cb00:7105]", "2001:db8:1::10", "[2001:db8:1::10]:5060", false}, // it came over IPv6 itself
		{"203.0.113.5", "2001:db8:1::10", "203.0.113.64:5060", false},
	} {
		if _, ok := nat64Prefix(tc.ruri, tc.via, netip.MustParseAddrPort(tc.src), netip.MustParseAddr("203.0.113.5")); ok != tc.ok {
			t.Errorf("nat64Prefix(%s, %s, %s) = %v", tc.ruri, tc.via, tc.src, ok)
		}
	}
}

func TestCheckSafe(t *testing.T) {
	for _, tt := range []struct {
		name   string
		listen string
		cfg    Config
		ok     bool
	}{
		{"private, open", "192.168.1.2", Config{PublicIP: netip.MustParseAddr("192.168.1.2")}, true},
		{"public, open", "203.0.113.10", Config{PublicIP: netip.MustParseAddr("203.0.113.10")}, false},
		{"all interfaces, open", "0.0.0.0", Config{PublicIP: netip.MustParseAddr("192.168.1.2")}, false},
		{"public with users", "203.0.113.10", Config{PublicIP: netip.MustParseAddr("203.0.113.10"), Users: map[string]string{"a": "b"}}, true},
		{"public with allow", "203.0.113.10", Config{PublicIP: netip.MustParseAddr("203.0.113.10"), Allow: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}}, true},
		{"public, --open", "203.0.113.10", Config{PublicIP: netip.MustParseAddr("203.0.113.10"), Open: true}, true},
	} {
		s := &Server{cfg: tt.cfg, listenIP: netip.MustParseAddr(tt.listen)}
		if err := s.checkSafe(); (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// TestPortForPeer: behind a router that forwards outside port 5080 to the
// listen port 5060, peers given the main address get 5080 (Via,
// Record-Route, Contact), LAN peers given the additional address 5060; a
// Route naming either port is the server's own.
func TestPortForPeer(t *testing.T) {
	s := &Server{cfg: Config{PublicAddr: "voip.example.net", PublicIP: netip.MustParseAddr("203.0.113.10"), PublicPort: 5080,
		LocalAddr: netip.MustParseAddr("192.168.1.2"), LAN: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}}, listenPort: 5060,
		listenIP: netip.MustParseAddr("192.168.1.2")}
	for peer, want := range map[string]int{"192.168.1.50": 5060, "10.0.0.5": 5080, "198.51.100.20": 5080} {
		if got := s.portFor(netip.MustParseAddr(peer)); got != want {
			t.Errorf("portFor(%s) = %d, want %d", peer, got, want)
		}
	}
	for _, u := range []sip.Uri{{Host: "voip.example.net", Port: 5080}, {Host: "192.168.1.2", Port: 5060}} {
		if !s.isOurs(u) {
			t.Errorf("%s:%d not taken for the server's own", u.Host, u.Port)
		}
	}
	if s.isOurs(sip.Uri{Host: "voip.example.net", Port: 5090}) {
		t.Error("another port taken for the server's own")
	}
	s.cfg.PublicPort = 0
	if got := s.portFor(netip.MustParseAddr("198.51.100.20")); got != 5060 {
		t.Errorf("without an outside port: %d, want the listen port", got)
	}
}
