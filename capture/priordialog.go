package capture

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/natdoc/natdoc/report"
)

// A capture started while calls were in progress holds their ends and not
// their set-up: a BYE and its 200 OK with a Call-ID no INVITE of the
// capture named. Such a call cannot be judged as one (who called, and the
// media agreed, are in the set-up), but it is there: an engineer counts it,
// reads its RTP by its ends, and sees when its BYE went unanswered, the
// classic call that does not hang up because the NAT mapping of the party
// it goes to closed during the call. priorDialogs notes those BYEs.

// A call begun before the capture may show more than its end: a session
// refresh, a hold or a transfer, each a re-INVITE (with the To-tag of the
// dialog its answer set up). That is a leg to judge by its SDP and RTP,
// its dialog established before the capture began: a failure answering
// the re-INVITE (481, 488, 491) refuses that request, not the call,
// which stays up as it was (RFC 3261 §14.1).

// reinviteStart is the re-INVITE a leg begun before the capture starts
// with.
type reinviteStart struct {
	frame    uint64
	cseq     uint32
	src, dst netip.AddrPort
}

// establishedBefore marks the dialog of m, the first INVITE of leg c, as
// answered before the capture when m is a re-INVITE (it carries a
// To-tag): the 2xx that set it up is not in the capture, nor when it came.
func (c *sipCall) establishedBefore(m *sipInfo) {
	if m.ToTag == "" {
		return
	}
	d := c.dialog(m.ToTag, true)
	d.Status, d.answerUnseen = 200, true
	c.Status = 200
	c.reinviteStart = &reinviteStart{frame: m.Frame, cseq: m.CSeq, src: m.Src, dst: m.Dst}
}

// reinviteStartFinding says that the leg began before the capture, and
// what its parties' roles mean then.
func reinviteStartFinding(cb *callBuild) (report.Finding, bool) {
	r := cb.call.reinviteStart
	if r == nil {
		return report.Finding{}, false
	}
	return report.Finding{ID: IDCallBeganBeforeCapture, Severity: report.SeverityInfo, Subject: cb.call.CallID,
		Title: "The call began before the capture: its first message here is a re-INVITE inside the dialog its set-up established, " +
			"so who called and the media agreed then are not in the capture; \"caller\" and \"callee\" here are the re-INVITE's sender and receiver",
		Evidence: []report.Evidence{{Text: fmt.Sprintf("re-INVITE (CSeq %d) %s → %s, with the To-tag of a dialog answered before the capture", r.cseq, r.src, r.dst),
			Frames: []uint64{r.frame}}},
	}, true
}

// IDCallBeganBeforeCapture: the capture holds a call's BYE, not its set-up.
const IDCallBeganBeforeCapture report.FindingID = "call-began-before-capture"

// maxPriorDialogs bounds the calls begun before the capture that are
// noted (a capture started on a busy server holds many); more are counted.
const maxPriorDialogs = 4096

// priorHops is how many hops of a BYE are noted: the phone's and a proxy's.
const priorHops = 2

// priorDialog is a call whose BYE the capture holds and whose set-up it
// lacks.
type priorDialog struct {
	callID, fromUser, toUser string
	// byeTag is the From-tag of the BYE's sender.
	byeTag string
	bye    inDialog
	// hops are the BYE's first hops (source, destination).
	hops [priorHops][2]netip.AddrPort
	// answer is the first final response to the BYE.
	answerStatus int
	answerFrame  uint64
	// firstAt is when the first BYE came.
	firstAt time.Time
}

// priorDialogs notes the calls begun before the capture, in order.
type priorDialogs struct {
	list []*priorDialog
	byID map[string]*priorDialog
	// full: more calls than maxPriorDialogs came; the rest are not noted
	// (nor counted: a Call-ID not noted cannot tell a new call from a
	// copy).
	full bool
}

// isPriorEnd says whether m, a message of no call in the table, ends a
// call begun before the capture: a BYE inside a dialog, or a response to
// one.
func isPriorEnd(m *sipInfo) bool {
	return m.Method == "BYE" && m.CallID != "" && m.FromTag != "" && (!m.Request || m.ToTag != "")
}

