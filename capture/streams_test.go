package capture

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

// TestOneHostSpan: how long a stream's offer and answer named two ports
// of one address (two softphones on one computer, handed the media by a
// B2BUA that takes it back just before the BYE). An SDP filed out of
// order (a proxy's copy of the first answer, kept with its leg) changes
// nothing.
func TestOneHostSpan(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	media := func(addr string) *sdpMedia { return &sdpMedia{Addr: netip.MustParseAddrPort(addr)} }
	phone1, phone2, b2bua := media("172.17.0.200:40030"), media("172.17.0.200:4008"), media("172.17.0.52:19632")
	var h oneHostSpan
	h.follow(phone1, b2bua, at(0))    // the answer: media through the B2BUA
	h.follow(phone1, phone2, at(100)) // its re-INVITE hands it to the other phone
	h.follow(phone1, b2bua, at(50))   // the first answer's copy on the proxy's hop, filed late
	h.follow(phone1, b2bua, at(5300)) // taken back before the BYE
	if got := h.lasted(at(5500)); got != 5200*time.Millisecond || h.pair != [2]netip.AddrPort{phone1.Addr, phone2.Addr} {
		t.Errorf("lasted %s, pair %v; want 5.2s on %v and %v", got, h.pair, phone1.Addr, phone2.Addr)
	}
	var open oneHostSpan
	open.follow(phone1, phone2, at(100))
	if got := open.lasted(at(2100)); got != 2*time.Second {
		t.Errorf("still on one host: lasted %s, want 2s", got)
	}
}

// TestMediaFromNAT: a phone in a virtual machine or container names its
// private address in SDP (VirtualBox's 10.0.2.15), and its RTP reaches the
// capture from its host's address, the NAT's: the one-way finding says
// that media to the SDP address must cross that NAT (talka17 MTAA). Its
// RTP from the address its SDP names, or an intermediary's, says nothing.
func TestMediaFromNAT(t *testing.T) {
	st := newStreamState(0, &sdpMedia{Media: "audio"})
	st.latest[callee] = &sdpMedia{Media: "audio", Addr: netip.MustParseAddrPort("10.0.2.15:7078")}
	flow := func(src string) boundFlow {
		return boundFlow{flow: &rtpFlow{Key: flowKey{Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort("192.168.0.137:7258")}}, bd: binding{sender: callee}}
	}
	for _, tc := range []struct {
		name  string
		src   string
		roles [2]string
		want  bool
	}{
		{"from the VM host's address", "192.168.0.138:53933", [2]string{}, true},
		{"from the address its SDP names", "10.0.2.15:7078", [2]string{}, false},
		{"a B2BUA's", "192.168.0.138:53933", [2]string{"", roleB2BUA}, false},
	} {
		cb := &callBuild{flows: []boundFlow{flow(tc.src)}, roles: tc.roles}
		e, ok := cb.mediaFromNAT(callee, []*streamState{st}, netip.MustParseAddrPort("192.168.0.138:5060"))
		if ok != tc.want || ok && !strings.Contains(e.Text, "while its SDP names 10.0.2.15:7078") {
			t.Errorf("%s: %v %q, want %v", tc.name, ok, e.Text, tc.want)
		}
	}
}

// TestLoopbackSDPOnLoopback: an SDP naming 127.0.1.1 (a host name that
// resolves there) from a party whose SIP comes from 127.0.0.1 is the same
// host, not a media server apart (sipp's captures on lo): no finding.
// From a network address it is sdp-loopback-address.
func TestLoopbackSDPOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		sig  string
		want []report.FindingID
	}{
		{"127.0.0.1:5062", nil},
		{"192.168.1.10:5062", []report.FindingID{IDSDPLoopbackAddress}},
	} {
		sig := netip.MustParseAddrPort(tc.sig)
		call := &sipCall{CallID: "cid", CallerSig: sig}
		cb := &callBuild{call: call, dlg: &dialog{}}
		cb.events = []sdpEvent{{Party: caller, Src: sig, Method: "INVITE",
			SDP: &sdpInfo{Media: []sdpMedia{{Media: "audio", Addr: netip.MustParseAddrPort("127.0.1.1:6000")}}}}}
		fs, _ := sdpFindings(cb, StreamVerdict{Verdict: report.VerdictIncompleteCapture}, [2]netip.AddrPort{sig, netip.MustParseAddrPort("127.0.0.1:5060")}, [2]bool{})
		var got []report.FindingID
		for _, f := range fs {
			got = append(got, f.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("SIP from %s: %v, want %v", tc.sig, got, tc.want)
		}
	}
}

