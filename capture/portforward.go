package capture

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/natdoc/natdoc/report"
)

// A server behind its router, whose SDP names the router's public address
// (an external address set), gets media only on the RTP ports the router
// forwards to it. When its RTP range is wider than the forward, calls on
// ports inside the forward are two-way and the rest one-way: the server
// hears nothing. One call cannot tell that from any other lost media; the
// capture's calls together can, when the calls the server heard used one
// block of its ports and those it did not hear lie outside it: all above,
// all below (a forward of the range's start, 10000-10100 for Asterisk's
// 10000-20000), or on both sides (a forward of a window inside it).

// IDRTPRangePartlyForwarded: calls to a receiver behind NAT were heard on
// one range of its RTP ports and not heard on ports beyond it.
const IDRTPRangePartlyForwarded report.FindingID = "rtp-port-range-partly-forwarded"

const (
	// maxForwardHosts bounds the receivers followed: one per server or
	// phone behind NAT that the capture sees inside it.
	maxForwardHosts = 256
	// minForwardCalls is how many heard and how many unheard calls each a
	// receiver needs before its ports say anything, and maxChance how
	// likely the split may be by chance at most: a server that picks its
	// ports at random (Asterisk does) puts 2 unheard calls above 2 heard
	// ones one time in 3, 4 above 4 one time in 35.
	minForwardCalls = 3
	maxChance       = 0.05
	// maxDeafPorts bounds the unheard calls' ports kept per receiver, to
	// tell whether any lies inside the heard calls' range; past it only
	// the one-sided split (lowest and highest port) is judged.
	maxDeafPorts = 1024
)

// forwardedPorts follows, per receiver seen inside its NAT, the RTP ports
// of its calls that it heard and of those it did not.
type forwardedPorts struct {
	byHost map[netip.Addr]*hostPorts
	order  []netip.Addr // in the order first seen, for stable reports
}

// hostPorts is one receiver's calls: how many it heard and did not, and
// the lowest and highest port of each kind.
type hostPorts struct {
	public           netip.Addr // the address its SDP names
	heard, deaf      int
	heardLo, heardHi uint16
	deafLo, deafHi   uint16
	deafPorts        []uint16 // the unheard calls' ports, up to maxDeafPorts
	firstDeaf        string   // the Call-ID of the first unheard call
}

// note records one direction of a judged stream toward a receiver at
// private address host, whose SDP named public:port. heard: RTP arrived;
// otherwise it sent RTP and none came back to it (one-way).
func (f *forwardedPorts) note(host netip.Addr, sdp netip.AddrPort, heard bool, callID string) {
	if f == nil {
		return
	}
	h := f.byHost[host]
	if h == nil {
		if len(f.byHost) >= maxForwardHosts {
			return
		}
		if f.byHost == nil {
			f.byHost = map[netip.Addr]*hostPorts{}
		}
		h = &hostPorts{public: sdp.Addr()}
		f.byHost[host] = h
		f.order = append(f.order, host)
	}
	port := sdp.Port()
	if heard {
		h.heardLo, h.heardHi = widen(h.heard, h.heardLo, h.heardHi, port)
		h.heard++
		return
	}
	h.deafLo, h.deafHi = widen(h.deaf, h.deafLo, h.deafHi, port)
	if h.deaf == 0 {
		h.firstDeaf = callID
	}
	if len(h.deafPorts) < maxDeafPorts {
		h.deafPorts = append(h.deafPorts, port)
	}
	h.deaf++
}

// widen extends [lo, hi], which holds n ports, by port.
func widen(n int, lo, hi, port uint16) (uint16, uint16) {
	if n == 0 {
		return port, port
	}
	return min(lo, port), max(hi, port)
}

// Where the unheard calls' ports lie against the heard calls' range.
type portSplit int

const (
	noSplit     portSplit = iota
	splitAbove            // every unheard port above every heard one
	splitBelow            // every unheard port below every heard one
	splitAround           // unheard ports below and above, none within
)

