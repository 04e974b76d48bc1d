package capture

import (
	"slices"
	"strings"

	"github.com/natdoc/natdoc/report"
)

// compactCall cuts a finished call down to what a report that draws no
// single call shows (Options.Detail off): the calls table, the verdict,
// the RTP packets each way and the findings. It drops the SDP media
// descriptions and the RTCP flows, which only a call's detail view and
// the HTML and JSON reports show, and copies what it keeps into exactly
// sized slices and strings of its own: the SIP identifiers are substrings
// of whole parsed header values, and appends leave spare capacity, which
// would otherwise stay alive for as long as the report.
func compactCall(c report.Call) report.Call {
	callID := strings.Clone(c.CallID)
	c.FromTag, c.ToTag = strings.Clone(c.FromTag), strings.Clone(c.ToTag)
	c.Caller, c.Callee = cloneParty(c.Caller), cloneParty(c.Callee)
	c.Streams = compactStreams(c.Streams)
	if len(c.Legs) > 0 {
		legs := make([]report.CallLeg, len(c.Legs))
		for i, l := range c.Legs {
			l.CallID, l.FromTag, l.ToTag = strings.Clone(l.CallID), strings.Clone(l.FromTag), strings.Clone(l.ToTag)
			l.Caller, l.Callee = cloneParty(l.Caller), cloneParty(l.Callee)
			l.Streams = compactStreams(l.Streams)
			legs[i] = l
		}
		c.Legs = legs
	}
	if len(c.EarlyDialogs) > 0 {
		early := make([]report.EarlyDialog, len(c.EarlyDialogs))
		for i, e := range c.EarlyDialogs {
			e.ToTag, e.UserAgent = strings.Clone(e.ToTag), strings.Clone(e.UserAgent)
			e.Streams = compactStreams(e.Streams)
			early[i] = e
		}
		c.EarlyDialogs = early
	}
	findings := make([]report.Finding, len(c.Findings))
	for i, f := range c.Findings {
		if f.Subject == c.CallID {
			f.Subject = callID
		}
		findings[i] = f
	}
	if len(findings) == 0 {
		findings = nil
	}
	c.CallID, c.Findings = callID, findings
	return c
}

// compactStreams copies streams without their SDP descriptions and RTCP
// flows (nil when there are none).
func compactStreams(in []report.MediaStream) []report.MediaStream {
	if len(in) == 0 {
		return nil
	}
	out := make([]report.MediaStream, len(in))
	for i, s := range in {
		s.Offer, s.Answer = nil, nil
		s.Flows = rtpFlowsOnly(s.Flows)
		out[i] = s
	}
	return out
}

// rtpFlowsOnly returns the flows that are not RTCP, in a slice of their
// own (nil when there are none).
func rtpFlowsOnly(flows []report.RTPFlow) []report.RTPFlow {
	n := 0
	for _, f := range flows {
		if !f.RTCP {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]report.RTPFlow, 0, n)
	for _, f := range flows {
		if !f.RTCP {
			out = append(out, f)
		}
	}
	return out
}

func cloneParty(p report.Party) report.Party {
	p.User, p.Host, p.Display, p.Dialed = strings.Clone(p.User), strings.Clone(p.Host), strings.Clone(p.Display), strings.Clone(p.Dialed)
	p.UserAgent = strings.Clone(p.UserAgent)
	return p
}

// dropDetail cuts a call down as compactCall does, for a call that is
// handed on and forgotten at once (a streamed report): nothing of it stays
// alive to pin the parsed messages, so its strings and slices are kept as
// they are instead of copied.
func dropDetail(c report.Call) report.Call {
	dropStreamDetail(c.Streams)
	for i := range c.Legs {
		dropStreamDetail(c.Legs[i].Streams)
	}
	for i := range c.EarlyDialogs {
		dropStreamDetail(c.EarlyDialogs[i].Streams)
	}
	return c
}

// dropStreamDetail drops the SDP descriptions and RTCP flows of streams,
// in place; flows with RTCP among them get a slice of their own, as legs
// may share one.
func dropStreamDetail(streams []report.MediaStream) {
	for i := range streams {
		s := &streams[i]
		s.Offer, s.Answer = nil, nil
		if slices.ContainsFunc(s.Flows, func(f report.RTPFlow) bool { return f.RTCP }) {
			s.Flows = rtpFlowsOnly(s.Flows)
		}
	}
}
