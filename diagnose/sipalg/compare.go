package sipalg

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Diff is one part of the request that arrived different from how it was
// sent.
type Diff struct {
	// Part names what changed: "start line", a header name ("Via",
	// "Contact", "Content-Length"), or an SDP line type ("SDP c=", "SDP o=",
	// "SDP m=").
	Part     string
	Sent     string // empty: added on the way
	Received string // empty: removed on the way
}

func (d Diff) String() string {
	switch {
	case d.Sent == "":
		return fmt.Sprintf("%s added: %q", d.Part, d.Received)
	case d.Received == "":
		return fmt.Sprintf("%s removed: %q", d.Part, d.Sent)
	}
	return fmt.Sprintf("%s: sent %q, received %q", d.Part, d.Sent, d.Received)
}

// maxDiffs bounds the differences reported for one message.
const maxDiffs = 32

// Compare lists how echoed differs from sent, part by part: start line,
// each header by name and order, then the body (line by line, named by SDP
// type). Identical messages give no diffs. It never fails on damaged input.
func Compare(sent, echoed []byte) []Diff {
	s, e := splitMessage(sent), splitMessage(echoed)
	var out []Diff
	add := func(d Diff) {
		if len(out) < maxDiffs {
			out = append(out, d)
		}
	}
	if s.start != e.start {
		add(Diff{"start line", s.start, e.start})
	}
	for _, name := range headerNames(s, e) {
		sv, ev := s.values(name), e.values(name)
		for i := 0; i < max(len(sv), len(ev)); i++ {
			var a, b string
			if i < len(sv) {
				a = sv[i]
			}
			if i < len(ev) {
				b = ev[i]
			}
			if a != b {
				add(Diff{name, a, b})
			}
		}
	}
	for _, d := range compareBody(s.body, e.body) {
		add(d)
	}
	return out
}

// headerNames lists the header names of both messages, sent order first.
func headerNames(a, b message) []string {
	seen := map[string]bool{}
	var names []string
	for _, m := range []message{a, b} {
		for _, h := range m.headers {
			if !seen[h.name] {
				seen[h.name] = true
				names = append(names, h.name)
			}
		}
	}
	return names
}

func compareBody(sent, echoed string) []Diff {
	if sent == echoed {
		return nil
	}
	sl := strings.Split(strings.ReplaceAll(sent, "\r\n", "\n"), "\n")
	el := strings.Split(strings.ReplaceAll(echoed, "\r\n", "\n"), "\n")
	var out []Diff
	for i := 0; i < max(len(sl), len(el)); i++ {
		var a, b string
		if i < len(sl) {
			a = sl[i]
		}
		if i < len(el) {
			b = el[i]
		}
		if a != b {
			out = append(out, Diff{sdpPart(a, b), a, b})
		}
	}
	if len(out) == 0 { // only line endings differ
		out = append(out, Diff{"body", sent, echoed})
	}
	return out
}

// sdpPart names an SDP line by its type letter (RFC 8866 §5), "m=audio" for
// media lines.
func sdpPart(a, b string) string {
	l := a
	if l == "" {
		l = b
	}
	if len(l) >= 2 && l[1] == '=' {
		if l[0] == 'm' {
			kind, _, _ := strings.Cut(l[2:], " ")
			return "SDP m=" + kind
		}
		return "SDP " + l[:2]
	}
	return "body"
}

// Rewrites summarises diffs by what an ALG typically changes.
type Rewrites struct {
	Via, Contact, SDP, ContentLength, Other bool
}

// Any reports whether anything changed.
func (r Rewrites) Any() bool { return r.Via || r.Contact || r.SDP || r.ContentLength || r.Other }

// Classify sorts diffs into Rewrites.
func Classify(diffs []Diff) Rewrites {
	var r Rewrites
	for _, d := range diffs {
		switch {
		case d.Part == "Via":
			r.Via = true
		case d.Part == "Contact":
			r.Contact = true
		case d.Part == "Content-Length":
			r.ContentLength = true
		case strings.HasPrefix(d.Part, "SDP ") || d.Part == "body":
			r.SDP = true
		default:
			r.Other = true
		}
	}
	return r
}

// Errors decoding a mirror's answer.
var (
	ErrNotEcho  = errors.New("sipalg: answer is no natdoc mirror echo")
	ErrBadEcho  = errors.New("sipalg: mirror echo is not valid base64")
	ErrNoAnswer = errors.New("sipalg: no answer from the mirror")
)

// Echo is a decoded mirror answer.
type Echo struct {
	Status int
	CallID string
	// Received is the request as the mirror received it; nil for a digest
	// answer (HeaderEcho), which gives its length and SHA-256 (hex) only.
	Received []byte
	Length   int
	SHA256   string
	// Source is where the mirror saw the request come from (this network's
	// public address and port as the NAT mapped them).
	Source    string
	Transport string
	// CallbacksSent are the ports the mirror sent callback packets to.
	CallbacksSent []uint16
}

// DecodeEcho parses a mirror's response with sipgo's parser and decodes the
// echoed request from its body.
func DecodeEcho(raw []byte) (*Echo, error) {
	if len(raw) > MaxMessage*2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrNotEcho, len(raw))
	}
	msg, err := sip.ParseMessage(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotEcho, err)
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		return nil, fmt.Errorf("%w: a request, not a response", ErrNotEcho)
	}
	e := &Echo{Status: res.StatusCode}
	ct := res.GetHeader("Content-Type")
	switch {
	case ct != nil && strings.EqualFold(strings.TrimSpace(ct.Value()), DigestContentType):
		if _, err := fmt.Sscanf(strings.TrimSpace(string(res.Body())), "length=%d sha256=%64s", &e.Length, &e.SHA256); err != nil || e.Length <= 0 || len(e.SHA256) != 64 {
			return nil, fmt.Errorf("%w: digest %.100q", ErrBadEcho, res.Body())
		}
	case ct != nil && strings.EqualFold(strings.TrimSpace(ct.Value()), EchoContentType):
		body := strings.TrimSpace(string(res.Body()))
		if base64.StdEncoding.DecodedLen(len(body)) > MaxMessage {
			return nil, fmt.Errorf("%w: echo of %d bytes", ErrBadEcho, len(body))
		}
		echoed, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadEcho, err)
		}
		e.Received, e.Length = echoed, len(echoed)
	default:
		return nil, fmt.Errorf("%w: content type is not %s", ErrNotEcho, EchoContentType)
	}
	if id := res.CallID(); id != nil {
		e.CallID = id.Value()
	}
	if h := res.GetHeader(HeaderSource); h != nil {
		e.Source = strings.TrimSpace(h.Value())
	}
	if h := res.GetHeader(HeaderTransport); h != nil {
		e.Transport = strings.TrimSpace(h.Value())
	}
	if h := res.GetHeader(HeaderCallbackSent); h != nil {
		for _, f := range strings.Split(h.Value(), ",") {
			if p, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && p > 0 && p <= 65535 && len(e.CallbacksSent) < MaxCallbacks {
				e.CallbacksSent = append(e.CallbacksSent, uint16(p))
			}
		}
	}
	return e, nil
}
