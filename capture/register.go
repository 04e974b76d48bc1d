package capture

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/natdoc/natdoc/report"
)

// A phone behind NAT is reachable for incoming calls only while its
// registrar stores the address its REGISTER really came from and the NAT
// keeps that mapping open. The registrations tracker follows each binding
// (RFC 3261 §10) a capture shows: the Contact a phone registered, where its
// REGISTER came from, what the registrar's 200 OK echoed, and every packet
// between the phone's SIP address and the registrar, to find the longest
// silence while it was registered.

// natUDPTimeout is how long a NAT commonly keeps an idle UDP mapping: 30 s
// to a few minutes (Linux conntrack: 30 s unreplied, 120 s once replies
// flowed). A registration silent longer than this may be unreachable.
const natUDPTimeout = 120 * time.Second

// maxRegistrations bounds the bindings followed at once.
const maxRegistrations = 10_000

// registration is one binding: a Contact a phone registered at a registrar.
type registration struct {
	aor     string
	contact netip.AddrPort // the Contact as the phone wrote it
	// contactHost is its host as written, for one that is a name (or no
	// address netip reads): contact is then invalid.
	contactHost string
	src         netip.AddrPort // where its REGISTER came from, as captured
	registrar   netip.AddrPort
	frame       uint64 // the last REGISTER
	// toHost, transport and userAgent are the last REGISTER's, for the
	// registrations table.
	toHost, transport, userAgent string
	// publicAs is the public address the registrar saw the REGISTER come
	// from: its source if public, or the Via received= of its answer.
	publicAs netip.Addr
	// The last 200 OK: when, for how long, and whether it echoed the
	// private Contact unchanged (no received= or alias: not fixed).
	okFrame uint64
	okAt    time.Time
	expires time.Duration
	echoed  bool
	// expiresStated: the 200 OK said the expiry (Expires, a Contact's
	// expires); else expires is what the REGISTER asked for, or an hour.
	// asked is the expiry the REGISTERs asked for (-1: none read).
	expiresStated bool
	asked         int
	// toSource: the last 200 OK lists the Contact rewritten to where the
	// REGISTER came from (Asterisk's rewrite_contact). contactAnswered: a
	// response came from the Contact, so requests reach it there
	// (portRemapped's doubt is settled).
	toSource, contactAnswered bool
	// oks counts the 200 OKs that registered it a second or more after
	// the last counted (countedAt), from the first (firstOkFrame,
	// firstOkAt); unlisted: the last listed no Contact of the phone's
	// address.
	oks                  int
	firstOkFrame         uint64
	firstOkAt, countedAt time.Time
	unlisted             bool
	okMerged             bool // a 200 OK less than a second after the last counted
	// scanner is the User-Agent of a SIP scanning tool (svcrack and its
	// kin guessing accounts and passwords) that sent the REGISTER; scan:
	// its source tried many accounts there, as a scan does (regscan.go),
	// and one finding tells them all.
	scanner string
	scan    bool
	// siteRefused: the registrar refused every phone of its site, and
	// one finding tells them all (regsite.go).
	siteRefused bool
	// path is what passes between src and the registrar, shared with
	// the phone's other addresses of record registered over it.
	path *regPath
	// removing: the phone asked to remove its bindings (Expires 0); the
	// answer ends the binding and leaves what earlier answers showed.
	removing bool
	// challenged: the last answer asked for credentials (401/407).
	// refused is the last final refusal not followed by a 2xx: any
	// 3xx-6xx but 423, which the phone fixes itself, and a challenge to a
	// REGISTER without credentials.
	challenged bool
	refused    *refusal
	// authorized: the last REGISTER carried credentials; a challenge in
	// answer to it refuses them (Kamailio and OpenSIPS challenge again
	// instead of answering 403).
	authorized bool
	// sent counts the REGISTERs (resends too) from the first to the
	// last; responded: any response to any of them came, from wherever.
	sent                          int
	firstSentFrame, lastSentFrame uint64
	firstSentAt, lastSentAt       time.Time
	responded                     bool
	// tries counts the REGISTER transactions (a new Call-ID or CSeq),
	// resends aside; lastCallID and lastCSeq are the last one's.
	tries      int
	lastCallID string
	lastCSeq   uint32
	// final is the last final response to one of its REGISTERs, and
	// resentAfter the copies of that REGISTER the phone sent a while
	// after it (firstResent to lastResent): the response never reached it.
	final                   *regFinal
	resentAfter             int
	firstResent, lastResent uint64
	// lastAnswer is the last final response to one of its REGISTERs
	// (status 0: none yet); sentSince counts the REGISTERs sent after it,
	// resends of the one it answered aside; removed: the registrar
	// confirmed the phone's removal of its bindings.
	lastAnswer regAnswer
	sentSince  int
	removed    bool
	// findings are the IDs of the report's findings about it; problem:
	// one of them is a warning or an error.
	findings []report.FindingID
	problem  bool
	// movedFrom is the binding this one took over when its NAT gave the
	// phone a new mapping (regmove.go); movedTo the one that took it over.
	movedFrom *regMove
	movedTo   *registration
	// mapping is where the registrar saw the phone's REGISTERs come from,
	// as its 200 OK's Via received= and rport= say; remaps are its
	// changes while the phone was registered: its NAT's new mappings, as a
	// capture on the phone's side of the NAT shows them.
	mapping      netip.AddrPort
	mappingFrame uint64
	remaps       []*regMove
	// quietFor is how long the phone had sent nothing over its path when
	// its last REGISTER transaction began (quietAt), since quietFrom.
	quietFor  time.Duration
	quietAt   time.Time
	quietFrom uint64
}

