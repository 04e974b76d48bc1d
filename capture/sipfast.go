package capture

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// The SIP fast path. Nearly every SIP message in a capture is written in
// one plain form: CRLF lines of printable ASCII, no folding, one value per
// header line, addresses like "Name" <sip:user@host:port;params>;tag=x.
// For such a message fastSIP reads the headers natdoc needs straight from
// the bytes, with one allocation for their text, instead of building
// sipgo's model of every header: on a capture of signalling that model was
// most of the time natdoc spent. Anything outside the plain form (a folded
// line, a comma-separated list, a quoted-pair, an IPv6 literal, a tel: URI,
// a byte that is no printable ASCII, a body shorter than its
// Content-Length) makes it decline, and sipgo parses the message: sipgo
// stays the parser of record, and FuzzFastSIP holds the fast path equal to
// it on every message the fast path accepts.

// fastScratch is what fastSIP reuses from one message to the next.
type fastScratch struct {
	vias     []string     // raw top-to-bottom Via values, for duplicates
	contacts []plainAddr  // Contact values in order
	identity [4][]string  // values of linkIdentityHeaders, by header
	xValues  []string     // X- header values
	reasons  []string     // Reason header values
	warnings []string     // Warning header values
	routes   []sip.Header // sipgo's parse of headers it alone checks
}

// linkIdentityHeaders are the headers whose users link a B2BUA's legs
// (linkHints), in the order it reads them.
var linkIdentityHeaders = [4]string{"p-asserted-identity", "diversion", "history-info", "remote-party-id"}

// fastResult is what the fast path read of one message.
type fastResult struct {
	info *sipInfo
	// bodyStart is where the body begins; contentLength is -1 without a
	// Content-Length header.
	bodyStart, contentLength int
}

// fastSIP reads the start line and headers of data, a message whose
// header block ends within it; ok is false when the message is not in the
// plain form and sipgo must parse it.
func (r *sipReader) fastSIP(data []byte) (fastResult, bool) {
	if len(data) > sip.ParseMaxMessageLength {
		return fastResult{}, false
	}
	end, ok := headerBlockEnd(data)
	if !ok {
		return fastResult{}, false
	}
	h, ok := r.fastLines(data[:end+2])
	if !ok || !h.finish() {
		return fastResult{}, false
	}
	return fastResult{info: h.info, bodyStart: end + 4, contentLength: h.contentLength}, true
}

// fastLines reads block, the start line and header lines of a message
// (each ending in CRLF, plain: headerBlockEnd), header by header; the
// checks that need all of them are finish's.
func (r *sipReader) fastLines(block []byte) (fastHeaders, bool) {
	text := string(block)
	info := newSIPInfo()
	info.Expires = -1
	line, rest := cutCRLF(text)
	if !readStartLine(info, line) {
		return fastHeaders{}, false
	}
	sc := &r.fast
	sc.reset()
	h := fastHeaders{info: info, sc: sc, contentLength: -1}
	off := len(line) + 2
	for rest != "" {
		line, rest = cutCRLF(rest)
		if !h.header(line, block[off:off+len(line)]) {
			return fastHeaders{}, false
		}
		off += len(line) + 2
	}
	return h, true
}

// partialPlain says whether data, the bytes a TCP stream has buffered, is
// the start of a message in the plain form whose header block has not all
// come yet: sipgo would ask for more (FuzzFastSIP holds it to that). A
// large message spans several segments, and sipgo was asked after each.
func (r *sipReader) partialPlain(data []byte) bool {
	last := bytes.LastIndex(data, []byte("\r\n"))
	if last < 0 || len(data) > sip.ParseMaxMessageLength {
		return false
	}
	// The line still coming holds no CR or LF (sipgo refuses a bare one)
	// and nothing a plain line would not.
	for _, c := range data[last+2:] {
		if (c < 0x20 && c != '\t') || c > 0x7e {
			return false
		}
	}
	// The complete lines, closed as a header block would be: the block
	// must end at that closing line, not at a blank line of its own.
	block := append(append(r.partial[:0], data[:last+2]...), '\r', '\n')
	r.partial = block
	if end, ok := headerBlockEnd(block); !ok || end != last {
		return false
	}
	_, ok := r.fastLines(block[:last+2])
	return ok
}

