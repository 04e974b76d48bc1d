package hep

import (
	"encoding/binary"
	"fmt"
)

// AppendV3 appends p encoded as HEPv3 to dst. Chunks go in the order
// HOMER's own agents write them (addresses, ports, time, type, capture ID,
// optional keys, payload); empty optional fields are left out. p.Time zero
// writes the epoch: senders always stamp their packets.
func AppendV3(dst []byte, p *Packet) ([]byte, error) {
	if !p.Src.Addr().IsValid() || !p.Dst.Addr().IsValid() || p.Src.Addr().Is4() != p.Dst.Addr().Is4() {
		return dst, fmt.Errorf("hep: encode: source %v and destination %v must be addresses of one family", p.Src, p.Dst)
	}
	start := len(dst)
	dst = append(dst, 'H', 'E', 'P', '3', 0, 0)
	v4 := p.Src.Addr().Is4()
	family, srcType, dstType := uint8(familyIPv6), uint16(chunkSrc6), uint16(chunkDst6)
	if v4 {
		family, srcType, dstType = familyIPv4, chunkSrc4, chunkDst4
	}
	dst = appendChunk(dst, chunkFamily, family)
	dst = appendChunk(dst, chunkProto, p.Proto)
	if v4 {
		s, d := p.Src.Addr().As4(), p.Dst.Addr().As4()
		dst = appendChunk(dst, srcType, s[:]...)
		dst = appendChunk(dst, dstType, d[:]...)
	} else {
		s, d := p.Src.Addr().As16(), p.Dst.Addr().As16()
		dst = appendChunk(dst, srcType, s[:]...)
		dst = appendChunk(dst, dstType, d[:]...)
	}
	dst = appendChunk(dst, chunkSrcPort, byte(p.Src.Port()>>8), byte(p.Src.Port()))
	dst = appendChunk(dst, chunkDstPort, byte(p.Dst.Port()>>8), byte(p.Dst.Port()))
	var sec, usec uint32
	if !p.Time.IsZero() {
		sec, usec = uint32(p.Time.Unix()), uint32(p.Time.Nanosecond()/1000)
	}
	dst = appendUint32Chunk(dst, chunkTimeSec, sec)
	dst = appendUint32Chunk(dst, chunkTimeUsec, usec)
	dst = appendChunk(dst, chunkPayloadType, byte(p.Type))
	dst = appendUint32Chunk(dst, chunkCaptureID, p.CaptureID)
	for _, opt := range []struct {
		typ uint16
		v   []byte
	}{{chunkAuthKey, p.AuthKey}, {chunkCorrelationID, p.CorrelationID}, {chunkNodeName, p.NodeName}} {
		if len(opt.v) > 0 {
			dst = appendChunk(dst, opt.typ, opt.v...)
		}
	}
	payloadType := uint16(chunkPayload)
	if p.Compressed {
		payloadType = chunkCompressed
	}
	dst = appendChunk(dst, payloadType, p.Payload...)
	n := len(dst) - start
	if n > 0xffff {
		return dst[:start], fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
	}
	binary.BigEndian.PutUint16(dst[start+4:], uint16(n))
	return dst, nil
}

// appendChunk appends one generic-vendor chunk. A value over 65529 bytes
// gets a wrong length here; AppendV3 rejects such packets as a whole.
func appendChunk(dst []byte, typ uint16, v ...byte) []byte {
	dst = append(dst, 0, 0, byte(typ>>8), byte(typ))
	dst = binary.BigEndian.AppendUint16(dst, uint16(chunkHeaderLen+len(v)))
	return append(dst, v...)
}

func appendUint32Chunk(dst []byte, typ uint16, v uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return appendChunk(dst, typ, b[:]...)
}

// AppendV2 appends p encoded as HEPv2 (fixed header, little-endian time
// stamp and 16-bit capture ID, as the C senders write them). HEPv2 has no
// payload type: the payload is SIP.
func AppendV2(dst []byte, p *Packet) ([]byte, error) {
	src, d := p.Src.Addr().Unmap(), p.Dst.Addr().Unmap()
	if !src.IsValid() || !d.IsValid() || src.Is4() != d.Is4() {
		return dst, fmt.Errorf("hep: encode: source %v and destination %v must be addresses of one family", p.Src, p.Dst)
	}
	family := uint8(familyIPv6)
	if src.Is4() {
		family = familyIPv4
	}
	head := v2BaseLen + ipPairLen(family)
	dst = append(dst, 2, byte(head), family, p.Proto)
	dst = binary.BigEndian.AppendUint16(dst, p.Src.Port())
	dst = binary.BigEndian.AppendUint16(dst, p.Dst.Port())
	dst = append(append(dst, src.AsSlice()...), d.AsSlice()...)
	var sec, usec uint32
	if !p.Time.IsZero() {
		sec, usec = uint32(p.Time.Unix()), uint32(p.Time.Nanosecond()/1000)
	}
	dst = binary.LittleEndian.AppendUint32(dst, sec)
	dst = binary.LittleEndian.AppendUint32(dst, usec)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(p.CaptureID))
	dst = append(dst, 0, 0) // the C struct's padding
	return append(dst, p.Payload...), nil
}
