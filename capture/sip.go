package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// sipReader parses SIP with sipgo and keeps a message whose one header
// sipgo cannot parse (an IPv6 host without brackets in a Via or Contact, a
// malformed From): that header stays unparsed and is reported, the rest of
// the message (method or status, Call-ID, CSeq, tags, body) is read. A
// Request-URI sipgo refuses is replaced for the parse and reported the
// same way. Messages in the plain form most are written in take the fast
// path (sipfast.go) instead. One reader serves one goroutine.
type sipReader struct {
	parser *sip.Parser
	// bad collects the headers of the message being parsed that had to be
	// kept unparsed.
	bad []string
	// fast is the fast path's scratch space, partial partialPlain's.
	fast    fastScratch
	partial []byte
	// fastReads and fullReads count the messages the fast path read and
	// those sipgo parsed.
	fastReads, fullReads uint64
}

// errCommaDetected is how sipgo's header parsers say a header holds more
// than one value; it is not a failure.
const errCommaDetected = "comma detected"

func newSIPReader() *sipReader {
	r := &sipReader{}
	parsers := map[string]sip.HeaderParser{}
	for name, parse := range sip.DefaultHeadersParser() {
		via := name == "via" || name == "v"
		parsers[name] = func(hname []byte, text string) (sip.Header, error) {
			h, err := parse(hname, text)
			if err == nil || (h != nil && err.Error() == errCommaDetected) {
				return h, err
			}
			if fixed := bracketIPv6Hosts(text, via); fixed != text { // sipv6.go
				// Not with a comma error: its index is into fixed, and sipgo
				// would cut text with it.
				if h, err := parseRepaired(parse, hname, fixed); err == nil {
					return h, nil
				}
			}
			r.bad = append(r.bad, string(hname)+": "+text[:min(len(text), 80)])
			return sip.NewHeader(string(hname), text), nil
		}
	}
	r.parser = sip.NewParser(sip.WithHeadersParsers(parsers))
	return r
}

// staleChallenge says whether a WWW-Authenticate or Proxy-Authenticate
// value has stale=true.
func staleChallenge(v string) bool {
	return strings.Contains(asciiLower(v), "stale=true")
}

// answersChallenge says whether an Authorization or Proxy-Authorization
// value answers a challenge: not when its nonce is empty, as in the first
// REGISTER of an IMS or VoLTE phone (3GPP TS 24.229 §5.1.1.2: its user
// name, nonce=""), which asks for the challenge the 401 then brings.
func answersChallenge(v string) bool {
	for _, param := range strings.Split(v, ",") {
		key, value, ok := strings.Cut(param, "=")
		if !ok {
			continue
		}
		// The first parameter follows the scheme ("Digest username=").
		key = strings.TrimSpace(key)
		if i := strings.LastIndexAny(key, " \t"); i >= 0 {
			key = key[i+1:]
		}
		if strings.EqualFold(key, "nonce") {
			value = strings.TrimSpace(value)
			return value != "" && value != `""`
		}
	}
	return true
}

// parseRepaired runs a sipgo header parser on a value natdoc repaired;
// such values reach parts of sipgo raw traffic does not, so a panic is
// taken as a failed parse.
func parseRepaired(parse sip.HeaderParser, hname []byte, value string) (h sip.Header, err error) {
	defer func() {
		if r := recover(); r != nil {
			h, err = nil, fmt.Errorf("sipgo: %v", r)
		}
	}()
	return parse(hname, value)
}

// parse runs sipgo on data; when the start line's Request-URI is what it
// refuses, it parses again with a placeholder URI.
func (r *sipReader) parse(data []byte, stream bool) (sip.Message, int, error) {
	r.bad = r.bad[:0]
	msg, n, err := r.parser.Parse(data, stream)
	if err == nil || msg != nil {
		return msg, n, err
	}
	end := bytes.IndexByte(data, '\n')
	if end < 0 {
		return msg, n, err
	}
	line := bytes.Fields(data[:end])
	if len(line) != 3 || !bytes.Equal(line[2], []byte("SIP/2.0")) || bytes.HasPrefix(line[0], []byte("SIP/")) {
		return msg, n, err
	}
	if uri := bracketIPv6Hosts(string(line[1]), false); uri != string(line[1]) { // sipv6.go
		if msg, n2, err2 := r.parseWithURI(data, end, line[0], uri, stream); msg != nil {
			return msg, n2, err2
		}
	}
	msg, n2, err2 := r.parseWithURI(data, end, line[0], "sip:invalid.invalid", stream)
	if msg == nil {
		return msg, n, err
	}
	r.bad = append(r.bad, "Request-URI: "+string(line[1][:min(len(line[1]), 80)]))
	return msg, n2, err2
}

