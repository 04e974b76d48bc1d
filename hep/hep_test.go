package hep

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

const sipInvite = "INVITE sip:200@203.0.113.10 SIP/2.0\r\nCall-ID: abc@192.168.1.10\r\nContent-Length: 0\r\n\r\n"

func samplePacket() Packet {
	return Packet{
		Proto: 17, Src: netip.MustParseAddrPort("192.168.1.10:5060"), Dst: netip.MustParseAddrPort("203.0.113.10:5060"),
		Time: time.Unix(1700000000, 123456000).UTC(), CaptureID: 2001, Type: TypeSIP,
		Payload: []byte(sipInvite), CorrelationID: []byte("abc@192.168.1.10"), AuthKey: []byte("secret"), NodeName: []byte("edge1"),
	}
}

// chunk writes one HEPv3 chunk by hand, independent of the encoder.
func chunk(vendor, typ uint16, v ...byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, vendor)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(6+len(v)))
	return append(b, v...)
}

func v3(chunks ...[]byte) []byte {
	body := bytes.Join(chunks, nil)
	b := append([]byte("HEP3"), 0, 0)
	binary.BigEndian.PutUint16(b[4:], uint16(6+len(body)))
	return append(b, body...)
}

// handV3 is a HEPv3 packet laid out byte by byte from the chunk table,
// with a vendor chunk and an unknown generic chunk a reader must skip.
func handV3() []byte {
	return v3(
		chunk(0, 1, 2), chunk(0, 2, 17),
		chunk(0, 3, 192, 168, 1, 10), chunk(0, 4, 203, 0, 113, 10),
		chunk(0, 7, 0x13, 0xc4), chunk(0, 8, 0x13, 0xc4),
		chunk(0, 9, 0x65, 0x53, 0xf1, 0x00), chunk(0, 10, 0, 1, 0xe2, 0x40),
		chunk(0, 11, 1), chunk(0, 12, 0, 0, 0x07, 0xd1),
		chunk(0x0002, 0x0020, 'k', 'a', 'm'), // Kamailio vendor chunk: skipped
		chunk(0, 0x0018, 0xb8),               // IP TOS: not used, skipped
		chunk(0, 17, []byte("abc@192.168.1.10")...),
		chunk(0, 15, []byte(sipInvite)...),
	)
}

func TestDecodeHandWrittenV3(t *testing.T) {
	var p Packet
	b := handV3()
	n, err := Decode(b, &p)
	if err != nil || n != len(b) {
		t.Fatalf("decode: n %d of %d, %v", n, len(b), err)
	}
	want := Packet{Version: 3, Proto: 17, Src: netip.MustParseAddrPort("192.168.1.10:5060"), Dst: netip.MustParseAddrPort("203.0.113.10:5060"),
		Time: time.Unix(0x6553f100, 123456000).UTC(), CaptureID: 2001, Type: TypeSIP,
		Payload: []byte(sipInvite), CorrelationID: []byte("abc@192.168.1.10")}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got  %+v\nwant %+v", p, want)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Packet)
	}{
		{"IPv4 UDP SIP", func(*Packet) {}},
		{"IPv6 TCP", func(p *Packet) {
			p.Proto = 6
			p.Src, p.Dst = netip.MustParseAddrPort("[2001:db8::1]:5061"), netip.MustParseAddrPort("[2001:db8::2]:40000")
		}},
		{"log without keys", func(p *Packet) {
			p.Type, p.AuthKey, p.NodeName, p.Payload = TypeLog, nil, nil, []byte(`{"verdict":"one-way"}`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := samplePacket()
			tc.edit(&p)
			b, err := AppendV3([]byte("junk"), &p)
			if err != nil {
				t.Fatal(err)
			}
			var got Packet
			if _, err := Decode(b[4:], &got); err != nil {
				t.Fatal(err)
			}
			p.Version = 3
			if !reflect.DeepEqual(got, p) {
				t.Errorf("got  %+v\nwant %+v", got, p)
			}
		})
	}
}

