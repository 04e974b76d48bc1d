package report

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
)

// The network picture of natdoc diagnose: this host, its router(s), the
// public side and the SIP server, with the element where a problem sits
// drawn in red.
func init() { RegisterHTMLSection(diagnosePicture) }

// NetworkPicture says which findings place a problem on which element of
// the network picture in diagnose's HTML report. The package that makes
// those findings registers it, so report names no finding ID.
type NetworkPicture struct {
	// Router: a problem on this network's router or firewall.
	Router []FindingID
	// SecondRouter and ProviderNAT: a NAT beyond the router, the user's own
	// second router or the provider's carrier-grade NAT.
	SecondRouter, ProviderNAT []FindingID
	// Server: a problem at the SIP server.
	Server []FindingID
	// ServerNamed: findings whose Subject names the SIP server; the server
	// is drawn when one of them is present, problem or not.
	ServerNamed []FindingID
	// PublicAddress: findings whose first evidence address is this
	// network's public address, drawn when no STUN mapping gave one.
	PublicAddress []FindingID
}

var picture NetworkPicture

// RegisterNetworkPicture sets the findings behind diagnose's network
// picture. Without it the picture is drawn with no element marked.
func RegisterNetworkPicture(p NetworkPicture) { picture = p }

// pictureNode is one box of the picture.
type pictureNode struct {
	Title, Label string
	Problem      bool
	Note         string
}

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
	problems := problemFindings(r)
	problemIn := func(ids []FindingID) (bool, string) {
		for _, id := range ids {
			if problems[id] {
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
	router.Problem, router.Note = problemIn(picture.Router)
	if r.Host == nil || r.Host.PublicAddress != TriYes {
		nodes = append(nodes, router)
	}
	if outer, id := problemIn(picture.SecondRouter); outer {
		nodes = append(nodes, pictureNode{Title: "second router", Label: "private WAN", Problem: true, Note: id})
	} else if outer, id := problemIn(picture.ProviderNAT); outer {
		nodes = append(nodes, pictureNode{Title: "provider's NAT", Label: "private WAN", Problem: true, Note: id})
	}
	nodes = append(nodes, pictureNode{Title: "internet", Label: publicLabel(r)})
	if subject, ok := serverSubject(r); ok {
		srv := pictureNode{Title: "SIP server", Label: subject}
		srv.Problem, srv.Note = problemIn(picture.Server)
		nodes = append(nodes, srv)
	}
	return nodes
}

// problemFindings is the set of IDs whose first finding in r is a problem.
func problemFindings(r *Report) map[FindingID]bool {
	problems := map[FindingID]bool{}
	seen := map[FindingID]bool{}
	for _, f := range r.Findings {
		if !seen[f.ID] {
			seen[f.ID] = true
			problems[f.ID] = f.Severity.IsProblem()
		}
	}
	return problems
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
		if slices.Contains(picture.PublicAddress, f.ID) && len(f.Evidence) > 0 && len(f.Evidence[0].Addrs) > 0 {
			return f.Evidence[0].Addrs[0]
		}
	}
	return "public side"
}

func serverSubject(r *Report) (string, bool) {
	for _, f := range r.Findings {
		if slices.Contains(picture.ServerNamed, f.ID) {
			return f.Subject, true
		}
	}
	return "", false
}