// parseWithURI parses data with its start line (which ends at end) made
// of method and uri; n counts bytes of data, not of the line put in.
func (r *sipReader) parseWithURI(data []byte, end int, method []byte, uri string, stream bool) (sip.Message, int, error) {
	fixed := make([]byte, 0, len(data)+len(uri))
	fixed = append(fixed, method...)
	fixed = append(fixed, ' ')
	fixed = append(fixed, uri...)
	fixed = append(fixed, " SIP/2.0\r\n"...)
	fixed = append(fixed, data[end+1:]...)
	msg, n, err := r.parser.Parse(fixed, stream)
	if err != nil && msg == nil {
		return nil, 0, err
	}
	return msg, n - len(fixed) + len(data), err
}

// sipMethods are the request methods whose start line marks a payload as
// SIP (RFC 3261 §7.1 and the extensions seen in the field).
var sipMethods = []string{"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK",
	"SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"}

// looksLikeSIP detects SIP by content, on any port: a start line that is a
// SIP status line or a request line ending in SIP/2.0. It only routes the
// payload to sipgo's parser; it parses nothing itself.
func looksLikeSIP(b []byte) bool {
	if len(b) < 12 || b[0] < 'A' || b[0] > 'Z' {
		return false
	}
	if bytes.HasPrefix(b, []byte("SIP/2.0 ")) {
		return true
	}
	line := b
	if i := bytes.IndexByte(b[:min(len(b), 1024)], '\n'); i >= 0 {
		line = b[:i]
	} else {
		return false
	}
	line = bytes.TrimRight(line, "\r")
	if !bytes.HasSuffix(line, []byte(" SIP/2.0")) {
		return false
	}
	for _, m := range sipMethods {
		if len(line) > len(m) && string(line[:len(m)]) == m && line[len(m)] == ' ' {
			return true
		}
	}
	return false
}

// contactBinding is one Contact of a registrar's answer.
type contactBinding struct {
	Addr netip.AddrPort
	// Fixed: the registrar marked it with the address the REGISTER came
	// from (a received= parameter, Kamailio's fix_nated_register, or an
	// alias= URI parameter, its add_contact_alias).
	Fixed   bool
	Expires int // its expires parameter (-1: none)
}

// via is the top Via of a message, reduced to what NAT analysis needs.
type via struct {
	Host     string
	Port     int
	Received string
	RPort    string // "" absent, "-" present without value
	Count    int    // number of Via values in the message
	Dup      bool   // two identical Via values
}

// sentByPort is the port of the Via sent-by: 5060 when none is written
// (RFC 3261 §18.1.1, UDP and TCP).
func (v via) sentByPort() int {
	if v.Port == 0 {
		return 5060
	}
	return v.Port
}

// sipInfo is one SIP message reduced to plain facts: what its bytes say
// (sipHeaders, shared by the copies of a resent message, repeats.go) and
// where this copy of it was captured. It never keeps the packet buffer.
type sipInfo struct {
	*sipHeaders
	Frame     uint64
	Offset    int64
	Src, Dst  netip.AddrPort
	Transport string
	Body      []byte
	// LengthMismatch: Content-Length disagrees with the body carried, a
	// classic trace of a SIP ALG that rewrote the body (issue 5).
	LengthMismatch bool
	Fragmented     bool
	// HeadersCut: the snap length cut the message inside its header
	// block: a header not read may have been there.
	HeadersCut bool
	// BodyCut: the capture's snap length cut the message: its body (SDP)
	// is lost, or read only as far as its last whole line.
	BodyCut bool
	// Unended: the datagram ended inside its header block, without the
	// blank line that ends it (unendedHeaders).
	Unended bool
	// contactIP, viaIP and receivedIP are Contact, Via.Host and
	// Via.Received read as addresses (invalid when they are names), once
	// for the several rules that compare them (addresses).
	contactIP, viaIP, receivedIP netip.Addr
	// addrsRead: addresses has set them (a resent message's reading
	// comes with them, repeats.go).
	addrsRead bool
}

