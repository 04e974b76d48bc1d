package pcapgen

import (
	"bytes"
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/g711"
	"github.com/natdoc/natdoc/report"
	"github.com/pion/stun/v3"
)

// party is one end of a generated call: where the capture sees its SIP
// and RTP come from, what it writes in its headers, and what its SDP says.
type party struct {
	user    string
	sig     netip.AddrPort // SIP source as captured
	local   string         // address it believes it has (Via, Contact)
	sdp     netip.AddrPort // where its SDP asks for RTP
	rtpSrc  netip.AddrPort // where its RTP comes from as captured
	natted  bool
	publicA netip.Addr // its NAT's public address (for Via received=)
	origin  string     // SDP o= address, when it differs from the usual
	ua      string     // its User-Agent or Server header ("" for natdoc-pcapgen)
}

// agent is what the party's User-Agent or Server header says.
func (p party) agent() string {
	if p.ua == "" {
		return "natdoc-pcapgen"
	}
	return p.ua
}

type callGen struct {
	i       int
	c       Call
	sc      *scene
	rng     *rand.Rand
	t0      time.Time
	callID  string
	fromTag string
	toTag   string
	a, b    party
	vlan    bool
	tcp     bool
	ws      bool // SIP over WebSocket on the TCP connection
	sip     []wirePacket
	sources []source
	truths  []Truth
	cseq    int
	// lastStream is the RTP stream made last (also when the capture
	// leaves media out).
	lastStream *rtpSource
}

func addrPort(s string, port int) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(s), uint16(port))
}

// newCallGen lays out the call's parties and builds its packets.
func newCallGen(i int, c Call, sc *scene) *callGen {
	rng := sc.rng
	g := &callGen{i: i, c: c, sc: sc, rng: rng, t0: sc.base.Add(c.Start), cseq: 1}
	g.callID = fmt.Sprintf("%08x-%d@natdoc.test", rng.Uint32(), i)
	g.fromTag = fmt.Sprintf("a%06x", rng.Uint32()&0xffffff)
	g.toTag = fmt.Sprintf("b%06x", rng.Uint32()&0xffffff)
	lanIP := fmt.Sprintf("192.168.%d.%d", 1+i/200%50, 10+i%200)
	sipPort := 20000 + i%20000
	rtpA := 10000 + 2*(i%5000)
	rtpB := 30000 + 2*(i%10000)
	g.a = party{user: fmt.Sprintf("%d", 100+i), sig: addrPort("203.0.113.1", sipPort), local: lanIP,
		sdp: addrPort("203.0.113.1", rtpA), rtpSrc: addrPort("203.0.113.1", rtpA), natted: true,
		publicA: netip.MustParseAddr("203.0.113.1")}
	g.b = party{user: "gw", sig: addrPort("198.51.100.20", 5060), local: "198.51.100.20",
		sdp: addrPort("198.51.100.20", rtpB), rtpSrc: addrPort("198.51.100.20", rtpB)}
	switch c.Kind {
	case LeakCaller, LateOfferLeak, ICENAT, ICEOneSided, ICEBlocked:
		g.a.sdp = addrPort(lanIP, rtpA)
	case LeakCallee:
		calleeLAN := fmt.Sprintf("10.0.0.%d", 10+i%200)
		g.a = party{user: fmt.Sprintf("%d", 100+i), sig: addrPort("198.51.100.40", 5060), local: "198.51.100.40",
			sdp: addrPort("198.51.100.40", rtpA), rtpSrc: addrPort("198.51.100.40", rtpA)}
		g.b = party{user: "200", sig: addrPort("203.0.113.2", sipPort), local: calleeLAN,
			sdp: addrPort(calleeLAN, rtpB), rtpSrc: addrPort("203.0.113.2", rtpB), natted: true,
			publicA: netip.MustParseAddr("203.0.113.2")}
	case AckLost, AnswerFragmentsLost:
		calleeLAN := fmt.Sprintf("10.0.1.%d", 10+i%200)
		g.a = party{user: fmt.Sprintf("%d", 100+i), sig: addrPort("198.51.100.40", 5060), local: "198.51.100.40",
			sdp: addrPort("198.51.100.40", rtpA), rtpSrc: addrPort("198.51.100.40", rtpA)}
		g.b = party{user: "200", sig: addrPort("203.0.113.3", 5060), local: calleeLAN,
			sdp: addrPort("203.0.113.3", rtpB), rtpSrc: addrPort("203.0.113.3", rtpB), natted: true,
			publicA: netip.MustParseAddr("203.0.113.3")}
	case IPv6:
		g.a = party{user: fmt.Sprintf("%d", 100+i), sig: addrPort("2001:db8:1::10", 5060), local: "[2001:db8:1::10]",
			sdp: addrPort("2001:db8:1::10", rtpA), rtpSrc: addrPort("2001:db8:1::10", rtpA)}
		g.b = party{user: "gw", sig: addrPort("2001:db8:2::20", 5060), local: "[2001:db8:2::20]",
			sdp: addrPort("2001:db8:2::20", rtpB), rtpSrc: addrPort("2001:db8:2::20", rtpB)}
	case SIPALG, ALGPortChanged:
		// The router's SIP ALG rewrote Via, Contact and c= to its public
		// address and left o= alone (what many consumer routers do).
		g.a.local, g.a.origin = "203.0.113.1", lanIP
		if c.Kind == ALGPortChanged {
			g.a.rtpSrc = addrPort("203.0.113.1", rtpA+1000) // the NAT did not keep the port the ALG wrote
		}
	case NATPortChanged:
		// A symmetric NAT: the STUN mapping in SDP is not the one toward
		// the far end.
		g.a.rtpSrc = addrPort("203.0.113.1", rtpA+1000)
	case TURNRelayed: // c= is the relayed address; RTP leaves from the NAT mapping to the server
		g.a.sdp = addrPort("198.51.100.9", 50000+2*(i%5000))
	case ServerPortForward, ServerPortWindow:
		g.a = party{user: "trunk", sig: addrPort("198.51.100.40", 5060), local: "198.51.100.40",
			sdp: addrPort("198.51.100.40", rtpA), rtpSrc: addrPort("198.51.100.40", rtpA)}
		g.b = party{user: "pbx", sig: addrPort("192.168.60.20", 5060), local: "203.0.113.60",
			sdp: addrPort("203.0.113.60", serverPort(c.Kind, i)), rtpSrc: addrPort("192.168.60.20", serverPort(c.Kind, i)), natted: true,
			publicA: netip.MustParseAddr("203.0.113.60")}
	case ServerPublicToLAN:
		g.a = party{user: fmt.Sprintf("%d", 200+i), sig: addrPort("192.168.60.30", 5060), local: "192.168.60.30",
			sdp: addrPort("192.168.60.30", rtpA), rtpSrc: addrPort("192.168.60.30", rtpA)}
		g.b = party{user: "pbx", sig: addrPort("192.168.60.20", 5060), local: "203.0.113.60",
			sdp: addrPort("203.0.113.60", rtpB), rtpSrc: addrPort("192.168.60.20", rtpB), natted: true,
			publicA: netip.MustParseAddr("203.0.113.60")}
	case LANOneWay:
		g.a = party{user: fmt.Sprintf("%d", 100+i), sig: addrPort(lanIP, 5060), local: lanIP,
			sdp: addrPort(lanIP, rtpA), rtpSrc: addrPort(lanIP, rtpA), natted: true,
			publicA: netip.MustParseAddr("203.0.113.1")}
	case HostSilent:
		// A softphone on the PC the capture was taken on; the PBX's media
		// comes from an address of its own, so the capture shows the PC
		// alone in every packet.
		g.a = party{user: fmt.Sprintf("%d", 100+i), sig: addrPort(lanIP, 5060), local: lanIP,
			sdp: addrPort(lanIP, rtpA), rtpSrc: addrPort(lanIP, rtpA)}
		g.b = party{user: "pbx", sig: addrPort("192.168.0.2", 5060), local: "192.168.0.2",
			sdp: addrPort("192.168.0.3", rtpB), rtpSrc: addrPort("192.168.0.3", rtpB)}
	}
	g.vlan = c.Kind == VLAN
	g.ws = c.Kind == WebSocket
	g.tcp = c.Kind == TCP || g.ws
	g.build()
	g.sources = append(g.sources, &listSource{pkts: g.sip})
	if sc.noMedia {
		for i := range g.truths {
			g.truths[i] = SignallingOnlyTruth(g.truths[i])
		}
	}
	return g
}