// regAnswer is a final response to a REGISTER, as the table shows it.
type regAnswer struct {
	status int
	reason string
	frame  uint64
	at     time.Time
}

// regFinal is a final response to a REGISTER, as it went.
type regFinal struct {
	callID     string
	cseq       uint32
	status     int
	reason     string
	frame      uint64
	at         time.Time
	src, dst   netip.AddrPort
	fragmented bool
}

// answers says whether the response is to the REGISTER m: its Call-ID
// and CSeq (a phone may start each registration with CSeq 1 under a new
// Call-ID).
func (fin *regFinal) answers(m *sipInfo) bool { return fin.callID == m.CallID && fin.cseq == m.CSeq }

// resentAfterFinal: a REGISTER resent this long after the final response
// to it crossed none on the wire: that response did not reach the phone.
const resentAfterFinal = 200 * time.Millisecond

// refusal is a REGISTER answer that left the phone unregistered.
type refusal struct {
	status int
	reason string
	frame  uint64
	// afterCredentials: the refusal answered the REGISTER that followed a
	// challenge, which carries the phone's credentials.
	afterCredentials bool
}

// regKey is a binding as the capture shows it: an address of record's
// Contact at a registrar, registered from one source address.
type regKey struct {
	aor                     string
	src, registrar, contact netip.AddrPort
}

// regPath is the way between a phone's SIP address and its registrar. A
// phone with several accounts (or a proxy registering many phones)
// registers them all over one path, through one NAT mapping: its activity
// and silences are the path's, not one binding's.
type regPath struct {
	// latest is the binding of the last REGISTER over it; bindings all of
	// them, to find how long one stays registered when another is removed.
	latest   *registration
	bindings []*registration
	// okAt is the first 200 OK over it since it was last unregistered,
	// until when the last binding registered over it runs out.
	okAt, until time.Time
	// The last packet, and the longest silence seen while a binding was
	// registered (frames around it).
	lastAt            time.Time
	lastFrame         uint64
	gap               time.Duration
	gapFrom, gapTo    uint64
	gapOpen           bool // the longest silence ran to the capture's end
	gapStart, gapStop time.Time
	// phone is the phone's end of the path; heardAt and heardFrame its
	// last packet over it, dark the requests sent to it since.
	phone      netip.AddrPort
	heardAt    time.Time
	heardFrame uint64
	dark       darkRequests
	// answeredAtSource: a request from the registrar to the phone's end
	// of the path got a response: the registrar sends to where the
	// REGISTER came from, whatever Contact its 200 OK echoed (natdoc
	// serve, FreeSWITCH without NDLB-received-in-nat-reg-contact).
	answeredAtSource bool
}

// registrations follows the bindings of a capture.
type registrations struct {
	byKey map[regKey]*registration
	// byPair finds the path of any packet between a phone's SIP address
	// and its registrar; byContact a binding from a request sent to the
	// Contact.
	byPair    map[[2]netip.AddrPort]*regPath
	byContact map[netip.AddrPort]*registration
	// byCallID finds the binding a REGISTER's response is for, wherever
	// it comes from (a registrar cluster may answer from another address).
	byCallID map[string]*registration
	// latest is the binding of each Contact's last REGISTER, from
	// whichever source, to tell when the phone's NAT gave it a new one.
	latest map[bindingKey]*registration
	// bySource is the binding of the last REGISTER from each source;
	// byAOR the bindings of each address of record's user.
	bySource map[netip.AddrPort]*registration
	byAOR    map[string][]*registration
	dropped  uint64
}

func newRegistrations() *registrations {
	return &registrations{byKey: map[regKey]*registration{}, byPair: map[[2]netip.AddrPort]*regPath{},
		byContact: map[netip.AddrPort]*registration{}, byCallID: map[string]*registration{},
		latest: map[bindingKey]*registration{}, bySource: map[netip.AddrPort]*registration{}, byAOR: map[string][]*registration{}}
}

// pair orders two addresses so a packet either way finds the same entry.
func pair(a, b netip.AddrPort) [2]netip.AddrPort {
	if b.Compare(a) < 0 {
		a, b = b, a
	}
	return [2]netip.AddrPort{a, b}
}

// sip files one SIP message: a REGISTER, its answer, or any other message
// between a registered phone and its registrar.
func (r *registrations) sip(m *sipInfo, at time.Time) {
	switch {
	case m.Request && m.Method == "REGISTER":
		r.register(m, at)
	case !m.Request && m.Method == "REGISTER":
		r.answer(m, at)
	case !m.Request:
		if g := r.byContact[m.Src]; g != nil {
			g.contactAnswered = true
		}
	}
	p := r.activity(m.Src, m.Dst, m.Frame, at)
	switch {
	case p == nil:
	case m.Request && m.Method != "ACK" && m.Dst == p.phone:
		p.dark.note(m)
	case !m.Request && m.Method != "REGISTER" && m.Src == p.phone:
		p.answeredAtSource = true
	}
}

