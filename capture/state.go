package capture

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/natdoc/natdoc/report"
	"github.com/natdoc/natdoc/tlsdecrypt"
)

// Bounds on state built from hostile input.
const (
	// maxTCPBuffer bounds one TCP stream's unparsed bytes (a SIP message is
	// at most 64 KiB, sipgo's ParseMaxMessageLength).
	maxTCPBuffer = 64 << 10
	// maxAnomalyRefs is how many offsets and frames each anomaly keeps.
	maxAnomalyRefs = 5
)

// Default state limits (Limits), each with its reason.
const (
	// DefaultMaxCalls: calls in progress at once. A busy trunk has a few
	// thousand; a flood of INVITEs that never end would otherwise keep
	// every one (about 5 KB each: 50,000 is some 250 MB).
	DefaultMaxCalls = 50_000
	// DefaultMaxStreams: RTP/RTCP streams followed at once; a capture of
	// random UDP could otherwise grow the table without limit.
	DefaultMaxStreams = 200_000
	// DefaultMaxTCPStreams: SIP-over-TCP connections followed at once,
	// each holding up to 64 KiB of an unfinished message.
	DefaultMaxTCPStreams = 10_000
	// DefaultMaxFragments: IP fragments held until their datagram is
	// whole (about 1 KB each). Real SIP has a handful in flight; fragments
	// whose rest never comes stay 30 s of capture time.
	DefaultMaxFragments = 100_000
)

// Limits bound the state an analysis keeps, so that memory stays bounded
// whatever the input. Zero fields take the defaults. What a limit turns
// away is counted as an anomaly (calls-not-followed, too-many-media-flows,
// too-many-tcp-streams, ip-fragments-dropped).
type Limits struct {
	Calls, Streams, TCPStreams, Fragments int
}

func (l Limits) withDefaults() Limits {
	for _, f := range []struct {
		v   *int
		def int
	}{{&l.Calls, DefaultMaxCalls}, {&l.Streams, DefaultMaxStreams}, {&l.TCPStreams, DefaultMaxTCPStreams}, {&l.Fragments, DefaultMaxFragments}} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	return l
}

// anomalies counts unreadable input by kind, with the first offsets.
type anomalies struct {
	byKind map[string]*report.Anomaly
	order  []string
	// observe, when set, hears each anomaly as it happens (natdoc capture
	// --metrics); it is called from every goroutine that counts them.
	observe func(kind string)
}

func (a *anomalies) anomaly(kind string, offset int64, frame uint64, detail string) {
	if a.observe != nil {
		a.observe(kind)
	}
	a.addAnomaly(kind, offset, frame, detail, true)
}

func (a *anomalies) addAnomaly(kind string, offset int64, frame uint64, detail string, withRef bool) {
	if a.byKind == nil {
		a.byKind = map[string]*report.Anomaly{}
	}
	r := a.byKind[kind]
	if r == nil {
		r = &report.Anomaly{Kind: kind, Detail: detail}
		a.byKind[kind] = r
		a.order = append(a.order, kind)
	}
	r.Count++
	if withRef && len(r.Offsets) < maxAnomalyRefs {
		r.Offsets = append(r.Offsets, offset)
		r.Frames = append(r.Frames, frame)
	}
}

// kindMalformedSIP is the anomaly of a SIP message that could not be
// read; the verdict sentence and media-without-signalling count it.
const kindMalformedSIP = "malformed-sip"

// unreadSIP counts the SIP messages that could not be read
// (kindMalformedSIP).
func (a *anomalies) unreadSIP() uint64 {
	if r := a.byKind[kindMalformedSIP]; r != nil {
		return r.Count
	}
	return 0
}

func (a *anomalies) list() []report.Anomaly {
	out := make([]report.Anomaly, 0, len(a.order))
	for _, k := range a.order {
		r := *a.byKind[k]
		if slices.ContainsFunc(r.Offsets, func(o int64) bool { return o == unknownOffset }) {
			r.Offsets = nil // an offset that may be wrong helps no one
		}
		out = append(out, r)
	}
	return out
}

// unknownOffset is the offset of a record whose place in the file the
// reader cannot tell (pcapng: gopacket reads it through its own buffer).
const unknownOffset = -1

