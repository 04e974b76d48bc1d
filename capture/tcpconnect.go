package capture

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/natdoc/natdoc/report"
)

// Over TCP (and TLS) a SIP server or proxy with a request to pass on to an
// address it has no connection to opens one: to a phone's Contact for an
// ACK, a BYE or an INVITE. Behind a NAT or a firewall that address lets no
// connection in, and the request never leaves the server: the capture
// holds only the connection's attempts (SYNs) and what refused them, a
// reset or an ICMP error, or nothing at all. natdoc keeps, per client host
// and server address, how many connections were tried and how many opened,
// bounded, as evidence beside the request or answer that went nowhere.

// maxConnectTargets and maxPendingConnects bound the addresses followed
// and the connections waiting for their SYN-ACK.
const (
	maxConnectTargets  = 4096
	maxPendingConnects = 4096
)

// connectKey is a client host and the server address it connects to.
type connectKey struct {
	client netip.Addr
	server netip.AddrPort
}

// connectTries are the TCP connections one host tried to open to one
// server address: how many were tried and answered (SYN-ACK), refused
// by a reset, and what ICMP errors said about the rest.
type connectTries struct {
	tried, answered, reset int
	firstFrame, lastFrame  uint64
	firstAt, lastAt        time.Time
	icmp                   unreachable // count 0: no error
	listed                 bool        // in tcpConnects.refused
	told                   bool        // a call's finding gave them as evidence
}

// tcpConnects follows TCP connection attempts (tcpconnect.go), and the
// resets of connections carrying SIP.
type tcpConnects struct {
	byKey   map[connectKey]*connectTries
	pending map[tcpKey]*connectTries // by (client, server), awaiting a SYN-ACK
	// refused lists the addresses whose tries drew a reset, an ICMP error
	// or a SYN resent (no answer in a second): the few the findings look
	// through, for each call, rather than every connection of a busy proxy.
	refused []connectKey
	// resets are the first reset of each SIP connection, by the direction
	// whose data it refused (its sender first): a NAT that forgot the
	// connection's mapping resets the request it can deliver nowhere.
	resets map[tcpKey]connReset
	// closes are the first FIN (or reset) of each SIP connection, by
	// (its sender, the other end): who closed the connection a phone
	// registered over, the server or the phone's side.
	closes map[tcpKey]connReset
	// udpSent is the first SIP request each host sent over UDP to each
	// other host (bounded): a host whose TCP connection to a server
	// failed may have reached it that way, as its REGISTER's answer
	// would show if the capture kept it whole.
	udpSent map[[2]netip.Addr]sentOver
}

// sentOver is the first SIP request of one host to another by a transport.
type sentOver struct {
	frame  uint64
	method string
}

// udpRequest notes a SIP request (its method) sent over UDP from src to dst.
func (c *tcpConnects) udpRequest(src, dst netip.Addr, method string, frame uint64) {
	if c == nil {
		return
	}
	k := [2]netip.Addr{src, dst}
	if _, seen := c.udpSent[k]; seen || len(c.udpSent) >= maxConnectTargets {
		return
	}
	if c.udpSent == nil {
		c.udpSent = map[[2]netip.Addr]sentOver{}
	}
	c.udpSent[k] = sentOver{frame: frame, method: method}
}

// connReset is a reset refusing a SIP connection's data.
type connReset struct {
	frame uint64
	at    time.Time
}

// maxConnResets bounds the SIP connections' resets kept.
const maxConnResets = 4096

// reset notes a reset of the SIP connection that sent from to by.
func (c *tcpConnects) reset(from, by netip.AddrPort, frame uint64, at time.Time) {
	k := tcpKey{from, by}
	if _, seen := c.resets[k]; seen || len(c.resets) >= maxConnResets {
		return
	}
	if c.resets == nil {
		c.resets = map[tcpKey]connReset{}
	}
	c.resets[k] = connReset{frame: frame, at: at}
}

