package hep

import (
	"bytes"
	"testing"
)

// FuzzDecode: any bytes decode to a packet or an error, never a panic;
// what decodes re-encodes and decodes to the same addresses and payload.
func FuzzDecode(f *testing.F) {
	good := handV3()
	f.Add(good)                         // a full HEPv3 SIP packet, with chunks to skip
	f.Add(good[:len(good)-5])           // cut inside the payload
	f.Add([]byte("HEP3\x00\x06"))       // header only, no chunks
	f.Add([]byte("HEP3\xff\xff"))       // claims 64 KB, has 6 bytes
	f.Add(v3(chunk(0, 15, 0xff, 0xff))) // payload without addresses
	p := samplePacket()
	v2, _ := AppendV2(nil, &p)
	f.Add(v2)                                     // HEPv2 over IPv4
	f.Add([]byte{1, 16, 2, 17, 0, 1, 0, 2, 1, 2}) // HEPv1 cut in the addresses
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		n, err := Decode(b, &p)
		if err != nil {
			return
		}
		if n > len(b) || n <= 0 {
			t.Fatalf("took %d of %d bytes", n, len(b))
		}
		if p.Keepalive {
			return
		}
		enc, err := AppendV3(nil, &p)
		if err != nil {
			return // a v2 packet with a 64 KB payload grows past HEPv3's limit
		}
		var q Packet
		if _, err := Decode(enc, &q); err != nil {
			t.Fatalf("re-encoded packet does not decode: %v", err)
		}
		if q.Src != p.Src || q.Dst != p.Dst || !bytes.Equal(q.Payload, p.Payload) || q.Type != p.Type {
			t.Fatalf("round trip changed the packet: %+v -> %+v", p, q)
		}
	})
}

// FuzzStreamReader: a hostile TCP stream ends in an error, never a hang or
// a packet longer than the stream.
func FuzzStreamReader(f *testing.F) {
	good := handV3()
	f.Add(append(append([]byte(nil), good...), good...))
	f.Add(append(append([]byte(nil), good...), "HEP3\x00"...))
	f.Add([]byte("HEP3\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewStreamReader(bytes.NewReader(b))
		total := 0
		for {
			pkt, err := r.Next()
			if err != nil {
				return
			}
			total += len(pkt)
			if total > len(b) {
				t.Fatalf("read %d bytes from %d", total, len(b))
			}
		}
	})
}
