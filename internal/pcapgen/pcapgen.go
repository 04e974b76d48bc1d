package pcapgen

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/natdoc/natdoc/report"
)

// Kind names a call scenario.
type Kind string

// Scenarios with known outcomes.
const (
	Normal       Kind = "normal"        // two-way, caller behind NAT with STUN (public SDP)
	LeakCaller   Kind = "leak-caller"   // caller's SDP has its private address: caller cannot hear
	LeakCallee   Kind = "leak-callee"   // callee behind NAT leaks its private address: callee cannot hear
	NoWay        Kind = "no-way"        // answered, no RTP either way
	Hold         Kind = "hold"          // two-way, then re-INVITE sendonly/recvonly (music on hold)
	Inactive     Kind = "inactive"      // answered with a=inactive throughout: on hold
	ReinviteMove Kind = "reinvite-move" // caller moves its media to a new port mid-call
	EarlyMedia   Kind = "early-media"   // 183 with SDP and ringback before 200
	Forked       Kind = "forked"        // two forks; one gives early media, the other answers
	TCP          Kind = "tcp"           // SIP over TCP, INVITE split across segments
	WebSocket    Kind = "websocket"     // SIP over WebSocket (RFC 7118) after an HTTP upgrade
	Fragmented   Kind = "fragmented"    // INVITE larger than the MTU, IPv4 fragments
	VLAN         Kind = "vlan"          // every packet 802.1Q tagged
	IPv6         Kind = "ipv6"          // signalling and media over IPv6
	LossJitter   Kind = "loss-jitter"   // two-way, 2% loss caller->callee, jittered arrival
	LANOneWay    Kind = "lan-one-way"   // captured on the caller's LAN: nothing comes back
	Rejected     Kind = "rejected"      // 486 Busy Here: no media expected
	Cancelled    Kind = "cancelled"     // CANCEL before answer
	SIPALG       Kind = "sip-alg"       // a router ALG rewrote Via, Contact and c= but not o=: two-way
	Muted        Kind = "muted"         // two-way, but the callee's microphone is muted: its RTP is silence
	// Delayed offer (RFC 3264 §4, RFC 3261 §13.2.1): an INVITE without
	// SDP, the offer in the 200 OK and the answer in the ACK, as Cisco
	// CUCM trunks and many PBXs send.
	LateOffer     Kind = "late-offer"      // two-way
	LateOfferLeak Kind = "late-offer-leak" // the caller's answer in the ACK names its private address: caller cannot hear
	// Calls that never connect.
	Unanswered       Kind = "unanswered"         // INVITE retransmitted, no response at all
	ToPrivateContact Kind = "to-private-contact" // the server INVITEs the private Contact a NATed phone registered: no response
	NeverRang        Kind = "never-rang"         // 100 Trying only, the caller cancels after 12 s
	TimedOut         Kind = "timed-out"          // 100 Trying only, then 408 after 32 s
	// Calls through a proxy or B2BUA, captured on its host: two legs.
	Proxy           Kind = "proxy"             // a proxy anchoring media at its relay: one call, two legs, two-way
	ProxyLeakCallee Kind = "proxy-leak-callee" // the same, the callee behind NAT leaks its private address: one-way on leg 2
	B2BUA           Kind = "b2bua"             // a B2BUA: the second leg has its own Call-ID and tags
	// SBCOutsideUnseen: a B2BUA with an outside address sends the second
	// leg from it, and the capture holds that leg's signalling but not its
	// media; the inside leg's RTP, which the B2BUA relays, flows both ways:
	// one call, two legs, incomplete-capture (not no-way).
	SBCOutsideUnseen Kind = "sbc-outside-unseen"
	// SameNAT: both phones are behind one NAT (203.0.113.1, the office
	// calling itself through a hosted proxy), which tells them apart by
	// port; the proxy anchors the media: one call, two legs, two-way.
	SameNAT Kind = "same-nat"
	// SameNATDirect: the same phones, but the proxy, as Kamailio does
	// for such calls, passes their private SDP on without anchoring the
	// media: it flows on their LAN and the capture at the proxy holds
	// none of it. Two legs, incomplete-capture (not no-way).
	SameNATDirect Kind = "same-nat-direct"
	// ProxyDirectOneWay: the proxy passes each party's SDP on to the
	// other without anchoring the media, which goes between the phones
	// directly; captured on the site's switch (the proxy's and the
	// callee's), which sees both legs' SIP and the media. The callee
	// sends no RTP: one call, two legs, one-way (the caller cannot hear).
	ProxyDirectOneWay Kind = "proxy-direct-one-way"
	// ProxyLANHairpin: a proxy on an office LAN (192.168.1.5) passes each
	// phone's SDP on without anchoring the media; the caller's names its
	// STUN address on the office NAT (203.0.113.1), the callee's its LAN
	// address. Captured on the LAN switch: the caller's RTP goes straight
	// to the callee, the callee's to the NAT, which loops it back in with
	// its own public address as the source. One call, two legs, two-way.
	ProxyLANHairpin Kind = "proxy-lan-hairpin"
	// PBXDirectMedia: a PBX (a B2BUA, as Asterisk with direct_media)
	// anchors the media for a second, then re-INVITEs each phone to send
	// straight to the other; captured on the PBX's host, which sees no
	// media after that. Two legs, two-way: nothing stopped, it moved out
	// of sight.
	PBXDirectMedia Kind = "pbx-direct-media"
	// PBXDirectMediaNAT: the same PBX, but the caller is behind NAT and
	// names its private address in SDP. The PBX anchors its media at the
	// address it comes from (comedia), then hands that private address to
	// the callee (direct media with a phone behind NAT, the classic
	// Asterisk mistake): from then on the caller hears nothing. The PBX's
	// host sees the anchored second, two-way, and the hand-over.
	PBXDirectMediaNAT Kind = "pbx-direct-media-nat"
	// ServerPortForward: a PBX behind its router (192.168.60.20, its own
	// capture) names the router's public address (an external address
	// set) and a port of its RTP range in SDP; a trunk calls it. The
	// router forwards UDP 5060 and only RTP ports up to
	// ServerForwardedUpTo: a call whose PBX port is above it is one-way
	// (the PBX cannot hear), the others two-way. The port is
	// 10000+100*(i%8) for the call's index i.
	ServerPortForward Kind = "server-port-forward"
	// ServerPortWindow: the same PBX, but its router forwards only a
	// window inside its RTP range, ports ServerWindowFrom to
	// ServerWindowTo; the port is 10000+100*(i%10): calls on 10300-10600
	// are two-way, those below and above one-way.
	ServerPortWindow Kind = "server-port-window"
	// ServerPublicToLAN: the same PBX, captured on its own host, names the
	// router's public address to a phone on its own LAN too (Asterisk
	// without localnet); the phone calls it. The phone's RTP goes to the
	// router, which does not loop it back in: one-way, the PBX cannot
	// hear.
	ServerPublicToLAN Kind = "server-public-to-lan"
	// FragmentsUnanswered: an INVITE too big for one packet goes in IPv4
	// fragments, resent until Timer B, and nothing answers it (a router
	// on the way drops fragments); captured at the caller.
	FragmentsUnanswered Kind = "fragments-unanswered"
	// FragmentsLost: the same INVITEs captured at the callee, where only
	// the first fragment of each transmission arrives. No call can be
	// followed: the kind has no truth, only the capture's finding.
	FragmentsLost Kind = "fragments-lost"
	// HostSilent: captured on the caller's own PC, whose softphone sends no
	// RTP while the PBX's arrives: one-way, and the network lost nothing.
	HostSilent Kind = "host-silent"
	// What the SDP negotiated.
	Announcement Kind = "announcement" // recvonly offer, sendonly answer, RTP one way: one-way-negotiated
	Fax          Kind = "fax"          // audio, then a re-INVITE to T.38 (m=image udptl), fax both ways
	FaxOneWay    Kind = "fax-one-way"  // the same, the caller's T.38 never appears: a one-way fax
	// FaxToAudioPort: the same, but the callee keeps sending its T.38 to
	// the caller's audio port, not the fax port the caller's re-INVITE
	// named (a server latched to the audio's source): the caller's fax
	// gets none, one-way.
	FaxToAudioPort Kind = "fax-to-audio-port"
	// Messy input.
	BadHeader Kind = "bad-header" // the INVITE's Contact cannot be parsed: the call is judged all the same (two-way)
	// AckLost: the callee, behind a NAT that forwards its SIP and RTP
	// ports, answers with its private Contact; the caller's ACK goes
	// there and is lost, the callee resends its 200 OK for 32 s and hangs
	// up: two-way until then, answer-never-acknowledged.
	AckLost Kind = "ack-lost"
	// AnswerFragmentsLost: the callee's 200 OK, too big for one packet,
	// goes in IPv4 fragments that a router on the way drops: the caller
	// never gets it and sends no ACK and no RTP; the callee resends it
	// for 32 s, sending RTP meanwhile, and hangs up. Captured at the
	// callee: one-way (the callee cannot hear), answer-never-acknowledged.
	AnswerFragmentsLost Kind = "answer-fragments-lost"
	// ResponsesLost: the caller's firewall drops every response, the 200
	// OK included: the caller resends its INVITE on Timer A until Timer B;
	// the callee answers each copy with its last response at once (RFC
	// 3261 §13.3.1.4 for the 2xx), beside its 2xx timer's copies, and
	// hangs up at 64*T1. Captured at the callee: one-way (the callee, with
	// its RTP flowing, cannot hear), answer-never-acknowledged, remedy
	// deliver-the-sip-responses.
	ResponsesLost Kind = "responses-lost"
	// RingingLost: the same before any answer: the callee's 100 Trying
	// and 180 Ringing never reach the caller, which resends its INVITE
	// until Timer B; the callee rings on and gives up with a 480 at 40 s.
	// not-answered (rejected), sip-responses-lost.
	RingingLost Kind = "ringing-lost"
	// Challenged: the callee, a PBX that authenticates its callers,
	// answers the INVITE 401 with the To-tag it later answers with (as
	// Asterisk does), and the caller retries with credentials in a new
	// transaction (RFC 3261 §22.2), which is answered: two-way, status 200.
	Challenged Kind = "challenged"
	// ChallengedRejected: the same challenge, and the retry is refused 404
	// on that To-tag: not-answered (rejected), status 404, not the 401.
	ChallengedRejected Kind = "challenged-rejected"
	// ReinviteRejected: mid-call the caller offers to move its media to
	// another port and hold (a=sendonly); the callee rejects the offer
	// (488), so the session stays as it was (RFC 3261 §14.1) and the
	// media flows on both ways to the old addresses: two-way, no finding.
	ReinviteRejected Kind = "reinvite-rejected"
	// ReinviteFragmentsLost: after the media the caller's re-INVITE (an
	// SDP too big for one packet, as when adding video) goes in IPv4
	// fragments that a router drops: resent until Timer B, never
	// answered; the caller then hangs up. Two-way, request-unanswered.
	ReinviteFragmentsLost Kind = "reinvite-fragments-lost"
	// NATRemapped: a second into the media the caller's NAT maps its RTP
	// to another public port, no SDP saying so; the callee keeps sending
	// to the old port: one-way from then (the caller cannot hear),
	// media-remapped-mid-call.
	NATRemapped Kind = "nat-remapped"
	// MediaOutage: the callee's RTP is lost for 2.4 s mid-call, then
	// arrives again: two-way, media-outage.
	MediaOutage Kind = "media-outage"
	// MediaStopped: 3 s into a 10 s call the caller's RTP stops for good
	// (its RTCP goes on), the callee's goes on until the caller hangs up:
	// one-way from then (the callee cannot hear), media-stopped-mid-call.
	MediaStopped Kind = "media-stopped"
	// Voicemail: the callee is a PBX (Server: Asterisk) that plays a 3 s
	// greeting, then records the caller's 10 s message sending no RTP:
	// two-way, media-stopped-mid-call as a warning (a media server sends
	// nothing while it records).
	Voicemail Kind = "voicemail"
	// ResumeFailed: the caller puts the callee on hold (sendonly/recvonly)
	// 3 s into the media and resumes it 2 s later; the callee's RTP, which
	// stopped for the hold, never comes back: one-way from the resume (the
	// caller cannot hear), media-stopped-mid-call.
	ResumeFailed Kind = "resume-failed"
	// ReinviteLeak: halfway through the media the caller's re-INVITE
	// names its private address (its port kept by the NAT); the callee's
	// RTP goes there from then on: one-way from the re-INVITE (the caller
	// cannot hear), media-stopped-mid-call.
	ReinviteLeak Kind = "reinvite-leak"
	// LateStart: the callee's RTP begins 3 s after the answer: two-way,
	// media-started-late (the caller missed the first words).
	LateStart Kind = "late-start"
	// RefreshUnknown: halfway through the media the callee restarts (its
	// RTP stops); the caller's session refresh at three quarters is
	// answered 481: one-way from the restart (the caller cannot hear),
	// dialog-unknown-to-peer.
	RefreshUnknown Kind = "refresh-unknown"
	// TrickleICE: both SDPs negotiate ICE with c=0.0.0.0 and port 9
	// (RFC 8840: no candidate yet), the media flows both ways: two-way,
	// not a hold.
	TrickleICE Kind = "trickle-ice"
	// ICENAT: the caller behind NAT negotiates ICE with its private host
	// candidate in c= and its server-reflexive one (its NAT mapping)
	// among the candidates; the callee does ICE too and sends there:
	// two-way, and the private c= is no finding.
	ICENAT Kind = "ice-nat"
	// ICEOneSided: the same caller, but the callee does not do ICE and
	// sends to c=, the private address: one-way (the caller cannot hear),
	// sdp-private-address naming the unused candidate.
	ICEOneSided Kind = "ice-one-sided"
	// ICEBlocked: both negotiate ICE, the caller's connectivity checks to
	// the callee's candidate go unanswered (a firewall), and no media
	// flows: no-way, ice-checks-unanswered.
	ICEBlocked Kind = "ice-blocked"
	// ICERefused: both negotiate ICE, the callee's agent refuses the
	// caller's connectivity checks with 401 (credentials not its own, as
	// when an SBC rewrote them), and no media flows: no-way,
	// ice-checks-refused.
	ICERefused Kind = "ice-refused"
	// Bundle: audio (PCMU) and video (VP8, payload type 96) share each
	// party's one port (RFC 9143 BUNDLE, as WebRTC gateways negotiate),
	// both ways: two-way, each flow on its own m= line.
	Bundle Kind = "bundle"
	// TURNRelayed: the caller behind NAT relays its media through a TURN
	// server (RFC 8656) and names the relayed address in c=; the capture,
	// on the caller's side of the server, holds the Allocate and
	// ChannelBind exchanges and the RTP both ways in ChannelData:
	// two-way, the media judged as relayed (relayed address ↔ callee).
	TURNRelayed Kind = "turn-relayed"
	// ByeLost: after 40 s of two-way media in which the caller behind NAT
	// sent no SIP, the callee hangs up; its BYE to the caller's NAT is
	// resent for 32 s and never answered: two-way, request-unanswered.
	ByeLost Kind = "bye-lost"
	// What the capture point proves.
	NATPortChanged Kind = "nat-port-changed" // the caller's SDP names its STUN mapping, its NAT sends from another port: the far end's RTP to the SDP port is unproven, likely lost
	ALGPortChanged Kind = "alg-port-changed" // the same with a SIP ALG's traces (Contact and c= public, o= private)
)