// closed notes the first FIN or reset of the SIP connection between by
// and other, sent by by. When the map is full, one closing noted before
// gives way: the latest matter most to the calls still to come.
func (c *tcpConnects) closed(by, other netip.AddrPort, frame uint64, at time.Time) {
	if _, seen := c.closes[tcpKey{other, by}]; seen {
		return
	}
	if _, seen := c.closes[tcpKey{by, other}]; seen {
		return
	}
	if c.closes == nil {
		c.closes = map[tcpKey]connReset{}
	}
	if len(c.closes) >= maxConnResets {
		for k := range c.closes {
			delete(c.closes, k)
			break
		}
	}
	c.closes[tcpKey{by, other}] = connReset{frame: frame, at: at}
}

// closer returns which end first closed the SIP connection between a and
// b before the time before, and when.
func (c *tcpConnects) closer(a, b netip.AddrPort, before time.Time) (netip.AddrPort, connReset, bool) {
	if c == nil {
		return netip.AddrPort{}, connReset{}, false
	}
	for _, k := range [2]tcpKey{{a, b}, {b, a}} {
		if cl, ok := c.closes[k]; ok && cl.at.Before(before) {
			return k.Src, cl, true
		}
	}
	return netip.AddrPort{}, connReset{}, false
}

// resetAfter returns the reset of the connection from src to dst by dst
// within inviteTimeout from sent on, if any: what was sent then never
// reached dst's application.
func (c *tcpConnects) resetAfter(src, dst netip.AddrPort, sent time.Time) (connReset, bool) {
	if c == nil {
		return connReset{}, false
	}
	r, ok := c.resets[tcpKey{src, dst}]
	if !ok || r.at.Before(sent) || r.at.Sub(sent) > inviteTimeout {
		return connReset{}, false
	}
	return r, true
}

// resetText says what a reset of a SIP connection means.
func resetText(by netip.AddrPort, frame uint64) string {
	return fmt.Sprintf("a TCP reset from %s (frame %d): the connection it was sent over was gone there (a NAT that forgot its mapping, "+
		"or the far end closed it)", by, frame)
}

// observe takes a TCP segment with SYN or RST set.
func (c *tcpConnects) observe(pkt *packet) {
	if back := c.pending[tcpKey{pkt.Dst, pkt.Src}]; back != nil {
		// The server's SYN-ACK, or its reset refusing the connection.
		if pkt.RST {
			back.reset++
			c.noteRefused(connectKey{pkt.Dst.Addr(), pkt.Src}, back)
		} else if pkt.SYN {
			back.answered++
		}
		delete(c.pending, tcpKey{pkt.Dst, pkt.Src})
		return
	}
	if !pkt.SYN || pkt.RST {
		return
	}
	k := tcpKey{pkt.Src, pkt.Dst}
	if t := c.pending[k]; t != nil { // the SYN resent
		t.lastFrame, t.lastAt = pkt.Frame, pkt.Time
		c.noteRefused(connectKey{pkt.Src.Addr(), pkt.Dst}, t)
		return
	}
	if len(c.pending) >= maxPendingConnects {
		c.expire(pkt.Time)
	}
	ck := connectKey{pkt.Src.Addr(), pkt.Dst}
	t := c.byKey[ck]
	if t == nil {
		if len(c.byKey) >= maxConnectTargets || len(c.pending) >= maxPendingConnects {
			return
		}
		if c.byKey == nil {
			c.byKey, c.pending = map[connectKey]*connectTries{}, map[tcpKey]*connectTries{}
		}
		t = &connectTries{firstFrame: pkt.Frame, firstAt: pkt.Time}
		c.byKey[ck] = t
	}
	if len(c.pending) >= maxPendingConnects {
		return
	}
	t.tried++
	t.lastFrame, t.lastAt = pkt.Frame, pkt.Time
	c.pending[k] = t
}