func (r *registrations) register(m *sipInfo, at time.Time) {
	if m.Expires == 0 { // a removal (RFC 3261 §10.2.2)
		if p := r.byPair[pair(m.Src, m.Dst)]; p != nil {
			for _, g := range p.bindings {
				// Contact: * removes all of the address of record's.
				if g.aor == m.ToUser && (!m.ContactAddr.IsValid() || g.contact == m.ContactAddr) {
					g.removing = true
				}
			}
		} else if g := r.latest[bindingKey{m.ToUser, m.Dst, m.ContactAddr}]; g != nil {
			g.removing = true // sent from a new NAT mapping: it removes the binding all the same
		}
		return
	}
	if m.Contact == "" && !m.ContactAddr.IsValid() {
		// A query (RFC 3261 §10.2.3); or a REGISTER the snap length cut
		// before its Contact, which may as well have been a removal.
		return
	}
	// A Contact whose host is a name (or no address netip reads) binds
	// all the same: its refusal counts, its NAT traces need an address.
	k := regKey{m.ToUser, m.Src, m.Dst, m.ContactAddr}
	reg := r.byKey[k]
	if reg == nil {
		if len(r.byKey) >= maxRegistrations {
			r.dropped++
			return
		}
		reg = &registration{aor: m.ToUser, contact: m.ContactAddr, contactHost: m.Contact, src: m.Src, registrar: m.Dst, asked: -1}
		r.byKey[k] = reg
		reg.path = r.byPair[pair(m.Src, m.Dst)]
		if reg.path == nil {
			reg.path = &regPath{lastAt: at, lastFrame: m.Frame, phone: m.Src}
			r.byPair[pair(m.Src, m.Dst)] = reg.path
		}
		reg.path.bindings = append(reg.path.bindings, reg)
		r.byAOR[reg.aor] = append(r.byAOR[reg.aor], reg)
		reg.takeOver(r.latest[reg.binding()], m, at) // regmove.go
	}
	r.latest[reg.binding()], r.bySource[m.Src] = reg, reg
	resend := false
	if asked := r.byCallID[m.CallID]; asked != nil && asked.final != nil && asked.final.answers(m) && at.Sub(asked.final.at) >= resentAfterFinal {
		if asked.resentAfter == 0 {
			asked.firstResent = m.Frame
		}
		asked.resentAfter++
		asked.lastResent = m.Frame
		resend = asked == reg
	}
	if !resend && reg.lastAnswer.status != 0 {
		reg.sentSince++
	}
	reg.toHost, reg.transport = m.ToHost, m.Transport
	if m.Expires >= 0 {
		reg.asked = m.Expires
	}
	if m.UserAgent != "" {
		reg.userAgent = m.UserAgent
	}
	reg.frame, reg.authorized, reg.removing = m.Frame, m.Authorized, false
	if reg.sent == 0 {
		reg.firstSentFrame, reg.firstSentAt = m.Frame, at
	}
	reg.sent++
	reg.lastSentFrame, reg.lastSentAt = m.Frame, at
	if reg.tries == 0 || m.CallID != reg.lastCallID || m.CSeq != reg.lastCSeq {
		reg.tries, reg.lastCallID, reg.lastCSeq = reg.tries+1, m.CallID, m.CSeq
		reg.quietFor, reg.quietAt, reg.quietFrom = at.Sub(reg.path.heardAt), at, reg.path.heardFrame
	}
	if len(r.byCallID) >= maxRegistrations && r.byCallID[m.CallID] == nil {
		// The latest registrations matter: their responses are to come.
		clear(r.byCallID)
	}
	r.byCallID[m.CallID] = reg
	if scanningTool(m.UserAgent) {
		reg.scanner = m.UserAgent
	}
	if isPublic(m.Src.Addr()) {
		reg.publicAs = m.Src.Addr()
	}
	reg.path.latest = reg
	if m.ContactAddr.IsValid() {
		r.byContact[m.ContactAddr] = reg
	}
}

