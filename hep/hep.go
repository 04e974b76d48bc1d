package hep

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// PayloadType says what a HEP packet carries (HEPv3 chunk 0x000b). The
// values are those HOMER and the senders agree on.
type PayloadType uint8

// Payload types natdoc reads or writes.
const (
	TypeSIP      PayloadType = 0x01
	TypeRTP      PayloadType = 0x04
	TypeRTCPJSON PayloadType = 0x05 // RTCP reports decoded to JSON (Asterisk, rtpengine, heplify)
	TypeQoSJSON  PayloadType = 0x22 // media quality reports as JSON (heplify's RTP agent)
	TypeRTCPXR   PayloadType = 0x23 // RTCP-XR VQ session reports (RFC 6035)
	TypeDNS      PayloadType = 0x35
	TypeLog      PayloadType = 0x64 // free text or JSON log lines (Kamailio hlog, natdoc verdicts)
)

// String names the payload type as HOMER does.
func (t PayloadType) String() string {
	switch t {
	case TypeSIP:
		return "SIP"
	case TypeRTP:
		return "RTP"
	case TypeRTCPJSON:
		return "RTCP"
	case TypeQoSJSON:
		return "QoS"
	case TypeRTCPXR:
		return "RTCP-XR"
	case TypeDNS:
		return "DNS"
	case TypeLog:
		return "LOG"
	}
	return fmt.Sprintf("type-%d", uint8(t))
}

// HEPv3 chunk types of the generic vendor (0x0000).
const (
	chunkFamily        = 0x0001
	chunkProto         = 0x0002
	chunkSrc4          = 0x0003
	chunkDst4          = 0x0004
	chunkSrc6          = 0x0005
	chunkDst6          = 0x0006
	chunkSrcPort       = 0x0007
	chunkDstPort       = 0x0008
	chunkTimeSec       = 0x0009
	chunkTimeUsec      = 0x000a
	chunkPayloadType   = 0x000b
	chunkCaptureID     = 0x000c
	chunkKeepalive     = 0x000d
	chunkAuthKey       = 0x000e
	chunkPayload       = 0x000f
	chunkCompressed    = 0x0010
	chunkCorrelationID = 0x0011
	chunkNodeName      = 0x0013
)

// Address families as HEP writes them (the BSD socket values).
const (
	familyIPv4 = 2
	familyIPv6 = 10
)

// Header sizes.
const (
	v3HeaderLen    = 6 // "HEP3" and the total length
	chunkHeaderLen = 6 // vendor, type, length
	v2BaseLen      = 8 // version, length, family, protocol, ports
	v2TimeLen      = 12
)

// MaxInflated bounds a compressed payload once inflated: a SIP message
// is at most 64 KiB, and a bomb must not make natdoc allocate more.
const MaxInflated = 64 << 10

// Errors a decoder returns; all mean "not a HEP packet natdoc can use".
var (
	ErrNotHEP    = errors.New("hep: not a HEP packet")
	ErrTruncated = errors.New("hep: truncated")
	ErrMalformed = errors.New("hep: malformed")
	ErrTooLarge  = errors.New("hep: packet over 65535 bytes")
)

// Packet is one HEP message. Byte fields filled by Decode alias the decoded
// buffer and are valid only while it is.
type Packet struct {
	Version uint8 // 1, 2 or 3
	// Proto is the IP protocol of the captured packet (17 UDP, 6 TCP, 132
	// SCTP); SIP over TLS is traced decrypted with proto 6.
	Proto     uint8
	Src, Dst  netip.AddrPort
	Time      time.Time
	CaptureID uint32
	Type      PayloadType
	// Payload is the captured message; when Compressed, gzip data that
	// Inflate opens.
	Payload       []byte
	Compressed    bool
	CorrelationID []byte
	AuthKey       []byte
	NodeName      []byte
	// Keepalive: the packet carries only the keep-alive timer chunk.
	Keepalive bool
}

// Is tells whether b starts like a HEP packet of any version, cheaply, so a
// receiver can route payloads before decoding them.
func Is(b []byte) bool {
	if len(b) >= v3HeaderLen && string(b[:4]) == "HEP3" {
		return true
	}
	return len(b) >= v2BaseLen+8 && (b[0] == 1 || b[0] == 2) && (b[2] == familyIPv4 || b[2] == familyIPv6) &&
		int(b[1]) == v2BaseLen+ipPairLen(b[2])
}

// Decode reads one HEP packet from the start of b into p (reset first) and
// returns how many bytes it took. It does not allocate.
func Decode(b []byte, p *Packet) (int, error) {
	*p = Packet{}
	if len(b) >= 4 && string(b[:4]) == "HEP3" {
		return decodeV3(b, p)
	}
	if len(b) > 0 && (b[0] == 1 || b[0] == 2) {
		return decodeV2(b, p)
	}
	return 0, ErrNotHEP
}

