package capture

import (
	"strconv"
	"strings"
	"sync"

	"github.com/pion/sdp/v3"
)

// The SDP fast path. Nearly every SDP body a phone or a server writes is in
// one plain form: CRLF lines of printable ASCII, fields one space apart, the
// line types in RFC 8866 order, no repeat times, time zones or keys.
// readPlainSDP reads such a body straight into the parts of pion's model
// that describeSession reads, without pion's lexer: on a capture of
// signalling, pion's reading of each new SDP body was a sixth of natdoc's
// time. Anything outside the plain form makes it decline, and pion reads the
// body: pion stays the parser of record, and FuzzPlainSDP holds the fast
// path equal to it on every body the fast path accepts. Each check below
// is pion's own (unmarshal.go of pion/sdp v3), or stricter.

// sdpPlace is where a plain SDP body's next line may go: the states of
// pion's grammar "v o s i? c? b* t+ a* (m (i|c|b|a)*)*", the plain subset
// of RFC 8866 §5's order.
type sdpPlace int

const (
	sdpWantVersion sdpPlace = iota
	sdpWantOrigin
	sdpWantName
	sdpAfterName    // i, c, b or t
	sdpAfterInfo    // c, b or t
	sdpAfterConn    // b or t
	sdpAfterTiming  // t, a or m
	sdpSessionAttrs // a or m
	sdpInMedia      // i, c, b, a or m
)

// sdpNext is the place after a line of type key at place p, or false when
// the plain form has no such line there.
func sdpNext(p sdpPlace, key byte) (sdpPlace, bool) {
	switch {
	case p == sdpWantVersion && key == 'v':
		return sdpWantOrigin, true
	case p == sdpWantOrigin && key == 'o':
		return sdpWantName, true
	case p == sdpWantName && key == 's':
		return sdpAfterName, true
	case p == sdpAfterName && key == 'i':
		return sdpAfterInfo, true
	case (p == sdpAfterName || p == sdpAfterInfo) && key == 'c',
		(p == sdpAfterName || p == sdpAfterInfo || p == sdpAfterConn) && key == 'b':
		return sdpAfterConn, true
	case p >= sdpAfterName && p <= sdpAfterTiming && key == 't':
		return sdpAfterTiming, true
	case (p == sdpAfterTiming || p == sdpSessionAttrs) && key == 'a':
		return sdpSessionAttrs, true
	case p >= sdpAfterTiming && key == 'm',
		p == sdpInMedia && (key == 'i' || key == 'c' || key == 'b' || key == 'a'):
		return sdpInMedia, true
	}
	return p, false
}

// plainSDP is the model readPlainSDP fills, kept for the next body with
// its slices' room: describeSession keeps nothing of it but strings, which
// point into the body's own copy.
type plainSDP struct {
	sd    sdp.SessionDescription
	media []sdp.MediaDescription
	conns [4]plainConn // the c= lines' room: a body has one or two
	nconn int
}

// plainConn is the room of one c= line.
type plainConn struct {
	ci   sdp.ConnectionInformation
	addr sdp.Address
}

var plainSDPs = sync.Pool{New: func() any { return new(plainSDP) }}

// reset empties p for the next body.
func (p *plainSDP) reset() {
	attrs := p.sd.Attributes[:0]
	p.sd = sdp.SessionDescription{Attributes: attrs, MediaDescriptions: p.sd.MediaDescriptions[:0]}
	p.nconn = 0
	for i := range p.media {
		m := &p.media[i]
		*m = sdp.MediaDescription{Attributes: m.Attributes[:0],
			MediaName: sdp.MediaName{Protos: m.MediaName.Protos[:0], Formats: m.MediaName.Formats[:0]}}
	}
}

// newMedia is the next media description of the body.
func (p *plainSDP) newMedia() *sdp.MediaDescription {
	n := len(p.sd.MediaDescriptions)
	if n == len(p.media) {
		p.media = append(p.media, sdp.MediaDescription{})
		// The media moved: point at them anew.
		for i := range n {
			p.sd.MediaDescriptions[i] = &p.media[i]
		}
	}
	p.sd.MediaDescriptions = append(p.sd.MediaDescriptions, &p.media[n])
	return &p.media[n]
}

// readPlainSDP reads body into p when it is in the plain form; ok is false
// when it is not and pion must read it.
func readPlainSDP(body []byte, p *plainSDP) (sd *sdp.SessionDescription, ok bool) {
	text := string(body)
	p.reset()
	sd = &p.sd
	place := sdpWantVersion
	for text != "" {
		end := strings.Index(text, "\r\n")
		if end < 2 || text[1] != '=' || !plainSDPValue(text[2:end]) {
			return nil, false
		}
		key, value := text[0], text[2:end]
		text = text[end+2:]
		if place, ok = sdpNext(place, key); !ok || !readPlainSDPLine(p, key, value) {
			return nil, false
		}
	}
	return sd, true
}