// mediaStoppedAt is how far into the media MediaStopped's caller's RTP
// stops; lateStartBy how late LateStart's callee's begins.
const (
	mediaStoppedAt = 3 * time.Second
	lateStartBy    = 3 * time.Second
)

// packets per direction for a media duration at 20 ms.
func packetsFor(d time.Duration) int { return int(d / (20 * time.Millisecond)) }

func (g *callGen) build() {
	t := g.t0
	switch g.c.Kind {
	case ByeLost:
		g.c.Media = 40 * time.Second // long enough for the caller's NAT to forget its SIP
	case MediaStopped:
		g.c.Media = max(g.c.Media, mediaStoppedAt+7*time.Second) // the callee hears nothing for 7 s or more
	case Voicemail:
		g.c.Media = max(g.c.Media, mediaStoppedAt+10*time.Second) // the caller leaves a 10 s message
		g.b.ua = "Asterisk PBX 20.5.0"
	case ResumeFailed:
		g.c.Media = max(g.c.Media, mediaStoppedAt+9*time.Second) // the caller hears nothing for 7 s after the resume
	case ReinviteLeak:
		g.c.Media = max(g.c.Media, 12*time.Second) // 6 s each side of the re-INVITE
	case RefreshUnknown:
		g.c.Media = max(g.c.Media, 20*time.Second) // the caller hears nothing for the last 10 s
	}
	truth := Truth{CallID: g.callID, Kind: g.c.Kind, Transport: g.transport()}
	offerDir, answerDir := "sendrecv", "sendrecv"
	if g.c.Kind == Inactive {
		offerDir, answerDir = "inactive", "inactive"
	}
	offer := g.sdp(g.a, offerDir, g.c.Kind == Fragmented || g.c.Kind == FragmentsUnanswered || g.c.Kind == FragmentsLost)
	if g.ws {
		g.wsHandshake(t.Add(-20 * time.Millisecond))
	}
	if g.c.Kind == TURNRelayed {
		g.turnExchange(t.Add(-200*time.Millisecond), stun.MethodAllocate)
	}
	switch g.c.Kind {
	case Unanswered, ToPrivateContact, FragmentsUnanswered, FragmentsLost:
		g.unanswered(t, offer, truth)
		return
	case Proxy, ProxyLeakCallee, B2BUA, SBCOutsideUnseen, SameNAT, SameNATDirect, ProxyDirectOneWay, PBXDirectMedia, PBXDirectMediaNAT, ProxyLANHairpin:
		g.proxied(t, truth)
		return
	}
	if g.negotiated(t, offer, truth) {
		return
	}
	// A delayed offer: the INVITE carries none, the callee offers in its
	// 200 OK and the caller answers in the ACK.
	late := g.c.Kind == LateOffer || g.c.Kind == LateOfferLeak
	inviteBody, ackBody := offer, ""
	if late {
		inviteBody, ackBody = "", offer
	}
	g.request(t, "INVITE", g.a, g.b, "", inviteBody)
	if g.c.Kind == Challenged || g.c.Kind == ChallengedRejected {
		t = g.challenge(t, inviteBody)
	}
	g.response(t.Add(5*time.Millisecond), 100, "Trying", "INVITE", g.b, g.a, "", "")
	answer := g.sdp(g.b, answerDir, g.c.Kind == AnswerFragmentsLost)
	if g.failedSetup(t, truth) {
		return
	}
	answerAt := t.Add(2 * time.Second)
	g.response(t.Add(time.Second), 180, "Ringing", "INVITE", g.b, g.a, g.toTag, "")
	g.early(t, answer, &truth)
	g.response(answerAt, 200, "OK", "INVITE", g.b, g.a, g.toTag, answer)
	switch g.c.Kind {
	case AckLost:
		g.ackLost(answerAt, truth)
		return
	case AnswerFragmentsLost, ResponsesLost:
		g.answerLost(t, answerAt, truth)
		return
	}
	g.request(answerAt.Add(10*time.Millisecond), "ACK", g.a, g.b, g.toTag, ackBody)
	mediaAt := answerAt.Add(20 * time.Millisecond)
	end := mediaAt.Add(g.c.Media)
	if !g.midCall(mediaAt, answer, &truth) {
		g.media(mediaAt, &truth)
	}
	g.cseq++
	switch g.c.Kind {
	case ByeLost:
		g.lostBye(end.Add(100 * time.Millisecond))
		truth.Finding = capture.IDRequestUnanswered
		g.truths = append(g.truths, truth)
		return
	case ReinviteFragmentsLost:
		g.request(end, "INVITE", g.a, g.b, g.toTag, g.sdp(g.a, "sendrecv", true))
		g.resendUntilTimeout(g.sip[len(g.sip)-1])
		g.cseq++
		end = end.Add(sipTimeout)
		truth.Finding = capture.IDRequestUnanswered
	}
	g.request(end.Add(100*time.Millisecond), "BYE", g.a, g.b, g.toTag, "")
	g.response(end.Add(110*time.Millisecond), 200, "OK", "BYE", g.b, g.a, g.toTag, "")
	if g.c.Kind == Challenged {
		truth.Status = 200
	}
	g.truths = append(g.truths, truth)
}

// challenge has the callee answer the INVITE sent at t with 401 on the
// To-tag it answers the retry with, the caller acknowledge it and retry
// in a new transaction; it returns when the retry is sent.
func (g *callGen) challenge(t time.Time, body string) time.Time {
	g.response(t.Add(3*time.Millisecond), 401, "Unauthorized", "INVITE", g.b, g.a, g.toTag, "")
	g.request(t.Add(6*time.Millisecond), "ACK", g.a, g.b, g.toTag, "")
	g.cseq++
	retry := t.Add(10 * time.Millisecond)
	g.request(retry, "INVITE", g.a, g.b, "", body)
	return retry
}

// lostBye has the callee hang up at `at` with a BYE to the caller's NAT
// that nothing answers: resent on Timer E (T1 doubling up to T2 = 4 s)
// until Timer F, 64*T1.
func (g *callGen) lostBye(at time.Time) {
	g.calleeRequest(at, "BYE")
	g.resendUntilTimeout(g.sip[len(g.sip)-1])
}

// sipT1, sipT2 and sipTimeout are RFC 3261's timers (§17.1.2.2): a
// message resent until answered goes again T1 after the first, the gap
// doubling up to T2, until 64*T1.
const (
	sipT1      = 500 * time.Millisecond
	sipT2      = 4 * time.Second
	sipTimeout = 64 * sipT1
)

