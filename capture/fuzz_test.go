package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/internal/hepgen"
	"github.com/pion/rtp"
)

// seedCapture is a small valid pcap: the README's example capture.
func seedCapture(f testing.TB) []byte {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "one-way-private-sdp.pcap"))
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// FuzzReadCapture feeds arbitrary bytes to the file reader and the whole
// pipeline: it must end without panic, with anomalies counted.
func FuzzReadCapture(f *testing.F) {
	data := seedCapture(f)
	f.Add(data[:4096]) // a valid start, cut mid-record
	f.Add(data[:24])   // header only
	bad := append([]byte(nil), data[:2048]...)
	binary.LittleEndian.PutUint32(bad[24+8:], 1<<30) // a record claiming 1 GiB
	f.Add(bad)
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0x1c, 0x4d, 0x3c, 0x2b, 0x1a}) // pcapng start
	f.Add([]byte{0x1f, 0x8b, 8, 0})                                              // gzip start
	f.Add(toModified(data[:4096], 8, false))                                     // modified libpcap, cut
	f.Add(toModified(data[:4096], 12, true))
	f.Add(pcapngWithSecrets(data[40 : 40+214])) // a key log block before the first packet
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newState()
		rs := &readerStats{}
		src, err := openSource(bytes.NewReader(b), rs)
		if err != nil {
			return
		}
		if len(rs.keyLogs) > 0 {
			s.addEmbeddedKeys(rs.keyLogs)
		}
		if err := runPipeline(context.Background(), src, rs, s, func() {}); err != nil && !errors.Is(err, io.EOF) {
			return
		}
		_ = s.result(nil, "")
	})
}

// FuzzDecode decodes arbitrary frames of every supported link type.
func FuzzDecode(f *testing.F) {
	data := seedCapture(f)
	f.Add(uint16(layers.LinkTypeEthernet), data[40:40+214])
	f.Add(uint16(layers.LinkTypeRaw), data[40+14:40+214])
	f.Add(uint16(layers.LinkTypeLinuxSLL), []byte{0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0x45})
	f.Add(uint16(linkTypeERF), append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0x82, 0, 0, 0xff, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0}, data[40:40+214]...))
	frame := data[40 : 40+214]
	for port, header := range map[uint16][]byte{vxlanPort: {0x08, 0, 0, 0, 0, 0, 7, 0}, genevePort: {0, 0, 0x65, 0x58, 0, 0, 7, 0},
		tzspPort: {1, 0, 0, 1, 0, 0x29, 1, 0, 1}} {
		f.Add(uint16(layers.LinkTypeEthernet), mirrorSeed(port, append(header, frame...)))
	}
	// ERSPAN Type III in GRE in IPv4: header, O flag, platform subheader.
	erspan3 := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 47, 0, 0, 10, 99, 0, 1, 10, 99, 0, 2,
		0x10, 0, 0x22, 0xeb, 0, 0, 0, 1, 0x20, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
	f.Add(uint16(layers.LinkTypeRaw), append(erspan3, frame...))
	f.Add(uint16(linkTypeNFLOG), nflogRecord(binary.LittleEndian, frame[14:]))
	f.Add(uint16(linkTypePKTAP), pktapRecord(frame, 1, pktapMinHeader))
	f.Add(uint16(linkTypeUser2), pktapRecord(frame[14:], 12, 156))
	f.Add(uint16(linkTypeCiscoHDLC), append([]byte{0x0f, 0, 0x08, 0}, frame[14:]...))
	f.Add(uint16(layers.LinkTypePPP), append([]byte{0xff, 0x03, 0, 0x21}, frame[14:]...))
	// The first IPv4 fragment (more fragments, offset 0) of a SIP INVITE
	// over UDP whose rest never comes (firstSIPFragment, endFragments).
	sip := []byte("INVITE sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n")
	first := mirrorSeed(5060, sip)
	first[14+6] = 0x20 // MF
	f.Add(uint16(layers.LinkTypeEthernet), first)
	f.Fuzz(func(t *testing.T, lt uint16, b []byte) {
		s := newState()
		d := newDecoder(&s.anomalies)
		d.decode(Record{Data: b, Time: time.Unix(1, 0), WireLen: len(b), LinkType: layers.LinkType(lt)}, 1, s.handle)
		d.endFragments(time.Unix(5, 0))
		d.frags.lost.findings()
	})
}