// newSIPInfo makes a message's facts and its header facts in one
// allocation.
func newSIPInfo() *sipInfo {
	both := &struct {
		info sipInfo
		hdr  sipHeaders
	}{}
	both.info.sipHeaders = &both.hdr
	return &both.info
}

// sipHeaders are the facts a SIP message's start line and headers state.
// They are not changed once read.
type sipHeaders struct {
	CSeq    uint32
	Request bool
	// Authorized: the message carries credentials (Authorization or
	// Proxy-Authorization, RFC 3261 §22) that answer a challenge (a
	// nonce: answersChallenge).
	Authorized bool
	// StaleNonce: a challenge says the credentials were right but their
	// nonce had expired (stale=true, RFC 2617 §3.2.1).
	StaleNonce bool
	Method     string // request method, or the CSeq method of a response
	Status     int
	Reason     string
	CallID     string
	FromTag    string
	ToTag      string
	FromUser   string
	FromHost   string
	FromName   string
	ToUser     string
	ToHost     string
	Contact    string // host of the Contact URI
	// ContactAddr is the first Contact's IP address and port (port 5060
	// when none is written), when its host is an IP address.
	ContactAddr netip.AddrPort
	// Expires is the Expires header in seconds (-1: none), or the first
	// Contact's expires parameter when it has one.
	Expires   int
	UserAgent string
	Via       via
	BodyType  string
	// RURIUser is the user of a request's Request-URI.
	RURIUser string
	// RURIAddr is a request's Request-URI as an address (port 5060 when
	// none is written), when its host is an IP address: where the sender
	// meant it to go, whatever forwarded it on.
	RURIAddr netip.AddrPort
	// extra holds what few messages have (nil: none of it). Apart, the
	// facts of every other message fit a smaller allocation: one is made
	// per message read, most of what reading signalling allocates.
	extra *sipExtras
}

// sipExtras are the header facts of a few messages.
type sipExtras struct {
	// Contacts lists every Contact of a REGISTER's answer: the bindings
	// the registrar holds (RFC 3261 §10.3).
	Contacts []contactBinding
	// LinkUsers are the users a B2BUA passes on from its other leg
	// (P-Asserted-Identity, Diversion, History-Info, Remote-Party-ID), and
	// LinkValues the X- headers where some put the other leg's Call-ID:
	// read from INVITEs only.
	LinkUsers  []string
	LinkValues []string
	// BadHeaders are the headers that could not be parsed and were left
	// out ("via: SIP/2.0/UDP fd00::1:5060"), reported as anomalies.
	BadHeaders []string
	// Reasons and Warnings are the values of the Reason (RFC 3326) and
	// Warning (RFC 3261 §20.43) headers: why a call failed or ended, as
	// the network put it (causes.go).
	Reasons, Warnings []string
	// RouteHop is, when its host is an IP address, the first hop of the
	// route set the message gives the party it goes to: of an INVITE, its
	// first Record-Route entry, where the callee's requests of the dialog
	// go (RFC 3261 §12.1.1); of a 2xx to an INVITE, its last, where the
	// caller's ACK and later requests go (the Record-Route list reversed,
	// §12.1.2).
	RouteHop netip.AddrPort
}

// extras are the message's rarer facts (empty when it has none).
func (h *sipHeaders) extras() *sipExtras {
	if h.extra == nil {
		return &noExtras
	}
	return h.extra
}

// noExtras stands for the rarer facts of a message without any; never
// written.
var noExtras sipExtras

