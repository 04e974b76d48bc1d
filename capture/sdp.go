package capture

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// sdpMedia is what one m= line asks for.
type sdpMedia struct {
	Media     string
	Port      int
	ConnAddr  string // the c= address as written (may be a name)
	Addr      netip.AddrPort
	RTCP      netip.AddrPort
	Direction string
	Proto     string
	Codecs    []string
	Rates     clockRates
	Crypto    []string // a=crypto values (srtp.go)
	// UDPTL: a T.38 fax stream (m=image <port> udptl t38, ITU-T T.38
	// Annex D), whose packets carry no RTP header.
	UDPTL bool
	// ICE: the SDP negotiates ICE (a=ice-ufrag or a=candidate, RFC 8839):
	// c= names only the default candidate, and c=0.0.0.0 with port 9 is
	// trickle ICE's "no candidate yet" (RFC 8840 §4.1.1), not a hold.
	ICE bool
	// Candidates are the m= line's ICE candidates (a=candidate) over UDP
	// at an IP address: its author receives media at each of them too,
	// and the pair ICE picks need not be c=.
	Candidates []iceCandidate
}

// iceCandidate is one a=candidate line (RFC 8839 §5.1) natdoc can match
// packets against.
type iceCandidate struct {
	Addr      netip.AddrPort
	Component uint8  // 1: RTP, 2: RTCP (RFC 8445 §5.1.1.1)
	Type      string // host, srflx, prflx or relay
}

// maxCandidates bounds the candidates kept of one m= line: a browser with
// a few interfaces offers a dozen; more are not worth holding.
const maxCandidates = 16

// sdpInfo is one SDP body reduced to the facts natdoc judges.
type sdpInfo struct {
	Origin     string // o= unicast address
	OriginAddr netip.Addr
	SessConn   string
	Media      []sdpMedia
	// mediaRoom holds Media for the usual SDP of one m= line, in the same
	// allocation.
	mediaRoom [1]sdpMedia
}

// parseSDP reads an SDP body: in the plain form nearly every body is in,
// by readPlainSDP (sdpfast.go); otherwise as parseSDPFully does.
func parseSDP(body []byte) (*sdpInfo, error) {
	p := plainSDPs.Get().(*plainSDP)
	defer plainSDPs.Put(p)
	if sd, ok := readPlainSDP(body, p); ok {
		return describeSession(sd), nil
	}
	return parseSDPFully(body)
}

// parseSDPFully reads an SDP body with pion/sdp. Where pion refuses a line
// that RFC 8866 allows (m=image udptl t38 for T.38 fax, a line type it does
// not know), a tolerant reading of the lines natdoc needs takes over, so a
// valid SDP is never lost: only a body without a single readable m= line
// is an error. RFC 4566 §5.7: a media-level c= overrides the session-level
// one; §6 direction attributes at media level override session level, and
// sendrecv is the default (RFC 3264 §5.1).
func parseSDPFully(body []byte) (*sdpInfo, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		tolerant, terr := readSDPTolerantly(body)
		if terr != nil {
			return nil, fmt.Errorf("sdp: %w", err)
		}
		sd = *tolerant
	}
	return describeSession(&sd), nil
}

// readSDPTolerantly reads the o=, c=, m= and a= lines of an SDP body into
// pion's model, skipping lines it cannot read (RFC 8866 §5: each line is
// <type>=<value>). It fails only when no m= line can be read.
func readSDPTolerantly(body []byte) (*sdp.SessionDescription, error) {
	sd := &sdp.SessionDescription{}
	var md *sdp.MediaDescription
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimRight(line, "\r")
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		value := line[2:]
		switch line[0] {
		case 'o':
			if f := strings.Fields(value); len(f) == 6 {
				sd.Origin = sdp.Origin{Username: f[0], NetworkType: f[3], AddressType: f[4], UnicastAddress: f[5]}
			}
		case 'c':
			if ci := connectionOf(value); ci != nil {
				if md != nil {
					md.ConnectionInformation = ci
				} else {
					sd.ConnectionInformation = ci
				}
			}
		case 'm':
			md = mediaLineOf(value)
			if md != nil {
				sd.MediaDescriptions = append(sd.MediaDescriptions, md)
			}
		case 'a':
			key, val, _ := cutByte(value, ':')
			attr := sdp.Attribute{Key: key, Value: val}
			if md != nil {
				md.Attributes = append(md.Attributes, attr)
			} else if len(sd.MediaDescriptions) == 0 {
				sd.Attributes = append(sd.Attributes, attr)
			}
		}
	}
	if len(sd.MediaDescriptions) == 0 {
		return nil, errors.New("sdp: no readable m= line")
	}
	return sd, nil
}