func (sc *fastScratch) reset() {
	sc.vias, sc.contacts, sc.xValues = sc.vias[:0], sc.contacts[:0], sc.xValues[:0]
	sc.reasons, sc.warnings = sc.reasons[:0], sc.warnings[:0]
	for i := range sc.identity {
		sc.identity[i] = sc.identity[i][:0]
	}
}

// headerBlockEnd finds the blank line that ends a message's header block,
// checking on the way that the block is plain: printable ASCII, CR and LF
// only as line ends, no folded line. end is the index of the block's
// "\r\n\r\n"; ok is false when there is none or the block is not plain.
// Eight bytes at a time: a word with no byte below 0x20 or above 0x7e (a
// test that may say yes wrongly, never no) needs no closer look.
func headerBlockEnd(b []byte) (end int, ok bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for {
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			if (x-ones*0x20)&^x&highs != 0 || (x+ones|x)&highs != 0 {
				break
			}
			i += 8
		}
		if i >= len(b) {
			return 0, false
		}
		switch c := b[i]; {
		case c >= 0x20 && c < 0x7f, c == '\t':
			i++
		case c == '\r' && i+1 < len(b) && b[i+1] == '\n':
			if i+3 < len(b) && b[i+2] == '\r' && b[i+3] == '\n' {
				return i, true
			}
			if i+2 < len(b) && (b[i+2] == ' ' || b[i+2] == '\t') {
				return 0, false // a folded line (RFC 3261 §7.3.1)
			}
			i += 2
		default:
			return 0, false
		}
	}
}