// counters count decoded packets by kind for the capture summary (plain
// fields: a map would hash a string per packet).
type counters struct {
	sip, rtp, rtcp, udptl, tls, icmp, other uint64
	duplicates                              uint64 // copies dropped (dedup.go)
}

func (c counters) list() []report.KeyValue {
	var kv []report.KeyValue
	for _, x := range []struct {
		k string
		v uint64
	}{{"icmp", c.icmp}, {"other", c.other}, {"rtcp", c.rtcp}, {"rtp", c.rtp}, {"sip", c.sip}, {"tls", c.tls}, {"udptl", c.udptl}} {
		if x.v > 0 {
			kv = append(kv, report.KeyValue{Key: x.k, Value: fmt.Sprint(x.v)})
		}
	}
	return kv
}

// v4Key packs an IPv4 RTP stream's addresses, ports and SSRC.
type v4Key [2]uint64

// recentSlots is the size of the stream cache (96 KB), a power of two
// well above the 400 streams of 100 calls in progress: about one stream in
// ten shares its slot (with 1,024 slots one in three did, and two streams
// sharing one take turns missing).
const recentSlots = 4096

// recentFlow is one slot of the stream cache.
type recentFlow struct {
	key v4Key
	f   *rtpFlow
}

// recentSlot picks a stream's cache slot from its SSRC (random by RFC 3550
// §8.1) and ports.
func recentSlot(k v4Key) uint32 {
	return (uint32(k[1]) ^ uint32(k[1]>>32)) & (recentSlots - 1)
}

// tcpKey names one direction of a TCP connection.
type tcpKey struct{ Src, Dst netip.AddrPort }

// tcpStream buffers one direction of a SIP-over-TCP connection until whole
// messages can be parsed (RFC 3261 §18.3: Content-Length frames them).
type tcpStream struct {
	next  uint32
	buf   []byte
	frame uint64 // frame of the segment that started the buffered message
	// SIP over WebSocket (RFC 7118): http is true until the upgrade's
	// header block has passed; msg gathers a fragmented WebSocket message.
	ws, http    bool
	expectFirst bool // the stream's first sequence number is not known yet
	msg         []byte
	// skipping: a message grew past maxTCPBuffer; its rest is skipped up
	// to a segment that starts a new message.
	skipping bool
	// tls, when set, is the TLS session this stream is one side of
	// (tlsSide): its bytes are decrypted before SIP is parsed (tls.go).
	tls     *tlsSession
	tlsSide int
	// turn: the connection carries TURN (RFC 8656 §12.5: STUN messages
	// and ChannelData padded to 4 bytes) between a client and its server.
	turn bool
	// cut: the capture's snap length cut the stream's last segment, so
	// where the next one begins is not known from the bytes kept.
	cut bool
}

// carries names what the connection carries, for what is said of it.
func (st *tcpStream) carries() string {
	switch {
	case st.turn:
		return "TURN over TCP"
	case st.ws:
		return "SIP over WebSocket"
	case st.tls != nil:
		return "SIP over TLS"
	}
	return "SIP over TCP"
}