// Call is one call to generate.
type Call struct {
	Kind Kind
	// Start is the INVITE's offset from the capture start.
	Start time.Duration
	// Media is how long RTP flows after the answer (default 4 s).
	Media time.Duration
}

// fragmentedKinds send their messages over 1,400 bytes in IPv4
// fragments.
var fragmentedKinds = []Kind{Fragmented, FragmentsUnanswered, FragmentsLost, AnswerFragmentsLost, ReinviteFragmentsLost}

// ServerForwardedUpTo is the last RTP port ServerPortForward's router
// forwards to the PBX (from 10000).
const ServerForwardedUpTo = 10399

// ServerWindowFrom and ServerWindowTo are the RTP ports ServerPortWindow's
// router forwards to the PBX.
const ServerWindowFrom, ServerWindowTo = 10300, 10699

// serverPort is the PBX's RTP port for call i of kind k (ServerPortForward
// or ServerPortWindow).
func serverPort(k Kind, i int) int {
	if k == ServerPortWindow {
		return 10000 + 100*(i%10)
	}
	return 10000 + 100*(i%8)
}

// serverForwarded says whether the router of kind k forwards RTP port p
// to the PBX.
func serverForwarded(k Kind, p uint16) bool {
	if k == ServerPortWindow {
		return p >= ServerWindowFrom && p <= ServerWindowTo
	}
	return p <= ServerForwardedUpTo
}