// resendUntilTimeout sends p again, unchanged but for its IP ID, on the
// T1-doubling-to-T2 schedule from p.At until 64*T1: a non-INVITE request
// nobody answers (Timer E), or a 2xx no ACK stops (§13.3.1.4).
func (g *callGen) resendUntilTimeout(p wirePacket) {
	first := p.At
	for k, step := sipT1, sipT1; k < sipTimeout; k, step = k+min(2*step, sipT2), min(2*step, sipT2) {
		p.At, p.ipID = first.Add(k), uint16(g.rng.Uint32())
		g.sip = append(g.sip, p)
	}
}

// early sends what comes before the answer: early media on a 183, or a
// second fork's 183 with its early media.
func (g *callGen) early(t time.Time, answer string, truth *Truth) {
	switch g.c.Kind {
	case EarlyMedia:
		g.response(t.Add(1500*time.Millisecond), 183, "Session Progress", "INVITE", g.b, g.a, g.toTag, answer)
		g.stream(g.b.rtpSrc, g.a.sdp, t.Add(1500*time.Millisecond+10*time.Millisecond), 25, 0, 0)
		truth.Packets[1] += 25
	case Forked:
		fork := party{user: "gw2", sig: addrPort("198.51.100.21", 5060), local: "198.51.100.21",
			sdp: addrPort("198.51.100.21", 40000+2*(g.i%10000)), rtpSrc: addrPort("198.51.100.21", 40000+2*(g.i%10000))}
		forkTag := g.toTag + "f"
		g.response(t.Add(1200*time.Millisecond), 183, "Session Progress", "INVITE", fork, g.a, forkTag, g.sdp(fork, "sendrecv", false))
		g.stream(fork.rtpSrc, g.a.sdp, t.Add(1300*time.Millisecond), 20, 0, 0)
		truth.EarlyDialogs, truth.EarlyPackets = 1, 20
	}
}

// media sends the RTP of an answered call that nothing changes mid-call,
// and sets the truth its kind leads to.
func (g *callGen) media(mediaAt time.Time, truth *Truth) {
	n := packetsFor(g.c.Media)
	both := func() {
		g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, n, 0, 0)
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, n, 0, 0)
	}
	switch g.c.Kind {
	case NoWay:
		truth.Verdict, truth.Finding = report.VerdictNoWay, report.IDNoWayAudio
	case Inactive:
		truth.Verdict = report.VerdictOnHold
	case Bundle: // audio and video both ways, each on the one port
		for _, way := range [][2]netip.AddrPort{{g.a.rtpSrc, g.b.sdp}, {g.b.rtpSrc, g.a.sdp}} {
			g.stream(way[0], way[1], mediaAt, n, 0, 0)
			g.lastStream.bundled = true
			g.streamPT(way[0], way[1], mediaAt, n, 96, videoPayload, 90000)
			g.lastStream.bundled = true
		}
		truth.Packets[0], truth.Packets[1] = uint64(2*n), uint64(2*n) // audio and video
		truth.Verdict = report.VerdictTwoWay
	case TURNRelayed: // both ways in ChannelData between the caller and the server
		g.turnExchange(mediaAt.Add(-8*time.Millisecond), stun.MethodChannelBind)
		g.stream(g.a.rtpSrc, turnServer, mediaAt, n, 0, 0)
		g.lastStream.channel = turnChannel
		g.stream(turnServer, g.a.rtpSrc, mediaAt, n, 0, 0)
		g.lastStream.channel = turnChannel
		truth.Packets[0], truth.Packets[1] = uint64(n), uint64(n)
		truth.Verdict = report.VerdictTwoWay
	case ICENAT: // checks both ways, answered; the callee sends to the caller's srflx candidate
		g.iceChecks(mediaAt.Add(-8*time.Millisecond), g.a.rtpSrc, g.b.sdp, true)
		g.iceChecks(mediaAt.Add(-5*time.Millisecond), g.b.rtpSrc, g.a.rtpSrc, true)
		g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, n, 0, 0)
		g.stream(g.b.rtpSrc, g.a.rtpSrc, mediaAt, n, 0, 0)
		truth.Packets[0], truth.Packets[1] = uint64(n), uint64(n)
		truth.Verdict = report.VerdictTwoWay
	case ICEBlocked: // the caller's checks go unanswered; nothing flows
		for k := range 5 {
			g.iceChecks(mediaAt.Add(time.Duration(k)*100*time.Millisecond), g.a.rtpSrc, g.b.sdp, false)
		}
		truth.Verdict, truth.Finding = report.VerdictNoWay, capture.IDICEChecksUnanswered
	case ICERefused: // the callee's agent refuses the caller's checks; nothing flows
		for k := range 5 {
			g.iceRefused(mediaAt.Add(time.Duration(k)*100*time.Millisecond), g.a.rtpSrc, g.b.sdp)
		}
		truth.Verdict, truth.Finding = report.VerdictNoWay, capture.IDICEChecksRefused
	case LeakCaller, LateOfferLeak, ICEOneSided:
		both()
		truth.Packets[0], truth.Undeliverable[1] = uint64(n), uint64(n)
		truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictOneWay, "caller", capture.IDSDPPrivateAddress
	case LeakCallee:
		both()
		truth.Packets[1], truth.Undeliverable[0] = uint64(n), uint64(n)
		truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictOneWay, "callee", capture.IDSDPPrivateAddress
	case ServerPortForward, ServerPortWindow:
		// Seen on the PBX: its RTP leaving, the trunk's arriving through
		// the router's forward, when there is one for the port.
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, n, 0, 0)
		truth.Packets[1] = uint64(n)
		truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictOneWay, "callee", report.IDOneWayAudio
		if serverForwarded(g.c.Kind, g.b.rtpSrc.Port()) {
			g.stream(g.a.rtpSrc, g.b.rtpSrc, mediaAt, n, 0, 0)
			truth.Packets[0] = uint64(n)
			truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictTwoWay, "", ""
		}
	case ServerPublicToLAN:
		// Seen on the PBX: its RTP to the phone; the phone's goes to the
		// router's public address and never comes back in.
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, n, 0, 0)
		truth.Packets[1] = uint64(n)
		truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictOneWay, "callee", report.IDOneWayAudio
	case LANOneWay:
		g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, n, 0, 0)
		truth.Packets[0] = uint64(n)
		truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictOneWay, "caller", report.IDOneWayAudio
	case HostSilent:
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, n, 0, 0)
		truth.Packets[1] = uint64(n)
		truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictOneWay, "callee", report.IDOneWayAudio
	case NATPortChanged, ALGPortChanged:
		both()
		truth.Packets[0], truth.Unproven[1] = uint64(n), uint64(n)
		truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictOneWay, "caller", report.IDOneWayAudio
	default:
		both()
		truth.Packets[0] += uint64(n)
		truth.Packets[1] += uint64(n)
		truth.Verdict = report.VerdictTwoWay
		switch g.c.Kind {
		case SIPALG:
			truth.Finding = capture.IDSIPALGSuspected
		case Muted:
			silence := g.lastStream.payload
			for k := range silence {
				silence[k] = 0xff // µ-law zero
			}
			truth.Finding = capture.IDSilentAudio
		}
	}
}