// state is everything the analysis keeps while packets stream past. It is
// owned by one goroutine.
type state struct {
	anomalies
	calls *callTable
	// regs follows the registrations (register.go), toPrivate the
	// requests sent from public to private addresses (requests.go).
	regs *registrations
	// dialScans follows calls dialled abroad from the internet (dialscan.go).
	dialScans dialScans
	// ice counts ICE connectivity checks per candidate pair (ice.go).
	ice       iceChecks
	toPrivate privateRequests
	// pings follows the requests outside calls, whose runs unanswered
	// tell of a party that can no longer be reached (pings.go).
	pings pings
	// unreach holds the ICMP destination-unreachable errors (icmp.go).
	unreach unreachables
	// forwards are the RTP ports receivers behind NAT heard calls on and
	// did not (portforward.go).
	forwards forwardedPorts
	// host is the address every packet so far was to or from (host.go).
	host commonHost
	// sipr parses SIP, tolerating a header it cannot read.
	sipr *sipReader
	// unreadPaths notes the SIP messages that could not be read by their
	// ends (unreadsip.go).
	unreadPaths unreadSIPLog
	// twins keeps one copy of what a capture taken on a NAT holds twice
	// (nattwins.go).
	twins natTwins
	// cutUnread counts the SIP messages the snap length cut before
	// anything naming their call: a capture of such alone shows no call.
	cutUnread uint64
	// dedup drops captured copies of packets (dedup.go).
	dedup dedup
	// repeats reads a resent message from the reading of the first copy
	// (repeats.go).
	repeats repeats
	flows   map[flowKey]*rtpFlow
	// sealedFlows counts the streams a new call sealed (sealflows.go).
	sealedFlows uint32
	// fast indexes IPv4 RTP streams by a 16-byte key, which hashes much
	// faster than flowKey; every stream is in flows too.
	fast map[v4Key]*rtpFlow
	// recent caches fast's answers, one stream per slot: a slot index
	// and a 16-byte compare per RTP packet instead of a map lookup.
	recent *[recentSlots]recentFlow
	tcp    map[tcpKey]*tcpStream
	// rtpmaps: clock rates from the SDP of calls in progress (clockrate.go).
	rtpmaps map[netip.AddrPort]rtpmapEntry
	// rtpmapPorts: the address last noted in rtpmaps with each port.
	rtpmapPorts map[uint16]netip.AddrPort
	frames      uint64 // records read so far, across files
	// Finalised calls, and streams no call claimed.
	done doneCalls
	// binder matches streams to calls at each sweep, reusing its storage.
	binder        *binder
	sessions      mediaSessions // the streams no call claimed, paired by their ends
	orphanPackets uint64
	orphanStreams int
	// lastSweepNs is the capture time of the last sweep (sweepBefore);
	// sweepClock says whether it is set yet.
	lastSweepNs int64
	sweepClock  bool
	// clock keeps capture time steady across a clock set mid-capture.
	clock captureClock
	// High-water marks of the state kept, to show memory follows the calls
	// in progress, not the length of the capture.
	peakCalls, peakFlows int
	// onJudged, when set, hears each call's verdict as it is finalised.
	onJudged func(report.Call)
	// ordered, when set, takes the judged calls in place of done
	// (Options.OnCall); tally keeps what the summary needs of them.
	ordered *orderedCalls
	tally   callTally
	// flowDone, when set, hears each stream as the analysis lets it go,
	// with its figures (tests hold them to tshark's).
	flowDone func(*rtpFlow)
	// filter selects the calls reported (filter.go).
	filter *CallFilter
	// onSIP, when set, hears of each SIP message read (LiveOptions.OnSIP).
	onSIP func(request bool, method string, status int)
	// hepOut, when set, gets a copy of every SIP message and each call's
	// verdict (--hep-out, hepout.go).
	hepOut hepSender
	// hosts limits the analysis to packets to or from these addresses.
	hosts map[netip.Addr]bool
	// side decodes, on the analysing goroutine, the records the parallel
	// decoders route to it (fragments, SCTP), keeping their state in order.
	side     *producer
	counts   counters
	otherSig otherSignalling // call signalling natdoc does not read (othersig.go)
	comments captureComments // pcapng comments (comments.go)
	// limits bound the state kept (Options.Limits).
	limits Limits
	// detail: calls list their SIP messages, streams count packets per
	// time step for the report's timeline, and finished calls are kept
	// whole, not compacted (Options.Detail).
	detail   bool
	tlsSeen  []uint64        // frames of TLS on SIP ports
	tlsPorts map[uint16]bool // the SIP TLS ports they were on
	// tlsKeys, when set, decrypts SIP over TLS (Options.TLSKeys);
	// tlsSessions are the sessions followed, for the report.
	tlsKeys     *tlsdecrypt.Keys
	tlsSessions []*tlsSession
	tlsUnlisted int
	// tlsEmbeddedSecrets counts the key log lines the capture itself
	// carried (secrets.go); tlsKeysEmbeddedOnly: no keys were given.
	tlsEmbeddedSecrets  int
	tlsKeysEmbeddedOnly bool
	// SIP sources seen for calls, for flow binding.
	packets uint64
	bytes   uint64
	first   time.Time
	last    time.Time
}

