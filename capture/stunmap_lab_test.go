//go:build linux

package capture

import (
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/g711"
	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
	"github.com/pion/stun/v3"
)

// TestLabMappingVaries: a phone asks two real STUN servers (coturn) for
// its mapping from its media socket, names the first answer in its SDP,
// and calls a far end that sends its RTP there. Behind a NAT that maps
// per destination (masquerade random) the two servers answer different
// ports, the far end's RTP meets no mapping of the phone's media, and the
// phone hears nothing: the capture, taken on the phone, proves the NAT's
// mapping from the phone's own STUN, and the one-way call's remedy is a
// relay or symmetric RTP, not STUN. Behind one that keeps its mapping
// (plain masquerade) the servers agree and the call is two-way.
func TestLabMappingVaries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mapping natlab.Mapping
	}{{"varies", natlab.AddressAndPortDependent}, {"kept", natlab.EndpointIndependent}} {
		t.Run(tc.name, func(t *testing.T) { labMappingVaries(t, tc.mapping) })
	}
}

func labMappingVaries(t *testing.T, mapping natlab.Mapping) {
	lab := natlab.New(t)
	stun1 := natlab.StartCoturn(t, lab.PublicHost("stun1", "198.51.100.7"))
	stun2 := natlab.StartCoturn(t, lab.PublicHost("stun2", "198.51.100.8"))
	far := lab.PublicHost("far", "203.0.113.10")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: mapping}})
	phone := r1.LANHost("phone", "192.168.1.10")
	pcap := filepath.Join(t.TempDir(), "phone.pcap")
	dump := phone.StartTcpdump(t, pcap, "udp")

	media, err := phone.ListenUDP("udp4", "192.168.1.10:10000")
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	mapped1 := labBinding(t, media, stun1.Primary)
	mapped2 := labBinding(t, media, stun2.Primary)
	farMedia := netip.MustParseAddrPort("203.0.113.10:30000")
	sip, farSIP, farRTP := labCallEnds(t, phone, far, farMedia)
	labSIPCall(t, sip, farSIP, mapped1, farMedia)

	// The phone sends first, so a NAT that keeps its mapping lets the
	// far end's RTP in; the far end sends to the SDP's address.
	const n = 50
	tone := g711.ULawTone(160, 1000, 4000)
	heard := make(chan int, 1)
	go func() { heard <- countUDP(media, n, 3*time.Second) }()
	for i := range n {
		if _, err := media.WriteToUDP(toneRTP(uint16(i), uint32(i*160), 0x11111111, tone), net.UDPAddrFromAddrPort(farMedia)); err != nil {
			t.Fatal(err)
		}
		if _, err := farRTP.WriteToUDP(toneRTP(uint16(i), uint32(i*160), 0x22222222, tone), net.UDPAddrFromAddrPort(mapped1)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	phoneHeard := <-heard
	labBye(t, sip, farSIP, "turn-lab@natdoc.test")
	time.Sleep(200 * time.Millisecond)
	dump.Stop()

	res := analyzePath(t, pcap)
	var proof *report.Finding
	for i := range res.Findings {
		if res.Findings[i].ID == report.IDMappingVaries {
			proof = &res.Findings[i]
		}
	}
	if len(res.Calls) != 1 {
		t.Fatalf("calls %+v", res.Calls)
	}
	c := res.Calls[0]
	if mapping == natlab.EndpointIndependent {
		if mapped1 != mapped2 || phoneHeard != n || proof != nil || c.Verdict != report.VerdictTwoWay {
			t.Fatalf("a NAT that keeps its mapping: STUN %s and %s, the phone heard %d of %d, proof %+v, verdict %s (%s)",
				mapped1, mapped2, phoneHeard, n, proof, c.Verdict, c.Explain)
		}
		return
	}
	if mapped1 == mapped2 || phoneHeard != 0 {
		t.Fatalf("a NAT that maps per destination: STUN %s and %s, the phone heard %d", mapped1, mapped2, phoneHeard)
	}
	if proof == nil || len(proof.Evidence) != 2 || !strings.Contains(proof.Evidence[0].Text, "STUN from 192.168.1.10:10000: "+stun1.Primary.String()+" answered "+mapped1.String()) {
		t.Fatalf("proof %+v", proof)
	}
	f := findingByID(c.Findings, report.IDOneWayAudio)
	if c.Verdict != report.VerdictOneWay || c.CannotHear != "caller" || f == nil || f.Remedy != remedyMappingVaries ||
		!strings.Contains(f.Evidence[1].Text, "the caller's NAT gives each destination its own public port") {
		t.Fatalf("verdict %s (%s cannot hear), finding %+v", c.Verdict, c.CannotHear, f)
	}
	if len(res.Remedies) == 0 || res.Remedies[0].ID != "relay-media-past-a-symmetric-nat" {
		t.Errorf("remedies %+v", res.Remedies)
	}
}

// labBinding asks server for conn's mapping (RFC 5389 Binding).
func labBinding(t *testing.T, conn *net.UDPConn, server netip.AddrPort) netip.AddrPort {
	t.Helper()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	buf := make([]byte, 1500)
	for try := 0; try < 3; try++ {
		if _, err := conn.WriteToUDP(req.Raw, net.UDPAddrFromAddrPort(server)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		var xa stun.XORMappedAddress
		if res.Decode() != nil || xa.GetFrom(res) != nil {
			t.Fatalf("STUN answer from %s unreadable", server)
		}
		a, _ := netip.AddrFromSlice(xa.IP)
		return netip.AddrPortFrom(a.Unmap(), uint16(xa.Port))
	}
	t.Fatalf("no STUN answer from %s", server)
	return netip.AddrPort{}
}