// mirrorSeed is payload sent over UDP to port, in IPv4 and Ethernet: a
// mirror's encapsulated frame as its collector captures it.
func mirrorSeed(port uint16, payload []byte) []byte {
	b := make([]byte, 14+28, 14+28+len(payload))
	b[12], b[14], b[14+8], b[14+9] = 0x08, 0x45, 64, 17
	binary.BigEndian.PutUint16(b[14+2:], uint16(28+len(payload)))
	copy(b[14+12:], []byte{10, 99, 0, 1, 10, 99, 0, 2})
	binary.BigEndian.PutUint16(b[14+20:], 49152)
	binary.BigEndian.PutUint16(b[14+22:], port)
	binary.BigEndian.PutUint16(b[14+24:], uint16(8+len(payload)))
	return append(b, payload...)
}

// FuzzMirroredFrame reads arbitrary VXLAN, Geneve and TZSP payloads: a
// frame found is a tail of the payload, of a link type decode knows.
func FuzzMirroredFrame(f *testing.F) {
	frame := seedCapture(f)[40 : 40+214]
	f.Add(uint16(vxlanPort), append([]byte{0x08, 0, 0, 0, 0, 0, 7, 0}, frame...))
	f.Add(uint16(genevePort), append([]byte{0x02, 0, 0x65, 0x58, 0, 0, 7, 0, 0x01, 0x08, 0x01, 0x01, 0, 0, 0, 1}, frame...))
	f.Add(uint16(genevePort), append([]byte{0, 0, 0x08, 0x00, 0, 0, 7, 0}, frame[14:]...))
	f.Add(uint16(tzspPort), append([]byte{1, 0, 0, 1, 0, 0x29, 4, 0, 0, 0, 1, 1}, frame...))
	f.Add(uint16(tzspPort), []byte{1, 0, 0, 1, 0x29})
	f.Fuzz(func(t *testing.T, port uint16, b []byte) {
		inner, link, ok := mirroredFrame(49152, port, b)
		if !ok {
			return
		}
		if len(inner) > len(b) || !bytes.Equal(inner, b[len(b)-len(inner):]) {
			t.Fatalf("frame of %d bytes is not a tail of the %d-byte payload", len(inner), len(b))
		}
		if _, known := firstLayer(link, inner); !known {
			t.Fatalf("link type %s", link)
		}
	})
}

// FuzzGTPU reads arbitrary GTP-U payloads: a packet found is IP and lies
// within the payload, never a panic.
func FuzzGTPU(f *testing.F) {
	ip := seedCapture(f)[40+14 : 40+214]
	f.Add(append([]byte{0x30, 0xff, 0, byte(len(ip)), 0, 0, 0, 9}, ip...))
	f.Add(append([]byte{0x36, 0xff, 0, byte(len(ip) + 8), 0, 0, 0, 9, 0, 1, 0, 0x85, 1, 0x10, 0x05, 0}, ip...))
	f.Add([]byte{0x34, 0xff, 0, 8, 0, 0, 0, 9, 0, 0, 0, 0x85, 0, 0x45})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d decoder
		inner, ok := d.gtpuPacket(b)
		if !ok {
			return
		}
		if len(inner) == 0 || len(inner) > len(b) || inner[0]>>4 != 4 && inner[0]>>4 != 6 {
			t.Fatalf("%x: packet %x", b, inner)
		}
	})
}