func newState() *state {
	s := &state{
		calls:    newCallTable(),
		regs:     newRegistrations(),
		sipr:     newSIPReader(),
		dedup:    newDedup(),
		repeats:  newRepeats(),
		flows:    make(map[flowKey]*rtpFlow, 1024),
		fast:     make(map[v4Key]*rtpFlow, 1024),
		recent:   new([recentSlots]recentFlow),
		tcp:      map[tcpKey]*tcpStream{},
		tlsPorts: map[uint16]bool{},

		rtpmaps:     map[netip.AddrPort]rtpmapEntry{},
		rtpmapPorts: map[uint16]netip.AddrPort{},
		limits:      Limits{}.withDefaults(),
	}
	s.calls.onSDP = s.noteRtpmaps
	s.calls.onStart = s.dialScans.started
	return s
}

// setLimits bounds the state kept (Options.Limits).
func (s *state) setLimits(l Limits) {
	s.limits = l.withDefaults()
	s.calls.maxCalls = s.limits.Calls
}

// setDetail says whether calls keep their SIP messages and streams their
// packet timelines (Options.Detail).
func (s *state) setDetail(on bool) {
	s.detail = on
	s.calls.keepMessages = on
}

// handle analyses one decoded packet. It must not keep pkt.Payload.
func (s *state) handle(pkt *packet) {
	if len(s.twins.held) > 0 {
		s.releaseHeld(pkt.Time) // nattwins.go
	}
	switch pkt.Proto {
	case protoUDP:
		s.handleUDP(pkt)
	case protoTCP:
		if pkt.Whole {
			if looksLikeSIP(pkt.Payload) {
				s.handleSIPDatagram(pkt, "TCP")
			}
			return
		}
		s.handleTCP(pkt)
	case protoSCTP:
		if looksLikeSIP(pkt.Payload) {
			s.handleSIPDatagram(pkt, "SCTP")
		}
	case protoICMP, protoICMPv6:
		s.counts.icmp++
		if s.unreach.observe(pkt) {
			s.anomaly("too-many-icmp-errors", pkt.Offset, pkt.Frame, "ICMP destination-unreachable errors past the first 4,096 sources and destinations not kept")
		}
	}
}

func (s *state) handleUDP(pkt *packet) {
	b := pkt.Payload
	if len(b) > 0 && b[0] >= 'A' && b[0] <= 'Z' && looksLikeSIP(b) {
		s.handleSIPDatagram(pkt, "UDP")
		return
	}
	// RTP and RTCP were split off by the reader (pipeline.go); the rest is
	// T.38 fax to or from an address an SDP named for it, or other
	// traffic, among it the keep-alives (CRLF, STUN) a phone sends its
	// registrar.
	if s.isUDPTL(pkt) {
		s.udptlPacket(pkt)
		return
	}
	if !s.ice.observe(pkt, s) {
		s.ice.mappings.observe(pkt)
	}
	if p := udpSignalling(pkt); p != noOtherProtocol {
		s.otherSig.note(p, pkt.Frame)
	} else {
		s.counts.other++
	}
	s.regs.activity(pkt.Src, pkt.Dst, pkt.Frame, pkt.Time)
}

// isUDPTL says whether a UDP packet goes to or comes from an address an
// SDP of a call in progress offered T.38 fax on.
func (s *state) isUDPTL(pkt *packet) bool {
	if len(s.rtpmaps) == 0 {
		return false
	}
	if e, ok := s.rtpmaps[pkt.Dst]; ok && e.udptl {
		return true
	}
	e, ok := s.rtpmaps[pkt.Src]
	return ok && e.udptl
}

// udptlPacket counts a T.38 packet (ITU-T T.38 §9.1: the UDPTL header
// starts with a 16-bit sequence number) in its stream.
func (s *state) udptlPacket(pkt *packet) {
	s.counts.udptl++
	k := flowKey{Src: pkt.Src, Dst: pkt.Dst}
	f := s.flows[k]
	if f == nil {
		if len(s.flows) >= s.limits.Streams {
			s.anomaly("too-many-media-flows", pkt.Offset, pkt.Frame, "too many RTP/RTCP streams; later ones ignored")
			return
		}
		f = &rtpFlow{Key: k, timeline: s.detail, udptl: true}
		s.flows[k] = f
	}
	var seq uint16
	if len(pkt.Payload) >= 2 {
		seq = uint16(pkt.Payload[0])<<8 | uint16(pkt.Payload[1])
	}
	f.update(rtpFields{Seq: seq}, len(pkt.Payload), pkt.Time.UnixNano(), pkt.Frame)
}

