package capture

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// parserPacket decodes b through the DecodingLayerParser alone.
func parserPacket(b []byte, wire int) (packet, bool) {
	var got packet
	var ok bool
	d := newDecoder(&anomalies{})
	d.route = true
	d.decodeFastDisabled = true
	rec := Record{Data: b, Time: time.Unix(1, 0), WireLen: wire, LinkType: layers.LinkTypeEthernet}
	d.decode(rec, 1, func(p *packet) { got, ok = *p, true })
	return got, ok
}

// fastPacket decodes b through decodeFast; ok is false when it declined.
func fastPacket(b []byte, wire int) (got packet, answered, emitted bool) {
	d := newDecoder(&anomalies{})
	d.route = true // as parserPacket's: TURN-looking datagrams go to the analyser whole
	rec := Record{Data: b, Time: time.Unix(1, 0), WireLen: wire, LinkType: layers.LinkTypeEthernet}
	answered = d.decodeFast(rec, 1, func(p *packet) { got, emitted = *p, true })
	return got, answered, emitted
}

// samePacket compares what the analysis reads of a packet: a packet
// routed whole (TURN-looking) must be routed by both, with its record.
func samePacket(a, b packet) bool {
	if a.Raw != nil || b.Raw != nil {
		return bytes.Equal(a.Raw, b.Raw) && a.RawLink == b.RawLink && a.WireLen == b.WireLen && a.Frame == b.Frame
	}
	return a.Src == b.Src && a.Dst == b.Dst && a.Proto == b.Proto && bytes.Equal(a.Payload, b.Payload) &&
		len(a.Payload) == len(b.Payload) && a.Truncated == b.Truncated && a.Fragmented == b.Fragmented &&
		a.Raw == nil && b.Raw == nil && a.Frame == b.Frame && a.Time.Equal(b.Time)
}

// udpFrame builds Ethernet(+VLAN)/IPv4/UDP with the given payload.
func udpFrame(vlan bool, payload []byte) []byte {
	var b []byte
	b = append(b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
	if vlan {
		b = append(b, 0x81, 0x00, 0x00, 0x64)
	}
	b = append(b, 0x08, 0x00)
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 192, 168, 1, 10, 203, 0, 113, 5}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	udp := []byte{0x27, 0x10, 0x4e, 0x20, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	b = append(append(append(b, ip...), udp...), payload...)
	return b
}

// TestFastPathAgreesWithParser: where the fast path answers it gives what
// the DecodingLayerParser gives, and it declines what it does not cover.
func TestFastPathAgreesWithParser(t *testing.T) {
	rtpPayload := []byte{0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9, 0xff, 0xff}
	plain := udpFrame(false, rtpPayload)
	set := func(b []byte, i int, v ...byte) []byte {
		c := append([]byte(nil), b...)
		copy(c[i:], v)
		return c
	}
	for _, tc := range []struct {
		name     string
		frame    []byte
		wire     int
		answered bool
	}{
		{"plain", plain, len(plain), true},
		{"vlan", udpFrame(true, rtpPayload), len(plain) + 4, true},
		{"ethernet padding after the datagram", append(udpFrame(false, []byte{1}), 0, 0, 0, 0, 0), 0, true},
		{"snap length cut the frame", plain[:len(plain)-4], len(plain), false},
		{"udp length shorter than ip", set(plain, 14+20+4, 0, 10), 0, true},
		{"udp length below header", set(plain, 14+20+4, 0, 4), 0, false},
		{"udp jumbogram zero length", set(plain, 14+20+4, 0, 0), 0, false},
		{"ip options", set(plain, 14, 0x46), 0, false},
		{"ip version 6 nibble", set(plain, 14, 0x65), 0, false},
		{"more fragments", set(plain, 14+6, 0x20), 0, false},
		{"fragment offset", set(plain, 14+6, 0x00, 0x10), 0, false},
		{"dont fragment", set(plain, 14+6, 0x40), 0, true},
		{"tcp", set(plain, 14+9, 6), 0, false},
		{"tso zero ip length", set(plain, 14+2, 0, 0), 0, false},
		{"ip length past the record", set(plain, 14+2, 0x05, 0xdc), 0, false},
		{"ipv6 ethertype", set(plain, 12, 0x86, 0xdd), 0, false},
		{"double vlan", set(udpFrame(true, rtpPayload), 16, 0x81, 0x00), 0, false},
		{"too short", plain[:30], 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wire := tc.wire
			if wire == 0 {
				wire = len(tc.frame)
			}
			got, answered, _ := fastPacket(tc.frame, wire)
			if answered != tc.answered {
				t.Fatalf("fast path answered %v, want %v", answered, tc.answered)
			}
			if !answered {
				return
			}
			want, ok := parserPacket(tc.frame, wire)
			if !ok || !samePacket(got, want) {
				t.Errorf("fast path gave %+v\nparser gave %+v (emitted %v)", got, want, ok)
			}
		})
	}
}

// FuzzFastPath: on any frame the fast path accepts, its packet equals the
// DecodingLayerParser's.
func FuzzFastPath(f *testing.F) {
	rtpPayload := []byte{0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9, 0xff, 0xff}
	f.Add(udpFrame(false, rtpPayload), 0)              // plain RTP
	f.Add(udpFrame(true, rtpPayload), 0)               // 802.1Q tagged
	f.Add(append(udpFrame(false, nil), 0, 0, 0, 0), 0) // Ethernet padding
	f.Add(udpFrame(false, rtpPayload), 40)             // snap length cut
	f.Fuzz(func(t *testing.T, b []byte, extraWire int) {
		wire := len(b) + max(0, min(extraWire, 1<<16))
		got, answered, emitted := fastPacket(b, wire)
		if !answered {
			return
		}
		if !emitted {
			t.Fatal("fast path answered without a packet")
		}
		want, ok := parserPacket(b, wire)
		if !ok || !samePacket(got, want) {
			t.Fatalf("fast path gave %+v\nparser gave %+v (emitted %v)", got, want, ok)
		}
	})
}

// TestRTPEventSameEitherWay: decodeRecord's direct RTP event equals the
// one the decoder and emit make of the same record; non-RTP records take
// the decoder.
func TestRTPEventSameEitherWay(t *testing.T) {
	rtpPayload := []byte{0x80, 0, 0x12, 0x34, 0, 0, 0x0a, 0xa0, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff}
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"rtp", udpFrame(false, rtpPayload)},
		{"rtp in vlan", udpFrame(true, rtpPayload)},
		{"rtcp", udpFrame(false, []byte{0x81, 200, 0, 1, 0, 0, 0, 9})},
		{"sip", udpFrame(false, []byte("OPTIONS sip:a@b SIP/2.0\r\n\r\n"))},
		{"not media", udpFrame(false, []byte{1, 2, 3})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got, want []event
			for i, direct := range []bool{true, false} {
				p := newProducer(nil, nil, nil, true)
				p.batch = newEventBatch()
				p.dec.decodeFastDisabled = !direct
				rec := Record{Data: tc.frame, Time: time.Unix(7, 5), WireLen: len(tc.frame), LinkType: layers.LinkTypeEthernet, Offset: 99}
				raw := newRawRecord(rec, 0, len(tc.frame))
				p.decodeRecord(tc.frame, &raw, 3)
				if i == 0 {
					got = append(got, p.batch.events...)
				} else {
					want = append(want, p.batch.events...)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d events, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
		})
	}
}
