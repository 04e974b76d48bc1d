package report

import (
	"fmt"
	"strconv"
	"strings"
)

// maxUnansweredGroups bounds the ways of not answering listed under the
// calls table; calls of later ways are counted only.
const maxUnansweredGroups = 10

// unansweredDigest groups the calls not answered by how their setup ended
// and who ended it, so a capture of 87 calls refused with "503 Rate Limit
// Exceeded" by one proxy says so in one line, under the calls table.
type unansweredDigest struct {
	calls  int // calls not answered
	groups []*unansweredWay
	byKey  map[string]*unansweredWay
	// otherCalls counts the calls of ways past maxUnansweredGroups.
	otherCalls, otherWays int
	otherKeys             map[string]bool
}

// unansweredWay is one way of not answering (unansweredOutcome) and the
// calls that ended so.
type unansweredWay struct {
	outcome string
	idSummary
}

func (u *unansweredDigest) add(c Call) {
	if c.Verdict != VerdictNotAnswered || c.NotAnswered == nil {
		return
	}
	u.calls++
	key := unansweredOutcome(*c.NotAnswered)
	g := u.byKey[key]
	if g == nil && len(u.groups) >= maxUnansweredGroups {
		u.otherCalls++
		if !u.otherKeys[key] && len(u.otherKeys) < 1000 {
			if u.otherKeys == nil {
				u.otherKeys = map[string]bool{}
			}
			u.otherKeys[key] = true
			u.otherWays++
		}
		return
	}
	if g == nil {
		if u.byKey == nil {
			u.byKey = map[string]*unansweredWay{}
		}
		g = &unansweredWay{outcome: key}
		u.byKey[key] = g
		u.groups = append(u.groups, g)
	}
	g.note(c.ID)
}

// lines are the digest's lines under the calls table ("" when every call
// was answered): the ways in order of first seen.
func (u *unansweredDigest) lines(total int) string {
	if u.calls == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n  %s\n", styleTitle.Render(fmt.Sprintf("not answered: %d of %d calls", u.calls, total)))
	for _, g := range u.groups {
		fmt.Fprintf(&b, "    %s%d %s: %s\n", hang, g.calls, g.outcome, listIDs(g.ids, g.calls))
	}
	if u.otherCalls > 0 {
		fmt.Fprintf(&b, "    %s%d more in %d other ways (--json lists each call's)\n", hang, u.otherCalls, u.otherWays)
	}
	return b.String()
}

// unansweredOutcome says how a setup ended and who ended it: "rejected
// 503 Rate Limit Exceeded by 10.0.0.1:5060 (kamailio): Q.850 cause 34".
func unansweredOutcome(na NotAnswered) string {
	s := notAnsweredDetail(na)
	if na.Phrase != "" && na.Status != 0 && na.Reason != NotAnsweredCancelled { // a 487's phrase says nothing
		s += " " + na.Phrase
	}
	if na.By != "" {
		s += " by " + na.By
		if agent, _, _ := strings.Cut(na.ByAgent, " "); agent != "" {
			s += " (" + cutText(agent, 40) + ")"
		}
	}
	if na.Cause != "" {
		s += ": " + cutText(na.Cause, 120)
	}
	if na.Scanner {
		s += " (a SIP scan, rightly ignored)"
	}
	return s
}

// notAnsweredDetail is how a setup ended, briefly: "rejected 486",
// "cancelled, rang", "timed-out 408", "unreachable".
func notAnsweredDetail(na NotAnswered) string {
	detail := na.Reason
	switch {
	case (na.Reason == NotAnsweredRejected || na.Reason == NotAnsweredTimedOut) && na.Status != 0:
		detail += " " + strconv.Itoa(na.Status)
	case na.Reason == NotAnsweredCancelled && na.Rang:
		detail += ", rang"
	case na.Reason == NotAnsweredCancelled:
		detail += ", never rang"
	}
	return detail
}

// cutText cuts s to n runes, marking the cut.
func cutText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
