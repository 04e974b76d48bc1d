package report

import (
	"fmt"
	"html/template"
	"strings"
)

// The network picture of natdoc diagnose: this host, its router(s), the
// public side and the SIP server, with the element where a problem sits
// drawn in red. Finding IDs are matched as strings: report imports no
// other natdoc package.
func init() { RegisterHTMLSection(diagnosePicture) }

// pictureNode is one box of the picture.
type pictureNode struct {
	Title, Label string
	Problem      bool
	Note         string
}

// Findings that place the problem on the router (or the network's
// firewall), on the outer router, or on the SIP server.
var (
	routerProblemIDs = []FindingID{"sip-alg-rewrite", "sip-alg-drop", "sip-port-not-forwarded", "rtp-ports-not-forwarded",
		"mapping-varies-by-destination", "no-udp", "upnp-mapping-limit", "no-hairpin"}
	outerProblemIDs  = []FindingID{"double-nat", "carrier-grade-nat"}
	serverProblemIDs = []FindingID{"sip-server-private-address", "sip-server-no-answer", "sip-server-no-rport",
		"sip-server-unresolved", "sip-server-dns-private", "dyndns-stale"}
)

func diagnosePicture(r *Report) template.HTML {
	if r.Command != "diagnose" || len(r.Checks) == 0 {
		return ""
	}
	nodes := pictureNodes(r)
	var b strings.Builder
	const boxW, boxH, gap, top = 150, 64, 40, 20
	width := len(nodes)*(boxW+gap) + gap
	fmt.Fprintf(&b, `<h2>Network</h2><svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="network picture" font-family="system-ui,sans-serif" font-size="12">`, width, top+boxH+60)
	for i, n := range nodes {
		x := gap + i*(boxW+gap)
		stroke, fill := "#4a4", "#f4fff4"
		if n.Problem {
			stroke, fill = "#c00", "#fff0f0"
		}
		if i > 0 {
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888" stroke-width="2"/>`, x-gap, top+boxH/2, x, top+boxH/2)
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" rx="8" fill="%s" stroke="%s" stroke-width="2"/>`, x, top, boxW, boxH, fill, stroke)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-weight="bold">%s</text>`, x+boxW/2, top+24, template.HTMLEscapeString(n.Title))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, x+boxW/2, top+44, template.HTMLEscapeString(n.Label))
		if n.Note != "" {
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="%s">%s</text>`, x+boxW/2, top+boxH+20, stroke, template.HTMLEscapeString(n.Note))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func pictureNodes(r *Report) []pictureNode {
	found := map[FindingID]Finding{}
	for _, f := range r.Findings {
		if _, ok := found[f.ID]; !ok {
			found[f.ID] = f
		}
	}
	problemIn := func(ids []FindingID) (bool, string) {
		for _, id := range ids {
			if f, ok := found[id]; ok && f.Severity.IsProblem() {
				return true, string(id)
			}
		}
		return false, ""
	}
	host := pictureNode{Title: "this host", Label: hostLabel(r)}
	if r.Host != nil && r.Host.PublicAddress == TriYes {
		host.Note = "public address"
	}
	nodes := []pictureNode{host}
	router := pictureNode{Title: "router", Label: "?"}
	if r.Host != nil && r.Host.Gateway != "" {
		router.Label, _, _ = strings.Cut(r.Host.Gateway, " ")
	}
	router.Problem, router.Note = problemIn(routerProblemIDs)
	if r.Host == nil || r.Host.PublicAddress != TriYes {
		nodes = append(nodes, router)
	}
	if outer, id := problemIn(outerProblemIDs); outer {
		title := "second router"
		if id == "carrier-grade-nat" {
			title = "provider's NAT"
		}
		nodes = append(nodes, pictureNode{Title: title, Label: "private WAN", Problem: true, Note: id})
	}
	nodes = append(nodes, pictureNode{Title: "internet", Label: publicLabel(r)})
	if subject, ok := serverSubject(r); ok {
		srv := pictureNode{Title: "SIP server", Label: subject}
		srv.Problem, srv.Note = problemIn(serverProblemIDs)
		nodes = append(nodes, srv)
	}
	return nodes
}

func hostLabel(r *Report) string {
	if r.Host == nil {
		return ""
	}
	for _, i := range r.Host.Interfaces {
		for _, a := range i.Addrs {
			if !strings.Contains(a, ":") {
				return a
			}
		}
	}
	return r.Host.Hostname
}

func publicLabel(r *Report) string {
	if r.NAT != nil && r.NAT.MappedAddr != "" {
		addr, _, _ := strings.Cut(r.NAT.MappedAddr, ":")
		return addr
	}
	for _, f := range r.Findings {
		if (f.ID == "public-address" || f.ID == "host-public-address") && len(f.Evidence) > 0 && len(f.Evidence[0].Addrs) > 0 {
			return f.Evidence[0].Addrs[0]
		}
	}
	return "public side"
}

func serverSubject(r *Report) (string, bool) {
	for _, f := range r.Findings {
		if strings.HasPrefix(string(f.ID), "sip-server-") || f.ID == "dyndns-stale" {
			return f.Subject, true
		}
	}
	return "", false
}
