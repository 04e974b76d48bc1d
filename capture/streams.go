package capture

import (
	"net/netip"
	"slices"
	"time"
)

// streamState replays a dialog's offer/answer for one m= line: which
// directions were ever expected (a direction never expected means the SDP
// asked for one-way media from the start, not a hold of a call that was
// up), and whether the end state is a hold. When a re-INVITE changes what an m=
// line carries (audio to T.38 fax, RFC 6913's m=image), the new kind is a
// stream of its own, so a fax that flows one way is judged apart from the
// audio before it.
type streamState struct {
	index    int // the m= line
	media    string
	udptl    bool
	expected [2]bool
	held     bool
	declined bool // the latest answer set the port to 0 (RFC 3264 §6)
	latest   [2]*sdpMedia
	latestEv [2]*sdpEvent
	// sending says which party the latest offer and answer let send (by
	// party, as expected); replaced, that a later SDP gave the m= line to
	// another kind of stream (audio to T.38).
	sending  [2]bool
	replaced bool
	// setUpInCapture: a later SDP of the dialog than its first seen made
	// this stream (a re-INVITE to T.38 fax, an added video line), so its
	// whole negotiation is in the capture even when the call's start is not.
	setUpInCapture bool
	// since is when the negotiation first let each party send; firstSDP
	// when each party's first SDP of the stream came.
	since, firstSDP [2]time.Time
	all             [2][]netip.AddrPort // every address each party named (c= and RTP candidates), once
	// allRoom is all's room for the usual one address a party names.
	allRoom [2][1]netip.AddrPort
	// noSDP: no SDP of the stream is in the capture (unseenSDPStream).
	noSDP bool
	// onOneHost follows the times the latest offer and answer named one
	// address for both parties (sameHost).
	onOneHost oneHostSpan
}

// oneHostSpan is how long a stream's latest offer and answer named two
// ports of one address: pair, the first such pair, since when the
// current span began (zero: none runs), and before, the spans ended.
type oneHostSpan struct {
	pair   [2]netip.AddrPort
	since  time.Time
	before time.Duration
	last   time.Time
}

// follow notes the stream's latest pair a, b as of at. An SDP older than
// the last one followed (a proxy's copy of an answer, filed with its leg
// after the re-INVITEs that came later) changes nothing.
func (h *oneHostSpan) follow(a, b *sdpMedia, at time.Time) {
	if at.Before(h.last) {
		return
	}
	h.last = at
	same := a != nil && b != nil && a.Addr.IsValid() && b.Addr.IsValid() && !isHoldAddress(a.Addr) &&
		a.Addr.Addr() == b.Addr.Addr() && a.Addr != b.Addr
	switch {
	case same && h.since.IsZero():
		h.since = at
		if !h.pair[0].IsValid() {
			h.pair = [2]netip.AddrPort{a.Addr, b.Addr}
		}
	case !same && !h.since.IsZero():
		h.before += at.Sub(h.since)
		h.since = time.Time{}
	}
}

// lasted is how long the pair named one address, up to end.
func (h *oneHostSpan) lasted(end time.Time) time.Duration {
	d := h.before
	if !h.since.IsZero() && end.After(h.since) {
		d += end.Sub(h.since)
	}
	return d
}

func newStreamState(index int, m *sdpMedia) *streamState {
	st := &streamState{index: index, media: m.Media, udptl: m.UDPTL}
	st.all[caller], st.all[callee] = st.allRoom[caller][:0], st.allRoom[callee][:0]
	return st
}

// replay builds the streams of a dialog from its SDP in order.
func replay(events []sdpEvent) []*streamState {
	var streams []*streamState
	var room [4]*streamState
	current := room[:0] // the stream each m= line carries now, by index
	for ei := range events {
		ev := &events[ei]
		for i := range ev.SDP.Media {
			m := &ev.SDP.Media[i]
			if i >= len(current) {
				current = append(current, make([]*streamState, i+1-len(current))...)
			}
			st := current[i]
			if st == nil || (st.media != m.Media && m.Port != 0) {
				if st != nil {
					st.replaced = true
				}
				st = newStreamState(i, m)
				st.setUpInCapture = ei > 0
				current[i] = st
				streams = append(streams, st)
			}
			st.latest[ev.Party], st.latestEv[ev.Party] = m, ev
			if st.firstSDP[ev.Party].IsZero() {
				st.firstSDP[ev.Party] = ev.Time
			}
			// Each address once: session timers re-send the same SDP every
			// few minutes, and a finding lists these addresses.
			if m.Addr.IsValid() && !isHoldAddress(m.Addr) && !contains(st.all[ev.Party], m.Addr) {
				st.all[ev.Party] = append(st.all[ev.Party], m.Addr)
			}
			for _, c := range m.Candidates { // ICE sends from a candidate
				if c.Component == 1 && !contains(st.all[ev.Party], c.Addr) {
					st.all[ev.Party] = append(st.all[ev.Party], c.Addr)
				}
			}
			st.evaluate()
			st.onOneHost.follow(st.latest[caller], st.latest[callee], ev.Time)
			for p, ok := range st.sending {
				if ok && st.since[p].IsZero() {
					st.since[p] = ev.Time
				}
			}
		}
	}
	return streams
}