func (s *state) handleSIPDatagram(pkt *packet, transport string) {
	info, rr, ok := s.readSIPDatagram(pkt, true)
	if !ok {
		return
	}
	info.Transport = transport
	if transport == "UDP" && !s.twinOrHeld(pkt, info, nil) { // nattwins.go
		return
	}
	s.fileSIPDatagram(pkt, info, rr)
}

// readSIPDatagram reads the SIP message of a datagram, as far as it goes
// when the snap length cut it; noting counts what was cut or could not
// be read (false: a message held for its twin, read again to be filed,
// whose reading refers to its own copy of the payload).
func (s *state) readSIPDatagram(pkt *packet, noting bool) (*sipInfo, repeatRead, bool) {
	info, rr, err := s.readDatagram(pkt.Payload)
	if pkt.Truncated && (err != nil || info.Unended) {
		// Cut by the snap length, inside its headers: not a message
		// sent without their blank line (unendedHeaders).
		info, rr, err = s.readCutHeaders(pkt.Payload)
		if err == nil && noting {
			s.anomaly("truncated-sip", pkt.Offset, pkt.Frame, truncatedSIP)
		}
	}
	if err != nil {
		if noting {
			s.unreadableSIP(pkt, err)
		}
		return nil, repeatRead{}, false
	}
	return info, rr, true
}

// fileSIPDatagram files a SIP datagram read.
func (s *state) fileSIPDatagram(pkt *packet, info *sipInfo, rr repeatRead) {
	s.hepOutSIP(pkt, pkt.Payload, info.Transport, info.CallID)
	if pkt.Truncated {
		if info.LengthMismatch || info.BodyCut { // the capture cut the body, not an ALG
			info.BodyCut, rr.sdp = true, s.readCutSDP(info)
		}
		info.LengthMismatch = false
	}
	c := s.sip(pkt, info, &rr.sdp)
	s.repeats.put(rr, pkt.Payload, info, c)
}

// truncatedSIP says what the capture's snap length did to SIP messages
// (tcpdump -s 96 or 200 is a common way to lose SIP).
const truncatedSIP = "SIP message cut short by the capture's snap length: read as far as its last whole line where that still " +
	"names its call, its body (SDP) lost or cut; capture whole packets (tcpdump -s 0)"

// readCutHeaders reads a SIP datagram the capture's snap length cut inside
// its header block, as far as its last whole line: the start line, Via,
// From, To, Call-ID and CSeq mostly come first and carry the call. Its
// body is lost (BodyCut); the reading is not remembered for repeats.
func (s *state) readCutHeaders(payload []byte) (*sipInfo, repeatRead, error) {
	end := bytes.LastIndex(payload, []byte("\r\n"))
	if end < 0 {
		return nil, repeatRead{}, errors.New("sip: cut before its first line ended")
	}
	block := append(append(make([]byte, 0, end+4), payload[:end+2]...), '\r', '\n')
	info, err := s.sipr.parseSIPDatagram(block)
	if err != nil {
		return nil, repeatRead{}, err
	}
	info.Body, info.BodyCut, info.HeadersCut = nil, true, true
	return info, repeatRead{}, nil
}

// readCutSDP reads the SDP of a message whose body the capture cut, as
// far as its last whole line: a line cut short (a c= line's address)
// would say what the SDP did not. An m= line cut in its list of payload
// types is kept without the last, maybe partial, one: its port and
// protocol are whole. Nothing when no whole line is left.
func (s *state) readCutSDP(info *sipInfo) sdpRead {
	body := info.sdpBody()
	end := bytes.LastIndexByte(body, '\n')
	if end < 0 {
		return sdpRead{}
	}
	whole := body[:end+1]
	if m := cutMediaLine(body[end+1:]); m != nil {
		whole = append(append(append([]byte(nil), whole...), m...), '\r', '\n')
	}
	sd, err := s.calls.sdpOf(info.CallID, whole)
	if err != nil {
		return sdpRead{}
	}
	return sdpRead{sd: sd}
}

