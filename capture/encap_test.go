package capture_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
)

// encapsulate copies the Ethernet capture at path with every untagged IP
// frame wrapped by wrap(ip, isIPv6), which returns the new EtherType and
// the bytes after the Ethernet header.
func encapsulate(t *testing.T, path string, wrap func(ip []byte, v6 bool) (uint16, []byte)) string {
	return rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		typ := binary.BigEndian.Uint16(data[12:14])
		if typ != 0x0800 && typ != 0x86dd {
			return data
		}
		newType, rest := wrap(data[14:], typ == 0x86dd)
		return append(append(append([]byte(nil), data[:12]...), byte(newType>>8), byte(newType)), rest...)
	})
}

// pppoe wraps an IP packet in a PPPoE session frame (RFC 2516) carrying
// PPP (RFC 1661): a DSL link captured between the router and the modem.
func pppoe(ip []byte, v6 bool) (uint16, []byte) {
	proto := uint16(0x0021)
	if v6 {
		proto = 0x0057
	}
	b := []byte{0x11, 0x00, 0x12, 0x34, 0, 0, byte(proto >> 8), byte(proto)}
	binary.BigEndian.PutUint16(b[4:6], uint16(len(ip)+2))
	return 0x8864, append(b, ip...)
}

// mpls puts an IP packet under two MPLS labels (RFC 3032), the bottom
// one marked: a capture on a provider's core link.
func mpls(ip []byte, _ bool) (uint16, []byte) {
	return 0x8847, append([]byte{0x00, 0x06, 0x40, 0x40, 0x00, 0x0c, 0x81, 0x40}, ip...)
}

// TestEncapsulatedIP: calls inside PPPoE sessions or under MPLS labels are
// judged as the same calls on plain Ethernet.
func TestEncapsulatedIP(t *testing.T) {
	path, truths := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 6})
	for name, wrap := range map[string]func([]byte, bool) (uint16, []byte){"PPPoE": pppoe, "MPLS": mpls} {
		t.Run(name, func(t *testing.T) {
			res := capture.AnalyzePath(t, encapsulate(t, path, wrap))
			checkTruth(t, res, truths)
		})
	}
}

// outerGRE puts a GRE header and payload in IPv4 and Ethernet.
func outerGRE(gre, payload []byte) []byte {
	outer := capture.MirrorSeed(0, nil)[:14+20] // the IPv4 header, made GRE's below
	outer[14+9] = 47
	binary.BigEndian.PutUint16(outer[14+2:14+4], uint16(20+len(gre)+len(payload)))
	return append(append(outer, gre...), payload...)
}

// mirrorWraps wrap a whole captured Ethernet frame as each mirror does.
var mirrorWraps = map[string]func(frame []byte) []byte{
	// AWS VPC Traffic Mirroring, Azure vTAP: VXLAN with VNI 7.
	"VXLAN": func(frame []byte) []byte {
		return capture.MirrorSeed(4789, append([]byte{0x08, 0, 0, 0, 0, 0, 7, 0}, frame...))
	},
	// Geneve with one 8-byte option (AWS Gateway Load Balancer adds its own).
	"Geneve": func(frame []byte) []byte {
		h := []byte{0x02, 0, 0x65, 0x58, 0, 0, 7, 0, 0x01, 0x08, 0x01, 0x01, 0, 0, 0, 1}
		return capture.MirrorSeed(6081, append(h, frame...))
	},
	// MikroTik's sniffer stream: TZSP, a received Ethernet frame, a padding
	// and a 4-byte tag before the END tag.
	"TZSP": func(frame []byte) []byte {
		h := []byte{1, 0, 0, 1, 0, 0x29, 4, 0, 0, 0, 1, 1}
		return capture.MirrorSeed(37008, append(h, frame...))
	},
	// Cisco ERSPAN Type I: GRE (protocol 0x88BE, no sequence number), then
	// the frame.
	"ERSPAN Type I": func(frame []byte) []byte {
		return outerGRE([]byte{0, 0, 0x88, 0xbe}, frame)
	},
	// Cisco ERSPAN Type III: GRE with a sequence number (0x22EB), a 12-byte
	// header (version 2, session 7, frame type 0 Ethernet, the O flag) and
	// an 8-byte platform subheader.
	"ERSPAN Type III": func(frame []byte) []byte {
		h := []byte{0x10, 0, 0x22, 0xeb, 0, 0, 0, 1, 0x20, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}
		return outerGRE(h, frame)
	},
	// A mobile core's user-plane tunnel: the frame's IP packet in a GTP-U
	// G-PDU (3GPP TS 29.281) with TEID 9, a sequence number and a PDU
	// session container extension header (5G N3).
	"GTP-U": func(frame []byte) []byte {
		ip, _ := frameIP(frame)
		h := []byte{0x36, 0xff, 0, 0, 0, 0, 0, 9, 0, 1, 0, 0x85, 1, 0x10, 0x05, 0}
		binary.BigEndian.PutUint16(h[2:4], uint16(len(h)-8+len(ip)))
		return capture.MirrorSeed(2152, append(h, ip...))
	},
	// A PPTP tunnel: the frame's IP packet in PPP in enhanced GRE (RFC 2637).
	"PPTP": func(frame []byte) []byte {
		ip, v6 := frameIP(frame)
		proto := []byte{0x00, 0x21}
		if v6 {
			proto = []byte{0x00, 0x57}
		}
		gre := []byte{0x30, 0x81, 0x88, 0x0b, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0}
		binary.BigEndian.PutUint16(gre[4:6], uint16(len(ip)+4))
		return outerGRE(gre, append(append([]byte{0xff, 0x03}, proto...), ip...))
	},
}