func (r *registrations) answer(m *sipInfo, at time.Time) {
	if asked := r.byCallID[m.CallID]; asked != nil {
		asked.responded = true
		if fin := asked.final; m.Status >= 200 && (fin == nil || fin.callID != m.CallID || fin.cseq != m.CSeq || fin.status != m.Status) {
			// The first copy of a final response stays: the one the
			// resends came after.
			asked.final = &regFinal{callID: m.CallID, cseq: m.CSeq, status: m.Status, reason: m.Reason, frame: m.Frame, at: at, src: m.Src, dst: m.Dst, fragmented: m.Fragmented}
		}
	}
	reg := r.answered(m)
	if reg == nil {
		return
	}
	reg.responded = true
	if m.Status < 200 {
		return
	}
	if !reg.removing || m.Status < 300 { // a removal refused leaves the binding as it was
		reg.lastAnswer, reg.sentSince = regAnswer{status: m.Status, reason: m.Reason, frame: m.Frame, at: at}, 0
	}
	if m.Status >= 300 {
		reg.failed(m)
		return
	}
	reg.challenged, reg.refused, reg.removed = false, nil, false
	if reg.removing {
		reg.removing, reg.oks, reg.removed = false, 0, true
		reg.endAt(at)
		return
	}
	if ip, err := netip.ParseAddr(m.Via.Received); err == nil && isPublic(ip) {
		reg.publicAs = ip
	}
	reg.remapped(m) // regmove.go
	switch {
	case reg.oks == 0:
		reg.firstOkFrame, reg.firstOkAt, reg.countedAt, reg.oks = m.Frame, at, at, 1
	case at.Sub(reg.countedAt) >= time.Second: // not the same burst (several lines, a REGISTER sent twice)
		reg.countedAt = at
		reg.oks++
	default:
		reg.okMerged = true
	}
	// A 200 OK cut inside its headers may list the Contact unread.
	reg.okFrame, reg.okAt, reg.echoed, reg.unlisted, reg.toSource = m.Frame, at, false, !m.HeadersCut, false
	granted := m.Expires
	for _, c := range m.extras().Contacts {
		reg.toSource = reg.toSource || (c.Addr == reg.src && c.Addr != reg.contact)
		if c.Addr.Addr() != reg.contact.Addr() {
			continue
		}
		reg.echoed, reg.unlisted = !c.Fixed, false
		if c.Expires >= 0 {
			granted = c.Expires
		}
	}
	reg.expiresStated = granted >= 0
	if !reg.expiresStated {
		granted = reg.unstatedExpiry()
	}
	reg.expires = time.Duration(granted) * time.Second
	reg.path.registered(reg)
}

// unstatedExpiry is the expiry, in seconds, of a binding whose 200 OK
// said none (or the snap length cut where it would): what its REGISTER
// asked for, else an hour, the registrars' usual default.
func (g *registration) unstatedExpiry() int {
	if g.asked >= 0 {
		return g.asked
	}
	return 3600
}

// answered finds the binding a REGISTER's response from its registrar
// is for: the one whose REGISTER had its Call-ID, else the path's latest
// (Call-IDs are forgotten when too many are followed).
func (r *registrations) answered(m *sipInfo) *registration {
	p := r.byPair[pair(m.Src, m.Dst)]
	asked := r.byCallID[m.CallID]
	if p == nil {
		if asked != nil && asked.removing && asked.registrar == m.Src {
			return asked // a removal sent from a new NAT mapping
		}
		return nil
	}
	if asked != nil && asked.path == p {
		return asked
	}
	return p.latest
}

// registered notes that a 200 OK registered g over the path.
func (p *regPath) registered(g *registration) {
	if p.okAt.IsZero() || !p.until.After(g.okAt) {
		p.okAt = g.okAt
	}
	if end := g.okAt.Add(g.expires); end.After(p.until) {
		p.until = end
	}
}

// failed notes a REGISTER answered with a failure.
func (g *registration) failed(m *sipInfo) {
	challenge := m.Status == 401 || m.Status == 407
	if g.removing {
		// A removal refused leaves the binding as it was. After a
		// challenge the phone may send it again with credentials.
		g.removing = challenge
		return
	}
	if (!challenge && m.Status != 423) || (challenge && g.authorized && !m.StaleNonce) {
		g.refused = &refusal{status: m.Status, reason: m.Reason, frame: m.Frame, afterCredentials: g.challenged || g.authorized}
	}
	g.challenged = challenge
}

// activity notes a packet between a and b; a silence while the phone was
// registered is measured against the longest so far. It returns their
// path (nil: none).
func (r *registrations) activity(a, b netip.AddrPort, frame uint64, at time.Time) *regPath {
	p := r.byPair[pair(a, b)]
	if p == nil {
		return nil
	}
	if p.registeredAt(p.lastAt) {
		p.noteGap(p.lastAt, at, p.lastFrame, frame, false)
	}
	p.lastAt, p.lastFrame = at, frame
	if a == p.phone {
		p.heardAt, p.heardFrame, p.dark = at, frame, darkRequests{}
	}
	return p
}

// endAt ends the binding at t, when the registrar confirmed its removal:
// silence after it costs nothing, unless another binding over its path
// is still registered.
func (g *registration) endAt(t time.Time) {
	if !g.okAt.IsZero() && t.Sub(g.okAt) < g.expires {
		g.expires = max(t.Sub(g.okAt), 0)
	}
	p := g.path
	p.until = time.Time{}
	for _, o := range p.bindings {
		if !o.okAt.IsZero() && o.okAt.Add(o.expires).After(p.until) {
			p.until = o.okAt.Add(o.expires)
		}
	}
	if !p.until.After(t) {
		p.okAt = time.Time{} // none left: the next 200 OK starts anew
	}
}

// registeredAt says whether the binding was valid at t.
func (g *registration) registeredAt(t time.Time) bool {
	return !g.okAt.IsZero() && !t.Before(g.okAt) && t.Sub(g.okAt) < g.expires
}

// registeredAt says whether a binding over the path was valid at t.
func (p *regPath) registeredAt(t time.Time) bool {
	return !p.okAt.IsZero() && !t.Before(p.okAt) && t.Before(p.until)
}

func (p *regPath) noteGap(from, to time.Time, fromFrame, toFrame uint64, open bool) {
	if to.After(p.until) {
		to = p.until // the bindings expired first: silence after it costs nothing
	}
	if d := to.Sub(from); d > p.gap {
		p.gap, p.gapFrom, p.gapTo, p.gapOpen, p.gapStart, p.gapStop = d, fromFrame, toFrame, open, from, to
	}
}