// TestPrivateAddressTheReceiverSendsFrom: a PBX on the internet hands
// the media of two phones behind one NAT to each other (direct media): its
// SDP names the far phone's private address, and the capture on their LAN
// sees the far phone send from that address, so media sent there is
// delivered, not sent to an address no one can reach (gryk123 linuksik:
// the callee's 3,083 packets read as unreachable, its 4 to the PBX as its
// audio, and two false warnings about them).
func TestPrivateAddressTheReceiverSendsFrom(t *testing.T) {
	phone1, phone2 := netip.MustParseAddrPort("192.168.1.100:4002"), netip.MustParseAddrPort("192.168.1.103:4002")
	pbx := netip.MustParseAddrPort("79.137.126.41:5060")
	flow := func(sender int, src, dst netip.AddrPort) boundFlow {
		return boundFlow{flow: &rtpFlow{Key: flowKey{Src: src, Dst: dst}}, bd: binding{sender: sender}}
	}
	toPhone1 := flow(callee, phone2, phone1)
	sigs := [2]netip.AddrPort{pbx, netip.MustParseAddrPort("192.168.1.103:50624")}
	for _, tc := range []struct {
		name  string
		flows []boundFlow
		want  bool
	}{
		{"the far phone sends from it", []boundFlow{toPhone1, flow(caller, phone1, phone2)}, true},
		{"nothing comes from it", []boundFlow{toPhone1}, false},
	} {
		cb := &callBuild{call: &sipCall{CallID: "cid"}, dlg: &dialog{}, flows: tc.flows}
		if delivered, _, _, _ := cb.delivery(toPhone1, sigs, [2]partyView{}); delivered != tc.want {
			t.Errorf("%s: delivered %v, want %v", tc.name, delivered, tc.want)
		}
	}
}

// TestReceiverBehindPrivateNAT: a softphone behind a NAT inside the
// private network (Docker's, a VM's) names its inside address in SDP and
// its media reaches the capture from the NAT's: media sent to the inside
// address is unproven, likely lost (chashnash voip-sample-project, where
// Asterisk in a container sent there and the phone heard nothing). Not
// when the phone's media comes from an address an SDP of its named (a
// B2BUA handing media on), or from the sender's own host (a gateway that
// routes to its inside addresses).
func TestReceiverBehindPrivateNAT(t *testing.T) {
	inside, nat := netip.MustParseAddrPort("192.168.178.41:4000"), netip.MustParseAddrPort("172.17.0.29:28912")
	pbx := netip.MustParseAddrPort("172.17.0.52:11634")
	toPhone := boundFlow{flow: &rtpFlow{Key: flowKey{Src: pbx, Dst: inside}}, bd: binding{sender: callee}}
	sigs := [2]netip.AddrPort{netip.MustParseAddrPort("172.17.0.29:25352"), netip.MustParseAddrPort("172.17.0.52:5060")}
	for _, tc := range []struct {
		name   string
		source netip.AddrPort
		named  []netip.AddrPort
		sig    netip.AddrPort // the phone's SIP source (zero: the NAT's)
		want   bool           // delivered
	}{
		{"from the NAT's address", nat, []netip.AddrPort{inside}, netip.AddrPort{}, false},
		{"from an address its SDP named", nat, []netip.AddrPort{inside, nat}, netip.AddrPort{}, true},
		{"from the sender's host", netip.MustParseAddrPort("172.17.0.52:30000"), []netip.AddrPort{inside}, netip.AddrPort{}, true},
		// Its SIP straight from the inside address: its media met a NAT
		// on the way (a router looping it back in), none is around it.
		{"its SIP from the address its SDP names", nat, []netip.AddrPort{inside}, netip.MustParseAddrPort("192.168.178.41:5060"), true},
	} {
		sigs := sigs
		if tc.sig.IsValid() {
			sigs[caller] = tc.sig
		}
		fromPhone := boundFlow{flow: &rtpFlow{Key: flowKey{Src: tc.source, Dst: pbx}}, bd: binding{sender: caller}}
		cb := &callBuild{call: &sipCall{CallID: "cid"}, dlg: &dialog{}, flows: []boundFlow{toPhone, fromPhone}}
		views := [2]partyView{caller: {sources: []netip.AddrPort{tc.source}, sdp: inside, named: tc.named}}
		delivered, _, doubt, _ := cb.delivery(toPhone, sigs, views)
		if delivered != tc.want || !delivered && !strings.Contains(doubt, "a NAT lies between it and the capture point") {
			t.Errorf("%s: delivered %v (%s), want %v", tc.name, delivered, doubt, tc.want)
		}
	}
}

// TestSenderNameOfB2BUALeg: on a leg of a longer call, media from the
// B2BUA's own host is the B2BUA's (it anchors the media), not the call's
// caller's; media from elsewhere at that end passed it by (direct
// media), and a proxy passes on its party's SDP: the party's own.
func TestSenderNameOfB2BUALeg(t *testing.T) {
	call := &sipCall{CallerSig: netip.MustParseAddrPort("10.154.0.3:5060"), Caller: report.Party{Role: "caller", User: "1001"}}
	for _, tc := range []struct {
		role, src, want string
	}{
		{"", "10.154.0.3", "caller"},
		{roleB2BUA, "10.154.0.3", "b2bua 10.154.0.3"},
		{roleB2BUA, "192.168.1.13", "caller"},
		{roleProxy, "10.154.0.3", "caller"},
	} {
		cb := &callBuild{call: call, dlg: &dialog{}, roles: [2]string{tc.role, ""}}
		if got := cb.senderName(caller, netip.MustParseAddr(tc.src)); got != tc.want {
			t.Errorf("role %q, media from %s: %q, want %q", tc.role, tc.src, got, tc.want)
		}
	}
}
