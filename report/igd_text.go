package report

import (
	"fmt"
	"strings"
	"time"
)

func textIGD(r *Report, _ Options) string {
	g := r.IGD
	if g == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(heading("Router (UPnP IGD / NAT-PMP / PCP)"))
	if len(g.Devices) == 0 && g.Cleanup == nil {
		b.WriteString("  no IGD answered\n")
	}
	for i, d := range g.Devices {
		mark := "  "
		if i == g.Chosen {
			mark = styleGood.Render("* ")
		}
		fmt.Fprintf(&b, "%s%s %s %s\n", mark, orDash(d.FriendlyName), styleDim.Render(d.Location), d.Protocol)
		b.WriteString(kvLines("model", strings.TrimSpace(d.Manufacturer+" "+d.Model), "external IP", d.ExternalIP,
			"connection", d.Connection, "services", strings.Join(d.Services, ", "),
			"advertised at", d.LocationAdvertised, "problem", d.Error))
	}
	if g.ChosenReason != "" {
		fmt.Fprintf(&b, "  %s\n", styleDim.Render("chosen: "+g.ChosenReason))
	}
	if len(g.Devices) > 0 || g.NATPMP != TriUnknown || g.PCP != TriUnknown {
		b.WriteString(kvLines("NAT-PMP answers", triText(g.NATPMP), "NAT-PMP external IP", g.NATPMPExternalIP,
			"PCP answers", triText(g.PCP), "STUN sees", g.STUNMapped, "mapping via", g.Via, "this host", g.Client))
	}
	if len(g.Mappings) > 0 {
		b.WriteString(igdMappingTable(g.Mappings) + "\n")
	}
	if g.Limit != nil {
		b.WriteString(limitLines(g.Limit))
	}
	if c := g.Cleanup; c != nil {
		b.WriteString(kvLines("in journal", fmt.Sprint(c.Pending), "removed", fmt.Sprint(c.Removed),
			"already gone", fmt.Sprint(c.AlreadyGone), "now someone else's (left)", fmt.Sprint(c.NotOurs),
			"held by a running natdoc", fmt.Sprint(c.InUse), "failed", strings.Join(c.Failed, "; ")))
	}
	for _, n := range g.Notes {
		fmt.Fprintf(&b, "  %s\n", styleDim.Render("note: "+n))
	}
	if g.Journal != "" {
		fmt.Fprintf(&b, "  %s\n", styleDim.Render("journal: "+g.Journal))
	}
	return b.String()
}

// limitLines renders what `upnp limits` measured.
func limitLines(l *MappingLimit) string {
	applied := fmt.Sprint(l.Applied)
	if !l.ReadBack {
		applied = "not readable via this protocol"
	}
	verified := ""
	if l.Verified > 0 {
		verified = fmt.Sprint(l.Verified)
	}
	limit := "not reached"
	if l.Reached {
		limit = fmt.Sprintf("%d mappings", l.Accepted)
	}
	return kvLines(
		"mappings asked", fmt.Sprint(l.Asked),
		"accepted", fmt.Sprint(l.Accepted),
		"applied (read back)", applied,
		"verified by a packet", verified,
		"limit", limit,
		"limited by", l.Cause,
		"ports its rules allow", strings.Join(l.Allowed, ", "),
		"refused with", refusal(l),
		"calls it carries", fmt.Sprint(l.Calls),
		"leases", l.LeaseNote,
		"removed again", fmt.Sprint(l.Removed),
	)
}

func igdMappingTable(ms []PortMapping) string {
	rows := make([][]string, 0, len(ms))
	for _, m := range ms {
		owner := ""
		if m.ByNatdoc {
			owner = "natdoc"
		} else if m.ThisHost {
			owner = "this host"
		}
		lease := leaseString(m.LeaseGranted)
		switch {
		case m.Error != "" || (m.ByNatdoc && m.Applied == TriUnknown && m.LeaseGranted == 0):
			lease = "" // refused, or not readable back
		case m.LeaseAsked != 0 && m.LeaseGranted != m.LeaseAsked:
			lease = leaseString(m.LeaseAsked) + " → " + lease
		}
		state := ""
		switch {
		case m.Error != "":
			state = "refused"
		case m.Applied == TriNo:
			state = "absent on read-back"
		case m.Verified == TriYes:
			state = "packet arrived"
		case m.Verified == TriNo:
			state = "no packet"
		case m.Applied == TriYes:
			state = "read back"
		}
		rows = append(rows, []string{m.Protocol, fmt.Sprint(m.ExternalPort), fmt.Sprintf("%s:%d", m.InternalAddr, m.InternalPort), lease, m.Description, owner, state})
	}
	return newTable("proto", "external", "internal", "lease", "description", "owner", "state").Rows(rows...).String()
}

func leaseString(d time.Duration) string {
	if d == 0 {
		return "permanent"
	}
	return d.String()
}

func triText(t Tri) string {
	if t == TriUnknown {
		return ""
	}
	return string(t)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func refusal(l *MappingLimit) string {
	if l.ErrorCode == 0 {
		return ""
	}
	return fmt.Sprintf("%d %s", l.ErrorCode, l.ErrorText)
}