// midCall builds the calls something changes during: a hold, a media move,
// loss and jitter. It reports whether the kind was one of them.
func (g *callGen) midCall(mediaAt time.Time, answer string, truth *Truth) bool {
	n := packetsFor(g.c.Media)
	half := n / 2
	switch g.c.Kind {
	case Hold:
		g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, n, 0, 0)
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, half, 0, 0)
		holdAt := mediaAt.Add(time.Duration(half) * 20 * time.Millisecond)
		g.cseq++
		g.request(holdAt, "INVITE", g.a, g.b, g.toTag, g.sdp(g.a, "sendonly", false))
		g.response(holdAt.Add(10*time.Millisecond), 200, "OK", "INVITE", g.b, g.a, g.toTag, g.sdp(g.b, "recvonly", false))
		g.request(holdAt.Add(20*time.Millisecond), "ACK", g.a, g.b, g.toTag, "")
		truth.Packets = [2]uint64{uint64(n), uint64(half)}
	case RefreshUnknown:
		g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, n, 0, 0)
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, half, 0, 0)
		refreshAt := mediaAt.Add(time.Duration(3*n/4) * 20 * time.Millisecond)
		g.cseq++
		g.request(refreshAt, "INVITE", g.a, g.b, g.toTag, g.sdp(g.a, "sendrecv", false))
		g.response(refreshAt.Add(10*time.Millisecond), 481, "Call/Transaction Does Not Exist", "INVITE", g.b, g.a, g.toTag, "")
		g.request(refreshAt.Add(20*time.Millisecond), "ACK", g.a, g.b, g.toTag, "")
		truth.Packets = [2]uint64{uint64(n), uint64(half)}
		truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictOneWay, "caller", capture.IDDialogUnknown
		return true
	case ReinviteRejected:
		g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, n, 0, 0)
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, n, 0, 0)
		offerAt := mediaAt.Add(time.Duration(half) * 20 * time.Millisecond)
		moved := g.a
		moved.sdp = netip.AddrPortFrom(g.a.sdp.Addr(), g.a.sdp.Port()+100)
		g.cseq++
		g.request(offerAt, "INVITE", moved, g.b, g.toTag, g.sdp(moved, "sendonly", false))
		g.response(offerAt.Add(10*time.Millisecond), 488, "Not Acceptable Here", "INVITE", g.b, g.a, g.toTag, "")
		g.request(offerAt.Add(20*time.Millisecond), "ACK", g.a, g.b, g.toTag, "")
		truth.Packets = [2]uint64{uint64(n), uint64(n)}
	case LateStart:
		late := packetsFor(lateStartBy)
		g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, n, 0, 0)
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt.Add(lateStartBy), n-late, 0, 0)
		truth.Packets = [2]uint64{uint64(n), uint64(n - late)}
		truth.Finding = capture.IDMediaStartedLate
	case ResumeFailed:
		stopped := packetsFor(mediaStoppedAt)
		holdAt := mediaAt.Add(mediaStoppedAt)
		resumeAt := holdAt.Add(2 * time.Second)
		g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, n, 0, 0)
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, stopped, 0, 0)
		for _, step := range []struct {
			at        time.Time
			sent, got string
		}{{holdAt, "sendonly", "recvonly"}, {resumeAt, "sendrecv", "sendrecv"}} {
			g.cseq++
			g.request(step.at, "INVITE", g.a, g.b, g.toTag, g.sdp(g.a, step.sent, false))
			g.response(step.at.Add(10*time.Millisecond), 200, "OK", "INVITE", g.b, g.a, g.toTag, g.sdp(g.b, step.got, false))
			g.request(step.at.Add(20*time.Millisecond), "ACK", g.a, g.b, g.toTag, "")
		}
		truth.Packets = [2]uint64{uint64(n), uint64(stopped)}
		truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictOneWay, "caller", capture.IDMediaStopped
		return true
	case ReinviteMove, ReinviteLeak:
		g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, half, 0, 0)
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, half, 0, 0)
		moveAt := mediaAt.Add(time.Duration(half) * 20 * time.Millisecond)
		moved := g.a
		moved.sdp = netip.AddrPortFrom(g.a.sdp.Addr(), g.a.sdp.Port()+100)
		if g.c.Kind == ReinviteLeak {
			moved.sdp = netip.AddrPortFrom(netip.MustParseAddr(g.a.local), moved.sdp.Port())
			truth.Undeliverable[1] = uint64(n - half)
		}
		moved.rtpSrc = netip.AddrPortFrom(g.a.rtpSrc.Addr(), g.a.rtpSrc.Port()+100)
		g.cseq++
		g.request(moveAt, "INVITE", moved, g.b, g.toTag, g.sdp(moved, "sendrecv", false))
		g.response(moveAt.Add(10*time.Millisecond), 200, "OK", "INVITE", g.b, moved, g.toTag, answer)
		g.request(moveAt.Add(20*time.Millisecond), "ACK", moved, g.b, g.toTag, "")
		g.stream(moved.rtpSrc, g.b.sdp, moveAt.Add(30*time.Millisecond), n-half, 0, 0)
		g.stream(g.b.rtpSrc, moved.sdp, moveAt.Add(30*time.Millisecond), n-half, 0, 0)
		truth.Packets = [2]uint64{uint64(n), uint64(n)}
		if g.c.Kind == ReinviteLeak {
			truth.Packets[1] = uint64(half)
			truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictOneWay, "caller", capture.IDMediaStopped
			return true
		}
	case LossJitter:
		g.lossJitter(mediaAt, truth)
	case MediaOutage:
		// 2.4 s of the callee's packets, from the 60th, lost on the way.
		const from, to = 60, 180
		g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, n, 0, 0)
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, n, 0, 0)
		g.lastStream.dropFrom, g.lastStream.dropTo = from, min(to, n-1)
		lost := min(to, n-1) - from
		truth.Packets = [2]uint64{uint64(n), uint64(n - lost)}
		truth.Lost = [2]int64{0, int64(lost)}
		truth.Finding = capture.IDMediaOutage
	case MediaStopped:
		// The caller's RTP is lost from mediaStoppedAt to the end; its
		// RTCP, on the port above, still gets through.
		stopped := packetsFor(mediaStoppedAt)
		g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, n, 0, 0)
		g.lastStream.dropFrom, g.lastStream.dropTo = stopped, n
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, n, 0, 0)
		truth.Packets = [2]uint64{uint64(stopped), uint64(n)}
		truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictOneWay, "callee", capture.IDMediaStopped
		return true
	case Voicemail:
		// The callee, a PBX, plays its greeting and beep for
		// mediaStoppedAt, then records the caller's message sending
		// nothing (no transmit_silence) until the caller hangs up.
		greeting := packetsFor(mediaStoppedAt)
		g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, n, 0, 0)
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, greeting, 0, 0)
		truth.Packets = [2]uint64{uint64(n), uint64(greeting)}
		truth.Finding = capture.IDMediaStopped
	case NATRemapped:
		// A second in, the caller's NAT maps its RTP to another port; no
		// SDP says so, and the callee goes on sending to the old one: the
		// caller hears nothing from then on.
		moved := min(50, half)
		g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, moved, 0, 0)
		remapped := netip.AddrPortFrom(g.a.rtpSrc.Addr(), g.a.rtpSrc.Port()+7)
		g.stream(remapped, g.b.sdp, mediaAt.Add(time.Duration(moved)*20*time.Millisecond), n-moved, 0, 0)
		g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, n, 0, 0)
		truth.Packets = [2]uint64{uint64(n), uint64(n)}
		truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictOneWay, "caller", capture.IDMediaRemapped
		return true
	default:
		return false
	}
	truth.Verdict = report.VerdictTwoWay
	return true
}