// connectionOf reads "IN IP4 203.0.113.1" (RFC 8866 §5.7; a TTL or count
// after a slash is dropped).
func connectionOf(v string) *sdp.ConnectionInformation {
	f := strings.Fields(v)
	if len(f) != 3 {
		return nil
	}
	addr, _, _ := cutByte(f[2], '/')
	return &sdp.ConnectionInformation{NetworkType: f[0], AddressType: f[1], Address: &sdp.Address{Address: addr}}
}

// mediaLineOf reads "<media> <port>[/<count>] <proto> <fmt>..." (RFC 8866
// §5.14), or nil when the port is no number.
func mediaLineOf(v string) *sdp.MediaDescription {
	f := strings.Fields(v)
	if len(f) < 3 {
		return nil
	}
	portText, _, _ := cutByte(f[1], '/')
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil
	}
	return &sdp.MediaDescription{MediaName: sdp.MediaName{
		Media: f[0], Port: sdp.RangedPort{Value: port}, Protos: strings.Split(f[2], "/"), Formats: f[3:],
	}}
}

// describeSession reduces a parsed SDP to the facts natdoc judges.
func describeSession(sd *sdp.SessionDescription) *sdpInfo {
	info := &sdpInfo{Origin: sd.Origin.UnicastAddress}
	if len(sd.MediaDescriptions) <= len(info.mediaRoom) {
		info.Media = info.mediaRoom[:0]
	}
	info.OriginAddr, _ = netip.ParseAddr(sd.Origin.UnicastAddress)
	sessDir := directionOf(sd.Attributes)
	sessICE := hasICE(sd.Attributes)
	if sd.ConnectionInformation != nil && sd.ConnectionInformation.Address != nil {
		info.SessConn = sd.ConnectionInformation.Address.Address
	}
	for _, md := range sd.MediaDescriptions {
		m := sdpMedia{
			Media:     md.MediaName.Media,
			Port:      md.MediaName.Port.Value,
			ConnAddr:  info.SessConn,
			Direction: sessDir,
			Proto:     joinProtos(md.MediaName.Protos),
		}
		if md.ConnectionInformation != nil && md.ConnectionInformation.Address != nil {
			m.ConnAddr = md.ConnectionInformation.Address.Address
		}
		if d := directionOf(md.Attributes); d != "" {
			m.Direction = d
		}
		if m.Direction == "" {
			m.Direction = "sendrecv"
		}
		ip, _ := netip.ParseAddr(m.ConnAddr)
		if m.Port > 0 && m.Port < 65536 && ip.IsValid() {
			m.Addr = netip.AddrPortFrom(ip.Unmap(), uint16(m.Port))
			// RFC 3605: a=rtcp gives port and maybe address; default is port+1.
			m.RTCP = netip.AddrPortFrom(ip.Unmap(), uint16(m.Port+1))
			if v, ok := md.Attribute("rtcp"); ok {
				m.RTCP = rtcpAddr(v, ip.Unmap(), m.RTCP)
			}
			if _, ok := md.Attribute("rtcp-mux"); ok {
				m.RTCP = m.Addr
			}
		}
		m.Codecs, m.Rates = codecsOf(md)
		m.UDPTL = strings.EqualFold(m.Proto, "udptl") || strings.EqualFold(m.Proto, "UDP/UDPTL")
		m.Crypto = cryptoOf(md)
		m.ICE = sessICE || hasICE(md.Attributes)
		if m.ICE {
			m.Candidates = candidatesOf(md.Attributes)
		}
		info.Media = append(info.Media, m)
	}
	return info
}

// joinProtos writes an m= line's transport protocol back as one string,
// without making the ones nearly every SDP has.
func joinProtos(protos []string) string {
	if len(protos) == 2 {
		switch p := [2]string{protos[0], protos[1]}; p {
		case [2]string{"RTP", "AVP"}:
			return "RTP/AVP"
		case [2]string{"RTP", "SAVP"}:
			return "RTP/SAVP"
		case [2]string{"RTP", "AVPF"}:
			return "RTP/AVPF"
		case [2]string{"RTP", "SAVPF"}:
			return "RTP/SAVPF"
		}
	}
	return strings.Join(protos, "/")
}

func directionOf(attrs []sdp.Attribute) string {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return ""
}

// rtcpAddr reads "a=rtcp:PORT [IN IP4 ADDR]" (RFC 3605 §2.1).
func rtcpAddr(v string, ip netip.Addr, def netip.AddrPort) netip.AddrPort {
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return def
	}
	port, err := strconv.Atoi(fields[0])
	if err != nil || port <= 0 || port > 65535 {
		return def
	}
	if len(fields) == 4 {
		if a, err := netip.ParseAddr(fields[3]); err == nil {
			ip = a.Unmap()
		}
	}
	return netip.AddrPortFrom(ip, uint16(port))
}