// contactOwner returns the binding that registered the Contact dst, if
// the capture shows one.
func (r *registrations) contactOwner(dst netip.AddrPort) *registration {
	if r == nil {
		return nil
	}
	return r.byContact[dst]
}

// contactPortRemapped returns the binding whose Contact is dst when it
// is portRemapped (nil: none).
func (r *registrations) contactPortRemapped(dst netip.AddrPort) *registration {
	if g := r.contactOwner(dst); g != nil && g.portRemapped() {
		return g
	}
	return nil
}

// storedAsWritten says whether the registrar keeps the binding's Contact
// as the phone wrote it: its 200 OK echoed it unmarked (no received= or
// alias), and none of its requests was answered from the phone's end of
// the path (answeredAtSource), as they are where it sends to the source.
func (g *registration) storedAsWritten() bool { return g.echoed && !g.path.answeredAtSource }

// portRemapped says whether the binding's Contact is its own public
// address with another port than its REGISTER came from over UDP, stored
// by the registrar as written, and nothing answered from it: a phone or
// PBX that knows its public address (STUN, a set external address) but not
// the port its NAT gave the REGISTER, which is where the NAT lets requests
// in; nothing leads from the Contact's port to it unless the router
// forwards it. (A host without NAT that sends from another port than it
// listens on looks the same until something answers from its Contact.)
func (g *registration) portRemapped() bool {
	return g.transport == "UDP" && g.storedAsWritten() && !g.toSource && !g.contactAnswered && isPublic(g.contact.Addr()) &&
		g.src.Addr() == g.contact.Addr() && g.src.Port() != g.contact.Port()
}

// remappedPortText says why a request to the Contact of a binding
// contactPortRemapped found got nowhere.
func (g *registration) remappedPortText() string {
	return fmt.Sprintf(": it is the Contact %s registered, but its REGISTER came from %s: its NAT gave it another port than the Contact names, "+
		"the registrar stored the Contact as written, and nothing at port %d leads to the phone unless its router forwards that port",
		g.aor, g.src, g.contact.Port())
}

// registeredFrom returns a binding registered from src (nil: none): a
// request to src goes to where the phone's REGISTER came from.
func (r *registrations) registeredFrom(src netip.AddrPort) *registration {
	if r == nil {
		return nil
	}
	var found *registration
	for _, g := range r.byKey {
		if g.src == src && (found == nil || g.frame < found.frame) {
			found = g
		}
	}
	return found
}

// registrars are the addresses the capture shows REGISTERs sent to.
func (r *registrations) registrars() map[netip.AddrPort]bool {
	set := map[netip.AddrPort]bool{}
	if r != nil {
		for k := range r.byKey {
			set[k.registrar] = true
		}
	}
	return set
}

// registeredOver returns a binding client registered at the registrar's
// host with a 200 OK (nil: none).
func (r *registrations) registeredOver(client, registrar netip.Addr) *registration {
	if r == nil {
		return nil
	}
	for _, g := range r.byKey {
		if g.src.Addr() == client && g.registrar.Addr() == registrar && g.okFrame > 0 {
			return g
		}
	}
	return nil
}

// behindNAT says whether the phone wrote a private Contact while the
// registrar saw it from a public address.
func (g *registration) behindNAT() bool {
	return IsPrivate(g.contact.Addr()) && g.publicAs.IsValid()
}

// findings are the capture-wide findings about registrations, each
// Contact once, in the order of their REGISTERs.
func (r *registrations) findings(captureEnd time.Time, view hostView, unreach *unreachables) []report.Finding {
	regs := make([]*registration, 0, len(r.byKey))
	for _, g := range r.byKey {
		regs = append(regs, g)
	}
	sort.Slice(regs, func(i, j int) bool { return regs[i].frame < regs[j].frame })
	var fs []report.Finding
	// The NAT findings are the Contact's, said once, and concern every
	// binding of it.
	natFindings := map[netip.AddrPort][]report.Finding{}
	writtenSaid := map[netip.AddrPort]bool{} // a Contact kept as written (port or family), said once
	registered := lastRegistered(regs)
	moved := movesByContact(regs)
	fs = append(fs, registerScans(regs)...)
	fs = append(fs, siteRefusals(regs, registered)...)
	fs = append(fs, unansweredRegisters(regs, captureEnd, view, unreach)...)
	add := func(g *registration, f report.Finding) {
		g.noteFinding(f)
		fs = append(fs, f)
	}
	for _, g := range regs {
		if g.scan {
			continue // the scan's finding tells it
		}
		if g.resentAfter >= resentPastResponse {
			f := g.responsesLostFinding(view)
			f.Evidence = appendUnreachable(f.Evidence, unreach.about(g.final.src, g.final.dst), g.final.dst)
			add(g, f)
		}
		if g.refused != nil && registered[g.binding()] < g.refused.frame && !g.siteRefused {
			add(g, g.refusedFinding())
		}
		if f, ok := g.repeatedFinding(); ok {
			add(g, f)
		}
		if g.portRemapped() && !writtenSaid[g.contact] {
			writtenSaid[g.contact] = true
			add(g, g.portNotFixedFinding())
		}
		if g.familyNotFixed() && !writtenSaid[g.contact] {
			writtenSaid[g.contact] = true
			add(g, g.familyNotFixedFinding()) // family.go
		}
		if !g.behindNAT() {
			continue
		}
		if said, ok := natFindings[g.contact]; ok {
			for _, f := range said {
				g.noteFinding(f)
			}
			continue
		}
		var said []report.Finding
		if g.storedAsWritten() {
			said = append(said, g.notFixedFinding())
		}
		if moves := moved[g.contact]; len(moves) > 0 {
			said = append(said, remappedFinding(moves)) // regmove.go
		} else {
			if p := g.path; p.registeredAt(p.lastAt) {
				p.noteGap(p.lastAt, captureEnd, p.lastFrame, 0, true)
			}
			if g.path.gap > natUDPTimeout {
				said = append(said, g.outlivesFinding())
			}
		}
		for _, f := range said {
			add(g, f)
		}
		natFindings[g.contact] = said
	}
	return fs
}

