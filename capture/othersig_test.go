package capture

import (
	"net/netip"
	"strings"
	"testing"
)

// TestOtherSignallingRecognised: each protocol by its port and first
// bytes (as in Cisco's lab captures of MGCP, Skinny and H.323 gateways),
// and the same ports carrying anything else not.
func TestOtherSignallingRecognised(t *testing.T) {
	pkt := func(src, dst uint16, payload string) *packet {
		return &packet{Src: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), src), Dst: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), dst),
			Payload: []byte(payload)}
	}
	for _, tc := range []struct {
		name string
		p    *packet
		tcp  bool
		want otherProtocol
	}{
		{"MGCP command", pkt(2427, 2427, "CRCX 24 AALN/S0/SU1/1@VG3 MGCP 0.1\n"), false, protoMGCP},
		{"MGCP response", pkt(2727, 2427, "200 394425 OK\n"), false, protoMGCP},
		{"MGCP port, other text", pkt(2427, 40000, "HELLO WORLD"), false, noOtherProtocol},
		{"MGCP verb, other port", pkt(5000, 5001, "CRCX 24 AALN/S0 MGCP 0.1\n"), false, noOtherProtocol},
		{"Megaco", pkt(2944, 2944, "MEGACO/1 [10.0.0.1]:2944\r\n"), false, protoMegaco},
		{"Megaco compact", pkt(2944, 2945, "!/1 [10.0.0.1] T=1{}"), false, protoMegaco},
		{"IAX2 full frame", pkt(4569, 4569, "\x80\x01\x00\x00\x00\x00\x00\x01\x00\x00\x06\x01"), false, protoIAX2},
		{"IAX2 port, mini frame", pkt(4569, 4569, "\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x06\x01"), false, noOtherProtocol},
		{"Skinny keep-alive", pkt(39439, 2000, "\x04\x00\x00\x00\x11\x00\x00\x00\x00\x00\x00\x00"), true, protoSCCP},
		{"Skinny open receive channel", pkt(2000, 58866, "\x14\x00\x00\x00\x15\x00\x00\x00\x10\x01\x00\x00\x00\x00\x00\x00"), true, protoSCCP},
		{"port 2000, other bytes", pkt(2000, 58866, "GET / HTTP/1.1\r\n"), true, noOtherProtocol},
		{"H.225 setup", pkt(53694, 1720, "\x03\x00\x02\x71\x08\x02\x00\x06\x05"), true, protoH323},
		{"port 1720, no TPKT", pkt(53694, 1720, "hello world"), true, noOtherProtocol},
		{"short", pkt(2427, 2427, "CRC"), false, noOtherProtocol},
	} {
		got := udpSignalling(tc.p)
		if tc.tcp {
			got = tcpSignalling(tc.p)
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, otherProtocolNames[got], otherProtocolNames[tc.want])
		}
	}
}

// TestOtherSignallingReported: a capture of an MGCP gateway's call says
// that its signalling is MGCP, which natdoc does not read, rather than
// that SIP is missing: in the verdict, a finding with the first frames,
// the decoded counts, and the media without signalling.
func TestOtherSignallingReported(t *testing.T) {
	s := newState()
	gw, ca := netip.MustParseAddrPort("10.0.0.5:2427"), netip.MustParseAddrPort("10.0.0.9:2427")
	for i, text := range []string{"CRCX 1 AALN/S0/SU1/1@gw MGCP 0.1\nC: 1\n", "200 1 OK\n", "DLCX 2 AALN/S0/SU1/1@gw MGCP 0.1\n"} {
		src, dst := ca, gw
		if i == 1 {
			src, dst = gw, ca
		}
		s.handleUDP(&packet{Frame: uint64(i + 1), Src: src, Dst: dst, Payload: []byte(text)})
	}
	r := s.result([]string{"mgcp.pcap"}, "")
	if want := "No SIP calls (INVITE dialogs) found in the capture: its call signalling is MGCP, which natdoc does not read."; r.Verdict != want {
		t.Errorf("verdict %q", r.Verdict)
	}
	found := false
	for _, f := range r.Findings {
		if f.ID == IDOtherSignalling {
			found = len(f.Evidence) == 1 && f.Evidence[0].Text == "MGCP: 3 packets" && len(f.Evidence[0].Frames) == 3
		}
	}
	if !found {
		t.Errorf("no %s finding with the MGCP packets: %+v", IDOtherSignalling, r.Findings)
	}
	if c := r.Capture.Counts; len(c) != 1 || c[0].Key != "mgcp" || c[0].Value != "3" {
		t.Errorf("decoded counts %v, want mgcp 3", c)
	}
}

// TestSIPOverTLSPortsNamed: TLS records to a SIP TLS port, 5061 or
// FreeSWITCH's external 5081 (kYroL01's TLS_test_GOOD), are counted as
// encrypted signalling and the finding names the ports seen; TLS to
// another port (HTTPS) is not.
func TestSIPOverTLSPortsNamed(t *testing.T) {
	record := "\x17\x03\x03\x00\x20" + "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name  string
		ports []uint16
		want  string // the finding's title's port part; "" for none
	}{
		{"standard port", []uint16{5061}, "(port 5061)"},
		{"FreeSWITCH external profile", []uint16{5081}, "(port 5081)"},
		{"both", []uint16{5081, 5061}, "(ports 5061, 5081)"},
		{"HTTPS", []uint16{443}, ""},
	} {
		s := newState()
		for i, port := range tc.ports {
			s.handleTCP(&packet{Frame: uint64(i + 1), Src: netip.MustParseAddrPort("192.168.1.64:52379"),
				Dst: netip.AddrPortFrom(netip.MustParseAddr("167.114.148.48"), port), Seq: 1, Payload: []byte(record)})
		}
		got := ""
		for _, f := range s.result([]string{"tls.pcap"}, "").Findings {
			if f.ID == IDSignallingEncrypted {
				got = f.Title
			}
		}
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: finding %q, want one naming %q", tc.name, got, tc.want)
		}
	}
}
