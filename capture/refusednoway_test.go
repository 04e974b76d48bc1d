package capture_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
)

// TestNoWayOneSideRefused: the caller sends no RTP (a test client with
// no media), and its host refuses the callee's, nothing listening on the
// port its SDP names (ICMP port unreachable for each packet). No audio
// either way, and the remedy is the refusing port's, not the one for
// media that never appeared (average-enjoyer diploma).
func TestNoWayOneSideRefused(t *testing.T) {
	path, callerMedia, calleeMedia := twoWayCall(t, 4*time.Second, 3)
	r := capture.PcapReader(t, path)
	out, w := createPcap(t, "refused.pcap", r.LinkType())
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		eth, _ := pkt.LinkLayer().(*layers.Ethernet)
		ip, _ := pkt.NetworkLayer().(*layers.IPv4)
		udp, _ := pkt.TransportLayer().(*layers.UDP)
		media := udp != nil && len(udp.Payload) > 0 && udp.Payload[0]>>6 == 2
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		if media && src == callerMedia {
			continue // the caller sends nothing
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
		if !media || src != calleeMedia {
			continue
		}
		// The caller's host answers with port unreachable, quoting the
		// packet's IP header and the first 8 bytes after it.
		quote := append(append([]byte(nil), ip.Contents...), udp.Contents...)
		reply := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(reply, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			&layers.Ethernet{SrcMAC: eth.DstMAC, DstMAC: eth.SrcMAC, EthernetType: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: ip.DstIP, DstIP: ip.SrcIP},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort)},
			gopacket.Payload(quote)); err != nil {
			t.Fatal(err)
		}
		ci.Timestamp = ci.Timestamp.Add(100 * time.Microsecond)
		ci.CaptureLength, ci.Length = len(reply.Bytes()), len(reply.Bytes())
		if err := w.WritePacket(ci, reply.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	res := capture.AnalyzePath(t, out)
	if len(res.Calls) != 1 || res.Calls[0].Verdict != report.VerdictNoWay {
		t.Fatalf("calls %+v, want one no-way call", res.Calls)
	}
	if f := findingByID(res.Calls[0].Findings, report.IDNoWayAudio); f == nil || !strings.HasPrefix(f.Remedy, "The RTP is refused where it arrives") {
		t.Errorf("%s finding %+v, want the refused port's remedy", report.IDNoWayAudio, f)
	}
}
