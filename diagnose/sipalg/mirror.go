package sipalg

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// EchoContentType marks a mirror's answer. The echo is base64 so that an ALG
// on the way back, which may rewrite addresses anywhere in a SIP message
// (some consumer routers search and replace in the whole packet), cannot
// alter the evidence.
const EchoContentType = "application/x-natdoc-echo"

// Headers the mirror adds: where it saw the request come from, and over
// which transport.
const (
	HeaderSource    = "X-Natdoc-Source"
	HeaderTransport = "X-Natdoc-Transport"
)

// HeaderCallback asks the mirror to send one small UDP packet to the
// request's source address at each listed port ("5060,10000"), from
// another socket: a packet no NAT binding expects, so it arrives only
// through a port forward. HeaderCallbackSent in the answer lists the ports
// the mirror did send to.
const (
	HeaderCallback     = "X-Natdoc-Callback"
	HeaderCallbackSent = "X-Natdoc-Callback-Sent"
)

// HeaderEcho set to "digest" asks the mirror to answer with the request's
// length and SHA-256 (DigestContentType) instead of a copy: an answer that
// fits one packet, so a request too big for one tests only the way out.
const (
	HeaderEcho        = "X-Natdoc-Echo"
	DigestContentType = "application/x-natdoc-digest"
)

// MaxCallbacks bounds the packets one request can make the mirror send.
const MaxCallbacks = 8

// CallbackPayload is what the mirror sends to a callback port: the
// request's Call-ID lets the client match it.
func CallbackPayload(callID string, port uint16) []byte {
	return fmt.Appendf(nil, "natdoc-callback %s %d", callID, port)
}

// CallbackRequest returns the ports a request asks to be called back on
// and its Call-ID; nil when it asks for none or is no SIP request. Ports
// beyond MaxCallbacks, duplicates and invalid ones are dropped.
func CallbackRequest(raw []byte) (ports []uint16, callID string) {
	if len(raw) > MaxMessage {
		return nil, ""
	}
	if _, ok := requestMethod(raw); !ok {
		return nil, ""
	}
	m := splitMessage(raw)
	callID = m.first("Call-ID")
	if callID == "" || len(callID) > 128 {
		return nil, ""
	}
	for _, f := range strings.Split(m.first(HeaderCallback), ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p <= 0 || p > 65535 || slices.Contains(ports, uint16(p)) {
			continue
		}
		if len(ports) == MaxCallbacks {
			break
		}
		ports = append(ports, uint16(p))
	}
	return ports, callID
}

// MaxMessage bounds a SIP message the mirror accepts and the client reads:
// a UDP datagram cannot be larger, and an INVITE with SDP is a few KiB.
const MaxMessage = 64 << 10

// MirrorResponse builds the mirror's answer to raw, a SIP request received
// from `from` over transport ("udp" or "tcp"). It returns nil when raw is
// no SIP request, or is an ACK (which gets no response, RFC 3261 §17.2.1),
// so garbage and reflection attempts get no answer; so does a request whose
// transaction headers exceed maxEchoedHeaderBytes. The answer copies Via,
// From, To, Call-ID and CSeq so the sender can match it, and carries raw in
// its body; OPTIONS get 200, every other method 488 so no session starts.
func MirrorResponse(raw []byte, from netip.AddrPort, transport string) []byte {
	return MirrorResponseCallbacks(raw, from, transport, nil)
}