// cutByte is strings.Cut for a one-byte separator, without the search
// for a longer one (most of what the fast path does is such cuts).
func cutByte(s string, sep byte) (before, after string, found bool) {
	if i := strings.IndexByte(s, sep); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// cutCRLF splits s at its first CRLF, which headerBlockEnd made sure
// ends every line.
func cutCRLF(s string) (line, rest string) {
	i := strings.IndexByte(s, '\r')
	return s[:i], s[i+2:]
}

// readStartLine reads "METHOD URI SIP/2.0" or "SIP/2.0 CODE Reason".
func readStartLine(info *sipInfo, line string) bool {
	if reason, ok := strings.CutPrefix(line, "SIP/2.0 "); ok {
		if len(reason) < 4 || reason[3] != ' ' {
			return false
		}
		code, err := strconv.Atoi(reason[:3])
		if err != nil || code < 100 || code > 699 || reason[0] == '+' {
			return false
		}
		reason = reason[4:]
		// sipgo takes a reason of one word starting "SIP" for a request.
		if len(reason) >= 3 && (reason[:3] == "SIP" || reason[:3] == "sip") && strings.IndexByte(reason, ' ') < 0 {
			return false
		}
		info.Status, info.Reason = code, reason
		return true
	}
	method, rest, ok := cutByte(line, ' ')
	if !ok || method == "" {
		return false
	}
	uri, version, ok := cutByte(rest, ' ')
	if !ok || version != "SIP/2.0" {
		return false
	}
	for i := 0; i < len(method); i++ {
		if method[i] < 'A' || method[i] > 'Z' {
			return false
		}
	}
	u, ok := parsePlainURI(uri)
	if !ok {
		return false
	}
	info.Request, info.Method, info.RURIUser = true, method, u.user
	info.RURIAddr = newBinding(u.host, u.port, "", false, false).Addr
	return true
}

// fastHeaders reads the header lines of one message.
type fastHeaders struct {
	info          *sipInfo
	sc            *fastScratch
	contentLength int
	haveCallID    bool
	haveCSeq      bool
	haveFrom      bool
	haveTo        bool
	haveType      bool
	haveExpires   bool
	userAgent     string
	server        string
	haveUA        bool
	haveServer    bool
	// firstRecordRoute and lastRecordRoute are the first and last
	// Record-Route entries read, as addresses.
	firstRecordRoute, lastRecordRoute netip.AddrPort
	haveRecordRoute                   bool
}

// header reads one header line (raw: the same bytes, for sipgo).
func (h *fastHeaders) header(line string, raw []byte) bool {
	colon := strings.IndexByte(line, ':')
	if colon < 0 {
		return false
	}
	name, value := trimSP(line[:colon]), trimSP(line[colon+1:])
	info := h.info
	key := headerKey(name)
	switch key {
	case "call-id":
		if value == "" {
			return false
		}
		info.CallID, h.haveCallID = value, true
	case "from", "to":
		return h.party(key, value)
	case "cseq":
		return h.cseq(value)
	case "via":
		return h.via(value)
	case "contact":
		a, ok := parsePlainAddr(value, true)
		if !ok {
			return false
		}
		h.sc.contacts = append(h.sc.contacts, a)
	case "content-length":
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return false
		}
		h.contentLength = int(n)
	case "content-type":
		if value == "" {
			return false
		}
		if !h.haveType {
			info.BodyType, h.haveType = value, true
		}
	case "max-forwards":
		if _, err := strconv.ParseUint(value, 10, 32); err != nil {
			return false
		}
	case "route":
		// One plain address (Record-Route: <sip:proxy;lr>, most of them)
		// is one sipgo reads; anything else it must check.
		rr := strings.EqualFold(name, "record-route")
		if a, ok := parsePlainAddr(value, true); ok {
			if rr {
				hop := newBinding(a.uri.host, a.uri.port, "", false, false).Addr
				h.recordRoute(hop, hop)
			}
			return true
		}
		if !h.sipgoChecks(raw) {
			return false
		}
		if n := len(h.sc.routes); rr && n > 0 {
			h.recordRoute(recordRouteAddr(h.sc.routes[0]), recordRouteAddr(h.sc.routes[n-1]))
		}
		clear(h.sc.routes)
	default:
		h.other(key, name, value)
	}
	return true
}

// recordRoute notes a Record-Route header's first and last entries.
func (h *fastHeaders) recordRoute(first, last netip.AddrPort) {
	if !h.haveRecordRoute {
		h.firstRecordRoute, h.haveRecordRoute = first, true
	}
	h.lastRecordRoute = last
}

// party reads a From or To header.
func (h *fastHeaders) party(key, value string) bool {
	a, ok := parsePlainAddr(value, false)
	if !ok {
		return false
	}
	info := h.info
	if key == "from" {
		info.FromTag, info.FromUser, info.FromHost, info.FromName = a.param("tag"), a.uri.user, a.uri.host, a.display
		h.haveFrom = true
	} else {
		info.ToTag, info.ToUser, info.ToHost = a.param("tag"), a.uri.user, a.uri.host
		h.haveTo = true
	}
	return true
}

// other reads the headers sipgo keeps as text: Expires, User-Agent,
// Server, and what links a B2BUA's legs.
func (h *fastHeaders) other(key, name, value string) {
	switch key {
	case "expires":
		if !h.haveExpires {
			h.haveExpires = true
			if n, err := strconv.Atoi(value); err == nil {
				h.info.Expires = n
			}
		}
	case "user-agent":
		if !h.haveUA {
			h.userAgent, h.haveUA = value, true
		}
	case "server":
		if !h.haveServer {
			h.server, h.haveServer = value, true
		}
	case "authorization":
		h.info.Authorized = h.info.Authorized || answersChallenge(value)
	case "authenticate":
		h.info.StaleNonce = h.info.StaleNonce || staleChallenge(value)
	case "reason":
		h.sc.reasons = append(h.sc.reasons, value)
	case "warning":
		h.sc.warnings = append(h.sc.warnings, value)
	default:
		for i, id := range linkIdentityHeaders {
			if key == id {
				h.sc.identity[i] = append(h.sc.identity[i], value)
			}
		}
		if len(name) > 2 && (name[0] == 'x' || name[0] == 'X') && name[1] == '-' {
			h.sc.xValues = append(h.sc.xValues, value)
		}
	}
}