// note files m, a BYE or a response to one (isPriorEnd) whose call the
// table does not hold. A response starts nothing: a capture that began
// between a BYE and its answer, milliseconds apart, is rarer than a
// response whose Call-ID a broken or anonymising hop rewrote.
func (p *priorDialogs) note(m *sipInfo, at time.Time) {
	d := p.byID[m.CallID]
	if d == nil && !m.Request {
		return
	}
	if d == nil {
		if len(p.list) >= maxPriorDialogs {
			p.full = true
			return
		}
		d = &priorDialog{callID: strings.Clone(m.CallID), byeTag: strings.Clone(m.FromTag),
			fromUser: strings.Clone(m.FromUser), toUser: strings.Clone(m.ToUser), firstAt: at}
		if p.byID == nil {
			p.byID = map[string]*priorDialog{}
		}
		p.byID[d.callID] = d
		p.list = append(p.list, d)
	}
	from := 0 // the BYE's sender
	if m.FromTag != d.byeTag {
		from = 1 // a BYE of the other party crossing the first
	}
	if m.Request {
		d.noteHop(m)
		d.bye.request(m, at, from, [2]int64{}, false)
		return
	}
	d.answered(m)
	d.bye.response(m, at, other(from)) // a response comes from the BYE's receiver
}

// noteHop keeps the BYE's hop among the first priorHops.
func (d *priorDialog) noteHop(m *sipInfo) {
	for i := range d.hops {
		switch d.hops[i] {
		case [2]netip.AddrPort{m.Src, m.Dst}:
			return
		case [2]netip.AddrPort{}:
			d.hops[i] = [2]netip.AddrPort{m.Src, m.Dst}
			return
		}
	}
}

// answered keeps the first final response to the BYE.
func (d *priorDialog) answered(m *sipInfo) {
	if d.answerFrame == 0 && m.Status >= 200 {
		d.answerStatus, d.answerFrame = m.Status, m.Frame
	}
}

// touches says whether addr is an end of one of the BYE's hops.
func (d *priorDialog) touches(addr netip.Addr) bool {
	for _, h := range d.hops {
		if h[0].IsValid() && (h[0].Addr() == addr || h[1].Addr() == addr) {
			return true
		}
	}
	return false
}

// endedAt is when the call ended: its first BYE.
func (d *priorDialog) endedAt() time.Time { return d.firstAt }

// The RTP of a call stops when its BYE goes: a phone stops sending as it
// hangs up, or as the BYE reaches it. A session whose last packet falls
// this close to a BYE, between two of its hosts, is that call's. (A wider
// window takes in another application's stream that merely ran on to the
// end of a capture stopped soon after the BYE.)
const priorMediaWithin = 2 * time.Second

// stoppedWith pairs each call begun before the capture with the session
// of no call that stopped with its BYE.
func (p *priorDialogs) stoppedWith(sessions []*mediaSession) map[*priorDialog]*mediaSession {
	out := map[*priorDialog]*mediaSession{}
	for _, d := range p.list {
		end := d.endedAt().UnixNano()
		for _, s := range sessions {
			last := max(s.dir[0].lastNs, s.dir[1].lastNs)
			if last < end-int64(priorMediaWithin) || last > end+int64(priorMediaWithin) {
				continue
			}
			if d.touches(s.ends[0].Addr()) || d.touches(s.ends[1].Addr()) {
				out[d] = s
				break
			}
		}
	}
	return out
}