// lossJitter sends 2% loss caller->callee, both ways jittered.
func (g *callGen) lossJitter(mediaAt time.Time, truth *Truth) {
	const every = 50
	n := packetsFor(g.c.Media)
	g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, n, every, 4*time.Millisecond)
	g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, n, 0, 4*time.Millisecond)
	dropped, lastKept := 0, -1
	for k := 0; k < n; k++ {
		if k%every == 7 {
			dropped++
		} else {
			lastKept = k
		}
	}
	lostInside := dropped
	for k := lastKept + 1; k < n; k++ {
		lostInside-- // drops after the last packet received are invisible
	}
	truth.Packets = [2]uint64{uint64(n - dropped), uint64(n)}
	truth.Lost = [2]int64{int64(lostInside), 0}
}

// ackLost builds the rest of an AckLost call from its 200 OK at answerAt:
// the caller's ACK to the callee's private Contact, the 200 OK resent on
// RFC 3261 §13.3.1.4's schedule (T1 doubling up to T2 = 4 s) until 64*T1,
// media both ways meanwhile, and the callee's BYE at 64*T1.
func (g *callGen) ackLost(answerAt time.Time, truth Truth) {
	ok := g.sip[len(g.sip)-1] // the 200 OK, resent as it is
	contact := party{user: g.b.user, sig: netip.AddrPortFrom(netip.MustParseAddr(g.b.local), 5060), local: g.b.local}
	g.request(answerAt.Add(10*time.Millisecond), "ACK", g.a, contact, g.toTag, "")
	g.resendUntilTimeout(ok)
	mediaAt := answerAt.Add(20 * time.Millisecond)
	n := packetsFor(sipTimeout - 20*time.Millisecond)
	g.stream(g.a.rtpSrc, g.b.sdp, mediaAt, n, 0, 0)
	g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, n, 0, 0)
	truth.Packets = [2]uint64{uint64(n), uint64(n)}
	truth.Verdict, truth.Finding = report.VerdictTwoWay, capture.IDAnswerNotAcknowledged
	g.cseq++
	g.calleeRequest(answerAt.Add(sipTimeout), "BYE")
	g.truths = append(g.truths, truth)
}

// answerLost builds the rest of an AnswerFragmentsLost or ResponsesLost
// call whose INVITE went at invitedAt and 200 OK at answerAt: the 200 OK
// resent until 64*T1 with no ACK (for ResponsesLost also on each copy of
// the INVITE, which the caller resends while no response reaches it), the
// callee's RTP meanwhile (the caller, without the answer, sends none), and
// the callee's BYE.
func (g *callGen) answerLost(invitedAt, answerAt time.Time, truth Truth) {
	g.resendUntilTimeout(g.sip[len(g.sip)-1])
	if g.c.Kind == ResponsesLost {
		g.inviteResentUnheard(invitedAt)
	}
	mediaAt := answerAt.Add(20 * time.Millisecond)
	n := packetsFor(sipTimeout - 20*time.Millisecond)
	g.stream(g.b.rtpSrc, g.a.sdp, mediaAt, n, 0, 0)
	truth.Packets[1] = uint64(n)
	truth.Verdict, truth.CannotHear, truth.Finding = report.VerdictOneWay, "callee", capture.IDAnswerNotAcknowledged
	g.cseq++
	g.calleeRequest(answerAt.Add(sipTimeout), "BYE")
	g.truths = append(g.truths, truth)
}

// inviteResentUnheard has the caller, which hears no response, resend its
// INVITE sent at invitedAt on Timer A (T1 doubling, RFC 3261 §17.1.1.2)
// until Timer B, and the callee answer each copy with its latest response
// so far (the provisional one, §17.2.1, or the 2xx, §13.3.1.4).
func (g *callGen) inviteResentUnheard(invitedAt time.Time) {
	var invite wirePacket
	for _, p := range g.sip {
		if bytes.HasPrefix(p.Payload, []byte("INVITE ")) {
			invite = p
		}
	}
	var copies []wirePacket
	for at, gap := sipT1, 2*sipT1; at < sipTimeout; at, gap = at+gap, 2*gap {
		c := invite
		c.At, c.ipID = invitedAt.Add(at), uint16(g.rng.Uint32())
		var latest wirePacket
		for _, p := range g.sip {
			if p.Src == g.b.sig && !p.At.After(c.At) && bytes.HasPrefix(p.Payload, []byte("SIP/2.0 ")) {
				latest = p
			}
		}
		r := latest
		r.At, r.ipID = c.At.Add(2*time.Millisecond), uint16(g.rng.Uint32())
		copies = append(copies, c, r)
	}
	g.sip = append(g.sip, copies...)
	slices.SortStableFunc(g.sip, func(x, y wirePacket) int { return x.At.Compare(y.At) })
}

// calleeRequest builds an in-dialog request the callee sends: its tag in
// From, the caller's in To (RFC 3261 §12.2.1.1).
func (g *callGen) calleeRequest(at time.Time, method string) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:%s@%s SIP/2.0\r\n", method, g.a.user, hostOf(g.a.sig))
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s:5060;branch=z9hG4bK%x;rport\r\n", g.transport(), g.b.local, g.rng.Uint32())
	fmt.Fprintf(&b, "Max-Forwards: 70\r\nFrom: <sip:%s@natdoc.test>;tag=%s\r\nTo: <sip:%s@natdoc.test>;tag=%s\r\n", g.b.user, g.toTag, g.a.user, g.fromTag)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: 1 %s\r\nContact: <sip:%s@%s:5060>\r\nUser-Agent: natdoc-pcapgen\r\n", g.callID, method, g.b.user, g.b.local)
	g.finish(&b, at, g.b, g.a, "")
}

// failedSetup ends a setup that got a 100 Trying without an answer, for
// the scenarios that have one, and says whether it did.
func (g *callGen) failedSetup(t time.Time, truth Truth) bool {
	truth.Verdict = report.VerdictNotAnswered
	switch g.c.Kind {
	case Rejected:
		g.response(t.Add(time.Second), 486, "Busy Here", "INVITE", g.b, g.a, g.toTag, "")
		g.request(t.Add(time.Second+5*time.Millisecond), "ACK", g.a, g.b, g.toTag, "")
		truth.NotAnswered = report.NotAnsweredRejected
	case ChallengedRejected:
		g.response(t.Add(20*time.Millisecond), 404, "Not Found", "INVITE", g.b, g.a, g.toTag, "")
		g.request(t.Add(25*time.Millisecond), "ACK", g.a, g.b, g.toTag, "")
		truth.NotAnswered, truth.Status = report.NotAnsweredRejected, 404
	case Cancelled, NeverRang:
		cancelAt := 3 * time.Second
		truth.NotAnswered = report.NotAnsweredCancelled
		if g.c.Kind == Cancelled {
			g.response(t.Add(time.Second), 180, "Ringing", "INVITE", g.b, g.a, g.toTag, "")
		} else {
			cancelAt = 12 * time.Second
			truth.Finding = capture.IDCalleeNeverRang
		}
		g.request(t.Add(cancelAt), "CANCEL", g.a, g.b, "", "")
		g.response(t.Add(cancelAt+5*time.Millisecond), 200, "OK", "CANCEL", g.b, g.a, g.toTag, "")
		g.response(t.Add(cancelAt+6*time.Millisecond), 487, "Request Terminated", "INVITE", g.b, g.a, g.toTag, "")
		g.request(t.Add(cancelAt+10*time.Millisecond), "ACK", g.a, g.b, g.toTag, "")
	case RingingLost:
		g.response(t.Add(time.Second), 180, "Ringing", "INVITE", g.b, g.a, g.toTag, "")
		g.inviteResentUnheard(t)
		g.response(t.Add(40*time.Second), 480, "Temporarily Unavailable", "INVITE", g.b, g.a, g.toTag, "")
		truth.NotAnswered, truth.Finding = report.NotAnsweredRejected, capture.IDResponsesLost
	case TimedOut:
		g.response(t.Add(32*time.Second), 408, "Request Timeout", "INVITE", g.b, g.a, g.toTag, "")
		g.request(t.Add(32*time.Second+5*time.Millisecond), "ACK", g.a, g.b, g.toTag, "")
		truth.NotAnswered, truth.Finding = report.NotAnsweredTimedOut, capture.IDCalleeNeverRang
	default:
		return false
	}
	g.truths = append(g.truths, truth)
	return true
}