// sipgoChecks runs sipgo's own parser on a header it parses into its
// model (Route, Record-Route, Refer-To, Referred-By) that is not one
// plain address: a value sipgo refuses is a header to report, which only
// the full parse does. What it parsed stays in h.sc.routes for the
// caller, which clears it.
func (h *fastHeaders) sipgoChecks(raw []byte) bool {
	var err error
	h.sc.routes, err = sip.HeadersParser(sip.DefaultHeadersParser()).ParseHeader(h.sc.routes[:0], raw)
	if err != nil {
		clear(h.sc.routes)
	}
	return err == nil
}

// cseq reads "NUMBER METHOD" (RFC 3261 §20.16).
func (h *fastHeaders) cseq(value string) bool {
	num, method, ok := cutByte(value, ' ')
	if !ok || method == "" || strings.IndexByte(method, ' ') >= 0 || strings.IndexByte(method, '\t') >= 0 || !allDigits(num) {
		return false
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || n > 1<<31-1 {
		return false
	}
	h.info.CSeq, h.haveCSeq = uint32(n), true
	if !h.info.Request {
		h.info.Method = method
	}
	return true
}

// via reads "SIP/2.0/TRANSPORT host[:port][;params]" in the form sipgo
// writes it back, so two values are the same Via exactly when their text
// is.
func (h *fastHeaders) via(value string) bool {
	rest, ok := strings.CutPrefix(value, "SIP/2.0/")
	if !ok {
		return false
	}
	transport, rest, ok := cutByte(rest, ' ')
	if !ok || transport == "" || !allUpper(transport) {
		return false
	}
	hostPort, params, hasParams := cutByte(rest, ';')
	host, port, ok := plainHostPort(hostPort, true)
	if !ok || !plainViaParams(params, hasParams) {
		return false
	}
	if len(h.sc.vias) == 0 {
		v := &h.info.Via
		v.Host, v.Port = host, port
		v.Received, _ = paramValue(params, "received")
		if rp, ok := paramValue(params, "rport"); ok {
			v.RPort = rp
			if rp == "" {
				v.RPort = "-"
			}
		}
	}
	for _, seen := range h.sc.vias {
		if seen == value {
			h.info.Via.Dup = true
		}
	}
	h.sc.vias = append(h.sc.vias, value)
	h.info.Via.Count = len(h.sc.vias)
	return true
}

// finish checks that the message has what sipgo requires of it and fills
// what depends on several headers.
func (h *fastHeaders) finish() bool {
	info := h.info
	if !h.haveCallID || !h.haveCSeq || !h.haveFrom || !h.haveTo {
		return false
	}
	if h.haveUA {
		info.UserAgent = h.userAgent
	} else if h.haveServer {
		info.UserAgent = h.server
	}
	if n := len(h.sc.contacts); n > 0 {
		last := h.sc.contacts[n-1]
		info.Contact = last.uri.host
		b := last.binding()
		info.ContactAddr = b.Addr
		if b.Expires >= 0 {
			info.Expires = b.Expires
		}
	}
	if !info.Request && info.Method == "REGISTER" {
		var contacts []contactBinding
		for _, c := range h.sc.contacts {
			if len(contacts) < maxLinkHints {
				contacts = append(contacts, c.binding())
			}
		}
		info.setExtras(sipExtras{Contacts: contacts})
	}
	if info.Request && info.Method == "INVITE" {
		h.linkHints()
	}
	info.setCauses(h.sc.reasons, h.sc.warnings)
	info.setRouteHop(h.firstRecordRoute, h.lastRecordRoute)
	return true
}

// linkHints reads what ties a B2BUA's outbound INVITE to its inbound leg,
// as linkHints does from sipgo's headers.
func (h *fastHeaders) linkHints() {
	var e sipExtras
	for _, values := range h.sc.identity {
		for _, v := range values {
			var uri sip.Uri
			if _, err := sip.ParseAddressValue(v, &uri, nil); err == nil && uri.User != "" && len(e.LinkUsers) < maxLinkHints {
				e.LinkUsers = append(e.LinkUsers, uri.User)
			}
		}
	}
	for _, v := range h.sc.xValues {
		if len(e.LinkValues) < maxLinkHints {
			e.LinkValues = append(e.LinkValues, v[:min(len(v), maxLinkValueSize)])
		}
	}
	h.info.setExtras(e)
}

// headerKey names, in lower case and long form (RFC 3261 §7.3.3), a
// header natdoc reads, whatever the case it is written in; "route" stands
// for every header only sipgo checks; "" for any other header.
func headerKey(name string) string {
	var buf [20]byte
	if len(name) > len(buf) {
		return ""
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(name)]) { // compiled to compares, no allocation
	case "call-id", "i":
		return "call-id"
	case "from", "f":
		return "from"
	case "to", "t":
		return "to"
	case "cseq":
		return "cseq"
	case "via", "v":
		return "via"
	case "contact", "m":
		return "contact"
	case "content-length", "l":
		return "content-length"
	case "content-type", "c":
		return "content-type"
	case "max-forwards":
		return "max-forwards"
	case "route", "record-route", "refer-to", "referred-by":
		return "route"
	case "expires":
		return "expires"
	case "user-agent":
		return "user-agent"
	case "server":
		return "server"
	case "authorization", "proxy-authorization":
		return "authorization"
	case "www-authenticate", "proxy-authenticate":
		return "authenticate"
	case "p-asserted-identity":
		return linkIdentityHeaders[0]
	case "diversion":
		return linkIdentityHeaders[1]
	case "history-info":
		return linkIdentityHeaders[2]
	case "remote-party-id":
		return linkIdentityHeaders[3]
	case "reason":
		return "reason"
	case "warning":
		return "warning"
	}
	return ""
}