func TestV2(t *testing.T) {
	p := samplePacket()
	b, err := AppendV2(nil, &p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 28+len(sipInvite) || b[0] != 2 || b[1] != 16 || b[2] != 2 || b[3] != 17 {
		t.Fatalf("header % x", b[:28])
	}
	if !Is(b) {
		t.Error("Is(v2) = false")
	}
	var got Packet
	if _, err := Decode(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || got.Src != p.Src || got.Dst != p.Dst || !got.Time.Equal(p.Time) || got.CaptureID != 2001 ||
		string(got.Payload) != sipInvite || got.Type != TypeSIP {
		t.Errorf("got %+v", got)
	}
	// HEPv1: no time header.
	v1 := append([]byte{1, 16}, b[2:16]...)
	v1 = append(v1, sipInvite...)
	if _, err := Decode(v1, &got); err != nil || got.Version != 1 || string(got.Payload) != sipInvite || !got.Time.IsZero() {
		t.Errorf("v1: %v %+v", err, got)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := handV3()
	cut := func(n int) []byte { return append([]byte(nil), good[:n]...) }
	overLong := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(overLong[6+4:], 0xfff0) // first chunk claims 64 KB
	noPayload := v3(chunk(0, 3, 1, 2, 3, 4), chunk(0, 4, 1, 2, 3, 5))
	mixed := v3(chunk(0, 3, 1, 2, 3, 4), chunk(0, 6, make([]byte, 16)...), chunk(0, 15, 'x'))
	wrongFamily := v3(chunk(0, 1, 10), chunk(0, 3, 1, 2, 3, 4), chunk(0, 4, 1, 2, 3, 5), chunk(0, 15, 'x'))
	badUsec := v3(chunk(0, 3, 1, 2, 3, 4), chunk(0, 4, 1, 2, 3, 5), chunk(0, 10, 0xff, 0, 0, 0), chunk(0, 15, 'x'))
	shortChunk := v3(chunk(0, 7, 1), chunk(0, 15, 'x'))
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrNotHEP},
		{"not HEP", []byte("SIP/2.0 200 OK\r\n"), ErrNotHEP},
		{"cut inside the payload", cut(len(good) - 3), ErrTruncated},
		{"header only", cut(6), ErrTruncated},
		{"chunk longer than the packet", overLong, ErrMalformed},
		{"no payload", noPayload, ErrMalformed},
		{"IPv4 source, IPv6 destination", mixed, ErrMalformed},
		{"family says IPv6", wrongFamily, ErrMalformed},
		{"a million microseconds", badUsec, ErrMalformed},
		{"port chunk of one byte", shortChunk, ErrMalformed},
		{"v2 cut in the header", []byte{2, 16, 2, 17, 0, 1, 0, 2, 1, 2}, ErrTruncated},
		{"v2 length disagrees with family", []byte{2, 40, 2, 17, 0, 1, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8}, ErrNotHEP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			if _, err := Decode(tc.b, &p); !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestKeepalive(t *testing.T) {
	var p Packet
	if _, err := Decode(v3(chunk(0, 13, 0, 30), chunk(0, 12, 0, 0, 0, 1)), &p); err != nil || !p.Keepalive || p.CaptureID != 1 {
		t.Errorf("%v %+v", err, p)
	}
}

func TestInflate(t *testing.T) {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	_, _ = w.Write([]byte(sipInvite))
	_ = w.Close()
	p := samplePacket()
	p.Payload, p.Compressed = z.Bytes(), true
	b, err := AppendV3(nil, &p)
	if err != nil {
		t.Fatal(err)
	}
	var got Packet
	if _, err := Decode(b, &got); err != nil || !got.Compressed {
		t.Fatalf("%v compressed=%v", err, got.Compressed)
	}
	out, err := got.Inflate(nil)
	if err != nil || string(out) != sipInvite {
		t.Errorf("inflate: %v %q", err, out)
	}
	// A bomb: a megabyte of zeros in a few hundred bytes.
	z.Reset()
	w = gzip.NewWriter(&z)
	_, _ = w.Write(make([]byte, 1<<20))
	_ = w.Close()
	got.Payload = z.Bytes()
	if _, err := got.Inflate(nil); err == nil {
		t.Error("a gzip bomb inflated")
	}
}

func TestEncodeTooLarge(t *testing.T) {
	p := samplePacket()
	p.Payload = make([]byte, 0xffff)
	if b, err := AppendV3([]byte("x"), &p); !errors.Is(err, ErrTooLarge) || string(b) != "x" {
		t.Errorf("err %v, dst %q", err, b)
	}
}

func TestStreamReader(t *testing.T) {
	p := samplePacket()
	one, _ := AppendV3(nil, &p)
	p.Payload = []byte("BYE sip:x SIP/2.0\r\n\r\n")
	two, _ := AppendV3(nil, &p)
	r := NewStreamReader(io.MultiReader(bytes.NewReader(append(append([]byte(nil), one...), two[:10]...)), bytes.NewReader(two[10:])))
	for i, want := range [][]byte{one, two} {
		b, err := r.Next()
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("end: %v", err)
	}
	r = NewStreamReader(bytes.NewReader(one[:20]))
	if _, err := r.Next(); err != io.ErrUnexpectedEOF {
		t.Errorf("cut: %v", err)
	}
	r = NewStreamReader(bytes.NewReader([]byte("GET / HTTP/1.1\r\n\r\n")))
	if _, err := r.Next(); !errors.Is(err, ErrNotHEP) {
		t.Errorf("http: %v", err)
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	b := handV3()
	var p Packet
	if n := testing.AllocsPerRun(100, func() { _, _ = Decode(b, &p) }); n != 0 {
		t.Errorf("%v allocations per decode", n)
	}
	q := samplePacket()
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf, _ = AppendV3(buf[:0], &q) }); n != 0 {
		t.Errorf("%v allocations per encode", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	buf := handV3()
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := Decode(buf, &p); err != nil {
			b.Fatal(err)
		}
	}
}
