package capture

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/natdoc/natdoc/report"
)

// A SIP server on the internet is scanned all day: a host sends REGISTERs
// for account after account (100, 101, 102 …), once or twice each with a
// guessed password, often each from its own source port. Told one by one,
// its refusals drowned a capture's real findings in hundreds of warnings
// ("the phone is not registered"). Phones are not like that: a phone
// registers one account, again and again at its interval, and an office
// of phones behind one NAT does so per phone.

// A registration scan: one host tried at least scanAccounts accounts at a
// registrar host, none registered there, on average at most
// scanTriesPerAccount REGISTER transactions per binding (resends aside).
// Not when the accounts' Contacts name officePhones private addresses or
// more: phones behind one NAT.
const (
	scanAccounts        = 10
	scanTriesPerAccount = 3
	officePhones        = 3
)

// registerScans finds the hosts that scanned a registrar, marks their
// bindings (scan) and makes one finding of each scan.
func registerScans(regs []*registration) []report.Finding {
	return perHostPair(regs, func(*registration) bool { return true },
		func(k hostPair, list []*registration) (report.Finding, bool) {
			if !isScan(list) {
				return report.Finding{}, false
			}
			return registerScanFinding(k.src, k.registrar, list), true
		},
		func(g *registration) { g.scan = true })
}

// hostPair is a source host at a registrar host: a scanner, or a site's
// NAT, and the registrar.
type hostPair struct{ src, registrar netip.Addr }

// perHostPair groups the bindings it takes by source host and registrar
// host, makes a finding of each group that find tells (ok), notes it on
// the group's bindings and marks each (mark): one finding for many.
func perHostPair(regs []*registration, take func(*registration) bool, find func(hostPair, []*registration) (report.Finding, bool),
	mark func(*registration)) []report.Finding {
	order, groups := groupBindings(regs, func(g *registration) (hostPair, bool) { return hostPair{g.src.Addr(), g.registrar.Addr()}, take(g) })
	var fs []report.Finding
	for _, k := range order {
		list := groups[k]
		f, ok := find(k, list)
		if !ok {
			continue
		}
		for _, g := range list {
			mark(g)
			g.noteFinding(f)
		}
		fs = append(fs, f)
	}
	return fs
}

// groupBindings groups the bindings by key (those it takes), the groups
// in the order of their first binding.
func groupBindings[K comparable](regs []*registration, key func(*registration) (K, bool)) ([]K, map[K][]*registration) {
	groups := map[K][]*registration{}
	var order []K
	for _, g := range regs {
		k, ok := key(g)
		if !ok {
			continue
		}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], g)
	}
	return order, groups
}

// isScan says whether one host's bindings at one registrar are a scan.
// An office's phones behind one NAT, all refused at once (the office's
// address banned, the registrar's accounts lost), are not: each phone
// writes its own LAN address in its Contact, where a scanner writes one
// address, its own, for every account it tries.
func isScan(list []*registration) bool {
	accounts := map[string]bool{}
	tries := 0
	for _, g := range list {
		if g.okFrame > 0 || !isPublic(g.src.Addr()) {
			return false // a phone that got in, or a LAN's
		}
		accounts[g.aor] = true
		tries += g.tries
	}
	return len(accounts) >= scanAccounts && tries <= scanTriesPerAccount*len(list) && len(lanAddrs(list)) < officePhones
}

// lanAddrs are the private addresses the bindings' Contacts name: the
// phones behind a NAT, one address each.
func lanAddrs(list []*registration) map[netip.Addr]bool {
	lan := map[netip.Addr]bool{}
	for _, g := range list {
		if IsPrivate(g.contact.Addr()) {
			lan[g.contact.Addr()] = true
		}
	}
	return lan
}

// registerScanFinding tells a scan: how many accounts, REGISTERs and
// refusals, a few of the accounts, the first and last REGISTER.
func registerScanFinding(src, registrar netip.Addr, list []*registration) report.Finding {
	accounts, ports := map[string]bool{}, map[uint16]bool{}
	var names []string
	requests, first, last := 0, list[0], list[0]
	outcomes := map[string]int{}
	for _, g := range list {
		if !accounts[g.aor] {
			accounts[g.aor] = true
			names = append(names, g.aor)
		}
		requests += g.sent
		ports[g.src.Port()] = true
		if g.firstSentFrame < first.firstSentFrame {
			first = g
		}
		if g.lastSentFrame > last.lastSentFrame {
			last = g
		}
		outcomes[scanOutcome(g)]++
	}
	var counts []string
	for _, o := range slices.Sorted(maps.Keys(outcomes)) {
		counts = append(counts, fmt.Sprintf("%d %s", outcomes[o], o))
	}
	return report.Finding{ID: IDRegisterScan, Severity: report.SeverityInfo, Subject: src.String(), Remedy: remedyScanner,
		Title: fmt.Sprintf("%s tried %d accounts at the registrar %s with %d REGISTERs and none registered: a scan guessing accounts and passwords, refused as it should be",
			src, len(accounts), registrar, requests),
		Evidence: []report.Evidence{
			{Text: fmt.Sprintf("accounts %s, from %s", firstOf(names, 6), report.Plural(len(ports), "source port")), Frames: uniqueFrames(first.firstSentFrame, last.lastSentFrame),
				Addrs: []string{src.String()}, Time: first.firstSentAt},
			{Text: "answered: " + strings.Join(counts, ", ")},
		}}
}

// scanOutcome words how a scanned binding ended, for the scan's counts.
func scanOutcome(g *registration) string {
	switch {
	case g.refused != nil:
		return fmt.Sprintf("refused %d", g.refused.status)
	case g.challenged:
		return "challenged, no credentials sent"
	case !g.responded:
		return "unanswered"
	}
	return "no final response"
}