// unanswered sends an INVITE no one answers, retransmitted on RFC 3261
// §17.1.1.2's schedule (T1 = 500 ms doubling) until Timer B (32 s). For
// ToPrivateContact the sender is the server, at 198.51.100.20, and the
// destination the private Contact the phone registered from behind its
// NAT three minutes before, silent since; the server echoed that Contact
// in its 200 OK.
func (g *callGen) unanswered(t time.Time, offer string, truth Truth) {
	from, to := g.a, g.b
	truth.Verdict, truth.NotAnswered, truth.Finding = report.VerdictNotAnswered, report.NotAnsweredUnreachable, capture.IDRequestUnanswered
	if g.c.Kind == ToPrivateContact {
		phone := g.a
		g.register(t.Add(-3*time.Minute), phone, g.b)
		from, to = g.b, party{user: phone.user, sig: netip.AddrPortFrom(netip.MustParseAddr(phone.local), 5060), local: phone.local}
		g.a, g.b = from, to // the server calls the phone
		offer = g.sdp(from, "sendrecv", false)
		truth.Finding = capture.IDRequestToPrivate
	}
	g.request(t, "INVITE", from, to, "", offer)
	for k, at := 0, 500*time.Millisecond; at < 32*time.Second; k, at = k+1, at+(500*time.Millisecond)<<(k+1) {
		if g.tcp { // a reliable transport: SIP does not resend there
			g.request(t.Add(at), "INVITE", from, to, "", offer)
			continue
		}
		g.resend(t.Add(at))
	}
	if g.c.Kind != FragmentsLost { // no call to follow where it is captured
		g.truths = append(g.truths, truth)
	}
}

// resend sends the last UDP message again at `at`: a retransmission is
// the same message, its Via branch too (RFC 3261 §17.1.1.2).
func (g *callGen) resend(at time.Time) {
	p := g.sip[len(g.sip)-1]
	p.At, p.ipID = at, uint16(g.rng.Uint32())
	g.sip = append(g.sip, p)
}

// register has phone register at registrar with its private Contact,
// answered 200 with that Contact echoed: a registrar that did not fix it.
func (g *callGen) register(at time.Time, phone, registrar party) {
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\n", hostOf(registrar.sig))
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK%x;rport\r\n", phone.local, g.rng.Uint32())
	fmt.Fprintf(&b, "From: <sip:%s@natdoc.test>;tag=r%s\r\nTo: <sip:%s@natdoc.test>\r\n", phone.user, g.fromTag, phone.user)
	fmt.Fprintf(&b, "Call-ID: reg-%s\r\nCSeq: 1 REGISTER\r\nContact: <sip:%s@%s:5060>\r\nExpires: 3600\r\n", g.callID, phone.user, phone.local)
	g.finish(&b, at, phone, registrar, "")
	b.Reset()
	fmt.Fprintf(&b, "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK%x;received=%s;rport=%d\r\n", phone.local, g.rng.Uint32(), phone.publicA, phone.sig.Port())
	fmt.Fprintf(&b, "From: <sip:%s@natdoc.test>;tag=r%s\r\nTo: <sip:%s@natdoc.test>;tag=reg\r\n", phone.user, g.fromTag, phone.user)
	fmt.Fprintf(&b, "Call-ID: reg-%s\r\nCSeq: 1 REGISTER\r\nContact: <sip:%s@%s:5060>;expires=3600\r\n", g.callID, phone.user, phone.local)
	g.finish(&b, at.Add(20*time.Millisecond), registrar, phone, "")
}

func (g *callGen) stream(src, dst netip.AddrPort, at time.Time, n, dropEvery int, jitter time.Duration) {
	payload := ToneULaw(160)
	r := &rtpSource{
		src: src, dst: dst, vlan: g.vlan, at: at, left: n,
		seq: uint16(g.rng.Uint32()), ts: g.rng.Uint32(), ssrc: g.rng.Uint32(),
		dropEvery: dropEvery, jitter: jitter, rng: rand.New(rand.NewSource(int64(g.rng.Uint32()))), payload: payload,
	}
	g.lastStream = r
	if !g.sc.noMedia {
		g.sources = append(g.sources, r)
	}
}

// iceChecks writes an ICE connectivity check (RFC 8445 §7.2.4: a STUN
// Binding request with PRIORITY and an ICE role) from src to dst, and its
// success response when answered.
func (g *callGen) iceChecks(at time.Time, src, dst netip.AddrPort, answered bool) {
	if g.sc.noMedia { // checks travel the media path, which such a capture leaves out
		return
	}
	id := stun.NewTransactionIDSetter([stun.TransactionIDSize]byte{byte(g.i >> 8), byte(g.i), 0xc4, byte(at.UnixMilli())})
	req := stun.MustBuild(id, stun.BindingRequest, stun.NewUsername(fmt.Sprintf("n%d:n%d", g.i, g.i)),
		stun.RawAttribute{Type: stun.AttrPriority, Value: []byte{0x6e, 0, 0x1e, 0xff}},
		stun.RawAttribute{Type: stun.AttrICEControlling, Value: make([]byte, 8)})
	g.sip = append(g.sip, wirePacket{At: at, Src: src, Dst: dst, VLAN: g.vlan, Payload: req.Raw, ipID: uint16(g.rng.Uint32())})
	if answered {
		resp := stun.MustBuild(id, stun.BindingSuccess, &stun.XORMappedAddress{IP: src.Addr().AsSlice(), Port: int(src.Port())})
		g.sip = append(g.sip, wirePacket{At: at.Add(time.Millisecond), Src: dst, Dst: src, VLAN: g.vlan, Payload: resp.Raw, ipID: uint16(g.rng.Uint32())})
	}
}