// cutMediaLine is the part of an m= line cut short that is whole: up to
// its last space, when that leaves the media, port, protocol and a payload
// type (RFC 4566 §5.14); else nil.
func cutMediaLine(line []byte) []byte {
	if !bytes.HasPrefix(line, []byte("m=")) {
		return nil
	}
	last := bytes.LastIndexByte(line, ' ')
	if last < 0 || len(bytes.Fields(line[:last])) < 4 {
		return nil
	}
	return line[:last]
}

// unreadableSIP counts a SIP datagram that could not be read: as cut
// short by the capture's snap length when the capture kept less than the
// packet, else as malformed.
func (s *state) unreadableSIP(pkt *packet, err error) {
	if pkt.Truncated {
		s.cutUnread++
		if method, ok := requestLine(pkt.Payload); ok && pkt.Proto == protoUDP {
			s.unreach.connects().udpRequest(pkt.Src.Addr(), pkt.Dst.Addr(), method, pkt.Frame)
		}
		s.unreadableSIPMessage(pkt, "truncated-sip", truncatedSIP)
		return
	}
	s.unreadableSIPMessage(pkt, kindMalformedSIP, err.Error())
}

// readDatagram reads a SIP message carried whole in a datagram, and its
// SDP; a message read before is not read again (repeats.go).
func (s *state) readDatagram(payload []byte) (*sipInfo, repeatRead, error) {
	info, rr := s.repeats.get(payload)
	if rr.hit {
		return info, rr, nil
	}
	info, err := s.sipr.parseSIPDatagram(payload)
	if err != nil {
		return nil, rr, err
	}
	rr.read(payload, info, s.readSDP(info))
	return info, rr, nil
}

// readSDP reads the SDP info carries, if any.
func (s *state) readSDP(info *sipInfo) sdpRead {
	body := info.sdpBody()
	if body == nil {
		return sdpRead{}
	}
	sd, err := s.calls.sdpOf(info.CallID, body)
	return sdpRead{sd, err}
}

// sip files a parsed message with its call, which it returns; read is its
// SDP when read already.
func (s *state) sip(pkt *packet, info *sipInfo, read *sdpRead) *sipCall {
	s.counts.sip++
	if s.onSIP != nil {
		s.onSIP(info.Request, info.Method, info.Status)
	}
	info.Frame, info.Offset, info.Src, info.Dst = pkt.Frame, pkt.Offset, pkt.Src, pkt.Dst
	info.addresses()
	for _, h := range info.extras().BadHeaders {
		s.anomaly("malformed-sip-header", pkt.Offset, pkt.Frame, "SIP header kept unparsed, the message read without it: "+h)
	}
	info.Fragmented = pkt.Fragmented
	body := info.sdpBody()
	if read == nil {
		r := s.readSDP(info)
		read = &r
	}
	sd, sdErr := read.sd, read.err
	if sdErr != nil {
		s.anomaly("malformed-sdp", pkt.Offset, pkt.Frame, sdErr.Error())
	}
	info.Body = nil // the SDP is kept parsed; drop the bytes
	s.regs.sip(info, pkt.Time)
	if info.Request && info.Transport == "UDP" {
		s.unreach.connects().udpRequest(info.Src.Addr(), info.Dst.Addr(), info.Method, info.Frame)
	}
	s.toPrivate.sip(info, pkt.Time)
	s.pings.sip(info, pkt.Time) // pings.go
	if !info.Request && s.side != nil {
		s.side.dec.frags.answered(info.CallID, info.CSeq, info.Method) // fraglost.go
	}
	c, followed := s.calls.add(info, pkt.Time, sd, sdErr)
	if !followed {
		s.anomaly("calls-not-followed", pkt.Offset, pkt.Frame, "a new call while as many as the limit were in progress (--max-calls)")
	}
	if c != nil && body != nil {
		c.keepSDP(body, sd, sdErr)
	}
	return c
}

// sipTLSPorts are where SIP over TLS usually runs: 5061 (RFC 3261 §26.2)
// and 5081, FreeSWITCH's default for its external (trunk) profile.
var sipTLSPorts = [...]uint16{5061, 5081}