// frameIP is the IP packet an Ethernet frame (maybe VLAN-tagged) carries,
// and whether it is IPv6.
func frameIP(frame []byte) ([]byte, bool) {
	typeAt := 12
	if binary.BigEndian.Uint16(frame[12:14]) == 0x8100 {
		typeAt = 16
	}
	return frame[typeAt+2:], binary.BigEndian.Uint16(frame[typeAt:typeAt+2]) == 0x86dd
}

// TestMirroredFrames: calls captured at a mirror's collector, each frame
// wrapped in VXLAN, Geneve, TZSP, a PPTP or a GTP-U tunnel, are judged as
// the same calls captured directly.
func TestMirroredFrames(t *testing.T) {
	path, truths := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 6})
	for name, wrap := range mirrorWraps {
		t.Run(name, func(t *testing.T) {
			wrapped := rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte { return wrap(data) })
			res := capture.AnalyzePath(t, wrapped)
			checkTruth(t, res, truths)
		})
	}
}

// TestPKTAPCaptures: calls captured on a Mac with tcpdump -k, or from an
// iPhone through rvictl, each packet behind Apple's PKTAP header (link
// type 258, or 149 as Apple's libpcap may write it), are judged as the
// same calls captured on Ethernet; a record cut inside its header is an
// anomaly, not a lost file.
func TestPKTAPCaptures(t *testing.T) {
	path, truths := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 6})
	pktap := func(frame []byte) []byte {
		h := make([]byte, 108)
		binary.LittleEndian.PutUint32(h[0:4], 108)
		binary.LittleEndian.PutUint32(h[4:8], 1)  // a packet
		binary.LittleEndian.PutUint32(h[8:12], 1) // Ethernet
		copy(h[12:36], "en0")
		return append(h, frame...)
	}
	for _, link := range []layers.LinkType{258, 149} {
		t.Run(fmt.Sprint(int(link)), func(t *testing.T) {
			frames := 0
			wrapped := rewriteCaptureAs(t, path, link, func(data []byte, _ *gopacket.CaptureInfo) []byte {
				frames++
				if frames == 3 {
					return pktap(data)[:60] // cut inside the header
				}
				return pktap(data)
			})
			res := capture.AnalyzePath(t, wrapped)
			kinds := map[string]int{}
			for _, a := range res.Capture.Anomalies {
				kinds[a.Kind] += int(a.Count)
			}
			want := "malformed-pktap"
			if link == 149 {
				want = "unknown-link-type"
			}
			if kinds[want] != 1 || len(res.Calls) < len(truths)-1 {
				t.Errorf("%d calls, anomalies %+v; want one %s", len(res.Calls), res.Capture.Anomalies, want)
			}
		})
	}
	// Whole, the calls are judged as on Ethernet.
	res := capture.AnalyzePath(t, rewriteCaptureAs(t, path, 258, func(data []byte, _ *gopacket.CaptureInfo) []byte { return pktap(data) }))
	checkTruth(t, res, truths)
}