// Truth is what a correct analysis must report for one dialog.
type Truth struct {
	CallID     string
	Kind       Kind
	Verdict    report.Verdict
	CannotHear string
	// Packets is the RTP seen per direction [caller->callee, callee->caller]
	// that can arrive; Undeliverable the RTP sent to a private address.
	Packets       [2]uint64
	Undeliverable [2]uint64
	// Unproven is the RTP sent to a NAT port nothing shows is forwarded.
	Unproven [2]uint64
	Lost     [2]int64
	// Finding is an ID the call's findings must include ("" for none).
	Finding report.FindingID
	// NotAnswered is the reason of a not-answered verdict.
	NotAnswered string
	// EarlyDialogs counts the forks that answered only provisionally, and
	// EarlyPackets the early media they sent: part of the call, never
	// calls of their own.
	EarlyDialogs int
	EarlyPackets uint64
	// Legs counts the hops of a call seen at a proxy or B2BUA (0: one).
	Legs int
	// Transport of the INVITE: "UDP", "TCP" or "WS".
	Transport string
	// Status is the call's final status as reported (0: not checked).
	Status int
}

// Options shape the whole capture.
type Options struct {
	Seed int64
	// Base is the capture's start time (default 2026-01-01T12:00:00Z).
	Base time.Time
	// Nanosecond writes nanosecond time stamps.
	Nanosecond bool
	// Duplicated writes every packet twice, the copy 10 µs later, as a
	// SPAN port that mirrors both directions of a switch port delivers
	// them; the truth is unchanged (copies must be counted once).
	Duplicated bool
	// SignallingOnly leaves out every RTP, RTCP and T.38 packet, as a
	// capture taken on an SBC or proxy and filtered to SIP; the truth says
	// what such a capture can show (SignallingOnlyTruth).
	SignallingOnly bool
}

