package report

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendCallJSON appends c as encoding/json writes it with HTML left
// unescaped (the JSON stream's setting), on one line, without reflection:
// on a capture of signalling encoding/json's reflection was a fifth of
// natdoc analyze --json's time, for some 3 KB of JSON a call. RTP flows,
// few in such a capture and rich in figures, still go through
// encoding/json. TestCallJSON holds it equal to encoding/json byte for
// byte, with every field of every type below set and with none, and on
// the calls of the captures in testdata: a field added to these types
// without its line here fails it.
func appendCallJSON(b []byte, c *Call) ([]byte, error) {
	w := jsonWriter{b: b}
	w.call(c)
	return w.b, w.err
}

// jsonWriter appends JSON to b; err is the first value that could not be
// written (a time outside RFC 3339, a flow encoding/json refuses).
type jsonWriter struct {
	b    []byte
	err  error
	flow *json.Encoder // for RTP flows, writing into flowBuf
	// flowBuf holds one flow as encoding/json wrote it.
	flowBuf bytes.Buffer
}

// jsonObject writes the fields of one object, each after a comma but the
// first.
type jsonObject struct {
	w      *jsonWriter
	fields int
}

func (w *jsonWriter) object() jsonObject {
	w.b = append(w.b, '{')
	return jsonObject{w: w}
}

func (o *jsonObject) end() { o.w.b = append(o.w.b, '}') }

// key writes the name of the next field and returns the writer for its
// value.
func (o *jsonObject) key(name string) *jsonWriter {
	if o.fields > 0 {
		o.w.b = append(o.w.b, ',')
	}
	o.fields++
	o.w.b = append(o.w.b, '"')
	o.w.b = append(o.w.b, name...)
	o.w.b = append(o.w.b, '"', ':')
	return o.w
}

func (o *jsonObject) str(name, v string) { o.key(name).string(v) }

// strOmitEmpty is a string field tagged omitempty.
func (o *jsonObject) strOmitEmpty(name, v string) {
	if v != "" {
		o.str(name, v)
	}
}

func (o *jsonObject) uint(name string, v uint64) {
	w := o.key(name)
	w.b = strconv.AppendUint(w.b, v, 10)
}

