package capture

import (
	"slices"
	"sort"
	"time"

	"github.com/natdoc/natdoc/report"
)

// table is the report's registrations section: each binding in the order
// of its first REGISTER, as it stood at captureEnd. It shows the findings
// noted on the bindings, so it runs after findings.
func (r *registrations) table(captureEnd time.Time) []report.Binding {
	if len(r.byKey) == 0 {
		return nil
	}
	regs := make([]*registration, 0, len(r.byKey))
	for _, g := range r.byKey {
		regs = append(regs, g)
	}
	sort.Slice(regs, func(i, j int) bool { return regs[i].firstSentFrame < regs[j].firstSentFrame })
	rows := make([]report.Binding, 0, len(regs))
	for _, g := range regs {
		if g.movedTo != nil && g.movedTo.movedFrom.valid {
			continue // its row is the binding that took it over
		}
		rows = append(rows, g.row(captureEnd))
	}
	return rows
}

// takenOver adds to the row of a binding that took over others from
// earlier NAT mappings (regmove.go) what they showed: one binding at the
// registrar, however often the phone's NAT moved it.
func (g *registration) takenOver(b *report.Binding) {
	for _, mv := range slices.Backward(g.remaps) {
		b.EarlierMappings = append([]string{mv.old.String()}, b.EarlierMappings...)
	}
	for mv := g.movedFrom; mv != nil && mv.valid; mv = mv.from.movedFrom {
		prev := mv.from
		b.EarlierMappings = append([]string{mv.old.String()}, b.EarlierMappings...)
		for _, rm := range slices.Backward(prev.remaps) {
			b.EarlierMappings = append([]string{rm.old.String()}, b.EarlierMappings...)
		}
		b.Requests += prev.sent
		b.Accepted += prev.oks
		b.First, b.FirstFrame = prev.firstSentAt, prev.firstSentFrame
	}
}

// row is the binding's row of the registrations table.
func (g *registration) row(captureEnd time.Time) report.Binding {
	aor := g.aor
	if g.toHost != "" {
		aor += "@" + g.toHost
	}
	b := report.Binding{
		AOR: aor, Contact: g.contactText(), From: g.src.String(), BehindNAT: g.behindNAT(),
		Registrar: g.registrar.String(), Transport: g.transport, UserAgent: g.userAgent, Scanner: g.scanner != "" || g.scan,
		Status: g.lastAnswer.status, Reason: g.lastAnswer.reason,
		Requests: g.sent, Accepted: g.oks, First: g.firstSentAt, FirstFrame: g.firstSentFrame,
		Last: g.lastSentAt, LastFrame: g.lastSentFrame, Findings: g.findings, Problem: g.problem,
	}
	if g.publicAs.IsValid() && g.publicAs != g.src.Addr() {
		b.SeenAs = g.publicAs.String()
	}
	if g.lastAnswer.frame > b.LastFrame {
		b.Last, b.LastFrame = g.lastAnswer.at, g.lastAnswer.frame
	}
	if g.sentSince >= 2 {
		b.UnansweredAfter = g.sentSince
	}
	g.takenOver(&b)
	b.Outcome = g.outcome(captureEnd)
	if (b.Outcome == report.BindingRegistered || b.Outcome == report.BindingExpired) && g.expiresStated {
		b.Expires = max(g.expires, 0)
	}
	if b.Outcome == report.BindingExpired {
		b.Until = g.okAt.Add(g.expires)
	}
	return b
}

// outcome is how the binding stood at captureEnd, by the last final
// response to its REGISTERs.
func (g *registration) outcome(captureEnd time.Time) report.BindingOutcome {
	status := g.lastAnswer.status
	switch {
	case status == 0 && g.responded:
		return report.BindingNoFinal
	case status == 0:
		return report.BindingUnanswered
	case g.removed:
		return report.BindingRemoved
	case status < 300:
		if g.expires > 0 && captureEnd.Sub(g.okAt) >= g.expires {
			return report.BindingExpired
		}
		return report.BindingRegistered
	case (status == 401 || status == 407) && g.refused == nil:
		return report.BindingChallenged
	}
	return report.BindingRefused
}