// FrameLen returns the length of the HEPv3 packet starting b, for framing a
// TCP stream, or 0 when the six header bytes are not all there yet.
func FrameLen(b []byte) (int, error) {
	if len(b) < v3HeaderLen {
		if !bytes.HasPrefix([]byte("HEP3"), b[:min(len(b), 4)]) {
			return 0, ErrNotHEP
		}
		return 0, nil
	}
	if string(b[:4]) != "HEP3" {
		return 0, ErrNotHEP
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if n < v3HeaderLen {
		return 0, fmt.Errorf("%w: total length %d", ErrMalformed, n)
	}
	return n, nil
}

func decodeV3(b []byte, p *Packet) (int, error) {
	total, err := FrameLen(b)
	if err != nil {
		return 0, err
	}
	if total == 0 {
		return 0, fmt.Errorf("%w: %d header bytes", ErrTruncated, len(b))
	}
	if total > len(b) {
		return 0, fmt.Errorf("%w: header says %d bytes, %d present", ErrTruncated, total, len(b))
	}
	p.Version = 3
	var f v3Fields
	for rest := b[v3HeaderLen:total]; len(rest) > 0; {
		if len(rest) < chunkHeaderLen {
			return 0, fmt.Errorf("%w: %d stray bytes after the last chunk", ErrMalformed, len(rest))
		}
		vendor, typ := binary.BigEndian.Uint16(rest[0:2]), binary.BigEndian.Uint16(rest[2:4])
		n := int(binary.BigEndian.Uint16(rest[4:6]))
		if n < chunkHeaderLen || n > len(rest) {
			return 0, fmt.Errorf("%w: chunk 0x%04x claims %d bytes, %d left", ErrMalformed, typ, n, len(rest))
		}
		if vendor == 0 {
			if err := f.chunk(p, typ, rest[chunkHeaderLen:n]); err != nil {
				return 0, err
			}
		}
		rest = rest[n:]
	}
	if err := f.finish(p); err != nil {
		return 0, err
	}
	return total, nil
}

// v3Fields gathers the chunks that make up an address or a time stamp.
type v3Fields struct {
	family                 uint8
	src, dst               netip.Addr
	sport, dport           uint16
	sec, usec              uint32
	haveSec, haveKeepalive bool
}

// chunk reads one generic chunk; unknown types are skipped, as the
// protocol asks, so newer senders stay readable.
func (f *v3Fields) chunk(p *Packet, typ uint16, v []byte) error {
	switch typ {
	case chunkFamily, chunkProto, chunkPayloadType:
		if len(v) != 1 {
			return chunkSizeError(typ, len(v))
		}
		switch typ {
		case chunkFamily:
			f.family = v[0]
		case chunkProto:
			p.Proto = v[0]
		default:
			p.Type = PayloadType(v[0])
		}
	case chunkSrc4, chunkDst4, chunkSrc6, chunkDst6:
		return f.addr(typ, v)
	case chunkSrcPort, chunkDstPort, chunkKeepalive:
		if len(v) != 2 {
			return chunkSizeError(typ, len(v))
		}
		switch typ {
		case chunkSrcPort:
			f.sport = binary.BigEndian.Uint16(v)
		case chunkDstPort:
			f.dport = binary.BigEndian.Uint16(v)
		default:
			f.haveKeepalive = true
		}
	case chunkTimeSec, chunkTimeUsec:
		if len(v) != 4 {
			return chunkSizeError(typ, len(v))
		}
		if typ == chunkTimeSec {
			f.sec, f.haveSec = binary.BigEndian.Uint32(v), true
		} else {
			f.usec = binary.BigEndian.Uint32(v)
		}
	case chunkCaptureID:
		// HEPv3 says 32 bits; early senders wrote 16.
		switch len(v) {
		case 4:
			p.CaptureID = binary.BigEndian.Uint32(v)
		case 2:
			p.CaptureID = uint32(binary.BigEndian.Uint16(v))
		default:
			return chunkSizeError(typ, len(v))
		}
	case chunkPayload, chunkCompressed:
		p.Payload, p.Compressed = v, typ == chunkCompressed
	case chunkAuthKey:
		p.AuthKey = v
	case chunkCorrelationID:
		p.CorrelationID = v
	case chunkNodeName:
		p.NodeName = v
	}
	return nil
}

func (f *v3Fields) addr(typ uint16, v []byte) error {
	want := 4
	if typ == chunkSrc6 || typ == chunkDst6 {
		want = 16
	}
	if len(v) != want {
		return chunkSizeError(typ, len(v))
	}
	var a netip.Addr
	if want == 4 {
		a = netip.AddrFrom4([4]byte(v))
	} else {
		a = netip.AddrFrom16([16]byte(v))
	}
	if typ == chunkSrc4 || typ == chunkSrc6 {
		f.src = a
	} else {
		f.dst = a
	}
	return nil
}

// finish checks that the chunks describe one message and sets its
// addresses and time.
func (f *v3Fields) finish(p *Packet) error {
	if p.Payload == nil {
		if f.haveKeepalive {
			p.Keepalive = true
			return nil
		}
		return fmt.Errorf("%w: no payload chunk", ErrMalformed)
	}
	if !f.src.IsValid() || !f.dst.IsValid() || f.src.Is4() != f.dst.Is4() {
		return fmt.Errorf("%w: source or destination address missing", ErrMalformed)
	}
	if f.family != 0 && (f.family == familyIPv4) != f.src.Is4() {
		return fmt.Errorf("%w: address family %d does not match the addresses", ErrMalformed, f.family)
	}
	if f.usec >= 1_000_000 {
		return fmt.Errorf("%w: %d microseconds", ErrMalformed, f.usec)
	}
	p.Src, p.Dst = netip.AddrPortFrom(f.src, f.sport), netip.AddrPortFrom(f.dst, f.dport)
	if f.haveSec {
		p.Time = time.Unix(int64(f.sec), int64(f.usec)*1000).UTC()
	}
	return nil
}

func chunkSizeError(typ uint16, n int) error {
	return fmt.Errorf("%w: chunk 0x%04x has %d bytes", ErrMalformed, typ, n)
}

// ipPairLen is the size of the source and destination addresses of a
// HEPv1/v2 header for a family, 0 for an unknown family.
func ipPairLen(family uint8) int {
	switch family {
	case familyIPv4:
		return 8
	case familyIPv6:
		return 32
	}
	return 0
}

// decodeV2 reads the fixed header of HEPv1 and v2: ports in network order,
// the v2 time stamp and capture ID in the sender's byte order, which is
// little-endian on every platform that sends it (x86, ARM).
func decodeV2(b []byte, p *Packet) (int, error) {
	if len(b) < v2BaseLen {
		return 0, fmt.Errorf("%w: %d bytes", ErrTruncated, len(b))
	}
	pair := ipPairLen(b[2])
	if pair == 0 || int(b[1]) != v2BaseLen+pair {
		return 0, ErrNotHEP
	}
	head := v2BaseLen + pair
	if b[0] == 2 {
		head += v2TimeLen
	}
	if len(b) < head {
		return 0, fmt.Errorf("%w: header needs %d bytes, %d present", ErrTruncated, head, len(b))
	}
	p.Version, p.Proto, p.Type = b[0], b[3], TypeSIP
	sport, dport := binary.BigEndian.Uint16(b[4:6]), binary.BigEndian.Uint16(b[6:8])
	ips := b[v2BaseLen : v2BaseLen+pair]
	var src, dst netip.Addr
	if pair == 8 {
		src, dst = netip.AddrFrom4([4]byte(ips[0:4])), netip.AddrFrom4([4]byte(ips[4:8]))
	} else {
		src, dst = netip.AddrFrom16([16]byte(ips[0:16])), netip.AddrFrom16([16]byte(ips[16:32]))
	}
	p.Src, p.Dst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	if b[0] == 2 {
		t := b[v2BaseLen+pair:]
		sec, usec := binary.LittleEndian.Uint32(t[0:4]), binary.LittleEndian.Uint32(t[4:8])
		if usec >= 1_000_000 {
			return 0, fmt.Errorf("%w: %d microseconds", ErrMalformed, usec)
		}
		p.Time = time.Unix(int64(sec), int64(usec)*1000).UTC()
		p.CaptureID = uint32(binary.LittleEndian.Uint16(t[8:10]))
	}
	p.Payload = b[head:]
	return len(b), nil
}

// Inflate returns the payload, inflated when it is compressed, appending
// to dst. An inflated payload over MaxInflated is an error.
func (p *Packet) Inflate(dst []byte) ([]byte, error) {
	if !p.Compressed {
		return append(dst, p.Payload...), nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(p.Payload))
	if err != nil {
		return dst, fmt.Errorf("hep: compressed payload: %w", err)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(zr, MaxInflated+1))
	if err != nil {
		return dst, fmt.Errorf("hep: compressed payload: %w", err)
	}
	if n > MaxInflated {
		return dst, fmt.Errorf("hep: compressed payload inflates past %d bytes", MaxInflated)
	}
	return append(dst, buf.Bytes()...), nil
}