// noteFinding links a finding about the binding to its row of the
// registrations table.
func (g *registration) noteFinding(f report.Finding) {
	g.findings = append(g.findings, f.ID)
	g.problem = g.problem || f.Severity.IsProblem()
}

// bindingKey is a binding as the registrar stores it: the phone's
// address of record and Contact at one registrar, whatever source port its
// REGISTER came from (a NAT may give it another; a host may send one
// REGISTER from two sockets).
type bindingKey struct {
	aor                string
	registrar, contact netip.AddrPort
}

func (g *registration) binding() bindingKey {
	return bindingKey{g.aor, g.registrar, g.contact}
}

// lastRegistered finds, by binding, the frame of the last 200 OK that
// registered it: a refusal before it was mended, from whichever source.
func lastRegistered(regs []*registration) map[bindingKey]uint64 {
	last := map[bindingKey]uint64{}
	for _, g := range regs {
		if k := g.binding(); g.okFrame > last[k] {
			last[k] = g.okFrame
		}
	}
	return last
}

func (g *registration) registerEvidence() report.Evidence {
	return report.Evidence{
		Text:   fmt.Sprintf("REGISTER from %s (seen by the registrar from %s) with Contact %s", g.src, g.publicAs, g.contact),
		Frames: []uint64{g.frame}, Addrs: []string{g.contact.String(), g.src.String()},
	}
}

// Registrations renewed far sooner than granted: at least
// repeatedRegistrations 200 OKs (a second or more apart) over repeatedFor,
// on average apart by less than a tenth of the time granted and
// repeatedBelow; a storm below stormBelow, shorter than any phone is set
// to re-register to keep its NAT open.
const (
	repeatedRegistrations = 4
	repeatedFor           = 30 * time.Second
	repeatedBelow         = 5 * time.Minute
	stormBelow            = 20 * time.Second
)

// repeatedFinding is the finding of a phone that registers again and
// again long before its registration ends (a Zultys phone every 6 s,
// granted an hour): it does not take the 200 OK as success, or keeps its
// NAT open that way.
func (g *registration) repeatedFinding() (report.Finding, bool) {
	if g.oks < repeatedRegistrations || !g.expiresStated || g.expires <= 0 || g.okAt.Sub(g.firstOkAt) < repeatedFor {
		return report.Finding{}, false
	}
	every := g.okAt.Sub(g.firstOkAt) / time.Duration(g.oks-1)
	if every >= repeatedBelow || every*10 >= g.expires {
		return report.Finding{}, false
	}
	atLeast := ""
	if g.okMerged {
		atLeast = "at least "
	}
	sev := report.SeverityInfo
	if every < stormBelow {
		sev = report.SeverityWarning
	}
	f := report.Finding{ID: IDRegisterRepeated, Severity: sev, Subject: g.aor, Remedy: remedyRegisterRepeated,
		Title: fmt.Sprintf("%s registered %s%d times in %s, every %s, though each 200 OK granted %s", g.aor, atLeast, g.oks, roundWait(g.okAt.Sub(g.firstOkAt)),
			roundWait(every), roundWait(g.expires)),
		Evidence: []report.Evidence{{Text: fmt.Sprintf("200 OKs to the REGISTERs from %s with Contact %s", g.src, g.contactText()),
			Frames: uniqueFrames(g.firstOkFrame, g.okFrame), Time: g.firstOkAt}}}
	if g.unlisted {
		f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("the last 200 OK lists no Contact at %s, the phone's own: a phone that looks for "+
			"its binding there (RFC 3261 §10.2.4) finds none and registers again", g.contact.Addr()), Frames: []uint64{g.okFrame}})
	}
	return f, true
}

// portNotFixedFinding: the registrar stored the Contact of a binding that
// is portRemapped.
func (g *registration) portNotFixedFinding() report.Finding {
	return report.Finding{
		ID: IDRegisterContactNotFixed, Severity: report.SeverityWarning, Subject: g.aor,
		Title: fmt.Sprintf("The registrar %s stored the Contact %s of %s as written, though its REGISTER came from %s: its NAT gave the REGISTER another port, "+
			"so calls sent to port %d reach it only if its router forwards that port", g.registrar.Addr(), g.contact, g.aor, g.src, g.contact.Port()),
		Evidence: []report.Evidence{g.registerEvidence(), g.echoEvidence("port")},
		Remedy:   remedyContactPortRemapped,
	}
}