// unreachable notes an ICMP error (its code, reporter and frame in e)
// quoting a SYN of a connection still waiting for its answer.
func (c *tcpConnects) unreachable(src, dst netip.AddrPort, e unreachable) {
	t := c.pending[tcpKey{src, dst}]
	if t == nil {
		return
	}
	if t.icmp.count == 0 {
		t.icmp = e
	}
	c.noteRefused(connectKey{src.Addr(), dst}, t)
	t.icmp.count++
	t.icmp.lastFrame, t.icmp.lastNs = e.firstFrame, e.firstNs
}

// noteRefused lists k once, when its tries first show a refusal.
func (c *tcpConnects) noteRefused(k connectKey, t *connectTries) {
	if !t.listed {
		t.listed = true
		c.refused = append(c.refused, k)
	}
}

// expire forgets the connections still unanswered after connectGivesUp,
// when pending is full: their tries stay counted.
func (c *tcpConnects) expire(now time.Time) {
	for k, t := range c.pending {
		if now.Sub(t.lastAt) > connectGivesUp {
			delete(c.pending, k)
		}
	}
}

// connectGivesUp: Linux gives up a connection after six SYN resends,
// about two minutes.
const connectGivesUp = 2 * time.Minute

// failedTo returns the host that tried to connect to server between from
// and to and never got a connection open, with its tries (nil: none);
// the first to try, when several did.
func (c *tcpConnects) failedTo(server netip.AddrPort, from, to time.Time) (netip.Addr, *connectTries) {
	k, t := c.firstFailed(func(k connectKey) bool { return k.server == server }, from, to)
	return k.client, t
}

// failedFrom returns the server address client tried to connect to
// between from and to and never got a connection open, with its tries
// (nil: none); the first tried, when there are several.
func (c *tcpConnects) failedFrom(client netip.Addr, from, to time.Time) (netip.AddrPort, *connectTries) {
	k, t := c.firstFailed(func(k connectKey) bool { return k.client == client }, from, to)
	return k.server, t
}

// firstFailed returns the first refused address that match takes, tried
// between from and to and never opened, with its tries (nil: none).
func (c *tcpConnects) firstFailed(match func(connectKey) bool, from, to time.Time) (connectKey, *connectTries) {
	var key connectKey
	var first *connectTries
	if c == nil {
		return key, nil
	}
	for _, k := range c.refused {
		t := c.byKey[k]
		if match(k) && t.answered == 0 && !t.lastAt.Before(from) && !t.firstAt.After(to) &&
			(first == nil || t.firstFrame < first.firstFrame) {
			key, first = k, t
		}
	}
	return key, first
}

// evidence says that client tried to open TCP connections to server, what
// for (why: "to pass the ACK on"), and what refused them; the tries are
// then told, and no finding of their own (sipFindings).
func (t *connectTries) evidence(client netip.Addr, server netip.AddrPort, why string) report.Evidence {
	t.told = true
	text := fmt.Sprintf("%s tried %s to open a TCP connection to %s %s, and none opened", client, timesText(t.tried), server, why)
	switch {
	case t.reset > 0:
		text += fmt.Sprintf(": %s refused it with a reset (nothing listens there, or a NAT holds no mapping for it)", server.Addr())
	case t.icmp.count > 0:
		text += ": " + t.icmp.evidence(server)
	default:
		text += ": nothing answered (a NAT or firewall drops connections coming in)"
		if d := t.lastAt.Sub(t.firstAt); d >= time.Second {
			text += fmt.Sprintf("; SYNs sent over %s", roundWait(d))
		}
	}
	return report.Evidence{Text: text, Frames: uniqueFrames(t.firstFrame, t.lastFrame), Addrs: []string{server.String()}, Time: t.firstAt}
}

// IDTCPConnectFailed: a SIP connection over TCP (or TLS) could not be
// opened: a server's, to pass a call's INVITE on, and the call failed; or
// a phone's, to its registrar or proxy, so nothing it had to send left.
const IDTCPConnectFailed report.FindingID = "sip-tcp-connect-failed"