func (o *jsonObject) int(name string, v int64) {
	w := o.key(name)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (o *jsonObject) boolean(name string, v bool) {
	w := o.key(name)
	w.b = strconv.AppendBool(w.b, v)
}

// time writes t as time.Time's MarshalJSON does: RFC 3339 with
// nanoseconds, refused outside years 0-9999.
func (o *jsonObject) time(name string, t time.Time) {
	w := o.key(name)
	w.b = append(w.b, '"')
	b, err := t.AppendText(w.b)
	if err != nil && w.err == nil {
		w.err = err
	}
	w.b = append(b, '"')
}

// timeOmitZero is a time field tagged omitzero.
func (o *jsonObject) timeOmitZero(name string, t time.Time) {
	if !t.IsZero() {
		o.time(name, t)
	}
}

// jsonHex are the digits encoding/json writes \u00XX escapes with.
const jsonHex = "0123456789abcdef"

// jsonPlain are the bytes a JSON string holds as they are: printable
// ASCII (DEL too, as encoding/json) but quote and backslash.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainWord says whether the 8 bytes of s are all jsonPlain, in a few
// word operations: no byte below 0x20 or from 0x80, no quote, no
// backslash (a test that may say no wrongly, never yes).
func plainWord(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	hasLess := func(v, n uint64) uint64 { return (v - ones*n) &^ v & highs }
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	return (x&highs)|hasLess(x, 0x20)|hasLess(quote, 1)|hasLess(backslash, 1) == 0
}

// string writes s quoted as encoding/json does without HTML escaping:
// quote, backslash and control characters escaped (\b \f \n \r \t by
// name), invalid UTF-8 as U+FFFD, and U+2028 and U+2029 escaped for
// JavaScript.
func (w *jsonWriter) string(s string) {
	b := append(w.b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plainWord(s[i:i+8]) {
			i += 8
			continue
		}
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', jsonHex[c>>4], jsonHex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', jsonHex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	w.b = append(b, '"')
}

func (w *jsonWriter) strings(list []string) {
	w.b = append(w.b, '[')
	for i, s := range list {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.string(s)
	}
	w.b = append(w.b, ']')
}

func (w *jsonWriter) uints(list []uint64) {
	w.b = append(w.b, '[')
	for i, v := range list {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = strconv.AppendUint(w.b, v, 10)
	}
	w.b = append(w.b, ']')
}

// array writes n elements, each by one(i).
func (w *jsonWriter) array(n int, one func(i int)) {
	w.b = append(w.b, '[')
	for i := range n {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		one(i)
	}
	w.b = append(w.b, ']')
}

func (w *jsonWriter) call(c *Call) {
	o := w.object()
	o.str("id", c.ID)
	o.str("call_id", c.CallID)
	o.strOmitEmpty("from_tag", c.FromTag)
	o.strOmitEmpty("to_tag", c.ToTag)
	o.key("caller").party(&c.Caller)
	o.key("callee").party(&c.Callee)
	o.timeOmitZero("start", c.Start)
	o.timeOmitZero("answer", c.Answer)
	o.timeOmitZero("end", c.End)
	if c.Status != 0 {
		o.int("status", int64(c.Status))
	}
	o.strOmitEmpty("state", c.State)
	o.strOmitEmpty("transport", c.Transport)
	if len(c.Streams) > 0 {
		o.key("streams").streams(c.Streams)
	}
	if len(c.Messages) > 0 {
		o.key("messages").array(len(c.Messages), func(i int) { w.message(&c.Messages[i]) })
	}
	o.str("verdict", string(c.Verdict))
	o.strOmitEmpty("cannot_hear", c.CannotHear)
	o.strOmitEmpty("explain", c.Explain)
	if len(c.Findings) > 0 {
		o.key("findings").array(len(c.Findings), func(i int) { w.finding(&c.Findings[i]) })
	}
	if c.NotAnswered != nil {
		o.key("not_answered").notAnswered(c.NotAnswered)
	}
	if len(c.Legs) > 0 {
		o.key("legs").array(len(c.Legs), func(i int) { w.leg(&c.Legs[i]) })
	}
	if c.StreamsLeg != 0 {
		o.int("streams_leg", int64(c.StreamsLeg))
	}
	if len(c.EarlyDialogs) > 0 {
		o.key("early_dialogs").array(len(c.EarlyDialogs), func(i int) { w.earlyDialog(&c.EarlyDialogs[i]) })
	}
	o.end()
}

func (w *jsonWriter) party(p *Party) {
	o := w.object()
	o.str("role", p.Role)
	o.strOmitEmpty("user", p.User)
	o.strOmitEmpty("host", p.Host)
	o.strOmitEmpty("display", p.Display)
	o.strOmitEmpty("dialed", p.Dialed)
	o.strOmitEmpty("signal_addr", p.SignalAddr)
	o.strOmitEmpty("user_agent", p.UserAgent)
	o.end()
}

func (w *jsonWriter) leg(l *CallLeg) {
	o := w.object()
	o.str("call_id", l.CallID)
	o.strOmitEmpty("from_tag", l.FromTag)
	o.strOmitEmpty("to_tag", l.ToTag)
	o.key("caller").party(&l.Caller)
	o.key("callee").party(&l.Callee)
	if l.Status != 0 {
		o.int("status", int64(l.Status))
	}
	o.strOmitEmpty("state", l.State)
	if len(l.Streams) > 0 {
		o.key("streams").streams(l.Streams)
	}
	o.str("verdict", string(l.Verdict))
	o.strOmitEmpty("cannot_hear", l.CannotHear)
	o.strOmitEmpty("explain", l.Explain)
	if l.NotAnswered != nil {
		o.key("not_answered").notAnswered(l.NotAnswered)
	}
	o.end()
}

func (w *jsonWriter) earlyDialog(e *EarlyDialog) {
	o := w.object()
	o.str("to_tag", e.ToTag)
	o.int("status", int64(e.Status))
	o.strOmitEmpty("signal_addr", e.SignalAddr)
	o.strOmitEmpty("user_agent", e.UserAgent)
	if len(e.Streams) > 0 {
		o.key("streams").streams(e.Streams)
	}
	o.end()
}

func (w *jsonWriter) notAnswered(n *NotAnswered) {
	o := w.object()
	o.str("reason", n.Reason)
	if n.Status != 0 {
		o.int("status", int64(n.Status))
	}
	o.boolean("rang", n.Rang)
	o.strOmitEmpty("phrase", n.Phrase)
	o.strOmitEmpty("cause", n.Cause)
	o.strOmitEmpty("by", n.By)
	o.strOmitEmpty("by_agent", n.ByAgent)
	if n.Scanner {
		o.boolean("scanner", true)
	}
	o.end()
}

func (w *jsonWriter) message(m *SIPMessage) {
	o := w.object()
	o.uint("frame", m.Frame)
	o.time("time", m.Time)
	o.str("src", m.Src)
	o.str("dst", m.Dst)
	o.str("summary", m.Summary)
	if m.HasSDP {
		o.boolean("has_sdp", true)
	}
	o.end()
}

func (w *jsonWriter) streams(list []MediaStream) {
	w.array(len(list), func(i int) { w.stream(&list[i]) })
}

func (w *jsonWriter) stream(s *MediaStream) {
	o := w.object()
	o.int("index", int64(s.Index))
	o.str("media", s.Media)
	if s.Offer != nil {
		o.key("offer").mediaDescription(s.Offer)
	}
	if s.Answer != nil {
		o.key("answer").mediaDescription(s.Answer)
	}
	if len(s.Flows) > 0 {
		o.key("flows").array(len(s.Flows), func(i int) { w.rtpFlow(&s.Flows[i]) })
	}
	o.str("verdict", string(s.Verdict))
	if s.InVerdict {
		o.boolean("in_verdict", true)
	}
	if len(s.Delivery) > 0 {
		o.key("delivery").array(len(s.Delivery), func(i int) { w.delivery(&s.Delivery[i]) })
	}
	o.end()
}

func (w *jsonWriter) mediaDescription(m *MediaDescription) {
	o := w.object()
	o.str("party", m.Party)
	o.uint("frame", m.Frame)
	o.str("addr", m.Addr)
	o.strOmitEmpty("rtcp_addr", m.RTCPAddr)
	o.strOmitEmpty("origin", m.Origin)
	o.str("direction", m.Direction)
	o.strOmitEmpty("proto", m.Proto)
	if len(m.Codecs) > 0 {
		o.key("codecs").strings(m.Codecs)
	}
	if len(m.ICECandidates) > 0 {
		o.key("ice_candidates").strings(m.ICECandidates)
	}
	o.end()
}

func (w *jsonWriter) delivery(d *Delivery) {
	o := w.object()
	o.str("direction", d.Direction)
	o.uint("packets", d.Packets)
	o.boolean("delivered", d.Delivered)
	o.strOmitEmpty("proof", d.Proof)
	o.strOmitEmpty("doubt", d.Doubt)
	o.end()
}

// rtpFlow writes a flow through encoding/json.
func (w *jsonWriter) rtpFlow(f *RTPFlow) {
	if w.flow == nil {
		w.flow = json.NewEncoder(&w.flowBuf)
		w.flow.SetEscapeHTML(false)
	}
	w.flowBuf.Reset()
	if err := w.flow.Encode(f); err != nil {
		if w.err == nil {
			w.err = err
		}
		w.b = append(w.b, "null"...)
		return
	}
	w.b = append(w.b, bytes.TrimSuffix(w.flowBuf.Bytes(), []byte("\n"))...)
}

func (w *jsonWriter) finding(f *Finding) {
	o := w.object()
	o.str("id", string(f.ID))
	o.str("severity", string(f.Severity))
	o.str("title", f.Title)
	o.strOmitEmpty("subject", f.Subject)
	if len(f.Evidence) > 0 {
		o.key("evidence").array(len(f.Evidence), func(i int) { w.evidence(&f.Evidence[i]) })
	}
	o.strOmitEmpty("remedy", f.Remedy)
	o.end()
}

func (w *jsonWriter) evidence(e *Evidence) {
	o := w.object()
	o.str("text", e.Text)
	if len(e.Frames) > 0 {
		o.key("frames").uints(e.Frames)
	}
	if len(e.FrameRanges) > 0 {
		o.key("frame_ranges").array(len(e.FrameRanges), func(i int) {
			r := w.object()
			r.uint("first", e.FrameRanges[i].First)
			r.uint("last", e.FrameRanges[i].Last)
			r.end()
		})
	}
	if len(e.Addrs) > 0 {
		o.key("addresses").strings(e.Addrs)
	}
	o.timeOmitZero("time", e.Time)
	if len(e.Values) > 0 {
		o.key("values").array(len(e.Values), func(i int) {
			kv := w.object()
			kv.str("key", e.Values[i].Key)
			kv.str("value", e.Values[i].Value)
			kv.end()
		})
	}
	o.end()
}