// buildLead is how long before its Start a call's first packet may come
// (the to-private-contact scenario's REGISTER, three minutes earlier).
const buildLead = 4 * time.Minute

// scene is what the calls of one capture share while they are built.
type scene struct {
	base    time.Time
	rng     *rand.Rand
	noMedia bool
	// tcpSent counts the bytes sent so far on each direction of a TCP
	// connection: a phone keeps its connection across calls, so a later
	// call on the same addresses continues the sequence numbers.
	tcpSent map[[2]netip.AddrPort]uint32
}

// Write generates the calls into a pcap written to w and returns the truth
// per dialog, in call order. Calls are built as the capture reaches them,
// so memory follows the calls in progress, not the number of calls.
func Write(w io.Writer, calls []Call, opt Options) ([]Truth, error) {
	if opt.Base.IsZero() {
		opt.Base = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	pw := pcapgo.NewWriterNanos(bw)
	if !opt.Nanosecond {
		pw = pcapgo.NewWriter(bw)
	}
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return nil, fmt.Errorf("pcapgen: header: %w", err)
	}
	sc := &scene{base: opt.Base, rng: rand.New(rand.NewSource(opt.Seed)), noMedia: opt.SignallingOnly, tcpSent: map[[2]netip.AddrPort]uint32{}}
	b := newBuilder(calls, sc)
	buf := gopacket.NewSerializeBuffer()
	for b.fill() {
		for _, p := range b.next() {
			if err := writePacket(pw, buf, p); err != nil {
				return nil, err
			}
			if opt.Duplicated {
				p.At = p.At.Add(10 * time.Microsecond)
				if err := writePacket(pw, buf, p); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("pcapgen: flush: %w", err)
	}
	return b.truths, nil
}

// builder builds calls in order as the packets written reach them and
// yields their packets in time order.
type builder struct {
	calls []Call
	sc    *scene
	// earliest[i] is the earliest Start of calls[i:].
	earliest []time.Duration
	built    int
	h        sourceHeap
	truths   []Truth
}

func newBuilder(calls []Call, sc *scene) *builder {
	b := &builder{calls: calls, sc: sc, earliest: make([]time.Duration, len(calls))}
	for i := len(calls) - 1; i >= 0; i-- {
		b.earliest[i] = calls[i].Start
		if i+1 < len(calls) {
			b.earliest[i] = min(b.earliest[i], b.earliest[i+1])
		}
	}
	return b
}

// fill builds every call that may have a packet before the next one due
// (a call not built yet starts at least buildLead after it) and reports
// whether any packet is left.
func (b *builder) fill() bool {
	for b.built < len(b.calls) {
		if b.h.Len() > 0 && b.sc.base.Add(b.earliest[b.built]-buildLead).After(b.h[0].next()) {
			break
		}
		c := b.calls[b.built]
		if c.Media == 0 {
			c.Media = 4 * time.Second
		}
		g := newCallGen(b.built, c, b.sc)
		pairReports(g.sources)
		b.truths = append(b.truths, g.truths...)
		for _, s := range g.sources {
			if s.ok() {
				heap.Push(&b.h, s)
			}
		}
		b.built++
	}
	return b.h.Len() > 0
}

// next yields the packets of the source due first.
func (b *builder) next() []wirePacket {
	s := b.h[0]
	pkts := s.emit()
	if s.ok() {
		heap.Fix(&b.h, 0)
	} else {
		heap.Pop(&b.h)
	}
	return pkts
}

// wirePacket is one packet to serialise.
type wirePacket struct {
	At       time.Time
	Src, Dst netip.AddrPort
	TCP      bool
	Seq      uint32
	VLAN     bool
	Payload  []byte
	// Fragment: split the IPv4 datagram into fragments of this many bytes;
	// FirstFragmentOnly writes the first of them only (the rest lost).
	Fragment          int
	FirstFragmentOnly bool
	ipID              uint16
}

// source yields packets in time order.
type source interface {
	next() time.Time
	ok() bool
	emit() []wirePacket
}

type sourceHeap []source

func (h sourceHeap) Len() int           { return len(h) }
func (h sourceHeap) Less(i, j int) bool { return h[i].next().Before(h[j].next()) }
func (h sourceHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *sourceHeap) Push(x any)        { *h = append(*h, x.(source)) }
func (h *sourceHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// listSource emits a fixed list (SIP messages).
type listSource struct {
	pkts []wirePacket
}

func (l *listSource) next() time.Time    { return l.pkts[0].At }
func (l *listSource) ok() bool           { return len(l.pkts) > 0 }
func (l *listSource) emit() []wirePacket { p := l.pkts[0]; l.pkts = l.pkts[1:]; return []wirePacket{p} }

// rtpSource emits one RTP stream (PCMU, 20 ms) and an RTCP SR every 5 s.
type rtpSource struct {
	src, dst  netip.AddrPort
	vlan      bool
	at        time.Time
	left      int
	seq       uint16
	ts        uint32
	ssrc      uint32
	i         int
	dropEvery int // drop packet numbers with i%dropEvery == 7 (loss)
	// dropFrom and dropTo drop the packets numbered from dropFrom up to
	// dropTo (an outage); equal, none.
	dropFrom, dropTo int
	jitter           time.Duration
	rng              *rand.Rand
	payload          []byte
	pt               uint8  // RTP payload type (0: PCMU)
	tsStep           uint32 // RTP timestamp step per 20 ms packet (0: 160, 8 kHz)
	// bundled: the sender sends several streams from one port (BUNDLE),
	// and its reports cover every stream it receives there.
	bundled bool
	// channel, when set, relays the stream through a TURN server: each
	// packet in ChannelData of this channel (RFC 8656 §12.4), RTCP muxed
	// on the same addresses (src and dst are the client's and server's).
	channel uint16
	udptl   bool // T.38: a 16-bit sequence number and the payload, no RTCP
	// reports are the streams this one's sender receives, which its
	// sender reports describe (RFC 3550 §6.4.1): the one that started
	// last, when any arrives.
	reports []*rtpSource
}

// pairReports gives each stream of a call the stream its sender receives:
// the one sent to the address it sends from (symmetric RTP). A stream sent
// to an address its receiver does not send from (a leaked private
// address) arrives nowhere, and no report mentions it.
func pairReports(sources []source) {
	for _, a := range sources {
		x, ok := a.(*rtpSource)
		if !ok {
			continue
		}
		for _, b := range sources {
			if y, ok := b.(*rtpSource); ok && y != x && y.dst == x.src {
				x.reports = append(x.reports, y)
			}
		}
	}
}

func (r *rtpSource) next() time.Time { return r.at }
func (r *rtpSource) ok() bool        { return r.left > 0 }

func (r *rtpSource) emit() []wirePacket {
	var out []wirePacket
	at := r.at
	if r.jitter > 0 {
		at = at.Add(time.Duration(r.rng.Int63n(int64(r.jitter))))
	}
	drop := (r.dropEvery > 0 && r.i%r.dropEvery == 7) || (r.i >= r.dropFrom && r.i < r.dropTo)
	if r.udptl {
		p := append([]byte{byte(r.i >> 8), byte(r.i)}, r.payload...)
		out = append(out, wirePacket{At: at, Src: r.src, Dst: r.dst, VLAN: r.vlan, Payload: p})
		drop = true
	}
	if !drop {
		p := make([]byte, 12+len(r.payload))
		p[0], p[1] = 0x80, r.pt
		if r.i == 0 {
			p[1] |= 0x80 // marker on the first packet of a talkspurt
		}
		p[2], p[3] = byte(r.seq>>8), byte(r.seq)
		p[4], p[5], p[6], p[7] = byte(r.ts>>24), byte(r.ts>>16), byte(r.ts>>8), byte(r.ts)
		p[8], p[9], p[10], p[11] = byte(r.ssrc>>24), byte(r.ssrc>>16), byte(r.ssrc>>8), byte(r.ssrc)
		copy(p[12:], r.payload)
		out = append(out, wirePacket{At: at, Src: r.src, Dst: r.dst, VLAN: r.vlan, Payload: r.wrap(p)})
	}
	if r.i%250 == 249 && !r.udptl { // RTCP sender report every 5 s (RFC 3550 §6.4.1)
		rtcpSrc := netip.AddrPortFrom(r.src.Addr(), r.src.Port()+1)
		rtcpDst := netip.AddrPortFrom(r.dst.Addr(), r.dst.Port()+1)
		if r.channel != 0 {
			rtcpSrc, rtcpDst = r.src, r.dst
		}
		out = append(out, wirePacket{At: at.Add(time.Millisecond), Src: rtcpSrc, Dst: rtcpDst, VLAN: r.vlan, Payload: r.wrap(r.senderReport())})
	}
	r.seq++
	if r.tsStep == 0 {
		r.tsStep = 160
	}
	r.ts += r.tsStep
	r.i++
	r.left--
	r.at = r.at.Add(20 * time.Millisecond)
	return out
}

// writePacket serialises Ethernet [802.1Q] IPv4/IPv6 UDP/TCP.
func writePacket(pw *pcapgo.Writer, buf gopacket.SerializeBuffer, p wirePacket) error {
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	if p.VLAN {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4})
	}
	var netLayer gopacket.NetworkLayer
	if p.Src.Addr().Is6() {
		if p.VLAN {
			ls[1].(*layers.Dot1Q).Type = layers.EthernetTypeIPv6
		} else {
			eth.EthernetType = layers.EthernetTypeIPv6
		}
		ip := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice(), NextHeader: layers.IPProtocolUDP}
		if p.TCP {
			ip.NextHeader = layers.IPProtocolTCP
		}
		netLayer = ip
		ls = append(ls, ip)
	} else {
		ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice(), Protocol: layers.IPProtocolUDP, Id: p.ipID}
		if p.TCP {
			ip.Protocol = layers.IPProtocolTCP
		}
		netLayer = ip
		ls = append(ls, ip)
	}
	if p.TCP {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.Src.Port()), DstPort: layers.TCPPort(p.Dst.Port()), Seq: p.Seq, ACK: true, PSH: true, Window: 65535}
		_ = tcp.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, tcp)
	} else {
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.Src.Port()), DstPort: layers.UDPPort(p.Dst.Port())}
		_ = udp.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, udp)
	}
	ls = append(ls, gopacket.Payload(p.Payload))
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		return fmt.Errorf("pcapgen: serialise: %w", err)
	}
	data := buf.Bytes()
	if p.Fragment > 0 && !p.Src.Addr().Is6() {
		return writeFragments(pw, data, p)
	}
	return pw.WritePacket(gopacket.CaptureInfo{Timestamp: p.At, CaptureLength: len(data), Length: len(data)}, data)
}