// MirrorResponseCallbacks is MirrorResponse for a mirror that sent
// callback packets to the listed ports (HeaderCallbackSent).
func MirrorResponseCallbacks(raw []byte, from netip.AddrPort, transport string, sent []uint16) []byte {
	if len(raw) == 0 || len(raw) > MaxMessage {
		return nil
	}
	method, ok := requestMethod(raw)
	if !ok || method == "ACK" {
		return nil
	}
	m := splitMessage(raw)
	matching, ok := transactionHeaders(m)
	if !ok {
		return nil
	}
	code, reason := 488, "Not Acceptable Here"
	if method == "OPTIONS" {
		code, reason = 200, "OK"
	}
	contentType, body := EchoContentType, base64.StdEncoding.EncodeToString(raw)
	if strings.EqualFold(m.first(HeaderEcho), "digest") {
		contentType, body = DigestContentType, digestBody(raw)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	b.WriteString(matching)
	fmt.Fprintf(&b, "%s: %s\r\n%s: %s\r\n", HeaderSource, from, HeaderTransport, strings.ToLower(transport))
	if len(sent) > 0 {
		ps := make([]string, len(sent))
		for i, p := range sent {
			ps[i] = strconv.Itoa(int(p))
		}
		fmt.Fprintf(&b, "%s: %s\r\n", HeaderCallbackSent, strings.Join(ps, ","))
	}
	b.WriteString("Server: natdoc-mirror\r\n")
	fmt.Fprintf(&b, "Content-Type: %s\r\nContent-Length: %d\r\n\r\n%s", contentType, len(body), body)
	return b.Bytes()
}

// digestBody is a digest answer's body: "length=N sha256=HEX".
func digestBody(raw []byte) string {
	return fmt.Sprintf("length=%d sha256=%s", len(raw), sha256Hex(raw))
}

// sha256Hex is the SHA-256 of b in lower-case hex, as a digest answer
// carries it.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// maxEchoedHeaderBytes bounds the Via, From, To, Call-ID and CSeq lines the
// mirror copies back. With the base64 copy of the request (4/3 of it) they
// keep an answer under twice the request plus 1 KiB, so the mirror cannot
// be used to amplify traffic. natdoc's own requests use a few hundred bytes.
const maxEchoedHeaderBytes = 1024

// transactionHeaders returns the header lines a response copies from the
// request (RFC 3261 §8.2.6.2), or false when they exceed
// maxEchoedHeaderBytes: such a request gets no answer.
func transactionHeaders(h message) (string, bool) {
	var b strings.Builder
	for _, name := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		for _, v := range h.values(name) {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
			if b.Len() > maxEchoedHeaderBytes {
				return "", false
			}
		}
	}
	return b.String(), true
}

// requestMethod checks the start line "METHOD SP Request-URI SP SIP/2.0"
// (RFC 3261 §7.1) and returns the method.
func requestMethod(raw []byte) (string, bool) {
	line, _, _ := bytes.Cut(raw, []byte("\n"))
	parts := strings.Fields(strings.TrimRight(string(line), "\r"))
	if len(parts) != 3 || parts[2] != "SIP/2.0" || !isToken(parts[0]) {
		return "", false
	}
	return parts[0], true
}

func isToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '.' || c == '!' || c == '%' || c == '*' || c == '_' || c == '+' || c == '`' || c == '\'' || c == '~') {
			return false
		}
	}
	return true
}

// message is a leniently split SIP message: start line, headers in order,
// body. It never fails: an ALG may have damaged the message, and the damage
// is what we want to show.
type message struct {
	start   string
	headers []header
	body    string
}

type header struct{ name, value string }

// compactNames maps RFC 3261 §7.3.3 compact forms to the long names.
var compactNames = map[string]string{
	"v": "Via", "f": "From", "t": "To", "i": "Call-ID", "m": "Contact",
	"l": "Content-Length", "c": "Content-Type", "k": "Supported", "s": "Subject", "e": "Content-Encoding",
}

// canonicalName folds case and compact forms so headers compare by meaning.
func canonicalName(n string) string {
	n = strings.TrimSpace(n)
	if long, ok := compactNames[strings.ToLower(n)]; ok {
		return long
	}
	switch strings.ToLower(n) {
	case "call-id":
		return "Call-ID"
	case "cseq":
		return "CSeq"
	}
	parts := strings.Split(strings.ToLower(n), "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

// maxHeaders bounds the headers kept from one message.
const maxHeaders = 200

func splitMessage(raw []byte) message {
	s := string(raw)
	head, body, found := strings.Cut(s, "\r\n\r\n")
	if !found {
		head, body, _ = strings.Cut(s, "\n\n")
	}
	lines := strings.Split(strings.ReplaceAll(head, "\r\n", "\n"), "\n")
	m := message{start: lines[0], body: body}
	for _, l := range lines[1:] {
		if len(m.headers) >= maxHeaders {
			break
		}
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(m.headers) > 0 {
			m.headers[len(m.headers)-1].value += " " + strings.TrimSpace(l) // folded line (RFC 3261 §7.3.1)
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		m.headers = append(m.headers, header{canonicalName(name), strings.TrimSpace(value)})
	}
	return m
}

func (m message) values(name string) []string {
	var out []string
	for _, h := range m.headers {
		if h.name == name {
			out = append(out, h.value)
		}
	}
	return out
}

func (m message) first(name string) string {
	if v := m.values(name); len(v) > 0 {
		return v[0]
	}
	return ""
}
