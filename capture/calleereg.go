package capture

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/natdoc/natdoc/report"
)

// A PBX answers a call to a phone that is not registered with 480
// (Temporarily Unavailable) or 404 (Not Found), at once or after trying.
// When the same capture holds the callee's own REGISTERs at that server,
// it shows why the phone was not registered when called: its registration
// had run out, it was refused, it got no answer, the phone removed it, or
// it came only later. The call's failure is then the registration's.

// IDCalleeNotRegistered: the call failed because its callee was not
// registered at the server, as the capture's REGISTERs show;
// IDCallNotRouted: the server answered 404 for a callee registered there.
const (
	IDCalleeNotRegistered report.FindingID = "callee-not-registered"
	IDCallNotRouted       report.FindingID = "call-not-routed"
)

// remedyCalleeUnregistered is for a call to a phone that was not
// registered.
const remedyCalleeUnregistered = "Get the callee registered before it is called: mend what its registration's own finding names (its " +
	"credentials, a registrar it cannot reach, a NAT that drops its mapping), and have it renew before its registration runs out " +
	"(phones re-register at about half the time granted)."

// remedyNotRouted is for a 404 to a callee registered at the server.
const remedyNotRouted = "Route calls to the registered phone: check the server's dial plan or routing for what the caller dialled " +
	"(Asterisk: the extension in the caller's context; FreeSWITCH: the dialplan; Kamailio and OpenSIPS: lookup(\"location\") on the " +
	"right domain), and that callers dial the form the server routes (an extension number, not the phone's user name, or the reverse)."

// callsForUnregistered are the final responses of a server that has no
// registered contact for the callee.
func callsForUnregistered(status int) bool { return status == 480 || status == 404 }

// calleeUnregisteredFinding tells why a call refused 480 or 404 found its
// callee unregistered, when the capture holds the callee's REGISTERs to
// the server the INVITE went to.
func calleeUnregisteredFinding(cb *callBuild, na *report.NotAnswered) (report.Finding, bool) {
	t := &cb.call.setup
	if na == nil || na.Reason != report.NotAnsweredRejected || !callsForUnregistered(na.Status) || t.sent == 0 {
		return report.Finding{}, false
	}
	user := cb.call.dialled()
	regs := cb.regs.bindingsOf(user, t.dst.Addr())
	if len(regs) == 0 && cb.call.Callee.User != user {
		user = cb.call.Callee.User
		regs = cb.regs.bindingsOf(user, t.dst.Addr())
	}
	status := statusText(na.Status, na.Phrase)
	sent := t.sentEvidence()
	if g := registeredAmong(regs, t.sentAt); g != nil {
		if na.Status != 404 || cb.call.passedOn() {
			// Registered, and not reached (other findings tell why), or
			// the server passed the call on and the 404 came back.
			return report.Finding{}, false
		}
		return report.Finding{ID: IDCallNotRouted, Severity: report.SeverityWarning, Subject: cb.call.CallID, Remedy: remedyNotRouted,
			Title: fmt.Sprintf("The server %s answered %s for %s, though %s was registered there: it does not route the call to its registered phone (its dial plan or routing), the phone is not at fault",
				t.dst.Addr(), status, user, user),
			Evidence: []report.Evidence{sent, {Text: fmt.Sprintf("%s registered from %s, Contact %s", user, g.src, g.contactText()),
				Frames: []uint64{g.firstOkFrame}, Time: g.firstOkAt}}}, true
	}
	why, ev, ok := unregisteredAt(regs, t.sentAt)
	if !ok {
		return report.Finding{}, false
	}
	return report.Finding{ID: IDCalleeNotRegistered, Severity: report.SeverityWarning, Subject: cb.call.CallID, Remedy: remedyCalleeUnregistered,
		Title:    fmt.Sprintf("The callee %s was not registered at %s when called (%s): %s", user, t.dst.Addr(), status, why),
		Evidence: []report.Evidence{sent, ev}}, true
}

// registeredAmong returns a binding registered at t (nil: none): valid
// then, or registered before and renewed since.
func registeredAmong(regs []*registration, t time.Time) *registration {
	for _, g := range regs {
		if g.registeredAt(t) || (g.firstOkFrame > 0 && !g.firstOkAt.After(t) && g.okAt.After(t)) {
			return g
		}
	}
	return nil
}

// unregisteredAt says why none of a phone's bindings at a server was
// registered at t (registeredAmong found none), false when the capture
// cannot tell.
func unregisteredAt(regs []*registration, t time.Time) (string, report.Evidence, bool) {
	var last *registration // the binding whose last REGISTER came last before t
	for _, g := range regs {
		if !g.firstSentAt.After(t) && (last == nil || g.lastSentAt.After(last.lastSentAt)) {
			last = g
		}
	}
	if last == nil {
		if len(regs) == 0 {
			return "", report.Evidence{}, false
		}
		g := regs[0]
		for _, o := range regs {
			if o.firstSentFrame < g.firstSentFrame {
				g = o
			}
		}
		return "it registered only after the call", report.Evidence{Text: fmt.Sprintf("its first REGISTER there, from %s", g.src),
			Frames: []uint64{g.firstSentFrame}, Time: g.firstSentAt}, true
	}
	g := last
	switch {
	case g.removed && g.lastAnswer.at.Before(t):
		return "the phone had removed its registration", report.Evidence{Text: fmt.Sprintf("REGISTER from %s with Expires 0, accepted", g.src),
			Frames: []uint64{g.lastAnswer.frame}, Time: g.lastAnswer.at}, true
	case g.refused != nil:
		status := statusText(g.refused.status, g.refused.reason)
		return "its REGISTERs were refused (" + status + ")", report.Evidence{Text: fmt.Sprintf("REGISTER from %s answered %s", g.src, status),
			Frames: []uint64{g.refused.frame}}, true
	case g.okFrame > 0 && g.expiresStated && !g.okAt.Add(g.expires).After(t):
		why := fmt.Sprintf("its registration had run out %s before, not renewed", roundWait(t.Sub(g.okAt.Add(g.expires))))
		if g.sentSince > 0 {
			why += fmt.Sprintf(": the %s it sent since got no answer", report.Plural(g.sentSince, "REGISTER"))
		}
		return why, report.Evidence{Text: fmt.Sprintf("its last 200 OK to a REGISTER from %s granted %s", g.src, roundWait(g.expires)),
			Frames: []uint64{g.okFrame}, Time: g.okAt}, true
	case !g.responded && g.sent > 0:
		return "its REGISTERs got no response", report.Evidence{Text: fmt.Sprintf("REGISTER from %s, sent %s, never answered", g.src, timesText(g.sent)),
			Frames: uniqueFrames(g.firstSentFrame, g.lastSentFrame), Time: g.firstSentAt}, true
	}
	return "", report.Evidence{}, false
}

// bindingsOf returns the bindings of an address of record's user at a
// registrar host.
func (r *registrations) bindingsOf(user string, registrar netip.Addr) []*registration {
	if r == nil || user == "" {
		return nil
	}
	var out []*registration
	for _, g := range r.byAOR[user] {
		if g.registrar.Addr() == registrar {
			out = append(out, g)
		}
	}
	return out
}

// passedOn says whether the capture shows the call's INVITE passed on by
// the server it went to: a leg of the call from there.
func (c *sipCall) passedOn() bool {
	return c.group != nil && len(c.group.legs) > 1
}