// writeFragments splits a serialised Ethernet/IPv4 frame into IPv4
// fragments (RFC 791), offsets in 8-byte units.
func writeFragments(pw *pcapgo.Writer, frame []byte, p wirePacket) error {
	const ethLen, ipLen = 14, 20
	ipHdr := frame[ethLen : ethLen+ipLen]
	payload := frame[ethLen+ipLen:]
	size := p.Fragment &^ 7
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		out := make([]byte, 0, ethLen+ipLen+end-off)
		out = append(out, frame[:ethLen]...)
		hdr := append([]byte(nil), ipHdr...)
		total := ipLen + end - off
		hdr[2], hdr[3] = byte(total>>8), byte(total)
		flags := uint16(off / 8)
		if end < len(payload) {
			flags |= 0x2000 // more fragments
		}
		hdr[6], hdr[7] = byte(flags>>8), byte(flags)
		hdr[10], hdr[11] = 0, 0
		var sum uint32
		for i := 0; i < ipLen; i += 2 {
			sum += uint32(hdr[i])<<8 | uint32(hdr[i+1])
		}
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		cs := ^uint16(sum)
		hdr[10], hdr[11] = byte(cs>>8), byte(cs)
		out = append(out, hdr...)
		out = append(out, payload[off:end]...)
		at := p.At.Add(time.Duration(off/size) * time.Microsecond)
		if err := pw.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(out), Length: len(out)}, out); err != nil {
			return err
		}
		if p.FirstFragmentOnly {
			break
		}
	}
	return nil
}