// evaluate applies RFC 3264 §5.1/§6.1 to the latest pair: a direction flows
// when its sender may send, its receiver may receive, neither side
// rejected the stream (port 0) or held it with c=0.0.0.0 (RFC 3264 §8.4).
func (st *streamState) evaluate() {
	a, b := st.latest[caller], st.latest[callee]
	if a == nil || b == nil || a.Media != b.Media {
		return
	}
	st.negotiate(a.Port == 0 || b.Port == 0, a.holds() || b.holds(),
		[2]bool{sends(a.Direction) && receives(b.Direction), sends(b.Direction) && receives(a.Direction)})
}

// negotiate sets what an offer/answer let flow: nothing when the stream
// was declined or held, else the directions dirs.
func (st *streamState) negotiate(declined, held bool, dirs [2]bool) {
	st.declined = declined
	switch {
	case declined:
		dirs, st.held = [2]bool{}, false
	case held:
		dirs, st.held = [2]bool{}, true
	default:
		st.held = !(dirs[0] && dirs[1])
	}
	st.sending = dirs
	st.expected[0] = st.expected[0] || dirs[0]
	st.expected[1] = st.expected[1] || dirs[1]
}

// assumeAnswered judges, in a dialog whose answer the capture missed (a 2xx
// not in it, sipCall.inferAnswer) or whose SDP the capture's snap length
// cut (sipInfo.BodyCut), each stream with one side only by that side: an
// answer may narrow the offer's direction (RFC 3264 §6.1) but mostly
// mirrors it, and the RTP shows what really flowed.
func assumeAnswered(streams []*streamState) {
	for _, st := range streams {
		m, p := st.latest[caller], caller
		if m == nil {
			m, p = st.latest[callee], callee
		}
		if m == nil || st.latest[other(p)] != nil {
			continue
		}
		var dirs [2]bool
		dirs[p], dirs[other(p)] = sends(m.Direction), receives(m.Direction)
		st.negotiate(m.Port == 0, m.holds(), dirs)
	}
}

// unseenSDPStream is the stream of a call whose SDP the capture lost
// (sipCall.sdpMissing) while it holds RTP bound to the call by the
// parties' hosts: one audio stream either party may send on, judged by
// what flowed (StreamFacts.NoSDP).
func unseenSDPStream() *streamState {
	st := newStreamState(0, &sdpMedia{Media: "audio"})
	st.noSDP = true
	st.negotiate(false, false, [2]bool{true, true})
	return st
}

// facts are the stream's negotiation facts for JudgeStream.
func (st *streamState) facts() StreamFacts {
	return StreamFacts{Expected: st.expected, HeldAtEnd: st.held, Declined: st.declined && st.expected == [2]bool{},
		SetUpInCapture: st.setUpInCapture, Fax: st.udptl, NoSDP: st.noSDP}
}

// carries says whether a flow bound to m= line mIndex belongs to this
// stream: the line matches (any line when the dialog has one stream), and
// so does the kind of packets (UDPTL or RTP) when the line changed kind.
// A fax (UDPTL) flow bound to an audio line, sent to an audio address,
// belongs to the dialog's first T.38 stream: it is fax all the same.
func (st *streamState) carries(bf boundFlow, streams []*streamState) bool {
	if len(streams) == 1 {
		return true
	}
	if bf.flow.udptl && !faxAt(streams, bf.bd.mIndex) {
		if i := slices.IndexFunc(streams, func(o *streamState) bool { return o.udptl }); i >= 0 {
			return streams[i] == st
		}
	}
	if bf.bd.mIndex != st.index {
		return false
	}
	for _, o := range streams {
		if o != st && o.index == st.index {
			return bf.flow.udptl == st.udptl // the line changed kind
		}
	}
	return true
}

// faxAt says whether a T.38 stream is on m= line index.
func faxAt(streams []*streamState, index int) bool {
	return slices.ContainsFunc(streams, func(o *streamState) bool { return o.udptl && o.index == index })
}

// streamOf returns the stream a flow belongs to, or nil.
func streamOf(bf boundFlow, streams []*streamState) *streamState {
	for _, st := range streams {
		if st.carries(bf, streams) {
			return st
		}
	}
	return nil
}