func isTLSPort(p uint16) bool { return slices.Contains(sipTLSPorts[:], p) }

// tlsServerPort is the SIP TLS port of a connection's two ends.
func tlsServerPort(a, b netip.AddrPort) uint16 {
	if isTLSPort(a.Port()) {
		return a.Port()
	}
	return b.Port()
}

func (s *state) handleTCP(pkt *packet) {
	if pkt.SYN || pkt.RST {
		s.unreach.tcp.observe(pkt) // tcpconnect.go
		if pkt.RST && s.tcp[tcpKey{pkt.Dst, pkt.Src}] != nil {
			s.unreach.tcp.reset(pkt.Dst, pkt.Src, pkt.Frame, pkt.Time)
		}
	}
	k := tcpKey{pkt.Src, pkt.Dst}
	st := s.tcp[k]
	if (pkt.FIN || pkt.RST) && (st != nil || s.tcp[tcpKey{pkt.Dst, pkt.Src}] != nil) {
		s.unreach.tcp.closed(pkt.Src, pkt.Dst, pkt.Frame, pkt.Time) // tcpconnect.go
	}
	b := pkt.Payload
	if st == nil {
		if st = s.openTCPStream(pkt, k); st == nil {
			return
		}
	}
	if st.expectFirst {
		st.next, st.expectFirst = pkt.Seq, false
	}
	if pkt.RST || pkt.FIN {
		defer delete(s.tcp, k)
	}
	if len(b) == 0 {
		return
	}
	if st.cut && st.plainSIP() {
		// After a segment cut by the snap length, a message start
		// resumes the stream; bytes that begin none finish the cut one.
		st.cut, st.buf, st.next = false, st.buf[:0], pkt.Seq
		if !looksLikeSIP(b) {
			st.next, st.cut = pkt.Seq+uint32(len(b)), pkt.Truncated
			return
		}
	}
	switch d := int32(pkt.Seq - st.next); {
	case d < 0: // retransmission, maybe with new bytes at its end
		if int(-d) >= len(b) {
			return
		}
		b = b[-d:]
	case d > 0: // bytes missing: drop what was buffered, resume at a message start
		s.anomaly("tcp-gap", pkt.Offset, pkt.Frame, st.carries()+": segment(s) missing from the capture")
		st.buf = st.buf[:0]
		if st.tls != nil {
			st.tls.conn.Gap()
		}
		if st.ws || st.turn || !looksLikeSIP(b) { // WebSocket and TURN frames cannot be resynchronised
			if st.ws || st.turn {
				delete(s.tcp, k)
			}
			st.next = pkt.Seq + uint32(len(pkt.Payload))
			return
		}
	}
	st.next = pkt.Seq + uint32(len(pkt.Payload))
	if st.skipping && (st.ws || st.turn || !looksLikeSIP(b)) {
		return
	}
	st.skipping = false
	if len(st.buf) == 0 {
		st.frame = pkt.Frame
	}
	if st.tls != nil {
		s.feedTLS(pkt, st, b)
		return
	}
	if len(st.buf)+len(b) > maxTCPBuffer {
		s.anomaly("sip-message-too-large", pkt.Offset, pkt.Frame, "SIP over TCP: more than 64 KiB without a complete message; its rest skipped up to the next message")
		st.buf, st.skipping = st.buf[:0], true
		return
	}
	st.buf = append(st.buf, b...)
	s.drainTCP(pkt, st)
	if pkt.Truncated && st.plainSIP() {
		s.readCutSegment(pkt, st)
	}
}

// plainSIP says whether the stream carries SIP itself, not in TLS,
// WebSocket or TURN framing, whose cut records cannot be read.
func (st *tcpStream) plainSIP() bool { return st.tls == nil && !st.ws && !st.turn }

// readCutSegment reads the message a segment cut by the snap length
// ended in as far as it goes, as a datagram cut short (its first header
// lines carry the call), and marks the stream cut.
func (s *state) readCutSegment(pkt *packet, st *tcpStream) {
	st.cut = true
	if len(st.buf) == 0 {
		return // the cut left out the next message's start: nothing to read
	}
	cut := *pkt
	cut.Payload = append([]byte(nil), st.buf...)
	st.buf = st.buf[:0]
	s.handleSIPDatagram(&cut, "TCP")
}