// evidence says what the capture holds of d: its BYE and the answer, and
// the RTP that stopped with it (stopped, or nil).
func (d *priorDialog) evidence(ms *mediaSessions, stopped *mediaSession) report.Evidence {
	who := ""
	if d.fromUser != "" || d.toUser != "" {
		who = fmt.Sprintf(" (From %s, To %s)", orDash(d.fromUser), orDash(d.toUser))
	}
	t := d.bye.current
	answer := fmt.Sprintf("sent %d times, no response", t.sent)
	frames := uniqueFrames(t.firstFrame, t.lastFrame)
	if d.answerFrame != 0 {
		answer = fmt.Sprintf("answered %d", d.answerStatus)
		frames = uniqueFrames(t.firstFrame, d.answerFrame)
	}
	text := fmt.Sprintf("Call-ID %s: BYE %s → %s%s, %s", d.callID, t.src, t.dst, who, answer)
	if stopped != nil {
		text += "; its RTP stopped with it: " + ms.sessionEvidence(stopped).Text
	}
	return report.Evidence{Text: text, Frames: frames, Time: d.firstAt}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// findings lists the calls begun before the capture, with the sessions
// that stopped with them (stoppedWith), and a BYE of theirs nobody
// answered.
func (p *priorDialogs) findings(ms *mediaSessions, stopped map[*priorDialog]*mediaSession) []report.Finding {
	if len(p.list) == 0 {
		return nil
	}
	title := "The capture began during 1 call: it holds its end (BYE) but not its set-up, so who called and what media was agreed are not in it; " +
		"it is not judged as a call, and its RTP is read by its ends alone"
	if len(p.list) > 1 {
		title = fmt.Sprintf("The capture began during %s: it holds their ends (BYE) but not their set-up, so who called and what media was agreed are not in it; "+
			"they are not judged as calls, and their RTP is read by its ends alone", p.count())
	}
	f := report.Finding{ID: IDCallBeganBeforeCapture, Severity: report.SeverityInfo, Title: title}
	for _, d := range p.list[:min(len(p.list), maxOrphanEvidence)] {
		f.Evidence = append(f.Evidence, d.evidence(ms, stopped[d]))
	}
	fs := []report.Finding{f}
	lost := 0
	for _, d := range p.list {
		if l, ok := d.lostBye(); ok {
			if lost++; lost <= maxOrphanEvidence {
				fs = append(fs, l)
			}
		}
	}
	if lost > maxOrphanEvidence {
		fs[0].Title += fmt.Sprintf("; the BYEs of %d of them were never answered (the first %d are reported)", lost, maxOrphanEvidence)
	}
	return fs
}

// lostBye is the finding of d's BYE when nobody answered it.
func (d *priorDialog) lostBye() (report.Finding, bool) {
	t := d.bye.unanswered()
	if t == nil {
		return report.Finding{}, false
	}
	id, sev := InDialogProblem(t.facts())
	if id != IDRequestUnanswered {
		return report.Finding{}, false
	}
	lost := fmt.Sprintf("was sent %d times over %s and never answered", t.sent, roundWait(t.lastAt.Sub(t.firstAt)))
	if t.timedOut {
		lost = "timed out: a proxy answered 408, its next hop never did"
	}
	return report.Finding{ID: id, Severity: sev, Subject: d.callID, Remedy: remedyUnanswered,
		Title: fmt.Sprintf("The BYE to %s of a call begun before the capture %s: "+
			"its receiver never learned the call ended and stays in it until it gives up", t.dst, lost),
		Evidence: []report.Evidence{t.copiesEvidence()},
	}, true
}

// verdict is the report's one-line answer for a capture whose only calls
// began before it.
func (p *priorDialogs) verdict() string {
	return fmt.Sprintf("No SIP call set-up in the capture; it holds the end of %s begun before it (%s).",
		p.count(), IDCallBeganBeforeCapture)
}

// count says how many calls began before the capture.
func (p *priorDialogs) count() string {
	if p.full {
		return fmt.Sprintf("more than %d calls (Call-IDs)", len(p.list))
	}
	if len(p.list) == 1 {
		return "1 call"
	}
	// Counted by Call-ID: a B2BUA's two legs count apart.
	return fmt.Sprintf("%d calls (Call-IDs)", len(p.list))
}

// distinctSessions counts the sessions a pairing names.
func distinctSessions(stopped map[*priorDialog]*mediaSession) int {
	seen := map[*mediaSession]bool{}
	for _, s := range stopped {
		seen[s] = true
	}
	return len(seen)
}
