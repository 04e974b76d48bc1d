package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// CallWriter writes a report whose calls come one at a time, as an analysis
// judges them (natdoc analyze on a capture of many calls): Begin with the
// report's head, Call for each call in order, End with the rest of the
// report (its Calls left empty). What it keeps between calls is bounded, so
// memory follows the calls in progress, not the calls in the capture.
type CallWriter interface {
	Begin(r *Report) error
	Call(c Call) error
	End(r *Report) error
}

// NewCallWriter returns the CallWriter for opt.Format: text (textStream),
// JSON (one natdoc.report document, its calls written as they come) or
// JSON Lines (one object per call, then the report without its calls).
func NewCallWriter(w io.Writer, opt Options) (CallWriter, error) {
	switch opt.Format {
	case FormatJSON:
		return &jsonStream{w: bufio.NewWriterSize(w, 64<<10)}, nil
	case FormatJSONL:
		return &jsonlStream{w: bufio.NewWriterSize(w, 64<<10)}, nil
	case FormatText, "":
		return newTextStream(w, opt), nil
	}
	return nil, fmt.Errorf("report: %w %q cannot be written call by call", ErrUnknownFormat, opt.Format)
}

// Streamable says whether a report in format f can be written call by
// call (NewCallWriter).
func Streamable(f Format) bool {
	return f == FormatJSON || f == FormatJSONL || f == FormatText || f == ""
}

// RenderJSONL writes r as JSON Lines through its CallWriter.
func RenderJSONL(w io.Writer, r *Report) error {
	s := &jsonlStream{w: bufio.NewWriter(w)}
	calls := r.Calls
	rest := *r
	rest.Calls = nil
	if err := s.Begin(&rest); err != nil {
		return err
	}
	for _, c := range calls {
		if err := s.Call(c); err != nil {
			return err
		}
	}
	return s.End(&rest)
}

// leadFields are the Report fields the JSON stream writes before the
// calls, known when the analysis starts; each takes one line of indented
// JSON.
var leadFields = [][]byte{[]byte(`  "schema": `), []byte(`  "tool": `), []byte(`  "version": `), []byte(`  "command": `), []byte(`  "started": `)}

// jsonStream writes one JSON document: the report's lead fields, the calls
// one per line as they come, then the rest of the report, indented as
// RenderJSON indents it. A call on one line keeps a report of 50,000 calls
// greppable and is written at a third of the cost of an indented one.
type jsonStream struct {
	w     *bufio.Writer
	calls int
	line  []byte // the last call's JSON, kept for the next call's room
}

func (s *jsonStream) Begin(r *Report) error {
	fields, err := topLevelFields(r)
	if err != nil {
		return err
	}
	s.w.WriteString("{\n")
	for _, f := range fields {
		if isLeadField(f) {
			s.w.Write(f)
			s.w.WriteString(",\n")
		}
	}
	_, err = s.w.WriteString(`  "calls": [`)
	return err
}

func (s *jsonStream) Call(c Call) error {
	line, err := appendCallJSON(s.line[:0], &c) // json_call.go
	if err != nil {
		return err
	}
	s.line = line
	if s.calls > 0 {
		s.w.WriteByte(',')
	}
	s.calls++
	s.w.WriteString("\n    ")
	_, err = s.w.Write(line)
	return err
}

func (s *jsonStream) End(r *Report) error {
	fields, err := topLevelFields(r)
	if err != nil {
		return err
	}
	if s.calls > 0 {
		s.w.WriteString("\n  ")
	}
	s.w.WriteString("]")
	for _, f := range fields {
		if !isLeadField(f) {
			s.w.WriteString(",\n")
			s.w.Write(f)
		}
	}
	s.w.WriteString("\n}\n")
	return s.w.Flush()
}

// topLevelFields are the fields of r without its calls as RenderJSON
// writes them, one indented chunk each, without the comma between them.
func topLevelFields(r *Report) ([][]byte, error) {
	rest := *r
	rest.Calls = nil
	if rest.Schema == "" {
		rest.Schema = SchemaVersion
	}
	var b bytes.Buffer
	if err := RenderJSON(&b, &rest); err != nil {
		return nil, err
	}
	lines := bytes.Split(bytes.TrimSuffix(b.Bytes(), []byte("\n")), []byte("\n"))
	var fields [][]byte
	for _, line := range lines[1 : len(lines)-1] { // inside the braces
		if bytes.HasPrefix(line, []byte(`  "`)) {
			fields = append(fields, nil)
		} else {
			fields[len(fields)-1] = append(fields[len(fields)-1], '\n')
		}
		fields[len(fields)-1] = append(fields[len(fields)-1], line...)
	}
	for i := range fields {
		fields[i] = bytes.TrimSuffix(fields[i], []byte(","))
	}
	return fields, nil
}

func isLeadField(field []byte) bool {
	for _, lead := range leadFields {
		if bytes.HasPrefix(field, lead) {
			return true
		}
	}
	return false
}

// jsonlStream writes JSON Lines: one object per call, then the report
// without its calls (the line with "schema").
type jsonlStream struct {
	w    *bufio.Writer
	enc  *json.Encoder
	line []byte // the last call's line, kept for the next call's room
}

func (s *jsonlStream) Begin(*Report) error {
	s.enc = json.NewEncoder(s.w)
	s.enc.SetEscapeHTML(false)
	return nil
}

func (s *jsonlStream) Call(c Call) error {
	line, err := appendCallJSON(s.line[:0], &c) // json_call.go
	if err != nil {
		return err
	}
	s.line = append(line, '\n')
	_, err = s.w.Write(s.line)
	return err
}

func (s *jsonlStream) End(r *Report) error {
	rest := *r
	rest.Calls = nil
	if rest.Schema == "" {
		rest.Schema = SchemaVersion
	}
	if err := s.enc.Encode(&rest); err != nil {
		return err
	}
	return s.w.Flush()
}
