package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
)

// Format is an output format for a Report.
type Format string

const (
	FormatText Format = "text"
	FormatJSON Format = "json"
	// FormatJSONL is JSON Lines: one object per call, then the report
	// without its calls (report.NewCallWriter).
	FormatJSONL    Format = "jsonl"
	FormatMarkdown Format = "markdown"
	FormatHTML     Format = "html"
)

// ErrUnknownFormat is returned for a --format value natdoc does not know.
var ErrUnknownFormat = errors.New("unknown format")

// ParseFormat validates a --format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case FormatText, FormatJSON, FormatJSONL, FormatMarkdown, FormatHTML:
		return f, nil
	case "md":
		return FormatMarkdown, nil
	}
	return "", fmt.Errorf("%w %q (want text, json, jsonl, markdown or html)", ErrUnknownFormat, s)
}

// ColorMode decides whether text output carries ANSI styling.
type ColorMode int

const (
	// ColorAuto styles only when the writer is a terminal and NO_COLOR is
	// unset (lipgloss.Fprint detects both).
	ColorAuto ColorMode = iota
	ColorNever
	ColorAlways
)

// Options control rendering.
type Options struct {
	Format Format
	Color  ColorMode
	// CallID limits call detail (ladder diagram) to one call, by natdoc ID
	// ("C2") or SIP Call-ID.
	CallID string
	// Width is the text report's width in columns (0: DefaultWidth). The
	// calls table drops and abbreviates columns to fit it and prose wraps
	// at word boundaries.
	Width int
}

// Render writes r to w in the chosen format.
func Render(w io.Writer, r *Report, opt Options) error {
	switch opt.Format {
	case FormatJSON:
		return RenderJSON(w, r)
	case FormatJSONL:
		return RenderJSONL(w, r)
	case FormatMarkdown:
		return RenderMarkdown(w, r)
	case FormatHTML:
		return RenderHTML(w, r)
	case FormatText, "":
		return writeStyled(w, RenderText(r, opt), opt.Color)
	}
	return fmt.Errorf("render: %w %q", ErrUnknownFormat, opt.Format)
}

// RenderJSON writes the report as indented JSON with its schema version.
func RenderJSON(w io.Writer, r *Report) error {
	if r.Schema == "" {
		r.Schema = SchemaVersion
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// "caller->callee", not "caller-\u003ecallee": the output is no HTML.
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// writeStyled prints text that may hold ANSI styles. lipgloss.Fprint strips
// them for pipes and NO_COLOR; explicit modes pin the colour profile.
func writeStyled(w io.Writer, s string, mode ColorMode) error {
	s = terminalSafe(s)
	var err error
	switch mode {
	case ColorNever:
		_, err = io.WriteString(&colorprofile.Writer{Forward: w, Profile: colorprofile.NoTTY}, s)
	case ColorAlways:
		_, err = io.WriteString(&colorprofile.Writer{Forward: w, Profile: colorprofile.ANSI256}, s)
	default:
		_, err = lipgloss.Fprint(w, s)
	}
	return err
}