// remedyKeepTCPOpen is for requests to phones behind NAT over TCP or TLS.
const remedyKeepTCPOpen = "Send requests to a phone behind NAT over the TCP (or TLS) connection the phone itself opened, and keep that connection " +
	"open: CRLF keep-alives or SIP outbound (RFC 5626) on the phone, a server that reuses the phone's connection (Kamailio: connection aliases, " +
	"tcp_connection_lifetime longer than the registration; Asterisk: rewrite_contact=yes with qualify) and a phone that registers again as soon as " +
	"its connection closes (mobile apps: push notifications). A NAT lets no connection in, so the server cannot open a new one; or use UDP."

// connectFinding is the finding of a call not answered because the server
// that took its INVITE could open no TCP connection to pass it on, and
// where that connection was to go: often where the callee registered from
// behind its NAT, over a connection since closed.
func connectFinding(cb *callBuild, v StreamVerdict) (report.Finding, bool) {
	t := &cb.call.setup
	na := v.NotAnswered
	if v.Verdict != report.VerdictNotAnswered || na.Rang || t.sent == 0 {
		return report.Finding{}, false
	}
	end := t.endedAt
	if end.IsZero() {
		end = t.sentAt.Add(inviteTimeout)
	}
	target, tries := cb.unreach.connects().failedFrom(t.dst.Addr(), t.sentAt, end)
	if tries == nil {
		return report.Finding{}, false
	}
	reg := cb.regs.registeredFrom(target)
	if reg == nil {
		reg = cb.regs.contactOwner(target)
	}
	if reg == nil && !sipPort(target.Port()) {
		return report.Finding{}, false // a connection of something else the server does
	}
	outcome := "and the call failed"
	switch {
	case na.Reason == report.NotAnsweredCancelled:
		outcome = "and the caller gave up"
	case na.Status != 0:
		outcome += " (" + strconv.Itoa(na.Status) + ")"
	}
	f := report.Finding{ID: IDTCPConnectFailed, Severity: report.SeverityError, Subject: cb.call.CallID, Remedy: remedyKeepTCPOpen,
		Title:    fmt.Sprintf("%s could not open a TCP connection to %s to pass the INVITE on, %s", t.dst.Addr(), target, outcome),
		Evidence: []report.Evidence{tries.evidence(t.dst.Addr(), target, "during the setup")}}
	if reg != nil {
		where := "registered from there"
		if reg.contact == target {
			where = "registered that Contact"
		}
		if reg.behindNAT() {
			where += ", behind its NAT (a NAT lets no connection in)"
		}
		f.Title += fmt.Sprintf(": %s %s", reg.aor, where)
		f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("REGISTER of %s from %s, Contact %s", reg.aor, reg.src, reg.contactText()), Frames: []uint64{reg.frame}})
		closedRegistration(cb, reg, &f)
	}
	return f, true
}

// closedRegistration says who closed the TCP connection the callee
// registered over, before the call came: the server (an idle timeout
// shorter than the registration, Kamailio's tcp_connection_lifetime) or
// the phone's side (the phone quit or slept, and did not register again).
func closedRegistration(cb *callBuild, reg *registration, f *report.Finding) {
	t := &cb.call.setup
	by, cl, ok := cb.unreach.connects().closer(reg.src, reg.registrar, t.sentAt)
	if !ok || cl.frame < reg.frame {
		return // none, or that of an earlier connection between the same ports
	}
	before := roundWait(t.sentAt.Sub(cl.at))
	if by == reg.registrar {
		f.Title += fmt.Sprintf("; %s itself closed the TCP connection %s registered over, %s before the call", by.Addr(), reg.aor, before)
		if reg.expires > 0 {
			f.Title += fmt.Sprintf(", though the registration lasts %s: its idle timeout for connections is shorter than the registration", roundWait(reg.expires))
		}
	} else {
		f.Title += fmt.Sprintf("; the phone's side closed the TCP connection %s registered over, %s before the call, and it did not register again", reg.aor, before)
	}
	f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("%s closed the connection %s ↔ %s first (FIN or reset)", by, reg.src, reg.registrar),
		Frames: []uint64{cl.frame}, Time: cl.at})
}