// codecsOf lists "PT name/rate" per format and the clock rates, which the
// RFC 3550 jitter needs.
func codecsOf(md *sdp.MediaDescription) ([]string, clockRates) {
	var rates clockRates
	for i, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		if rates == nil { // room for every rtpmap at once
			rates = make(clockRates, 0, countRtpmaps(md.Attributes[i:]))
		}
		pt, rest, ok := cutByte(a.Value, ' ')
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(pt); err == nil && n >= 0 && n < 128 {
			if _, after, ok := cutByte(rest, '/'); ok {
				rate, _, _ := cutByte(after, '/')
				if r, err := strconv.ParseFloat(rate, 64); err == nil && r > 0 {
					rates = append(rates, ptRate{uint8(n), r})
				}
			}
		}
	}
	var codecs []string
	if len(md.MediaName.Formats) > 0 {
		codecs = make([]string, 0, len(md.MediaName.Formats))
	}
	for _, f := range md.MediaName.Formats {
		if n, ok := rtpmapOf(md.Attributes, f); ok {
			codecs = append(codecs, codecLabel(f, n))
		} else if s, ok := staticCodecName[f]; ok {
			codecs = append(codecs, codecLabel(f, s))
		} else {
			codecs = append(codecs, f)
		}
	}
	return codecs, rates
}

func countRtpmaps(attrs []sdp.Attribute) int {
	n := 0
	for _, a := range attrs {
		if a.Key == "rtpmap" {
			n++
		}
	}
	return n
}

// clockRates are the clock rates an m= line's rtpmaps give its payload
// types, in the order written: a line has a few, so a list beats a map.
type clockRates []ptRate

type ptRate struct {
	pt   uint8
	rate float64
}

// rate is the rate of payload type pt; the last rtpmap for it counts.
func (r clockRates) rate(pt uint8) (float64, bool) {
	for i := len(r) - 1; i >= 0; i-- {
		if r[i].pt == pt {
			return r[i].rate, true
		}
	}
	return 0, false
}

// codecLabel is "PT name/rate". The labels nearly every SDP has (static
// types and the usual dynamic ones with their usual rtpmap) are made once.
func codecLabel(pt, name string) string {
	if l, ok := commonCodecLabel[[2]string{pt, name}]; ok {
		return l
	}
	return pt + " " + name
}

// rtpmapOf is the encoding the last a=rtpmap for payload type pt names.
func rtpmapOf(attrs []sdp.Attribute, pt string) (name string, ok bool) {
	for _, a := range attrs {
		if a.Key != "rtpmap" {
			continue
		}
		if p, rest, cut := cutByte(a.Value, ' '); cut && p == pt {
			name, ok = rest, true
		}
	}
	return name, ok
}

// staticCodecName names the RFC 3551 static payload types SDP may leave
// without rtpmap.
var staticCodecName = map[string]string{
	"0": "PCMU/8000", "3": "GSM/8000", "4": "G723/8000", "7": "LPC/8000", "8": "PCMA/8000",
	"9": "G722/8000", "13": "CN/8000", "18": "G729/8000",
}

// commonCodecLabel are codecLabel's labels made once: every static type
// with its name, and the usual dynamic ones.
var commonCodecLabel = codecLabels()

func codecLabels() map[[2]string]string {
	common := map[[2]string]string{}
	for pt, name := range staticCodecName {
		common[[2]string{pt, name}] = pt + " " + name
	}
	for _, pt := range []string{"96", "97", "98", "99", "100", "101", "102", "110", "111", "120", "126", "127"} {
		for _, name := range []string{"telephone-event/8000", "telephone-event/16000", "telephone-event/48000", "opus/48000/2", "iLBC/8000", "AMR/8000", "AMR-WB/16000", "speex/8000", "speex/16000"} {
			common[[2]string{pt, name}] = pt + " " + name
		}
	}
	return common
}

// hasICE says whether attrs negotiate ICE.
func hasICE(attrs []sdp.Attribute) bool {
	for _, a := range attrs {
		if a.Key == "ice-ufrag" || a.Key == "candidate" {
			return true
		}
	}
	return false
}

// candidatesOf reads the a=candidate lines of one m= line, "foundation
// component transport priority address port typ type [...]" (RFC 8839
// §5.1). Candidates over TCP, at a name (an mDNS .local address hides a
// browser's host address) or malformed are left out: no UDP packet can
// be matched against them.
func candidatesOf(attrs []sdp.Attribute) []iceCandidate {
	var cands []iceCandidate
	for _, a := range attrs {
		if a.Key != "candidate" || len(cands) == maxCandidates {
			continue
		}
		if c, ok := candidateOf(a.Value); ok {
			cands = append(cands, c)
		}
	}
	return cands
}

