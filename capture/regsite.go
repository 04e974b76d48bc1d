package capture

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/natdoc/natdoc/report"
)

// When a registrar refuses every phone of a site at once, the phones'
// accounts are not the cause: the registrar refuses the site (its public
// address blocked by fail2ban or a provider's fraud guard after failed
// logins, left out of an access list, a trunk or domain setting), or lost
// its accounts. Told phone by phone ("fix the phone's account"), a dozen
// refusals send the engineer to a dozen phones.

// siteRefusals finds the sites (one public source host, at one registrar
// host) whose phones, officePhones or more by their Contacts' LAN
// addresses, were all refused and none registered, marks their bindings
// (site) and makes one register-refused finding of each.
func siteRefusals(regs []*registration, registered map[bindingKey]uint64) []report.Finding {
	return perHostPair(regs, func(g *registration) bool { return !g.scan && isPublic(g.src.Addr()) },
		func(k hostPair, list []*registration) (report.Finding, bool) {
			phones := lanAddrs(list)
			if len(phones) < officePhones || !refusedSite(list, registered) {
				return report.Finding{}, false
			}
			return siteRefusedFinding(k.src, k.registrar, list, phones), true
		},
		func(g *registration) { g.siteRefused = true })
}

// refusedSite says whether a site's bindings were all refused for a
// reason that concerns the account or the site (not a server error), none
// of them registered.
func refusedSite(list []*registration, registered map[bindingKey]uint64) bool {
	for _, g := range list {
		if g.okFrame > 0 || g.refused == nil || registered[g.binding()] > g.refused.frame || (g.refused.status >= 500 && g.refused.status < 600) {
			return false
		}
	}
	return true
}

// siteRefusedFinding tells a site's refused phones (their LAN addresses).
func siteRefusedFinding(src, registrar netip.Addr, list []*registration, phones map[netip.Addr]bool) report.Finding {
	statuses := map[string]int{}
	var accounts []string
	first := list[0]
	lastSent, firstRefusal, lastRefusal := first.lastSentFrame, first.refused.frame, first.refused.frame
	for _, g := range list {
		accounts = append(accounts, g.aor)
		statuses[statusText(g.refused.status, g.refused.reason)]++
		if g.firstSentFrame < first.firstSentFrame {
			first = g
		}
		lastSent = max(lastSent, g.lastSentFrame)
		firstRefusal, lastRefusal = min(firstRefusal, g.refused.frame), max(lastRefusal, g.refused.frame)
	}
	var answers []string
	for _, s := range slices.Sorted(maps.Keys(statuses)) {
		answers = append(answers, fmt.Sprintf("%s (%d)", s, statuses[s]))
	}
	slices.Sort(accounts)
	return report.Finding{ID: IDRegisterRefused, Severity: report.SeverityWarning, Subject: src.String(), Remedy: remedySiteRefused,
		Title: fmt.Sprintf("The registrar %s refused every phone behind %s (%s, %s) and none registered: it refuses the site, not one phone's account",
			registrar, src, report.Plural(len(phones), "phone"), report.Plural(len(list), "account")),
		Evidence: []report.Evidence{
			{Text: fmt.Sprintf("REGISTERs from %s for accounts %s, from the LAN addresses %s", src, firstOf(accounts, 6), hostList(phones)), Frames: uniqueFrames(first.firstSentFrame, lastSent), Addrs: []string{src.String()}, Time: first.firstSentAt},
			{Text: "answered " + strings.Join(answers, ", "), Frames: uniqueFrames(firstRefusal, lastRefusal)},
		}}
}

// siteUnanswered finds the sites (one public source host, at one
// registrar host) of officePhones or more phones, by their Contacts' LAN
// addresses, whose REGISTERs there all got no response, none of the site
// answered: the registrar, or a firewall before it, drops the site (a ban
// after failed logins), or the site cannot reach it. It marks the phones
// (site) and makes one register-unanswered finding of each site.
func siteUnanswered(phones []*unansweredPhone, regs []*registration, view hostView) []report.Finding {
	answered := map[hostPair]bool{}        // a REGISTER from the site there got a response
	answersOthers := map[netip.Addr]bool{} // by registrar host, from anyone
	for _, g := range regs {
		if g.responded {
			answered[hostPair{g.src.Addr(), g.registrar.Addr()}] = true
			answersOthers[g.registrar.Addr()] = true
		}
	}
	var order []hostPair
	sites := map[hostPair][]*unansweredPhone{}
	for _, p := range phones {
		k := hostPair{p.first.src.Addr(), p.first.registrar.Addr()}
		if !isPublic(k.src) || answered[k] {
			continue
		}
		if sites[k] == nil {
			order = append(order, k)
		}
		sites[k] = append(sites[k], p)
	}
	var fs []report.Finding
	for _, k := range order {
		list := sites[k]
		lan := map[netip.Addr]bool{}
		for _, p := range list {
			if IsPrivate(p.first.contact.Addr()) {
				lan[p.first.contact.Addr()] = true
			}
		}
		if len(lan) < officePhones {
			continue
		}
		f := siteUnansweredFinding(k.src, k.registrar, list, lan, answersOthers[k.registrar], view)
		for _, p := range list {
			p.site = true
			for _, g := range p.list {
				g.noteFinding(f)
			}
		}
		fs = append(fs, f)
	}
	return fs
}

func siteUnansweredFinding(src, registrar netip.Addr, phones []*unansweredPhone, lan map[netip.Addr]bool, answersOthers bool, view hostView) report.Finding {
	var accounts []string
	sent, first, last := 0, phones[0].first, phones[0].last
	for _, p := range phones {
		accounts = append(accounts, p.first.aor)
		sent += p.sent
		if p.first.firstSentFrame < first.firstSentFrame {
			first = p.first
		}
		if p.last.lastSentFrame > last.lastSentFrame {
			last = p.last
		}
	}
	slices.Sort(accounts)
	f := report.Finding{ID: IDRegisterUnanswered, Severity: report.SeverityWarning, Subject: src.String(), Remedy: remedySiteUnanswered,
		Title: fmt.Sprintf("No phone behind %s got any response from the registrar %s (%s, %s, %d REGISTERs over %s): none of them is registered, and since all fail at once, no phone's settings are the cause",
			src, registrar, report.Plural(len(lan), "phone"), report.Plural(len(accounts), "account"), sent, roundWait(last.lastSentAt.Sub(first.firstSentAt))),
		Evidence: []report.Evidence{{Text: fmt.Sprintf("REGISTERs from %s for accounts %s, from the LAN addresses %s, never answered", src, firstOf(accounts, 6), hostList(lan)), Frames: uniqueFrames(first.firstSentFrame, last.lastSentFrame), Addrs: []string{src.String()}, Time: first.firstSentAt}}}
	switch {
	case view.reached(registrar):
		f.Title += "; the capture, taken on the registrar's side, shows they arrived: the registrar, or a firewall on its host, drops the site (fail2ban after failed logins)"
	case answersOthers:
		f.Title += "; the registrar answered others in this capture: it, or a firewall before it, drops the site (a block on its address, fail2ban after failed logins)"
	case view.reached(src):
		f.Title += "; the capture, taken on the site's side, shows them leave and nothing come back: the registrar is down or drops the site, or the way there is blocked"
	}
	return f
}