// split says whether the receiver's heard calls' ports form one block
// that its unheard calls' ports all lie outside of, with enough calls of
// each kind that chance is unlikely (splitChance).
func (h *hostPorts) split() portSplit {
	if h.heard < minForwardCalls || h.deaf < minForwardCalls {
		return noSplit
	}
	ends := splitChance(h.heard, h.deaf, false) <= maxChance
	switch {
	case h.deafLo > h.heardHi && ends:
		return splitAbove
	case h.deafHi < h.heardLo && ends:
		return splitBelow
	case len(h.deafPorts) < h.deaf || splitChance(h.heard, h.deaf, true) > maxChance:
		return noSplit
	}
	for _, p := range h.deafPorts {
		if p >= h.heardLo && p <= h.heardHi {
			return noSplit
		}
	}
	return splitAround
}

// unheardCalls counts the unheard calls the findings explain.
func (f *forwardedPorts) unheardCalls() int {
	n := 0
	for _, h := range f.byHost {
		if h.split() != noSplit {
			n += h.deaf
		}
	}
	return n
}

// findings names each receiver whose calls' ports split (hostPorts.split).
func (f *forwardedPorts) findings() []report.Finding {
	var fs []report.Finding
	for _, host := range f.order {
		h := f.byHost[host]
		beyond := ""
		switch h.split() {
		case noSplit:
			continue
		case splitAbove:
			beyond = "above them"
		case splitBelow:
			beyond = "below them"
		case splitAround:
			beyond = "below and above them"
		}
		fs = append(fs, report.Finding{
			ID: IDRTPRangePartlyForwarded, Severity: report.SeverityWarning,
			Title: fmt.Sprintf("RTP reaches %s (its SDP names %s) only on some of its ports: %d calls on ports %s were heard, "+
				"%d calls on ports %s %s were not: its router forwards fewer RTP ports than it uses",
				host, h.public, h.heard, portRange(h.heardLo, h.heardHi), h.deaf, portRange(h.deafLo, h.deafHi), beyond),
			Evidence: []report.Evidence{
				{Text: fmt.Sprintf("heard: %d calls, RTP to ports %s", h.heard, portRange(h.heardLo, h.heardHi))},
				{Text: fmt.Sprintf("not heard (one-way, it sent RTP and none came back): %d calls, RTP to ports %s, the first %s",
					h.deaf, portRange(h.deafLo, h.deafHi), h.firstDeaf)},
			},
			Remedy: remedyForwardRTPRange,
		})
	}
	return fs
}

// splitChance is how likely heard and deaf calls on ports picked at
// random fall apart as they did: of the C(heard+deaf, deaf) orders of
// their ports, 2 put the unheard all above the heard or all below, and
// deaf+1 put the heard in one block anywhere (around: unheard on both
// sides allowed). A router forwards the start of a range far more often
// than a window inside it, so the ends are judged on their own chance.
func splitChance(heard, deaf int, around bool) float64 {
	ways := 1.0
	for k := 1; k <= deaf; k++ {
		ways = ways * float64(heard+k) / float64(k)
	}
	if around {
		return float64(deaf+1) / ways
	}
	return 2 / ways
}

// portRange writes lo-hi, or one port.
func portRange(lo, hi uint16) string {
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

const remedyForwardRTPRange = "Forward the whole RTP port range (UDP) the server uses on its router to it, as its RTP settings name it " +
	"(Asterisk rtp.conf rtpstart-rtpend, FreeSWITCH rtp-start-port and rtp-end-port), or narrow that range to the ports the router forwards."

// noteForwards records, for each direction of the call's streams toward a
// party seen inside its NAT whose SDP names a public address, whether it
// heard the other party (forwardedPorts).
func (cb *callBuild) noteForwards(streams []*streamState, facts []StreamFacts, v StreamVerdict, sigs [2]netip.AddrPort) {
	if cb.forwards == nil || (v.Verdict != report.VerdictTwoWay && v.Verdict != report.VerdictOneWay) {
		return
	}
	for k, st := range streams {
		sf := facts[k]
		for p := range 2 {
			m, from := st.latest[p], other(p)
			if m == nil || !IsPrivate(sigs[p].Addr()) || !isPublic(m.Addr.Addr()) || !sf.Expected[from] {
				continue
			}
			switch {
			case sf.Delivered[from] > 0:
				cb.forwards.note(sigs[p].Addr(), m.Addr, true, cb.call.CallID)
			case sf.seen(from) == 0 && sf.seen(p) > 0 && v.CannotHear == partyNames[p] && !slices.Contains(cb.roles[:], "proxy"):
				cb.forwards.note(sigs[p].Addr(), m.Addr, false, cb.call.CallID)
			}
		}
	}
}