func candidateOf(v string) (iceCandidate, bool) {
	var f [8]string
	n := 0
	for field := range strings.FieldsSeq(v) {
		if n == len(f) {
			break
		}
		f[n] = field
		n++
	}
	if n < 8 || f[6] != "typ" || !strings.EqualFold(f[2], "udp") || (f[1] != "1" && f[1] != "2") {
		return iceCandidate{}, false
	}
	ip, err := netip.ParseAddr(f[4])
	port, perr := strconv.ParseUint(f[5], 10, 16)
	if err != nil || perr != nil || port == 0 || ip.IsUnspecified() || ip.Zone() != "" {
		return iceCandidate{}, false
	}
	typ := candidateType(f[7])
	if typ == "" {
		return iceCandidate{}, false
	}
	return iceCandidate{Addr: netip.AddrPortFrom(ip.Unmap(), uint16(port)), Component: f[1][0] - '0', Type: typ}, true
}

// candidateType is a candidate type as one of the constant strings (RFC
// 8445 §5.1.1), so no candidate holds on to the SDP's text; "" for
// another.
func candidateType(t string) string {
	for _, known := range [...]string{"host", "srflx", "prflx", "relay"} {
		if t == known {
			return known
		}
	}
	return ""
}

// candidateAt says whether one of m's ICE candidates is at dst, and its
// type: an RTP candidate for an RTP flow, an RTCP one for an RTCP flow,
// or an RTP one under rtcp-mux.
func (m *sdpMedia) candidateAt(dst netip.AddrPort, rtcp bool) (string, bool) {
	muxed := m.RTCP == m.Addr
	for _, c := range m.Candidates {
		if c.Addr == dst && (c.Component == 1 && (!rtcp || muxed) || c.Component == 2 && rtcp) {
			return c.Type, true
		}
	}
	return "", false
}

// lists says whether m's formats include RTP payload type pt: of the m=
// lines BUNDLE puts on one address (RFC 9143), a packet belongs to the
// one that lists its payload type.
func (m *sdpMedia) lists(pt uint8) bool {
	for _, c := range m.Codecs { // "PT name/rate" or "PT"
		n, i := 0, 0
		for ; i < len(c) && i < 3 && c[i] >= '0' && c[i] <= '9'; i++ {
			n = n*10 + int(c[i]-'0')
		}
		if i > 0 && (i == len(c) || c[i] == ' ') && n == int(pt) {
			return true
		}
	}
	return false
}

// firstPT is the payload type of the flow's first RTP packet, false for
// RTCP or T.38 (no payload type).
func (f *rtpFlow) firstPT() (uint8, bool) {
	if f.Key.RTCP || f.nPT == 0 {
		return 0, false
	}
	return f.payloadTypes[0], true
}

// holds says whether m's address puts the stream on hold (RFC 3264 §8.4):
// c=0.0.0.0, except under ICE, where the candidates carry the media.
func (m *sdpMedia) holds() bool { return isHoldAddress(m.Addr) && !m.ICE }

// sends and receives say what a direction attribute allows its author
// (RFC 3264 §5.1).
func sends(dir string) bool    { return dir == "sendrecv" || dir == "sendonly" }
func receives(dir string) bool { return dir == "sendrecv" || dir == "recvonly" }

// isHoldAddress: c=0.0.0.0 is the RFC 2543 way of putting a call on hold,
// still used by many phones (RFC 3264 §8.4).
func isHoldAddress(a netip.AddrPort) bool {
	return a.Addr().IsUnspecified() || !a.IsValid()
}

// lastSDP is the last SDP body a call carried with what parseSDP made
// of it: a retransmitted INVITE, and a 200 OK resent until its ACK, carry
// the same body, parsed once. A parsed SDP is never changed after
// parseSDP, so messages may share it.
type lastSDP struct {
	body string
	info *sdpInfo
	err  error
}

// sdpOf parses body, the SDP of a message with this Call-ID, or returns
// what it parsed to when a leg of the call last carried the same body.
// It looks the legs up without find, which may change a leg.
func (t *callTable) sdpOf(callID string, body []byte) (*sdpInfo, error) {
	for _, c := range t.byID[callID] {
		if c.lastSDP.body != "" && c.lastSDP.body == string(body) {
			return c.lastSDP.info, c.lastSDP.err
		}
	}
	return parseSDP(body)
}

// keepSDP remembers the call's last SDP body.
func (c *sipCall) keepSDP(body []byte, info *sdpInfo, err error) {
	if c.lastSDP.body != string(body) {
		c.lastSDP = lastSDP{string(body), info, err}
	}
}