// plainSDPValue says whether v is printable ASCII (no tab, no CR or LF).
func plainSDPValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// readPlainSDPLine reads one line's value into sd, at the place sdpNext
// allowed it.
func readPlainSDPLine(p *plainSDP, key byte, value string) bool {
	sd := &p.sd
	var media *sdp.MediaDescription
	if n := len(sd.MediaDescriptions); n > 0 {
		media = sd.MediaDescriptions[n-1]
	}
	switch key {
	case 'v':
		return value == "0"
	case 'o':
		return readPlainOrigin(sd, value)
	case 's', 'i':
		return true
	case 'c':
		ci, ok := p.connection(value)
		if media != nil {
			media.ConnectionInformation = ci
		} else {
			sd.ConnectionInformation = ci
		}
		return ok
	case 'b':
		return plainBandwidth(value)
	case 't':
		f := fieldsOf(value, 2)
		return f.n == 2 && allDigits(f.at[0]) && allDigits(f.at[1])
	case 'a':
		if media != nil {
			media.Attributes = append(media.Attributes, attributeOf(value))
		} else {
			sd.Attributes = append(sd.Attributes, attributeOf(value))
		}
		return true
	case 'm':
		return plainMediaLine(p.newMedia(), value)
	}
	return false
}

// readPlainOrigin reads "o=<user> <id> <version> IN IP4|IP6 <address>".
func readPlainOrigin(sd *sdp.SessionDescription, value string) bool {
	f := fieldsOf(value, 6)
	if f.n != 6 || !allDigits(f.at[1]) || !allDigits(f.at[2]) || f.at[3] != "IN" || !isAddrType(f.at[4]) {
		return false
	}
	sd.Origin = sdp.Origin{Username: f.at[0], NetworkType: f.at[3], AddressType: f.at[4], UnicastAddress: f.at[5]}
	return true
}

// connection reads "IN IP4|IP6 <address>" as written (pion keeps a TTL
// or count after a slash in the address), in p's room while it lasts.
func (p *plainSDP) connection(value string) (*sdp.ConnectionInformation, bool) {
	f := fieldsOf(value, 3)
	if f.n != 3 || f.at[0] != "IN" || !isAddrType(f.at[1]) {
		return nil, false
	}
	var c *plainConn
	if p.nconn < len(p.conns) {
		c = &p.conns[p.nconn]
		p.nconn++
	} else {
		c = new(plainConn)
	}
	c.addr = sdp.Address{Address: f.at[2]}
	c.ci = sdp.ConnectionInformation{NetworkType: f.at[0], AddressType: f.at[1], Address: &c.addr}
	return &c.ci, true
}

// plainBandwidth checks "b=<type>:<number>" as pion does.
func plainBandwidth(value string) bool {
	kind, number, ok := cutByte(value, ':')
	if !ok || strings.IndexByte(number, ':') >= 0 {
		return false
	}
	switch {
	case strings.HasPrefix(kind, "X-"), kind == "CT", kind == "AS", kind == "TIAS", kind == "RS", kind == "RR":
	default:
		return false
	}
	_, err := strconv.ParseUint(number, 10, 64)
	return err == nil
}

// attributeOf splits "key:value" at its first colon, as pion does (a colon
// first leaves the whole line the key).
func attributeOf(value string) sdp.Attribute {
	if i := strings.IndexByte(value, ':'); i > 0 {
		return sdp.Attribute{Key: value[:i], Value: value[i+1:]}
	}
	return sdp.Attribute{Key: value}
}

// plainMediaLine reads "<media> <port> <proto> <fmt>..." with a media and
// protocol pion knows and a port without a count.
func plainMediaLine(md *sdp.MediaDescription, value string) bool {
	media, rest, _ := cutByte(value, ' ')
	portText, rest, _ := cutByte(rest, ' ')
	proto, formats, _ := cutByte(rest, ' ')
	switch media {
	case "audio", "video", "text", "application", "message":
	default:
		return false
	}
	if len(portText) > 5 || !allDigits(portText) {
		return false
	}
	port, _ := strconv.Atoi(portText)
	if port > 65535 || proto == "" {
		return false
	}
	md.MediaName.Media, md.MediaName.Port = media, sdp.RangedPort{Value: port}
	for p := range strings.SplitSeq(proto, "/") {
		if !knownMediaProto(p) {
			return false
		}
		md.MediaName.Protos = append(md.MediaName.Protos, p)
	}
	if formats == "" {
		return true
	}
	for f := range strings.SplitSeq(formats, " ") {
		if f == "" {
			return false
		}
		md.MediaName.Formats = append(md.MediaName.Formats, f)
	}
	return true
}

// knownMediaProto: the protocol names pion accepts in an m= line.
func knownMediaProto(p string) bool {
	switch p {
	case "UDP", "RTP", "AVP", "SAVP", "SAVPF", "TLS", "DTLS", "SCTP", "AVPF", "TCP", "MSRP", "BFCP", "UDT", "IX", "MRCPv2", "FEC":
		return true
	}
	return false
}

func isAddrType(s string) bool { return s == "IP4" || s == "IP6" }

// sdpFields is up to six fields of a line, one space apart.
type sdpFields struct {
	at [6]string
	n  int // how many; more than asked for, or an empty one, makes it -1
}

// fieldsOf splits value at single spaces into at most limit fields.
func fieldsOf(value string, limit int) sdpFields {
	var f sdpFields
	for {
		field, rest, more := cutByte(value, ' ')
		if field == "" || f.n == limit {
			f.n = -1
			return f
		}
		f.at[f.n] = field
		f.n++
		if !more {
			return f
		}
		value = rest
	}
}