// openTCPStream starts following a TCP connection whose first payload
// seen is SIP, a WebSocket upgrade, or TLS that keys may open; it counts
// other TLS and other traffic and returns nil for them.
func (s *state) openTCPStream(pkt *packet, k tcpKey) *tcpStream {
	b := pkt.Payload
	if len(b) == 0 {
		return nil
	}
	if s.tlsKeys != nil {
		if st := s.tlsStart(k, pkt); st != nil {
			s.tcp[k] = st
			return st
		}
	}
	if (isTLSPort(pkt.Src.Port()) || isTLSPort(pkt.Dst.Port())) && len(b) > 5 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 3 {
		s.counts.tls++
		s.tlsPorts[tlsServerPort(pkt.Src, pkt.Dst)] = true
		if len(s.tlsSeen) < maxAnomalyRefs {
			s.tlsSeen = append(s.tlsSeen, pkt.Frame)
		}
		return nil
	}
	ws := isSIPWebSocketUpgrade(b)
	turn := !ws && s.side != nil && turnStreamStart(b)
	if !ws && !turn && !looksLikeSIP(b) {
		if p := tcpSignalling(pkt); p != noOtherProtocol {
			s.otherSig.note(p, pkt.Frame)
		} else {
			s.counts.other++
		}
		return nil
	}
	if len(s.tcp) >= s.limits.TCPStreams {
		s.anomaly("too-many-tcp-streams", pkt.Offset, pkt.Frame, "SIP over TCP stream ignored")
		return nil
	}
	st := &tcpStream{next: pkt.Seq, frame: pkt.Frame, ws: ws, http: ws, turn: turn}
	s.tcp[k] = st
	switch {
	case ws: // the answer (101 Switching Protocols) comes the other way
		s.tcp[tcpKey{pkt.Dst, pkt.Src}] = &tcpStream{ws: true, http: true, expectFirst: true}
	case turn: // and the server's answers
		s.tcp[tcpKey{pkt.Dst, pkt.Src}] = &tcpStream{turn: true, expectFirst: true}
	}
	return st
}

// drainTCP parses every complete message buffered (several may share one
// segment; one may span many).
func (s *state) drainTCP(pkt *packet, st *tcpStream) {
	if st.ws {
		s.drainWebSocket(pkt, st)
		return
	}
	if st.turn {
		s.drainTURN(pkt, st)
		return
	}
	for len(st.buf) > 0 {
		info, used, need, err := s.sipr.parseSIPStream(st.buf)
		if err != nil {
			s.unreadableSIPMessage(pkt, kindMalformedSIP, "SIP over TCP: "+err.Error())
			st.buf = st.buf[:0]
			return
		}
		if need {
			if used > 0 {
				st.buf = append(st.buf[:0], st.buf[used:]...)
			}
			return
		}
		info.Transport = "TCP"
		if st.tls != nil {
			info.Transport = "TLS"
		}
		// The ladder names the frame that completed the message, as
		// Wireshark does for reassembled PDUs.
		if st.tls != nil || s.twinOrHeld(pkt, info, st.buf[:used]) { // nattwins.go
			s.fileStreamMessage(pkt, info, st.buf[:used])
		}
		st.buf = append(st.buf[:0], st.buf[used:]...)
		st.frame = pkt.Frame
	}
}

// fileStreamMessage files a SIP message read from a stream (raw).
func (s *state) fileStreamMessage(pkt *packet, info *sipInfo, raw []byte) {
	s.hepOutSIP(pkt, raw, info.Transport, info.CallID)
	s.sip(pkt, info, nil)
}

// sortedFlows returns the streams in order of first packet.
func (s *state) sortedFlows() []*rtpFlow {
	out := make([]*rtpFlow, 0, len(s.flows))
	for _, f := range s.flows {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].FirstFrame != out[j].FirstFrame {
			return out[i].FirstFrame < out[j].FirstFrame
		}
		return out[i].Key.RTCP && !out[j].Key.RTCP
	})
	return out
}