// setExtras gives the message its rarer facts, when it has any, so
// that a message without them has none allocated (the fast path and
// sipgo's agree on that, FuzzFastSIP).
func (h *sipHeaders) setExtras(e sipExtras) {
	if len(e.Contacts) > 0 || len(e.LinkUsers) > 0 || len(e.LinkValues) > 0 || len(e.BadHeaders) > 0 || len(e.Reasons) > 0 || len(e.Warnings) > 0 ||
		e.RouteHop.IsValid() {
		h.extra = &e
	}
}

// setRouteHop gives an INVITE or a 2xx to one the first hop of the
// route set it gives its receiver (RouteHop), of the first and last
// Record-Route entries, when it names one.
func (h *sipHeaders) setRouteHop(first, last netip.AddrPort) {
	hop := netip.AddrPort{}
	switch {
	case h.Method != "INVITE":
	case h.Request:
		hop = first
	case h.Status >= 200 && h.Status <= 299:
		hop = last
	}
	if !hop.IsValid() {
		return
	}
	e := *h.extras()
	e.RouteHop = hop
	h.setExtras(e)
}

// recordRouteAddr is a Record-Route entry's URI as an address (port 5060
// when none is written; invalid when its host is a name).
func recordRouteAddr(hdr sip.Header) netip.AddrPort {
	if rr, ok := hdr.(*sip.RecordRouteHeader); ok {
		return newBinding(rr.Address.Host, rr.Address.Port, "", false, false).Addr
	}
	return netip.AddrPort{}
}

// trimBrackets is strings.Trim(s, "[]") without building its cutset at
// every call (it ran for every message).
func trimBrackets(s string) string {
	for s != "" && (s[0] == '[' || s[0] == ']') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == '[' || s[len(s)-1] == ']') {
		s = s[:len(s)-1]
	}
	return s
}

// addresses reads the message's Contact, Via sent-by and received as
// addresses, once: they depend only on the header facts.
func (s *sipInfo) addresses() {
	if s.addrsRead {
		return
	}
	s.addrsRead = true
	s.contactIP, _ = netip.ParseAddr(trimBrackets(s.Contact)) // an IPv6 host keeps its brackets
	s.viaIP, _ = netip.ParseAddr(s.Via.Host)
	s.receivedIP, _ = netip.ParseAddr(s.Via.Received)
}

var errNotSIP = errors.New("not sip")

// parseSIPDatagram parses one SIP message carried whole in a datagram (UDP,
// SCTP DATA chunk).
func (r *sipReader) parseSIPDatagram(payload []byte) (*sipInfo, error) {
	if info, ok := r.fastDatagram(payload); ok {
		r.fastReads++
		return info, nil
	}
	info, err := r.parseSIPDatagramFully(payload)
	if err == nil {
		r.fullReads++
	}
	return info, err
}

// parseSIPDatagramFully parses a datagram with sipgo.
func (r *sipReader) parseSIPDatagramFully(payload []byte) (*sipInfo, error) {
	data := dropStrayCRs(crlfHeaders(payload)) // a copy: sipgo may keep slices of it
	data, unended := unendedHeaders(data)
	msg, n, err := r.parse(data, false)
	mismatch := false
	switch {
	case errors.Is(err, sip.ErrParseReadBodyIncomplete) && msg != nil:
		mismatch = true // body shorter than Content-Length
	case err != nil:
		return nil, err
	case n < len(data) && len(bytes.Trim(data[n:], "\r\n\x00 ")) > 0:
		mismatch = true // body longer than Content-Length
	}
	info, err := infoFromMessage(msg)
	if err != nil {
		return nil, err
	}
	info.LengthMismatch, info.Unended = mismatch, unended
	r.keepBad(info, data)
	return info, nil
}

// unendedHeaders ends with the blank line RFC 3261 §7 requires a
// datagram whose header block runs to its end: a Zultys PBX sends every
// response without a body so, crafted test traffic leaves out even the
// last line's end, and the phones and tshark read them, since the
// datagram's end ends the message. (Over TCP the blank line is what ends
// it, so a stream waits for it; a datagram the capture's snap length cut
// is read by readCutHeaders instead.) data is crlfHeaders' copy, its
// header lines ending in CRLF.
func unendedHeaders(data []byte) ([]byte, bool) {
	switch {
	case len(data) == 0 || bytes.Contains(data, []byte("\r\n\r\n")):
		return data, false
	case bytes.HasSuffix(data, []byte("\r\n")):
		return append(data, '\r', '\n'), true
	}
	return append(data, "\r\n\r\n"...), true
}

