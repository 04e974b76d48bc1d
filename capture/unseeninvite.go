package capture

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/natdoc/natdoc/report"
)

// A call whose INVITE the capture lacks still shows in the answers to
// it: 100 Trying, 180 Ringing, the 200 OK with its SDP, then the ACK and
// the BYE. Two common captures lose the INVITE alone. One started a
// moment after the call did. The other was filtered by port (tcpdump
// 'udp port 5060'): an INVITE too big for one packet (many codecs,
// video, ICE candidates) goes in IP fragments, and only the first
// carries the UDP header a port filter matches, so the capture keeps a
// first fragment and nothing else of it, while the callee got it whole
// and answered. Such a call is followed from its first answer, as the
// INVITE that answer names (newCallFromAnswer), and judged by the
// callee's SDP and the RTP, the caller's offer being missing.

// IDInviteNotCaptured: the call's INVITE is not in the capture, its
// answers are.
const IDInviteNotCaptured report.FindingID = "invite-not-captured"

// unseenInvite is what stands in for a leg's INVITE the capture lacks:
// the first answer to it.
type unseenInvite struct {
	frame  uint64
	status int
	reason string
	at     time.Time
	// fragment is the frame of the INVITE's first IP fragment, when the
	// capture holds that much of it (state.noteUnseenInvites).
	fragment uint64
	// unread are the SIP messages sent the INVITE's way before its first
	// answer that could not be read (unreadsip.go): the INVITE is likely
	// among them.
	unread *unreadSIP
}

// answersUnseenInvite says whether m, a message of no leg, answers an
// INVITE the capture does not hold, so it can stand in for it: a
// response to an INVITE whose dialog it names (Call-ID and From-tag).
func answersUnseenInvite(m *sipInfo) bool {
	return !m.Request && m.Method == "INVITE" && m.Status >= 100 && m.CallID != "" && m.FromTag != ""
}

// newCallFromAnswer starts a leg from m, an answer to an INVITE the
// capture lacks (answersUnseenInvite): the INVITE went the other way
// between the same addresses, from the caller m's From names to the
// callee its To names, with m's CSeq and Vias. What only the INVITE
// says (its Contact, User-Agent and SDP offer) stays unknown.
func (t *callTable) newCallFromAnswer(m *sipInfo, at time.Time) *sipCall {
	inv := newSIPInfo()
	*inv.sipHeaders = *m.sipHeaders
	h := inv.sipHeaders
	h.Request, h.Status, h.Reason, h.ToTag = true, 0, "", ""
	h.Contact, h.ContactAddr, h.Expires, h.UserAgent, h.BodyType = "", netip.AddrPort{}, -1, "", ""
	h.RURIUser, h.extra = m.ToUser, nil
	inv.Frame, inv.Offset, inv.Src, inv.Dst, inv.Transport = m.Frame, m.Offset, m.Dst, m.Src, m.Transport
	c := t.newCall(inv, at)
	// A provisional answer comes only while the call is set up; a final
	// one may answer a re-INVITE of a call set up before the capture.
	c.StartSeen = m.Status < 200
	c.setup = setupTrack{cseq: m.CSeq, sentAt: at, lastSentAt: at, src: inv.Src, dst: inv.Dst}
	c.inviteUnseen = &unseenInvite{frame: m.Frame, status: m.Status, reason: m.Reason, at: at}
	return c
}

// inviteSeen files the INVITE of a leg followed from its answer, come
// late (a HEP copy out of order): the leg has its INVITE after all.
func (c *sipCall) inviteSeen(m *sipInfo) {
	if c.inviteUnseen == nil || m.CSeq != c.setup.cseq {
		return
	}
	c.inviteUnseen = nil
	if c.Caller.UserAgent == "" {
		c.Caller.UserAgent = m.UserAgent
	}
}

// noteUnseenInvites finds, for the legs about to be judged that were
// followed from an answer, what the capture holds of their INVITE: its
// first IP fragment, or the unreadable messages sent its way.
func (s *state) noteUnseenInvites(legs []*sipCall) {
	for _, c := range legs {
		u := c.inviteUnseen
		if u == nil {
			continue
		}
		if u.fragment == 0 && s.side != nil {
			u.fragment = s.side.dec.frags.firstFragment(c.CallID, c.setup.cseq, "INVITE")
		}
		if u.unread == nil {
			u.unread = s.unreadPaths.before(c.setup.src, c.setup.dst, u.frame, u.at)
		}
	}
}

// unseenInviteFinding tells that the leg's INVITE is not in the capture
// and why that may be: with its first fragment in the capture, a filter
// by port that dropped the rest.
func unseenInviteFinding(cb *callBuild) (report.Finding, bool) {
	u := cb.call.inviteUnseen
	if u == nil {
		return report.Finding{}, false
	}
	answer := strconv.Itoa(u.status)
	if u.reason != "" {
		answer += " " + u.reason
	}
	f := report.Finding{ID: IDInviteNotCaptured, Severity: report.SeverityInfo, Subject: cb.call.CallID,
		Title: "The caller's INVITE is not in the capture, but the answers to it are: the capture began after it was sent, or missed it or could not read it. " +
			"Its SDP offer is missing with it: the streams are judged by the callee's SDP and the RTP",
		Evidence: []report.Evidence{{
			Text:   fmt.Sprintf("%s (INVITE, CSeq %d), the first message of the call in the capture", answer, cb.call.setup.cseq),
			Frames: []uint64{u.frame}, Time: u.at}}}
	if u.fragment != 0 {
		f.Title = "The caller's INVITE went in IP fragments and the capture holds only the first, yet the callee answered it: " +
			"the other fragments reached the callee but not the capture, as a capture filter by port drops them. " +
			"Its SDP offer is missing with it: the streams are judged by the callee's SDP and the RTP"
		f.Evidence = append([]report.Evidence{{
			Text:   "the INVITE's first IP fragment, the only one in the capture (the others carry no UDP header, so a filter such as 'udp port 5060' leaves them out)",
			Frames: []uint64{u.fragment}}}, f.Evidence...)
		f.Remedy = remedyCaptureFragments
	} else if r := u.unread; r != nil {
		f.Title = "The caller's INVITE is likely in the capture but could not be read: the answers to it are there, and before them SIP the caller sent the callee that natdoc could not read (" + r.kind + "). " +
			"Its SDP offer is missing with it: the streams are judged by the callee's SDP and the RTP"
		f.Evidence = append([]report.Evidence{{
			Text:   fmt.Sprintf("SIP in %s from the caller to the callee, before the first answer, could not be read: %s", report.Plural(r.count, "packet"), r.detail),
			Frames: r.frames}}, f.Evidence...)
	}
	return f, true
}

// remedyCaptureFragments: capture the fragments a port filter leaves out.
const remedyCaptureFragments = "Capture the IP fragments too: a filter by port keeps only each datagram's first fragment, the one with the UDP header. " +
	"Filter by host instead, or add the fragments: tcpdump 'udp port 5060 or (ip[6:2] & 0x1fff != 0)' (IPv6: 'udp port 5060 or ip6[6] == 44')."