// iceRefused writes a connectivity check from src to dst and the 401
// error response dst's agent refuses it with (RFC 8445 §7.3: credentials
// not its own).
func (g *callGen) iceRefused(at time.Time, src, dst netip.AddrPort) {
	if g.sc.noMedia {
		return
	}
	id := stun.NewTransactionIDSetter([stun.TransactionIDSize]byte{byte(g.i >> 8), byte(g.i), 0x40, byte(at.UnixMilli())})
	req := stun.MustBuild(id, stun.BindingRequest, stun.NewUsername(fmt.Sprintf("n%d:n%d", g.i, g.i)),
		stun.RawAttribute{Type: stun.AttrPriority, Value: []byte{0x6e, 0, 0x1e, 0xff}},
		stun.RawAttribute{Type: stun.AttrICEControlling, Value: make([]byte, 8)})
	resp := stun.MustBuild(id, stun.BindingError, stun.CodeUnauthorized)
	g.sip = append(g.sip, wirePacket{At: at, Src: src, Dst: dst, VLAN: g.vlan, Payload: req.Raw, ipID: uint16(g.rng.Uint32())},
		wirePacket{At: at.Add(time.Millisecond), Src: dst, Dst: src, VLAN: g.vlan, Payload: resp.Raw, ipID: uint16(g.rng.Uint32())})
}

// The TURN server of turn-relayed calls, and the channel each binds.
var turnServer = netip.MustParseAddrPort("198.51.100.9:3478")

const turnChannel = 0x4000

// turnExchange writes the caller's TURN request and the server's success
// response (RFC 8656): an Allocate whose response names the relayed
// address (the caller's c=), or a ChannelBind of turnChannel to the
// callee's media address.
func (g *callGen) turnExchange(at time.Time, method stun.Method) {
	if g.sc.noMedia {
		return
	}
	id := stun.NewTransactionIDSetter([stun.TransactionIDSize]byte{byte(g.i >> 8), byte(g.i), byte(method)})
	req := []stun.Setter{id, stun.NewType(method, stun.ClassRequest)}
	resp := []stun.Setter{id, stun.NewType(method, stun.ClassSuccessResponse)}
	relay := &stun.XORMappedAddress{IP: g.a.sdp.Addr().AsSlice(), Port: int(g.a.sdp.Port())}
	switch method {
	case stun.MethodAllocate:
		req = append(req, stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}})
		resp = append(resp, xorAs{relay, stun.AttrXORRelayedAddress})
	case stun.MethodChannelBind:
		peer := &stun.XORMappedAddress{IP: g.b.sdp.Addr().AsSlice(), Port: int(g.b.sdp.Port())}
		req = append(req, stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{turnChannel >> 8, turnChannel & 0xff, 0, 0}}, xorAs{peer, stun.AttrXORPeerAddress})
	}
	for k, setters := range [][]stun.Setter{req, resp} {
		m := stun.MustBuild(setters...)
		src, dst := g.a.rtpSrc, turnServer
		if k == 1 {
			src, dst = dst, src
		}
		g.sip = append(g.sip, wirePacket{At: at.Add(time.Duration(k) * time.Millisecond), Src: src, Dst: dst, VLAN: g.vlan, Payload: m.Raw, ipID: uint16(g.rng.Uint32())})
	}
}

// xorAs adds an XOR address as the attribute of type t.
type xorAs struct {
	a *stun.XORMappedAddress
	t stun.AttrType
}

func (x xorAs) AddTo(m *stun.Message) error { return x.a.AddToAs(m, x.t) }

// videoPayload stands for a video frame's packet: not audio, no level.
var videoPayload = bytes.Repeat([]byte{0x90, 0x80, 0x12, 0x34}, 250)

// streamPT is stream with payload type pt and payload, on a clock of
// rate Hz (RTP timestamps advance rate/50 per 20 ms packet).
func (g *callGen) streamPT(src, dst netip.AddrPort, at time.Time, n int, pt uint8, payload []byte, rate uint32) {
	g.stream(src, dst, at, n, 0, 0)
	g.lastStream.pt, g.lastStream.payload, g.lastStream.tsStep = pt, payload, rate/50
}

// sdp writes an RFC 4566 body asking for media at p.sdp.
func (g *callGen) sdp(p party, dir string, padded bool) string {
	ipv := "IP4"
	if p.sdp.Addr().Is6() {
		ipv = "IP6"
	}
	origin := p.sdp.Addr().String()
	if p.origin != "" {
		origin = p.origin
	} else if p.natted {
		origin = strings.Trim(p.local, "[]")
		if p.sdp.Addr().Is6() || !netip.MustParseAddr(origin).Is4() {
			origin = p.sdp.Addr().String()
		}
	}
	var b strings.Builder
	conn, port := p.sdp.Addr().String(), p.sdp.Port()
	if g.c.Kind == TrickleICE {
		conn, port = "0.0.0.0", 9 // RFC 8840: the candidates come apart
	}
	fmt.Fprintf(&b, "v=0\r\no=%s %d 1 IN %s %s\r\ns=natdoc\r\nc=IN %s %s\r\nt=0 0\r\n", p.user, 1000+g.i, ipv, origin, ipv, conn)
	if g.c.Kind == Bundle {
		b.WriteString("a=group:BUNDLE 0 1\r\n")
	}
	fmt.Fprintf(&b, "m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=%s\r\n", port, dir)
	if g.c.Kind == TrickleICE {
		fmt.Fprintf(&b, "a=ice-ufrag:n%d\r\na=ice-pwd:natdocnatdocnatdocnatdoc\r\na=ice-options:trickle\r\n", g.i)
	}
	if g.c.Kind == ICENAT || g.c.Kind == ICEBlocked || g.c.Kind == ICERefused || (g.c.Kind == ICEOneSided && p.natted) {
		writeCandidates(&b, g.i, p)
	}
	if g.c.Kind == TURNRelayed {
		b.WriteString("a=rtcp-mux\r\n")
	}
	if g.c.Kind == Bundle { // video on the same port (RFC 9143), told apart by payload type
		fmt.Fprintf(&b, "a=mid:0\r\nm=video %d RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\na=%s\r\na=mid:1\r\n", port, dir)
	}
	if padded { // big enough to need IP fragmentation on a 1500-byte MTU
		for k := 0; k < 30; k++ {
			fmt.Fprintf(&b, "a=x-natdoc-padding:%02d %s\r\n", k, strings.Repeat("p", 50))
		}
	}
	return b.String()
}

// writeCandidates writes ICE attributes (RFC 8839) with p's host
// candidate at its SDP address and, behind NAT, its server-reflexive one
// at its public mapping, for RTP and RTCP.
func writeCandidates(b *strings.Builder, i int, p party) {
	fmt.Fprintf(b, "a=ice-ufrag:n%d\r\na=ice-pwd:natdocnatdocnatdocnatdoc\r\n", i)
	for comp := 1; comp <= 2; comp++ {
		host := netip.AddrPortFrom(p.sdp.Addr(), p.sdp.Port()+uint16(comp-1))
		fmt.Fprintf(b, "a=candidate:1 %d UDP %d %s %d typ host\r\n", comp, 2130706432-comp, host.Addr(), host.Port())
		if p.rtpSrc != p.sdp {
			srflx := netip.AddrPortFrom(p.rtpSrc.Addr(), p.rtpSrc.Port()+uint16(comp-1))
			fmt.Fprintf(b, "a=candidate:2 %d UDP %d %s %d typ srflx raddr %s rport %d\r\n", comp, 1694498816-comp, srflx.Addr(), srflx.Port(), host.Addr(), host.Port())
		}
	}
}

func (g *callGen) transport() string {
	if g.ws {
		return "WS"
	}
	if g.tcp {
		return "TCP"
	}
	return "UDP"
}