// echoEvidence: the registrar's 200 OK gave the Contact back as written,
// without noting the address or port (what) the REGISTER came from.
func (g *registration) echoEvidence(what string) report.Evidence {
	return report.Evidence{
		Text:   fmt.Sprintf("200 OK echoes Contact %s unchanged (no received= or alias): the registrar did not note the %s the REGISTER came from", g.contact, what),
		Frames: []uint64{g.okFrame},
	}
}

func (g *registration) notFixedFinding() report.Finding {
	return report.Finding{
		ID: IDRegisterContactNotFixed, Severity: report.SeverityWarning, Subject: g.aor,
		Title:    fmt.Sprintf("The registrar %s stored the private Contact %s of a phone behind NAT: calls to it will be sent where no one can reach them", g.registrar.Addr(), g.contact),
		Evidence: []report.Evidence{g.registerEvidence(), g.echoEvidence("address")},
		Remedy:   remedyUnreachableContact,
	}
}

// contactText is the Contact's address, or its host as written when it
// is no address.
func (g *registration) contactText() string {
	if g.contact.IsValid() {
		return g.contact.String()
	}
	return g.contactHost
}

func (g *registration) refusedFinding() report.Finding {
	how, remedy := "refused", remedyRegisterRefused
	switch {
	case g.refused.status >= 500 && g.refused.status < 600:
		// A server error says nothing of the phone's account.
		how, remedy = "failed (a server error) on", remedyRegistrarFailed
	case g.refused.afterCredentials:
		how = "refused the credentials of"
	}
	status := statusText(g.refused.status, g.refused.reason)
	if g.scanner != "" {
		return report.Finding{
			ID: IDRegisterRefused, Severity: report.SeverityInfo, Subject: g.aor,
			Title: fmt.Sprintf("The registrar %s refused the REGISTER from %s (%s), a SIP scanner's by its User-Agent %q: it guesses accounts and passwords, and was refused as it should be",
				g.registrar.Addr(), g.src, status, g.scanner),
			Evidence: []report.Evidence{
				{Text: fmt.Sprintf("REGISTER from %s with Contact %s", g.src, g.contactText()), Frames: []uint64{g.frame}, Addrs: []string{g.src.String()}},
				{Text: "answered " + status, Frames: []uint64{g.refused.frame}},
			},
			Remedy: remedyScanner,
		}
	}
	return report.Finding{
		ID: IDRegisterRefused, Severity: report.SeverityWarning, Subject: g.aor,
		Title: fmt.Sprintf("The registrar %s %s the REGISTER from %s (%s), and no later one succeeded: the phone is not registered, so calls to it cannot reach it",
			g.registrar.Addr(), how, g.src, status),
		Evidence: []report.Evidence{
			{Text: fmt.Sprintf("REGISTER from %s with Contact %s", g.src, g.contactText()), Frames: []uint64{g.frame}, Addrs: []string{g.src.String()}},
			{Text: "answered " + status, Frames: []uint64{g.refused.frame}},
		},
		Remedy: remedy,
	}
}

func (g *registration) outlivesFinding() report.Finding {
	p := g.path
	silence := fmt.Sprintf("no packet between %s and the registrar %s for %s", g.src, g.registrar, p.gap.Round(time.Second))
	frames := uniqueFrames(p.gapFrom, p.gapTo)
	if p.gapOpen {
		silence += " up to the end of the capture"
		frames = []uint64{p.gapFrom}
	}
	registered := "registered"
	if g.expiresStated {
		registered += " for " + g.expires.Round(time.Second).String()
	}
	return report.Finding{
		ID: IDRegistrationOutlivesNAT, Severity: report.SeverityWarning, Subject: g.aor,
		Title: fmt.Sprintf("The phone behind NAT %s and then sent nothing for %s: longer than NATs keep an idle UDP mapping (30 s to a few minutes), so incoming calls may never reach it",
			registered, p.gap.Round(time.Second)),
		Evidence: []report.Evidence{g.registerEvidence(), {Text: silence, Frames: frames, Time: p.gapStart}},
		Remedy:   remedyKeepAlive,
	}
}

// resendsUnanswered is how long a REGISTER resent without any response
// shows that none will come: T2, past which UDP resends go every 4 s.
const resendsUnanswered = 4 * time.Second

// unansweredRegisters are the phones whose REGISTERs to a registrar got
// no response at all, resent for T2 or more, or left unanswered until
// Timer F (32 s), while no other REGISTER of the phone there was
// answered: it is not registered, and nothing in the capture says the
// registrar heard it.
func unansweredRegisters(regs []*registration, captureEnd time.Time, view hostView, unreach *unreachables) []report.Finding {
	type phoneAt struct {
		aor       string
		registrar netip.AddrPort
	}
	// A scan's bindings are told by its finding.
	order, groups := groupBindings(regs, func(g *registration) (phoneAt, bool) { return phoneAt{g.aor, g.registrar}, !g.scan })
	var phones []*unansweredPhone
	for _, k := range order {
		list := groups[k]
		sent, first, last := 0, list[0], list[0]
		for _, g := range list {
			if g.responded || g.sent == 0 {
				sent = -1
				break
			}
			sent += g.sent
			if g.lastSentAt.After(last.lastSentAt) {
				last = g
			}
		}
		// Resent for T2 (4 s) without an answer, or left unanswered
		// until Timer F: a response would have come.
		if sent < 2 || (last.lastSentAt.Sub(first.firstSentAt) < resendsUnanswered && captureEnd.Sub(first.firstSentAt) < inviteTimeout) {
			continue
		}
		phones = append(phones, &unansweredPhone{list: list, first: first, last: last, sent: sent})
	}
	fs := siteUnanswered(phones, regs, view) // regsite.go
	for _, p := range phones {
		if p.site {
			continue
		}
		f := registerUnansweredFinding(p.first, p.last, p.sent, view, unreach)
		for _, g := range p.list {
			g.noteFinding(f)
		}
		fs = append(fs, f)
	}
	return fs
}

