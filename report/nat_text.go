package report

import (
	"fmt"
	"strings"
	"time"
)

// textNAT renders the NAT section: the facts first, then the RFC 5780
// steps and each server's answer, so a user can check every verdict.
func textNAT(r *Report, _ Options) string {
	n := r.NAT
	if n == nil {
		return ""
	}
	var b strings.Builder
	title := "NAT behaviour"
	if n.Network != "" {
		title += " (" + n.Network + ")"
	}
	b.WriteString(heading(title))
	b.WriteString(kvLines(
		"local address", n.LocalAddr,
		"public address", n.MappedAddr,
		"mapping", withNote(string(n.Mapping), n.MappingNote),
		"filtering", withNote(string(n.Filtering), n.FilteringNote),
		"old name (RFC 3489)", n.RFC3489Name,
		"port preserved", string(n.PortPreserved),
		"same mapping to all servers", string(n.MappingConsistent),
		"hairpinning", withNote(string(n.Hairpinning), n.HairpinNote),
		"UDP blocked", triIfYes(n.UDPBlocked),
		"binding lifetime", lifetimeText(n),
		"keep-alive at most every", durationText(n.KeepAlive),
		"RFC 5780 server", n.RFC5780Server,
		"from the RTP port", rtpPortText(n.RTPPort),
		"took", durationText(n.Took.Round(time.Millisecond)),
	))
	for _, t := range n.MappingTests {
		b.WriteString(natTestLine(t))
	}
	for _, t := range n.FilteringTests {
		b.WriteString(natTestLine(t))
	}
	for _, s := range n.Servers {
		b.WriteString(serverLine("server", s))
	}
	if n.TCP != nil {
		b.WriteString(serverLine("tcp", *n.TCP))
	}
	for _, a := range n.Anomalies {
		fmt.Fprintf(&b, "  %s %s ×%d %s\n", styleWarning.Render("not believed"), a.Kind, a.Count, styleDim.Render(a.Detail))
	}
	return b.String()
}

// rtpPortText: "192.168.1.10:10000 -> 203.0.113.1:61234, port preserved
// no, mapping address-and-port-dependent".
func rtpPortText(m *NATPortMapping) string {
	if m == nil {
		return ""
	}
	if m.Mapped == "" {
		return withNote(m.Local+" -> no answer", m.Note)
	}
	out := m.Local + " -> " + m.Mapped
	if m.PortPreserved != TriUnknown {
		out += ", port preserved " + string(m.PortPreserved)
	}
	if m.Mapping != BehaviourUnknown {
		out += ", mapping " + string(m.Mapping)
	}
	return out
}

func withNote(value, note string) string {
	switch {
	case note == "":
		return value
	case value == "":
		return "unknown " + styleDim.Render("("+note+")")
	default:
		return value + " " + styleDim.Render("("+note+")")
	}
}

func triIfYes(t Tri) string {
	if t == TriYes {
		return styleError.Render("yes")
	}
	return ""
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func lifetimeText(n *NATReport) string {
	switch {
	case n.LifetimeMax > 0:
		return fmt.Sprintf("between %s and %s", n.LifetimeMin, n.LifetimeMax)
	case n.LifetimeMin > 0:
		return fmt.Sprintf("more than %s", n.LifetimeMin)
	}
	if n.LifetimeNote != "" {
		return withNote("", n.LifetimeNote)
	}
	return ""
}

func natTestLine(t NATTest) string {
	line := fmt.Sprintf("  %s %s → %s", styleDim.Render(t.Name+":"), t.To, t.Result)
	if t.Detail != "" {
		line += " " + styleDim.Render("("+t.Detail+")")
	}
	return line + "\n"
}

func serverLine(label string, s STUNServerResult) string {
	res := s.MappedAddr
	if s.Error != "" {
		res = styleWarning.Render(s.Error)
	}
	line := fmt.Sprintf("  %s %s → %s", styleDim.Render(label), s.Server, res)
	if s.RTT > 0 {
		line += " " + styleDim.Render(s.RTT.Round(time.Microsecond).String())
	}
	if s.OtherAddr != "" {
		line += " " + styleDim.Render("other "+s.OtherAddr)
	}
	if s.Software != "" {
		line += " " + styleDim.Render(s.Software)
	}
	return line + "\n"
}
