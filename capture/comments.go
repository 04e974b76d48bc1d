package capture

import (
	"strings"
	"unicode"

	"github.com/natdoc/natdoc/report"
)

// pcapng files carry comments (RFC draft pcapng §4.1 opt_comment): a
// section comment on the whole file ("captured on the PBX's WAN port
// during ticket 4711") and packet comments an engineer added in
// Wireshark ("one-way audio starts here"). They are the capturer's notes
// for whoever reads the capture next, so the report shows them.

// Bounds on comments from a hostile file.
const (
	maxComments    = 100
	maxCommentRune = 500
)

// captureComments gathers comments up to maxComments.
type captureComments struct {
	list    []report.CaptureComment
	leftOut uint64
}

// add takes a record's comments; frame is its frame number.
func (c *captureComments) add(rec Record, frame uint64) {
	if rec.SectionComment != "" {
		c.take(report.CaptureComment{Text: cleanComment(rec.SectionComment)})
	}
	for _, text := range rec.Comments {
		c.take(report.CaptureComment{Frame: frame, Text: cleanComment(text)})
	}
}

func (c *captureComments) take(cc report.CaptureComment) {
	if cc.Text == "" {
		return
	}
	if len(c.list) == maxComments {
		c.leftOut++
		return
	}
	c.list = append(c.list, cc)
}

func (c *captureComments) merge(o *captureComments) {
	for _, cc := range o.list {
		c.take(cc)
	}
	c.leftOut += o.leftOut
}

// cleanComment makes a comment safe to print: control characters (a
// terminal would obey escape sequences) become spaces, runs of space one,
// and it is cut to maxCommentRune runes.
func cleanComment(s string) string {
	var b strings.Builder
	n := 0
	space := false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		if n == maxCommentRune {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// record counts a record the reader took and keeps its comments; frame is
// its frame number.
func (r *readerStats) record(rec Record, frame uint64) {
	r.account(len(rec.Data), rec.Time.UnixNano())
	if rec.Comments != nil || rec.SectionComment != "" {
		r.comments.add(rec, frame)
	}
}