// wrap puts p in ChannelData when the stream is relayed by TURN.
func (r *rtpSource) wrap(p []byte) []byte {
	if r.channel == 0 {
		return p
	}
	h := []byte{byte(r.channel >> 8), byte(r.channel), byte(len(p) >> 8), byte(len(p))}
	return append(h, p...)
}

// senderReport is an RTCP SR (RFC 3550 §6.4.1) with a reception report
// block about the stream its sender receives, when one arrives.
func (r *rtpSource) senderReport() []byte {
	sr := make([]byte, 28, 52)
	sr[0], sr[1], sr[2], sr[3] = 0x80, 200, 0, 6
	binary.BigEndian.PutUint32(sr[4:8], r.ssrc)
	// The sender's packet and octet counts: every packet it sent, those
	// lost on the way included.
	binary.BigEndian.PutUint32(sr[20:24], uint32(r.i+1))
	binary.BigEndian.PutUint32(sr[24:28], uint32((r.i+1)*len(r.payload)))
	var heard []*rtpSource
	for _, y := range r.reports {
		switch {
		case y.i == 0:
		case r.bundled: // every stream on the port at once
			heard = append(heard, y)
		case len(heard) == 0 || y.i < heard[0].i:
			heard = append(heard[:0], y) // of the streams begun, the latest
		}
	}
	for _, y := range heard {
		block := make([]byte, 24)
		binary.BigEndian.PutUint32(block[0:4], y.ssrc)
		binary.BigEndian.PutUint32(block[8:12], uint32(y.seq)) // extended highest sequence number
		sr = append(sr, block...)
	}
	sr[0] = 0x80 | byte(len(heard))
	binary.BigEndian.PutUint16(sr[2:4], uint16(len(sr)/4-1))
	return sr
}
