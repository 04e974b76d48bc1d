package report

import (
	"fmt"
	"strings"
)

// FindCall returns the call with natdoc ID or SIP Call-ID id.
func (r *Report) FindCall(id string) *Call {
	for i := range r.Calls {
		if r.Calls[i].ID == id || r.Calls[i].CallID == id {
			return &r.Calls[i]
		}
	}
	return nil
}

// textCallDetail renders one call (--call ID): parties, what each SDP asked
// for, the SIP ladder and the RTP streams each way.
func textCallDetail(r *Report, opt Options) string {
	if opt.CallID == "" {
		return ""
	}
	c := r.FindCall(opt.CallID)
	if c == nil {
		return heading("Call "+opt.CallID) + "  no such call\n"
	}
	var b strings.Builder
	b.WriteString(heading(fmt.Sprintf("Call %s  %s", c.ID, c.CallID)))
	b.WriteString(kvLines(
		"caller", partyLine(c.Caller),
		"callee", partyLine(c.Callee),
		"state", fmt.Sprintf("%s (final status %d, %s)", c.State, c.Status, c.Transport),
		"verdict", verdictStyle(c.Verdict).Render(verdictText(*c))+" "+c.Explain,
	))
	for _, s := range c.Streams {
		fmt.Fprintf(&b, "\n  %s %s\n", styleTitle.Render(fmt.Sprintf("m=%s #%d", s.Media, s.Index)), verdictStyle(s.Verdict).Render(string(s.Verdict)))
		for _, md := range []*MediaDescription{s.Offer, s.Answer} {
			if md == nil {
				continue
			}
			fmt.Fprintf(&b, "    %-6s SDP (frame %d) %sreceive at %s, %s, %s %s\n", md.Party, md.Frame, hang, md.Addr, md.Direction, md.Proto, styleDim.Render(strings.Join(md.Codecs, ", ")))
		}
		for _, f := range s.Flows {
			textFlow(&b, f) // quality_text.go
		}
		if len(s.Flows) == 0 {
			b.WriteString("    no RTP seen\n")
		}
	}
	b.WriteString("\n" + Ladder(*c))
	return b.String()
}

func partyLine(p Party) string {
	s := partyName(p)
	if p.SignalAddr != "" {
		s += "  SIP from " + p.SignalAddr
	}
	if p.UserAgent != "" {
		s += "  (" + p.UserAgent + ")"
	}
	return s
}

// ladderColumns lists the signalling endpoints in order of appearance.
func ladderColumns(c Call) []string {
	var cols []string
	seen := map[string]bool{}
	for _, m := range c.Messages {
		for _, a := range []string{m.Src, m.Dst} {
			if !seen[a] {
				seen[a] = true
				cols = append(cols, a)
			}
		}
	}
	return cols
}

// Ladder draws the SIP messages of a call as a text ladder diagram, one
// column per signalling address.
func Ladder(c Call) string {
	cols := ladderColumns(c)
	if len(cols) == 0 {
		return ""
	}
	const colWidth = 30
	const left = 18
	var b strings.Builder
	header := []byte(strings.Repeat(" ", left+len(cols)*colWidth))
	for i, a := range cols {
		pos := left + i*colWidth - len(a)/2
		if pos < 0 {
			pos = 0
		}
		copy(header[pos:], a)
	}
	b.WriteString(strings.TrimRight(string(header), " ") + "\n")
	for _, m := range c.Messages {
		line := []byte(strings.Repeat(" ", left+len(cols)*colWidth))
		for i := range cols {
			line[left+i*colWidth] = '|'
		}
		from, to := indexOf(cols, m.Src), indexOf(cols, m.Dst)
		lo, hi := min(from, to), max(from, to)
		x0, x1 := left+lo*colWidth+1, left+hi*colWidth-1
		for x := x0; x <= x1; x++ {
			line[x] = '-'
		}
		if to > from {
			line[x1] = '>'
		} else {
			line[x0] = '<'
		}
		label := " " + m.Summary + " "
		if m.HasSDP {
			label = " " + m.Summary + " (SDP) "
		}
		if len(label) > x1-x0-2 {
			label = label[:max(0, x1-x0-2)]
		}
		copy(line[x0+(x1-x0-len(label))/2+1:], label)
		ts := ""
		if !c.Start.IsZero() {
			ts = fmt.Sprintf("%8.3f", m.Time.Sub(c.Start).Seconds())
		}
		fmt.Fprintf(&b, "%s %6d %s\n", ts, m.Frame, strings.TrimRight(string(line[left-2:]), " "))
	}
	return b.String()
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return 0
}
