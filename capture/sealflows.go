package capture

import (
	"net/netip"
	"time"
)

// A stream is keyed by its addresses and SSRC, but consecutive calls
// between the same two media addresses can send under the same SSRC too:
// sipp replays the same RTP file for every call of a test, and some
// gateways and media servers start every call's stream with a fixed SSRC.
// Keyed alone, every call's RTP would be one stream spanning them all,
// bound to the first call, and the later calls would read as one-way. So
// when a new call's SDP names an address another call named (noteRtpmaps),
// the streams to and from it that have gone quiet are sealed: the same
// key then starts a new stream, which binds to the call in whose time it
// began. A stream still flowing is left whole: a transfer hands it on.

// sealIdle is how long a stream must have been quiet for a new call to
// take its addresses over: a stream of a call in progress sends every
// 20-60 ms, and a call's media stops with its BYE.
const sealIdle = time.Second

// sealFlows seals the streams to and from addr (its RTP port and the
// RTCP port after it) quiet since sealIdle before at.
func (s *state) sealFlows(addr netip.AddrPort, at time.Time) {
	var sealed []*rtpFlow
	for k, f := range s.flows {
		if k.sealed == 0 && (onMediaPorts(k.Src, addr) || onMediaPorts(k.Dst, addr)) && at.Sub(f.Last()) >= sealIdle {
			sealed = append(sealed, f)
		}
	}
	for _, f := range sealed {
		s.unkey(f)
		s.sealedFlows++
		f.Key.sealed = s.sealedFlows
		s.flows[f.Key] = f
	}
}

// onMediaPorts says whether a is addr's RTP port or the RTCP port after it.
func onMediaPorts(a, addr netip.AddrPort) bool {
	return a.Addr() == addr.Addr() && (a.Port() == addr.Port() || a.Port() == addr.Port()+1)
}

// unkey removes f from the tables that find a stream by its key.
func (s *state) unkey(f *rtpFlow) {
	delete(s.flows, f.Key)
	if !f.Key.RTCP && f.Key.Src.Addr().Is4() && f.Key.Dst.Addr().Is4() {
		k := fastKey(f.Key.Src, f.Key.Dst, f.Key.SSRC)
		if s.fast[k] == f {
			delete(s.fast, k)
		}
		if slot := &s.recent[recentSlot(k)]; slot.f == f {
			*slot = recentFlow{}
		}
	}
}