// TestSerialLinks: calls captured on a router's serial WAN link, each IP
// packet framed in Cisco HDLC, PPP over HDLC or bare PPP (with the
// protocol compressed to one byte), are judged as on Ethernet.
func TestSerialLinks(t *testing.T) {
	path, truths := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 6})
	for name, tc := range map[string]struct {
		link   layers.LinkType
		header func(v6 bool) []byte
	}{
		"Cisco HDLC": {104, func(v6 bool) []byte {
			if v6 {
				return []byte{0x0f, 0, 0x86, 0xdd}
			}
			return []byte{0x0f, 0, 0x08, 0x00}
		}},
		"PPP in HDLC framing": {50, func(v6 bool) []byte {
			if v6 {
				return []byte{0xff, 0x03, 0x00, 0x57}
			}
			return []byte{0xff, 0x03, 0x00, 0x21}
		}},
		"PPP, protocol compressed": {9, func(v6 bool) []byte {
			if v6 {
				return []byte{0x57}
			}
			return []byte{0x21}
		}},
	} {
		t.Run(name, func(t *testing.T) {
			wrapped := rewriteCaptureAs(t, path, tc.link, func(data []byte, _ *gopacket.CaptureInfo) []byte {
				typeAt := 12
				if binary.BigEndian.Uint16(data[12:14]) == 0x8100 {
					typeAt = 16
				}
				v6 := binary.BigEndian.Uint16(data[typeAt:typeAt+2]) == 0x86dd
				return append(tc.header(v6), data[typeAt+2:]...)
			})
			checkTruth(t, capture.AnalyzePath(t, wrapped), truths)
		})
	}
}

// TestERFCaptures: a capture from an Endace DAG card (link type ERF):
// Ethernet records, some with an extension header, and IPv4 records are
// judged as on Ethernet; a record of another type is counted as an
// anomaly, not guessed at.
func TestERFCaptures(t *testing.T) {
	path, truths := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 7})
	erf := func(typ byte, packet []byte, extensions int) []byte {
		rec := make([]byte, 16+8*extensions, 16+8*extensions+2+len(packet)+8)
		if extensions > 0 {
			typ |= 0x80
		}
		rec[8] = typ
		for i := range extensions {
			rec[16+8*i] = 0x01 // an extension type; its top bit: another follows
			if i < extensions-1 {
				rec[16+8*i] |= 0x80
			}
		}
		if typ&0x7f == 2 {
			rec = append(rec, 0, 0) // offset and padding
		}
		rec = append(append(rec, packet...), make([]byte, 8-len(rec)%8+4)...) // padded, with a (zero) FCS
		binary.BigEndian.PutUint16(rec[10:12], uint16(len(rec)))
		binary.BigEndian.PutUint16(rec[14:16], uint16(len(packet)))
		return rec
	}
	frames := 0
	wrapped := rewriteCaptureAs(t, path, 197, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		frames++
		switch {
		case frames == 5:
			return erf(7, data, 0) // an ATM record: not read
		case frames%3 == 0:
			if ip, ok := frameIP(data); ok {
				return erf(22, ip, 0)
			}
		}
		return erf(2, data, frames%2)
	})
	res := capture.AnalyzePath(t, wrapped)
	if anomalyCount(res, "unreadable-erf-record") != 1 {
		t.Errorf("anomalies %+v, want one unreadable-erf-record", res.Capture.Anomalies)
	}
	if frames == 0 || len(res.Calls) < len(truths)-1 {
		t.Fatalf("%d calls of %d", len(res.Calls), len(truths))
	}
	// Whole, the calls are judged as on Ethernet.
	frames = 0
	res = capture.AnalyzePath(t, rewriteCaptureAs(t, path, 197, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		frames++
		if ip, ok := frameIP(data); ok && frames%3 == 0 {
			return erf(22, ip, 0)
		}
		return erf(2, data, frames%2)
	}))
	checkTruth(t, res, truths)
}