// sipPort tells the ports SIP servers listen on: 5060 and 5080 (FreeSWITCH's
// external profile) and their TLS twins.
func sipPort(p uint16) bool { return p == 5060 || p == 5080 || isTLSPort(p) }

// dropsAfter: a SYN resent this long, twice or more (after 1 s and 3 s),
// unanswered, shows something drops the connection.
const dropsAfter = 3 * time.Second

// sipFindings are the TCP connections to a SIP server that never opened
// and no call's finding told: a phone set to SIP over TCP or TLS whose
// server takes none there (a reset), or a firewall drops it (no answer),
// never sends its REGISTER or INVITE, so the capture holds only the
// connection's attempts. A connection is taken for SIP by its port or by
// the server being where the capture shows phones register.
func (c *tcpConnects) sipFindings(regs *registrations) []report.Finding {
	if c == nil {
		return nil
	}
	var fs []report.Finding
	var registrars map[netip.AddrPort]bool
	for _, k := range c.refused {
		t := c.byKey[k]
		if t.told || t.answered > 0 {
			continue
		}
		if registrars == nil {
			registrars = regs.registrars()
		}
		if !sipPort(k.server.Port()) && !registrars[k.server] {
			continue
		}
		if t.reset == 0 && t.icmp.count == 0 && t.lastAt.Sub(t.firstAt) < dropsAfter {
			continue // a SYN resent once: not yet a drop
		}
		fs = append(fs, sipConnectFinding(k, t, regs, c.udpSent))
	}
	return fs
}

// sipConnectFinding says client could open no SIP connection to server.
func sipConnectFinding(k connectKey, t *connectTries, regs *registrations, udpSent map[[2]netip.Addr]sentOver) report.Finding {
	over := "TCP"
	if isTLSPort(k.server.Port()) {
		over = "TLS"
	}
	var why string
	switch {
	case t.reset > 0:
		why = fmt.Sprintf("%s refused it (a reset): nothing takes SIP over %s there (a server that takes SIP over UDP only, or on another port)", k.server.Addr(), over)
	case t.icmp.count > 0:
		why = "ICMP came back: " + t.icmp.reason()
	default:
		why = "nothing answered: a firewall on the way drops it"
	}
	f := report.Finding{ID: IDTCPConnectFailed, Severity: report.SeverityWarning, Subject: k.server.String(), Remedy: remedyRegistrarUnreachable,
		Title: fmt.Sprintf("%s could not open a %s connection to the SIP server %s: %s, so the SIP it had to send there (a REGISTER, a call) never left",
			k.client, over, k.server, why),
		Evidence: []report.Evidence{t.evidence(k.client, k.server, "for SIP")}}
	if g := regs.registeredOver(k.client, k.server.Addr()); g != nil {
		// It fell back (to UDP, or another port): nothing to mend unless
		// it is meant to use that connection.
		f.Severity, f.Remedy = report.SeverityInfo, ""
		f.Title = fmt.Sprintf("%s could not open a %s connection to the SIP server %s, and registered there another way: %s", k.client, over, k.server, why)
		f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("%s registered %s from %s over %s", g.aor, g.contactText(), g.src, g.transport),
			Frames: []uint64{g.okFrame}, Addrs: []string{g.src.String()}})
	} else if sent, ok := udpSent[[2]netip.Addr{k.client, k.server.Addr()}]; ok {
		// No registration to show (its REGISTER or 200 OK cut by the
		// snap length, or before the capture): its SIP went over UDP.
		f.Severity, f.Remedy = report.SeverityInfo, ""
		f.Title = fmt.Sprintf("%s could not open a %s connection to the SIP server %s, and sent its SIP there over UDP: %s", k.client, over, k.server, why)
		f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("%s sent a %s to %s over UDP", k.client, sent.method, k.server.Addr()),
			Frames: []uint64{sent.frame}, Addrs: []string{k.server.Addr().String()}})
	}
	return f
}
