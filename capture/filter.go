package capture

import (
	"net/netip"
	"slices"
	"strconv"
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
	// User: the caller's or callee's user part or display name, or the
	// user the INVITE's Request-URI dialled, contains this, ignoring case.
	User string
	// CallID is the SIP Call-ID of any of the call's legs.
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
	case f.CallID != "" && !callIDMatches(c, f.CallID),
		len(f.Verdicts) > 0 && !slices.Contains(f.Verdicts, c.Verdict),
		!f.Since.IsZero() && !c.End.IsZero() && c.End.Before(f.Since),
		!f.Until.IsZero() && c.Start.After(f.Until),
		f.User != "" && !userMatches(c, f.User),
		len(f.Hosts) > 0 && !hostMatches(c, f.Hosts):
		return false
	}
	return true
}

// callIDMatches: any leg of the call has the Call-ID (a B2BUA's legs
// have one each).
func callIDMatches(c report.Call, id string) bool {
	if c.CallID == id {
		return true
	}
	for _, l := range c.Legs {
		if l.CallID == id {
			return true
		}
	}
	return false
}

func userMatches(c report.Call, user string) bool {
	user = strings.ToLower(user)
	names := []string{c.Caller.User, c.Callee.User, c.Callee.Dialed, c.Caller.Display, c.Callee.Display}
	for _, l := range c.Legs {
		names = append(names, l.Caller.User, l.Callee.User, l.Callee.Dialed, l.Caller.Display, l.Callee.Display)
	}
	for _, s := range names {
		if s != "" && strings.Contains(strings.ToLower(s), user) {
			return true
		}
	}
	return false
}

// hostMatches looks at every party and stream of the call, on every leg
// and early dialog.
func hostMatches(c report.Call, hosts []netip.Addr) bool {
	addrs := []string{c.Caller.SignalAddr, c.Callee.SignalAddr}
	addrs = streamAddrs(addrs, c.Streams)
	for _, l := range c.Legs {
		addrs = append(addrs, l.Caller.SignalAddr, l.Callee.SignalAddr)
		addrs = streamAddrs(addrs, l.Streams)
	}
	for _, e := range c.EarlyDialogs {
		addrs = append(addrs, e.SignalAddr)
		addrs = streamAddrs(addrs, e.Streams)
	}
	for _, a := range addrs {
		if ap, err := netip.ParseAddrPort(a); err == nil && slices.Contains(hosts, ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// streamAddrs appends the SDP addresses and the stream ends of streams.
func streamAddrs(addrs []string, streams []report.MediaStream) []string {
	for _, s := range streams {
		for _, md := range []*report.MediaDescription{s.Offer, s.Answer} {
			if md != nil {
				addrs = append(addrs, md.Addr)
			}
		}
		for _, fl := range s.Flows {
			addrs = append(addrs, fl.Src, fl.Dst)
		}
	}
	return addrs
}

// keepJudged files a judged call under its number: whole or compacted as
// the output needs, or, when the filter leaves it out, only its place in
// the numbering; with a sink (Options.OnCall) it goes there, in order,
// instead of being kept. The filter sees the call as judged, so it never
// changes a verdict.
func (s *state) keepJudged(rc report.Call, number int) {
	selected := s.filter.Match(rc)
	switch {
	case s.detail:
	case s.ordered != nil && s.onJudged == nil:
		rc = dropDetail(rc) // handed on at once: nothing to copy out
	default:
		rc = compactCall(rc)
	}
	rc.ID = "C" + strconv.Itoa(number)
	if !selected {
		rc = report.Call{}
	} else {
		s.tally.add(&rc)
	}
	if s.ordered != nil {
		s.ordered.add(number, rc, selected)
	} else {
		s.done.add(doneCall{number: number, call: rc, filtered: !selected})
	}
	if s.onJudged != nil && selected {
		s.onJudged(rc)
	}
}
