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
	leg, sdpParty := streamsLeg(*c)
	if leg != nil && len(c.Streams) > 0 {
		fmt.Fprintf(&b, "\n  media on leg %d, %s%s → %s %s\n", c.StreamsLeg, hang, partyLabel(leg.Caller), partyLabel(leg.Callee),
			styleDim.Render("(the leg that decides the verdict; every leg under legs)"))
	}
	for _, s := range c.Streams {
		fmt.Fprintf(&b, "\n  %s %s\n", styleTitle.Render(fmt.Sprintf("m=%s #%d", s.Media, s.Index)), verdictStyle(s.Verdict).Render(string(s.Verdict)))
		for _, md := range []*MediaDescription{s.Offer, s.Answer} {
			if md == nil {
				continue
			}
			ice := ""
			if len(md.ICECandidates) > 0 {
				ice = "; ICE candidates " + strings.Join(md.ICECandidates, ", ")
			}
			fmt.Fprintf(&b, "    %-6s SDP (frame %d) %sreceive at %s, %s, %s %s\n", sdpParty(md.Party), md.Frame, hang, md.Addr, md.Direction, md.Proto, styleDim.Render(strings.Join(md.Codecs, ", ")+ice))
		}
		for _, f := range s.Flows {
			textFlow(&b, f) // quality_text.go
		}
		if len(s.Flows) == 0 {
			b.WriteString("    no RTP seen\n")
		}
		for _, d := range s.Delivery {
			b.WriteString("    " + deliveryLine(d) + "\n")
		}
	}
	b.WriteString(legLines(*c))
	b.WriteString("\n" + Ladder(*c))
	return b.String()
}

// streamsLeg is the leg whose streams a call with legs shows, and how to
// name the party of one of its SDPs: that leg's role there ("b2bua",
// "proxy"), since its caller or callee may stand for the call's own.
func streamsLeg(c Call) (*CallLeg, func(party string) string) {
	same := func(party string) string { return party }
	if c.StreamsLeg < 1 || c.StreamsLeg > len(c.Legs) {
		return nil, same
	}
	leg := &c.Legs[c.StreamsLeg-1]
	return leg, func(party string) string {
		switch {
		case party == "caller" && leg.Caller.Role != "":
			return leg.Caller.Role
		case party == "callee" && leg.Callee.Role != "":
			return leg.Callee.Role
		}
		return party
	}
}

// deliveryLine says whether one direction arrived and how the capture
// shows it.
func deliveryLine(d Delivery) string {
	if !d.Delivered {
		return fmt.Sprintf("%-15s %d pkts not delivered: %s", d.Direction, d.Packets, d.Doubt)
	}
	return fmt.Sprintf("%-15s %d pkts delivered %s", d.Direction, d.Packets, styleDim.Render("("+d.Proof+")"))
}

// legLines lists the hops of a call seen at a proxy or B2BUA, each with
// its own verdict, and the forks that answered only provisionally.
func legLines(c Call) string {
	var b strings.Builder
	if len(c.Legs) > 0 {
		b.WriteString("\n  " + styleTitle.Render("legs") + "\n")
	}
	for i, l := range c.Legs {
		fmt.Fprintf(&b, "    %d. %s → %s: %s %s\n", i+1, partyLabel(l.Caller), partyLabel(l.Callee),
			verdictStyle(l.Verdict).Render(verdictText(Call{Verdict: l.Verdict, CannotHear: l.CannotHear, NotAnswered: l.NotAnswered})),
			styleDim.Render(l.Explain+" ("+l.CallID+")"))
	}
	if len(c.EarlyDialogs) > 0 {
		b.WriteString("\n  " + styleTitle.Render("early dialogs (forks that did not answer)") + "\n")
	}
	for _, e := range c.EarlyDialogs {
		var pkts uint64
		for _, s := range e.Streams {
			for _, f := range s.Flows {
				if !f.RTCP {
					pkts += f.Packets
				}
			}
		}
		fmt.Fprintf(&b, "    To-tag %s: %d from %s, %d RTP packets of early media\n", e.ToTag, e.Status, e.SignalAddr, pkts)
	}
	return b.String()
}

// partyLabel names a party by its role and identity: "proxy
// 198.51.100.20", "caller 100@example.org".
func partyLabel(p Party) string {
	name := partyName(p)
	if name == "" {
		name = p.SignalAddr
	}
	if p.Role == "" {
		return name
	}
	return p.Role + " " + name
}

// notAnsweredText is the verdict column of a call that was not answered:
// "not-answered (rejected 486)", "not-answered (cancelled, rang)".
func notAnsweredText(na NotAnswered) string {
	return string(VerdictNotAnswered) + " (" + notAnsweredDetail(na) + ")"
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

// ladderColumns lists the signalling endpoints in order of appearance:
// every hop of the call (caller, proxies, B2BUAs, callee) is a column, as
// sngrep draws it.
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

// ladderRoles names the columns whose address is a party of the call or
// of one of its legs: "caller", "callee", "proxy", "b2bua".
func ladderRoles(c Call) map[string]string {
	roles := map[string]string{}
	note := func(p Party) {
		if p.SignalAddr != "" && p.Role != "" && roles[p.SignalAddr] == "" {
			roles[p.SignalAddr] = p.Role
		}
	}
	note(c.Caller)
	note(c.Callee)
	for _, l := range c.Legs {
		note(l.Caller)
		note(l.Callee)
	}
	return roles
}

// wrapAddr splits an address into lines of at most width characters,
// breaking after a ':' or '.' where it can (an IPv6 address with its port
// is up to 47 characters), so column headers never run into each other.
func wrapAddr(a string, width int) []string {
	var lines []string
	for len(a) > width {
		cut := strings.LastIndexAny(a[:width], ":.")
		if cut <= 0 {
			cut = width - 1
		}
		lines = append(lines, a[:cut+1])
		a = a[cut+1:]
	}
	return append(lines, a)
}

// ladderColWidth is the text ladder's distance between two columns.
const ladderColWidth = 30

// ladderHeader is the text ladder's header block: each column's role, and
// its address wrapped to the column.
func ladderHeader(cols []string, roles map[string]string, left int) string {
	wrapped := make([][]string, len(cols))
	height := 0
	for i, a := range cols {
		wrapped[i] = wrapAddr(a, ladderColWidth-2)
		if r := roles[a]; r != "" {
			wrapped[i] = append([]string{r}, wrapped[i]...)
		}
		height = max(height, len(wrapped[i]))
	}
	var b strings.Builder
	for row := 0; row < height; row++ {
		line := []byte(strings.Repeat(" ", left+len(cols)*ladderColWidth))
		for i, w := range wrapped {
			if row < len(w) {
				pos := max(0, left+i*ladderColWidth-len(w[row])/2)
				copy(line[pos:], w[row])
			}
		}
		b.WriteString(strings.TrimRight(string(line), " ") + "\n")
	}
	return b.String()
}

// Ladder draws the SIP messages of a call as a text ladder diagram, one
// column per signalling address.
func Ladder(c Call) string {
	cols := ladderColumns(c)
	if len(cols) == 0 {
		return ""
	}
	const colWidth = ladderColWidth
	const left = 18
	var b strings.Builder
	b.WriteString(ladderHeader(cols, ladderRoles(c), left))
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
