package capture

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/natdoc/natdoc/report"
)

// CallFilter selects calls for a report (natdoc analyze --host, --user,
// --call-id, --since, --until, --verdict). A call is judged from all its
// packets first and selected after, so a filter never changes a verdict;
// what it saves is the report: a call it leaves out is dropped as soon as
// it is judged, before it is compacted or kept whole. Calls keep the
// names (C1, C2, ...) they have without the filter.
type CallFilter struct {
	// Hosts: a party's SIP source or SDP address, or an end of one of
	// its RTP/RTCP streams, is one of these.
	Hosts []netip.Addr
	// User: the caller's or callee's user part or display name contains
	// this, ignoring case.
	User string
	// CallID is the SIP Call-ID.
	CallID string
	// Since and Until: the call overlaps this span of capture time.
	Since, Until time.Time
	// Verdicts the call must have one of.
	Verdicts []report.Verdict
}

// Match says whether c is selected.
func (f *CallFilter) Match(c report.Call) bool {
	if f == nil {
		return true
	}
	switch {
	case f.CallID != "" && c.CallID != f.CallID,
		len(f.Verdicts) > 0 && !slices.Contains(f.Verdicts, c.Verdict),
		!f.Since.IsZero() && !c.End.IsZero() && c.End.Before(f.Since),
		!f.Until.IsZero() && c.Start.After(f.Until),
		f.User != "" && !userMatches(c, f.User),
		len(f.Hosts) > 0 && !hostMatches(c, f.Hosts):
		return false
	}
	return true
}

func userMatches(c report.Call, user string) bool {
	user = strings.ToLower(user)
	for _, s := range []string{c.Caller.User, c.Callee.User, c.Caller.Display, c.Callee.Display} {
		if s != "" && strings.Contains(strings.ToLower(s), user) {
			return true
		}
	}
	return false
}

func hostMatches(c report.Call, hosts []netip.Addr) bool {
	addrs := []string{c.Caller.SignalAddr, c.Callee.SignalAddr}
	for _, s := range c.Streams {
		for _, md := range []*report.MediaDescription{s.Offer, s.Answer} {
			if md != nil {
				addrs = append(addrs, md.Addr)
			}
		}
		for _, fl := range s.Flows {
			addrs = append(addrs, fl.Src, fl.Dst)
		}
	}
	for _, a := range addrs {
		if ap, err := netip.ParseAddrPort(a); err == nil && slices.Contains(hosts, ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// keepJudged files a judged call under its order key (seq, dialog): whole
// or compacted as the output needs, or, when the filter leaves it out,
// only its place in the numbering. The filter sees the call as judged,
// so it never changes a verdict.
func (s *state) keepJudged(rc report.Call, seq, dialog int) {
	selected := s.filter.Match(rc)
	if !s.detail {
		rc = compactCall(rc)
	}
	if !selected {
		rc = report.Call{}
	}
	s.done.add(doneCall{seq: seq, dialog: dialog, call: rc, filtered: !selected})
	if s.onJudged != nil && selected {
		s.onJudged(rc)
	}
}