// FuzzSIP parses arbitrary SIP datagrams and streams and files them as
// calls.
func FuzzSIP(f *testing.F) {
	f.Add([]byte("INVITE sip:200@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1;rport\r\nFrom: <sip:100@x>;tag=a\r\nTo: <sip:200@x>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:100@192.168.1.10>\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4;received=5.6.7.8;rport=9\r\nFrom: <sip:a@b>;tag=a\r\nTo: <sip:b@c>;tag=b\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("BYE sip:x SIP/2.0\r\nContent-Type: multipart/mixed;boundary=X\r\nCall-ID: y\r\nContent-Length: 999\r\n\r\n--X\r\n"))
	// Headers sipgo cannot parse: kept out, the message read without them.
	f.Add([]byte("INVITE sip:200@[fd00::2 SIP/2.0\r\nVia: SIP/2.0/UDP [fd00::1:5060;branch=z9hG4bK1\r\nFrom: <sip:100@x;tag=a\r\nTo: <sip:200@x>\r\nCall-ID: c2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	// IPv6 hosts without brackets (an old phone; heplify's sip_ipv6_udp.pcap).
	f.Add([]byte("INVITE sip:4321@fec0:0:0:0:216:d3ff:fe0d:22c:5060 SIP/2.0\r\nCall-ID: c3@fe80:0:0:0:21a:a0ff:fe07:32e0\r\nContact: <sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e0:5060>\r\nCSeq: 1 INVITE\r\nFrom: <sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e0>;tag=a3bhg\r\nTo: <sip:4321@fec0:0:0:0:216:d3ff:fe0d:22c>\r\nVia: SIP/2.0/UDP fe80:0:0:0:21a:a0ff:fe07:32e0:5060;branch=z9hG4bKkdjuw8376\r\nContent-Length: 0\r\n\r\n"))
	// A stray LF at the end of a CRLF header line (a student proxy's).
	f.Add([]byte("INVITE sip:a@x SIP/2.0\r\nRecord-Route: <sip:10.0.0.1;lr>\n\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2\r\nCall-ID: c4\r\nCSeq: 20 INVITE\r\nContent-Length: 0\r\n\r\n"))
	// A response without a To-tag or the blank line ending its headers (a
	// Zultys PBX's).
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK3\r\nFrom: <sip:a@x>;tag=a\r\nTo: <sip:b@x>\r\nCall-ID: c5\r\nCSeq: 1 SUBSCRIBE\r\nContent-Length: 0\r\nExpires: 60\r\n"))
	// A stray CR before a header line's CRLF and no blank line (an old
	// Zoiper's).
	f.Add([]byte("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK4\r\nFrom: <sip:a@x>;tag=a\r\nTo: <sip:b@x>;tag=b\r\nCall-ID: c6\r\r\nCSeq: 102 INVITE\r\nContent-Length: 0"))
	// SIP over WebSocket: the upgrade and a masked frame in one segment.
	f.Add([]byte("GET / HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: sip\r\n\r\n\x81\x85\x01\x02\x03\x04RKSU!"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newState()
		pkt := &packet{Frame: 1, Time: time.Unix(1, 0), Proto: protoUDP, Payload: b}
		if looksLikeSIP(b) {
			s.handleSIPDatagram(pkt, "UDP")
		}
		pkt.Proto, pkt.Seq = protoTCP, 1
		s.handleTCP(pkt)
		for len(b) > 0 {
			_, used, need, err := s.sipr.parseSIPStream(b)
			if err != nil || need || used <= 0 {
				break
			}
			b = b[used:]
		}
		_ = s.result(nil, "")
	})
}

// FuzzSDP analyses arbitrary SDP bodies.
func FuzzSDP(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp:10001 IN IP4 1.2.3.4\r\na=sendonly\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/SAVP 8\r\nc=IN IP6 fd00::1\r\na=rtcp-mux\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:x\r\n" +
		"a=candidate:1 1 udp 2130706431 192.168.1.5 50000 typ host\r\na=candidate:2 2 UDP 1694498815 203.0.113.5 61001 typ srflx raddr 192.168.1.5 rport 50001\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := parseSDP(b)
		if err != nil {
			return
		}
		for _, m := range info.Media {
			_ = sends(m.Direction) || receives(m.Direction) || isHoldAddress(m.Addr)
			if len(m.Candidates) > maxCandidates {
				t.Fatalf("%d candidates kept", len(m.Candidates))
			}
			for _, c := range m.Candidates {
				if !c.Addr.IsValid() || c.Addr.Port() == 0 || (c.Component != 1 && c.Component != 2) || c.Type == "" {
					t.Fatalf("candidate %+v kept", c)
				}
			}
		}
	})
}

// FuzzRTP classifies arbitrary UDP payloads and feeds RTP into stream
// statistics.
func FuzzRTP(f *testing.F) {
	f.Add([]byte{0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1, 0xff, 0xff})
	f.Add([]byte{0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x9f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0})
	f.Add([]byte{0xa0, 0x08, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1, 0xff, 0x01}) // padding bit
	f.Add([]byte{0x81, 0x08, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1, 0, 0, 0, 2}) // one CSRC
	f.Fuzz(func(t *testing.T, b []byte) {
		var h rtp.Header
		// classifyMedia reads plain headers itself: it must agree with
		// pion's parser on every field of those.
		if classifyMedia(b, &h) == kindRTP {
			var want rtp.Header
			if _, err := want.Unmarshal(b); err != nil {
				t.Fatalf("classified as RTP, pion says %v", err)
			}
			if !reflect.DeepEqual(normalHeader(h), normalHeader(want)) {
				t.Fatalf("header %+v, pion's %+v", h, want)
			}
		}
		fl := &rtpFlow{}
		for i := 0; i < 3; i++ {
			if classifyMedia(b, &h) == kindRTP {
				fl.update(rtpFields{PT: h.PayloadType, Seq: h.SequenceNumber + uint16(i), Timestamp: h.Timestamp}, len(b), int64(i)*1e9, uint64(i))
			}
		}
		_ = fl.Lost()
		_ = fl.JitterMs()
	})
}

// normalHeader makes empty and nil slices compare equal.
func normalHeader(h rtp.Header) rtp.Header {
	if len(h.CSRC) == 0 {
		h.CSRC = nil
	}
	if len(h.Extensions) == 0 {
		h.Extensions = nil
	}
	return h
}

// FuzzHEPRecord feeds arbitrary bytes as received HEP packets (natdoc
// capture --hep) through the whole pipeline: malformed HEP is an anomaly,
// never a panic.
func FuzzHEPRecord(f *testing.F) {
	for _, p := range hepgen.Call(1, time.Unix(1_800_000_000, 0)) {
		b, err := hep.AppendV3(nil, &p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)            // a SIP message of a call, as Kamailio's siptrace sends it
		f.Add(b[:len(b)/2]) // cut in the middle
	}
	p := hepgen.Call(2, time.Unix(1_800_000_000, 0))[0]
	v2, _ := hep.AppendV2(nil, &p)
	f.Add(v2) // HEPv2
	p.Proto, p.Type = 6, hep.TypeRTP
	tcpRTP, _ := hep.AppendV3(nil, &p)
	f.Add(tcpRTP) // a SIP payload labelled RTP over TCP
	p.Proto, p.Type = 17, hep.TypeRTCPJSON
	p.Payload = []byte(`{"sender_information":{"packets":250,"octets":43000},"ssrc":7,"type":200,"report_count":1,` +
		`"report_blocks":[{"source_ssrc":9,"fraction_lost":0,"packets_lost":0,"highest_seq_no":1000,"ia_jitter":8,"lsr":0,"dlsr":0}]}`)
	rtcpJSON, _ := hep.AppendV3(nil, &p)
	f.Add(rtcpJSON)                    // an RTCP sender report as HEP agents send it
	f.Add(rtcpJSON[:len(rtcpJSON)-20]) // its JSON cut short
	f.Fuzz(func(t *testing.T, b []byte) {
		// The analyser's own decoder path: decode, emit into a batch, analyse.
		s := newState()
		p := newProducer(nil, nil, nil, false)
		p.batch, p.sink = newEventBatch(), s.consume
		p.dec.decode(Record{Data: b, Time: time.Unix(1_800_000_000, 0), WireLen: len(b), LinkType: linkTypeHEP}, 1, p.emit)
		p.flush()
		_ = s.result(nil, "")
	})
}