// unansweredPhone is a phone whose REGISTERs to a registrar got no
// response: its bindings there, the first and the last, the REGISTERs
// sent; site: its site's finding tells it.
type unansweredPhone struct {
	list        []*registration
	first, last *registration
	sent        int
	site        bool
}

func registerUnansweredFinding(first, last *registration, sent int, view hostView, unreach *unreachables) report.Finding {
	f := report.Finding{ID: IDRegisterUnanswered, Severity: report.SeverityWarning, Subject: first.aor, Remedy: remedyRegistrarUnreachable,
		Title: fmt.Sprintf("%s's REGISTERs to %s got no response at all (sent %d times over %s): the phone is not registered, so calls to it cannot reach it",
			first.aor, first.registrar, sent, roundWait(last.lastSentAt.Sub(first.firstSentAt))),
		Evidence: []report.Evidence{{Text: fmt.Sprintf("REGISTER from %s to %s, Contact %s, never answered", first.src, first.registrar, first.contactText()),
			Frames: uniqueFrames(first.firstSentFrame, last.lastSentFrame), Time: first.firstSentAt}}}
	switch {
	case view.reached(first.registrar.Addr()):
		f.Title += ", though the capture, taken on the registrar's side, shows they arrived: its SIP service, or a firewall on its host (fail2ban), dropped them"
		f.Remedy = remedyDroppedOnHost
	case view.reached(first.src.Addr()):
		f.Title += "; the capture, taken on the phone's side, shows them leave and nothing come back"
	}
	f.Evidence = appendUnreachable(f.Evidence, unreach.about(first.src, first.registrar), first.registrar)
	return f
}

// otherSourceText says why a response from src, to a request sent to
// asked, did not reach its client.
func otherSourceText(src, asked netip.AddrPort) string {
	return fmt.Sprintf("it came from %s, not from %s where the request went: a NAT or firewall that filters by address (most do) lets in only "+
		"what comes from where its client sent", src, asked)
}

// responsesLostFinding: the phone went on resending a REGISTER after the
// registrar's final response to it, so that response never reached it.
func (g *registration) responsesLostFinding(view hostView) report.Finding {
	fin := g.final
	status := statusText(fin.status, fin.reason)
	response := "the response"
	where := fmt.Sprintf("%s went to %s", status, fin.dst)
	if fin.dst != g.src {
		// A registrar that answers the Via's port rather than the
		// source's (RFC 3581) misses the phone's NAT mapping.
		where += fmt.Sprintf(", not to %s where the REGISTER came from", g.src)
		response = fmt.Sprintf("the response, sent to %s rather than where the REGISTER came from,", fin.dst)
	}
	f := report.Finding{ID: IDResponsesLost, Severity: report.SeverityWarning, Subject: g.aor, Remedy: remedyRegisterResponsesLost,
		Title: fmt.Sprintf("%s went on resending its REGISTER after the registrar's %s (%d times after it): %s did not reach the phone, or the phone discarded it",
			g.aor, status, g.resentAfter, response)}
	if fin.fragmented {
		where += ", in IP fragments"
	}
	otherSource := fin.src != g.registrar && fin.dst == g.src
	if otherSource {
		where += fmt.Sprintf(", from %s, not from %s where the REGISTER went", fin.src, g.registrar)
	}
	switch {
	case fin.dst == g.src && view.reached(g.src.Addr()) && !g.behindNAT():
		// Taken on the phone's own host: it arrived. (A NAT's address
		// reached proves nothing of the phone behind it.)
		f.Title = fmt.Sprintf("%s went on resending its REGISTER after the registrar's %s (%d times after it), though the capture, taken on the phone's side, "+
			"shows the response arrive: the phone discards it", g.aor, status, g.resentAfter)
		if otherSource {
			f.Title += fmt.Sprintf(" (it came from %s, not from %s where the REGISTER went)", fin.src, g.registrar)
			f.Remedy = remedyAnswerFromAddressAsked
		}
	case fin.fragmented:
		f.Title += "; it went in IP fragments, which NATs and firewalls on the way often drop"
	case otherSource:
		f.Title += "; " + otherSourceText(fin.src, g.registrar)
		f.Remedy = remedyAnswerFromAddressAsked
	}
	f.Evidence = []report.Evidence{
		{Text: where, Frames: []uint64{fin.frame}, Addrs: []string{fin.dst.String()}, Time: fin.at},
		{Text: fmt.Sprintf("the REGISTER sent %d more times after it, as a phone does while no final response reaches it", g.resentAfter),
			Frames: uniqueFrames(g.firstResent, g.lastResent)},
	}
	return f
}
