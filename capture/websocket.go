package capture

import (
	"bytes"
	"encoding/binary"
)

// isSIPWebSocketUpgrade recognises the HTTP request that opens a SIP
// WebSocket connection (RFC 6455 §4.1 with subprotocol "sip", RFC 7118 §4).
func isSIPWebSocketUpgrade(b []byte) bool {
	if !bytes.HasPrefix(b, []byte("GET ")) {
		return false
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(b)
	}
	head := bytes.ToLower(b[:end])
	return bytes.Contains(head, []byte("upgrade: websocket")) && bytes.Contains(head, []byte("sec-websocket-protocol: sip"))
}

// wsOpcode values (RFC 6455 §5.2).
const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
)

// drainWebSocket skips the HTTP upgrade, then unframes WebSocket messages
// and parses each as one SIP message (RFC 7118 §5). Lengths are bounded
// before anything is copied.
func (s *state) drainWebSocket(pkt *packet, st *tcpStream) {
	if st.http {
		end := bytes.Index(st.buf, []byte("\r\n\r\n"))
		if end < 0 {
			if len(st.buf) > 8<<10 {
				s.anomaly("malformed-websocket", pkt.Offset, pkt.Frame, "HTTP upgrade longer than 8 KiB")
				st.buf, st.ws = st.buf[:0], false
			}
			return
		}
		st.buf = append(st.buf[:0], st.buf[end+4:]...)
		st.http = false
	}
	for {
		payload, used, opcode, fin, ok := wsFrame(st.buf)
		if used < 0 {
			s.anomaly("malformed-websocket", pkt.Offset, pkt.Frame, "WebSocket frame longer than 64 KiB")
			st.buf = st.buf[:0]
			return
		}
		if !ok {
			return
		}
		switch opcode {
		case wsText, wsBinary, wsContinuation:
			if opcode != wsContinuation {
				st.msg = st.msg[:0]
			}
			if len(st.msg)+len(payload) <= maxTCPBuffer {
				st.msg = append(st.msg, payload...)
			}
			if fin && len(st.msg) > 0 {
				if looksLikeSIP(st.msg) {
					if info, err := s.sipr.parseSIPDatagram(st.msg); err != nil {
						s.unreadableSIPMessage(pkt, kindMalformedSIP, "SIP over WebSocket: "+err.Error())
					} else {
						info.Transport = "WS"
						s.hepOutSIP(pkt, st.msg, "TCP", info.CallID)
						s.sip(pkt, info, nil)
					}
				}
				st.msg = st.msg[:0]
			}
		}
		st.buf = append(st.buf[:0], st.buf[used:]...)
	}
}

// wsFrame reads one WebSocket frame (RFC 6455 §5.2) from b, unmasking its
// payload in place. ok is false when b holds only part of the frame; used
// is -1 for a frame too long to accept.
func wsFrame(b []byte) (payload []byte, used int, opcode byte, fin, ok bool) {
	if len(b) < 2 {
		return nil, 0, 0, false, false
	}
	fin, opcode = b[0]&0x80 != 0, b[0]&0x0f
	masked := b[1]&0x80 != 0
	n := uint64(b[1] & 0x7f)
	hdr := 2
	switch n {
	case 126:
		if len(b) < 4 {
			return nil, 0, 0, false, false
		}
		n, hdr = uint64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return nil, 0, 0, false, false
		}
		n, hdr = binary.BigEndian.Uint64(b[2:10]), 10
	}
	if n > maxTCPBuffer {
		return nil, -1, 0, false, false
	}
	var mask []byte
	if masked {
		if len(b) < hdr+4 {
			return nil, 0, 0, false, false
		}
		mask = b[hdr : hdr+4]
		hdr += 4
	}
	end := hdr + int(n)
	if len(b) < end {
		return nil, 0, 0, false, false
	}
	payload = b[hdr:end]
	if masked {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return payload, end, opcode, fin, true
}