// request builds a request from `from` to `to`; toTag "" for the initial
// INVITE and CANCEL.
func (g *callGen) request(at time.Time, method string, from, to party, toTag, body string) {
	cseq := g.cseq
	if method == "ACK" || method == "CANCEL" {
		cseq = g.cseq
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:%s@%s SIP/2.0\r\n", method, to.user, hostOf(to.sig))
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s:5060;branch=z9hG4bK%x;rport\r\n", g.transport(), from.local, g.rng.Uint32())
	fmt.Fprintf(&b, "Max-Forwards: 70\r\nFrom: <sip:%s@natdoc.test>;tag=%s\r\n", g.a.user, g.fromTag)
	if toTag != "" {
		fmt.Fprintf(&b, "To: <sip:%s@natdoc.test>;tag=%s\r\n", g.b.user, toTag)
	} else {
		fmt.Fprintf(&b, "To: <sip:%s@natdoc.test>\r\n", g.b.user)
	}
	contact := fmt.Sprintf("<sip:%s@%s:5060>", from.user, from.local)
	if g.c.Kind == BadHeader && method == "INVITE" {
		contact = fmt.Sprintf("<sip:%s@[fd00::%d>", from.user, g.i) // unclosed IPv6 bracket
	}
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\nContact: %s\r\nUser-Agent: %s\r\n", g.callID, cseq, method, contact, from.agent())
	g.finish(&b, at, from, to, body)
}

func (g *callGen) response(at time.Time, code int, reason, method string, from, to party, toTag, body string) {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	via := fmt.Sprintf("Via: SIP/2.0/%s %s:5060;branch=z9hG4bK%x", g.transport(), to.local, g.rng.Uint32())
	if to.natted {
		// The server answers to where the request really came from (RFC
		// 3261 §18.2.1 received, RFC 3581 rport).
		via += fmt.Sprintf(";received=%s;rport=%d", to.publicA, to.sig.Port())
	}
	b.WriteString(via + "\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@natdoc.test>;tag=%s\r\n", g.a.user, g.fromTag)
	if toTag != "" {
		fmt.Fprintf(&b, "To: <sip:%s@natdoc.test>;tag=%s\r\n", g.b.user, toTag)
	} else {
		fmt.Fprintf(&b, "To: <sip:%s@natdoc.test>\r\n", g.b.user)
	}
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:%s@%s:5060>\r\nServer: %s\r\n", g.callID, g.cseq, method, from.user, from.local, from.agent())
	g.finish(&b, at, from, to, body)
}

func (g *callGen) finish(b *strings.Builder, at time.Time, from, to party, body string) {
	if body != "" {
		fmt.Fprintf(b, "Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	msg := []byte(b.String())
	p := wirePacket{At: at, Src: from.sig, Dst: to.sig, VLAN: g.vlan, ipID: uint16(g.rng.Uint32())}
	if slices.Contains(fragmentedKinds, g.c.Kind) && len(msg) > 1400 {
		p.Fragment, p.FirstFragmentOnly = 1480, g.c.Kind == FragmentsLost
	}
	if !g.tcp {
		p.Payload = msg
		g.sip = append(g.sip, p)
		return
	}
	if g.ws {
		msg = wsFrame(msg, from.sig == g.a.sig, g.rng.Uint32())
	}
	g.tcpSend(p, msg)
}

// tcpSend puts bytes on the caller's TCP connection; a long message is
// split across two segments (RFC 3261 §18.3 framing must reassemble it).
func (g *callGen) tcpSend(p wirePacket, msg []byte) {
	at := p.At
	conn := [2]netip.AddrPort{p.Src, p.Dst}
	sent := g.sc.tcpSent[conn]
	p.TCP = true
	if len(msg) > 300 {
		first := p
		first.Payload, first.Seq = msg[:200], 1000+sent
		g.sip = append(g.sip, first)
		p.At = at.Add(time.Millisecond)
		p.Payload, p.Seq = msg[200:], 1000+sent+200
	} else {
		p.Payload, p.Seq = msg, 1000+sent
	}
	g.sc.tcpSent[conn] = sent + uint32(len(msg))
	g.sip = append(g.sip, p)
}

// wsFrame wraps one SIP message in one WebSocket text frame (RFC 6455
// §5.2; RFC 7118 §5: one SIP message per WebSocket message). Frames from
// the client (the caller) are masked, as RFC 6455 §5.3 requires.
func wsFrame(msg []byte, fromClient bool, key uint32) []byte {
	var f []byte
	f = append(f, 0x81) // FIN, text
	maskBit := byte(0)
	if fromClient {
		maskBit = 0x80
	}
	switch n := len(msg); {
	case n < 126:
		f = append(f, maskBit|byte(n))
	case n < 1<<16:
		f = append(f, maskBit|126, byte(n>>8), byte(n))
	default:
		f = append(f, maskBit|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	if !fromClient {
		return append(f, msg...)
	}
	mask := []byte{byte(key >> 24), byte(key >> 16), byte(key >> 8), byte(key)}
	f = append(f, mask...)
	for i, c := range msg {
		f = append(f, c^mask[i%4])
	}
	return f
}

// wsHandshake opens the WebSocket connection (RFC 6455 §4, subprotocol
// "sip" per RFC 7118 §4).
func (g *callGen) wsHandshake(at time.Time) {
	req := "GET / HTTP/1.1\r\nHost: " + hostOf(g.b.sig) + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n"
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
	g.tcpSend(wirePacket{At: at, Src: g.a.sig, Dst: g.b.sig, VLAN: g.vlan}, []byte(req))
	g.tcpSend(wirePacket{At: at.Add(5 * time.Millisecond), Src: g.b.sig, Dst: g.a.sig, VLAN: g.vlan}, []byte(resp))
}

func hostOf(a netip.AddrPort) string {
	if a.Addr().Is6() {
		return "[" + a.Addr().String() + "]"
	}
	return a.Addr().String()
}

// AllKinds lists every scenario, one call each, spaced out in time: the
// standard test capture.
func AllKinds() []Call {
	kinds := []Kind{Normal, LeakCaller, LeakCallee, NoWay, Hold, Inactive, ReinviteMove, EarlyMedia,
		Forked, TCP, WebSocket, Fragmented, VLAN, IPv6, LossJitter, LANOneWay, Rejected, Cancelled, SIPALG,
		Unanswered, ToPrivateContact, NeverRang, TimedOut, Proxy, ProxyLeakCallee, B2BUA, SBCOutsideUnseen, Announcement, Fax, FaxOneWay, BadHeader, NATPortChanged, ALGPortChanged,
		Muted, LateOffer, LateOfferLeak, AckLost, NATRemapped, MediaOutage, ByeLost, MediaStopped, Voicemail, ResumeFailed, ReinviteLeak, LateStart, RefreshUnknown, TrickleICE, ICENAT, ICEOneSided, Bundle, TURNRelayed, SameNAT, SameNATDirect, ICEBlocked, ProxyDirectOneWay, PBXDirectMedia, PBXDirectMediaNAT, ServerPortForward, ServerPortWindow, ServerPublicToLAN, FragmentsUnanswered, AnswerFragmentsLost, ReinviteFragmentsLost, FaxToAudioPort, ProxyLANHairpin, ResponsesLost, RingingLost, ReinviteRejected, Challenged, ChallengedRejected, ICERefused}
	calls := make([]Call, len(kinds))
	for i, k := range kinds {
		calls[i] = Call{Kind: k, Start: time.Duration(i) * 500 * time.Millisecond, Media: 4 * time.Second}
	}
	return calls
}

// ToneULaw is n samples of a 1 kHz tone at about -21 dBov in µ-law
// (G.711), so generated calls carry audio and not silence.
func ToneULaw(n int) []byte { return g711.ULawTone(n, 1000, 4000) }