// trimSP trims spaces and tabs, the only white space a plain header block
// holds.
func trimSP(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func allUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// fastDatagram reads a message carried whole in a datagram, as
// parseSIPDatagramFully does with sipgo; the body is a slice of payload.
func (r *sipReader) fastDatagram(payload []byte) (*sipInfo, bool) {
	res, ok := r.fastSIP(payload)
	if !ok {
		return nil, false
	}
	n := len(payload)
	if cl := res.contentLength; cl >= 0 {
		if res.bodyStart+cl > len(payload) {
			return nil, false // sipgo's body is zero-padded to Content-Length
		}
		n = res.bodyStart + cl
	}
	if n > res.bodyStart {
		res.info.Body = payload[res.bodyStart:n]
	}
	res.info.LengthMismatch = n < len(payload) && len(bytes.Trim(payload[n:], "\r\n\x00 ")) > 0
	return res.info, true
}

// fastStream reads the message at the start of a TCP stream's bytes,
// as parseSIPStream does with sipgo, when it is there whole; used counts
// its bytes and the body is a slice of data.
func (r *sipReader) fastStream(data []byte) (info *sipInfo, used int, ok bool) {
	res, ok := r.fastSIP(data)
	if !ok || res.contentLength < 0 || res.bodyStart+res.contentLength > len(data) {
		return nil, 0, false
	}
	used = res.bodyStart + res.contentLength
	if used > res.bodyStart {
		res.info.Body = data[res.bodyStart:used]
	}
	return res.info, used, true
}