// dropStrayCRs removes the stray CRs before a header line's CRLF
// ("Call-ID: x@y\r\r\n", as an old Zoiper wrote it): sipgo takes a CR
// not followed by LF for a broken line and drops the message, where the
// PBX that got it, and tshark, read the line without it. data is
// crlfHeaders' copy; only its header block changes.
func dropStrayCRs(data []byte) []byte {
	end := len(data)
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		end = i + 2 // the last header line's CRLF, a stray CR before it included
	}
	head := data[:end]
	if !bytes.Contains(head, []byte("\r\r\n")) {
		return data
	}
	for bytes.Contains(head, []byte("\r\r\n")) {
		head = bytes.ReplaceAll(head, []byte("\r\r\n"), []byte("\r\n"))
	}
	return append(head, data[end:]...)
}

// crlfHeaders returns a copy of a datagram whose header lines end in a
// bare LF (test tools and scripts write them so; tshark reads them)
// with CRLF line ends, which is all sipgo splits on: otherwise the first
// header would take in all the others (a Call-ID running to the body).
// The body after the blank line is kept as it is, Content-Length counts it.
func crlfHeaders(payload []byte) []byte {
	end := bytes.Index(payload, []byte("\n\n"))
	if crlf := bytes.Index(payload, []byte("\r\n\r\n")); crlf >= 0 && (end < 0 || crlf < end) {
		end = crlf + 1 // the usual block, or a body with bare LFs after it
	}
	if end < 0 {
		end = len(payload) - 1
	}
	head := payload[:end+1]
	crlfs := bytes.Count(head, []byte("\r\n"))
	bare := bytes.Count(head, []byte("\n")) - crlfs
	if bare == 0 {
		return append([]byte(nil), payload...)
	}
	// In a block of CRLF lines, a bare LF just before a line's CRLF is a
	// stray byte at the end of that line (a student proxy's Record-Route
	// ended "lr>\n\r\n"), not a line of its own: as a line end it would
	// make an empty line there and end the headers. The phone that got
	// it, and tshark, read it so.
	strayLF := crlfs > bare
	out := make([]byte, 0, len(payload)+bare+1)
	for i, c := range payload[:end+1] {
		if c == '\n' && (i == 0 || payload[i-1] != '\r') {
			if strayLF && bytes.HasPrefix(payload[i+1:], []byte("\r\n")) {
				continue
			}
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	if end+1 < len(payload) && payload[end+1] == '\n' { // the blank line's own LF
		out = append(out, '\r', '\n')
		end++
	}
	return append(out, payload[end+1:]...)
}

// keepBad notes on info the headers that had to stay unparsed, and reads
// the dialog tags and the parties' URIs from From and To by hand when
// those were among them.
func (r *sipReader) keepBad(info *sipInfo, data []byte) {
	if len(r.bad) == 0 {
		return
	}
	e := *info.extras()
	e.BadHeaders = append([]string(nil), r.bad...)
	info.setExtras(e)
	if info.FromTag == "" && info.FromUser == "" && info.FromHost == "" {
		from := headerValue(data, "from", "f")
		info.FromTag = tagOf(from)
		info.FromUser, info.FromHost = uriOf(from)
	}
	if info.ToTag == "" && info.ToUser == "" && info.ToHost == "" {
		to := headerValue(data, "to", "t")
		info.ToTag = tagOf(to)
		info.ToUser, info.ToHost = uriOf(to)
	}
}

// headerValue is the value of the first header named name or short in the
// message's header block: the last resort for a From or To that sipgo
// could not parse.
func headerValue(data []byte, name, short string) []byte {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	for _, line := range bytes.Split(head, []byte("\n")) {
		key, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		key = bytes.TrimSpace(key)
		if bytes.EqualFold(key, []byte(name)) || bytes.EqualFold(key, []byte(short)) {
			return bytes.TrimSpace(value)
		}
	}
	return nil
}

// tagOf reads the tag parameter (RFC 3261 §19.3) of a From or To value.
func tagOf(value []byte) string {
	if i := bytes.LastIndexByte(value, '>'); i >= 0 {
		value = value[i:]
	}
	_, tag, found := bytes.Cut(value, []byte(";tag="))
	if !found {
		return ""
	}
	if i := bytes.IndexAny(tag, "; \r\t"); i >= 0 {
		tag = tag[:i]
	}
	return string(tag)
}

// uriOf reads the user and host of the URI between the angle brackets of
// a From or To value whose display name sipgo refused (a phone that
// escapes quotes outside a quoted string: \"arik\" <sip:...>), as
// Wireshark does; sipgo parses the URI itself.
func uriOf(value []byte) (user, host string) {
	lt := bytes.LastIndexByte(value, '<')
	if lt < 0 {
		return "", ""
	}
	inner, _, closed := bytes.Cut(value[lt+1:], []byte(">"))
	if !closed {
		return "", ""
	}
	var uri sip.Uri
	if err := sip.ParseUri(string(inner), &uri); err != nil {
		return "", ""
	}
	return uri.User, uri.Host
}

// parseSIPStream parses the first message of a TCP byte stream. need is
// true when the stream holds only part of a message so far.
func (r *sipReader) parseSIPStream(data []byte) (info *sipInfo, used int, need bool, err error) {
	// RFC 3261 §7.5: CRLF before a start line is keep-alive padding.
	skip := 0
	for skip+1 < len(data) && data[skip] == '\r' && data[skip+1] == '\n' {
		skip += 2
	}
	if skip == len(data) {
		return nil, skip, true, nil
	}
	rest := data[skip:]
	if !looksLikeSIP(rest) {
		if len(rest) < 1024 && bytes.IndexByte(rest, '\n') < 0 {
			return nil, skip, true, nil
		}
		return nil, 0, false, errNotSIP
	}
	if info, n, ok := r.fastStream(rest); ok {
		r.fastReads++
		return info, skip + n, false, nil
	}
	if r.partialPlain(rest) {
		return nil, skip, true, nil
	}
	info, n, need, err := r.parseSIPStreamFully(rest)
	switch {
	case need:
		return nil, skip, true, nil
	case err != nil:
		return nil, 0, false, err
	}
	r.fullReads++
	return info, skip + n, false, nil
}

// parseSIPStreamFully parses with sipgo the message at the start of
// data, which starts with a start line.
func (r *sipReader) parseSIPStreamFully(data []byte) (info *sipInfo, used int, need bool, err error) {
	msg, n, err := r.parse(data, true)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, sip.ErrParseReadBodyIncomplete) || errors.Is(err, sip.ErrParseEOF) {
		return nil, 0, true, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	info, err = infoFromMessage(msg)
	if err != nil {
		return nil, 0, false, err
	}
	r.keepBad(info, data[:n])
	return info, n, false, nil
}

// infoFromMessage reads the headers natdoc needs through sipgo's accessors.
func infoFromMessage(msg sip.Message) (*sipInfo, error) {
	info := newSIPInfo()
	switch m := msg.(type) {
	case *sip.Request:
		info.Request = true
		info.Method = string(m.Method)
		info.RURIUser = m.Recipient.User
		info.RURIAddr = newBinding(m.Recipient.Host, m.Recipient.Port, "", false, false).Addr
		if m.Method == sip.INVITE {
			users, values := linkHints(m)
			info.setExtras(sipExtras{LinkUsers: users, LinkValues: values})
		}
	case *sip.Response:
		info.Status = m.StatusCode
		info.Reason = m.Reason
	default:
		return nil, errNotSIP
	}
	cid := msg.CallID()
	if cid == nil || string(*cid) == "" {
		return nil, errors.New("sip: no Call-ID")
	}
	info.CallID = string(*cid)
	info.readDialog(msg)
	info.readVia(msg)
	info.readContacts(msg)
	info.setCauses(headerValues(msg, "reason"), headerValues(msg, "warning"))
	if rr := msg.GetHeaders("record-route"); len(rr) > 0 {
		info.setRouteHop(recordRouteAddr(rr[0]), recordRouteAddr(rr[len(rr)-1]))
	}
	for _, name := range []string{"authorization", "proxy-authorization"} {
		for _, h := range msg.GetHeaders(name) {
			info.Authorized = info.Authorized || answersChallenge(h.Value())
		}
	}
	for _, name := range []string{"www-authenticate", "proxy-authenticate"} {
		for _, h := range msg.GetHeaders(name) {
			info.StaleNonce = info.StaleNonce || staleChallenge(h.Value())
		}
	}
	if h := msg.GetHeaders("user-agent"); len(h) > 0 {
		info.UserAgent = h[0].Value()
	} else if h := msg.GetHeaders("server"); len(h) > 0 {
		info.UserAgent = h[0].Value()
	}
	if h := msg.GetHeaders("content-type"); len(h) > 0 {
		info.BodyType = strings.TrimSpace(h[0].Value()) // MIME boundaries are case-sensitive
	}
	info.Body = msg.Body()
	return info, nil
}

// readDialog reads From, To and CSeq: the tags and users that place the
// message in its dialog, and a response's method.
func (info *sipInfo) readDialog(msg sip.Message) {
	if f := msg.From(); f != nil {
		info.FromTag, _ = f.Params.Get("tag")
		info.FromUser, info.FromHost = uriUserHost(&f.Address)
		info.FromName = f.DisplayName
	}
	if t := msg.To(); t != nil {
		info.ToTag, _ = t.Params.Get("tag")
		info.ToUser, info.ToHost = uriUserHost(&t.Address)
	}
	if cs := msg.CSeq(); cs != nil {
		info.CSeq = cs.SeqNo
		if !info.Request {
			info.Method = string(cs.MethodName)
		}
	}
}

// uriUserHost is the user and host of a From or To URI. A tel: URI (RFC
// 3966), as IMS and VoLTE networks and many carriers write them, is a
// number without a host: its number is the user.
func uriUserHost(u *sip.Uri) (user, host string) {
	if strings.EqualFold(u.Scheme, "tel") {
		number, _, _ := strings.Cut(u.Raw(), ";")
		return number, ""
	}
	return u.User, u.Host
}

// readVia reads the top Via (RFC 3261 §18.2.1 received, RFC 3581 rport)
// and counts the Via values.
func (info *sipInfo) readVia(msg sip.Message) {
	if v := msg.Via(); v != nil {
		info.Via.Host, info.Via.Port = v.Host, v.Port
		info.Via.Received, _ = v.Params.Get("received")
		if rp, ok := v.Params.Get("rport"); ok {
			info.Via.RPort = rp
			if rp == "" {
				info.Via.RPort = "-"
			}
		}
	}
	info.Via.Count, info.Via.Dup = countVias(msg)
}

// readContacts reads the Contact, the expiry asked or granted, and every
// binding a registrar's answer lists.
func (info *sipInfo) readContacts(msg sip.Message) {
	info.Expires = -1
	if h := msg.GetHeaders("expires"); len(h) > 0 {
		if n, err := strconv.Atoi(strings.TrimSpace(h[0].Value())); err == nil {
			info.Expires = n
		}
	}
	if c := contactOf(msg); c != nil {
		info.Contact = c.Address.Host
		b := bindingOf(c)
		info.ContactAddr = b.Addr
		if b.Expires >= 0 {
			info.Expires = b.Expires
		}
	}
	if !info.Request && info.Method == "REGISTER" {
		var contacts []contactBinding
		for _, h := range msg.GetHeaders("contact") {
			if c, ok := h.(*sip.ContactHeader); ok && len(contacts) < maxLinkHints {
				contacts = append(contacts, bindingOf(c))
			}
		}
		info.setExtras(sipExtras{Contacts: contacts})
	}
}

// Bounds on what linkHints keeps of one INVITE.
const (
	maxLinkHints     = 4
	maxLinkValueSize = 256
)

// linkHints reads what ties a B2BUA's outbound INVITE to its inbound leg:
// the users of the identity headers it passes on, and X- header values
// (where some B2BUAs put the other leg's Call-ID).
func linkHints(msg *sip.Request) (users, values []string) {
	for _, name := range []string{"p-asserted-identity", "diversion", "history-info", "remote-party-id"} {
		for _, h := range msg.GetHeaders(name) {
			var uri sip.Uri
			if _, err := sip.ParseAddressValue(h.Value(), &uri, nil); err == nil && uri.User != "" && len(users) < maxLinkHints {
				users = append(users, uri.User)
			}
		}
	}
	for _, h := range msg.Headers() {
		name := h.Name()
		if len(name) > 2 && (name[0] == 'x' || name[0] == 'X') && name[1] == '-' && len(values) < maxLinkHints {
			v := h.Value()
			values = append(values, v[:min(len(v), maxLinkValueSize)])
		}
	}
	return users, values
}

// bindingOf reads a Contact's address, expiry and NAT marks.
func bindingOf(c *sip.ContactHeader) contactBinding {
	expires, hasExpires := c.Params.Get("expires")
	fixed := c.Params.Has("received") || c.Address.UriParams.Has("alias")
	return newBinding(c.Address.Host, c.Address.Port, expires, hasExpires, fixed)
}

// newBinding makes a binding of a Contact's host and port (5060 when none
// is written), its expires parameter and whether the registrar marked it.
func newBinding(host string, port int, expires string, hasExpires, fixed bool) contactBinding {
	b := contactBinding{Expires: -1, Fixed: fixed}
	if ip, err := netip.ParseAddr(trimBrackets(host)); err == nil {
		if port <= 0 || port > 65535 {
			port = 5060
		}
		b.Addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	}
	if hasExpires {
		if n, err := strconv.Atoi(expires); err == nil {
			b.Expires = n
		}
	}
	return b
}

func contactOf(msg sip.Message) *sip.ContactHeader {
	switch m := msg.(type) {
	case *sip.Request:
		return m.Contact()
	case *sip.Response:
		return m.Contact()
	}
	return nil
}

// countVias counts Via values and spots exact duplicates, which an ALG that
// adds its own Via (or a loop) leaves behind.
func countVias(msg sip.Message) (int, bool) {
	seen := map[string]bool{}
	n, dup := 0, false
	for _, h := range msg.GetHeaders("via") {
		v := h.Value()
		n++
		if seen[v] {
			dup = true
		}
		seen[v] = true
	}
	return n, dup
}

// Summary is the ladder-diagram label: "INVITE", "200 OK", "183 Session Progress".
func (s *sipInfo) Summary() string {
	if s.Request {
		return s.Method
	}
	r := strconv.Itoa(s.Status)
	if s.Reason != "" {
		r += " " + s.Reason
	}
	if s.Method != "" && s.Method != "INVITE" {
		r += " (" + s.Method + ")"
	}
	return r
}

// sdpBody returns the SDP in the body, or nil. Multipart bodies (SIP-I
// carries ISUP beside SDP, RFC 3204; RFC 5621) are opened with the standard
// MIME reader.
func (s *sipInfo) sdpBody() []byte {
	if len(s.Body) == 0 {
		return nil
	}
	switch typ := s.BodyType; {
	case hasPrefixFold(typ, "application/sdp"):
		return s.Body
	case hasPrefixFold(typ, "multipart/"):
		return sdpFromMultipart(s.BodyType, s.Body)
	case s.BodyType == "" && bytes.HasPrefix(s.Body, []byte("v=0")):
		return s.Body
	}
	return nil
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case; prefix is in
// lower case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// maxMIMEParts bounds the parts read from one multipart body.
const maxMIMEParts = 8

func sdpFromMultipart(contentType string, body []byte) []byte {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil || params["boundary"] == "" {
		return nil
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for i := 0; i < maxMIMEParts; i++ {
		part, err := r.NextPart()
		if err != nil {
			return nil
		}
		if strings.HasPrefix(strings.ToLower(part.Header.Get("Content-Type")), "application/sdp") {
			b, err := io.ReadAll(io.LimitReader(part, int64(len(body))))
			if err != nil && len(b) == 0 {
				return nil
			}
			return b
		}
	}
	return nil
}
