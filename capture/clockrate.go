package capture

import (
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// RFC 3550 §6.4.1 and Appendix A.8 compute interarrival jitter in RTP
// timestamp units, so a stream's jitter needs its payload type's clock rate.
// Static types have theirs in RFC 3551 §6; dynamic ones (96-127: Opus at
// 48 kHz, G.722.2, video at 90 kHz) only in the SDP's a=rtpmap. The rates
// of the SDP of calls in progress are indexed by the address their author
// receives media on, so a stream can take its rate when its first packet
// arrives (the offer and answer come before the media they describe).

// rtpmapEntry is one m= line's clock rates and the call it belongs to.
type rtpmapEntry struct {
	rates  clockRates
	codecs []string // "PT name/rate", for the quality figures (quality.go)
	proto  string   // RTP/AVP, RTP/SAVP, ...
	crypto []string // a=crypto values, for SDES-SRTP (srtp.go)
	call   *sipCall
	// udptl: the address receives T.38 fax (UDPTL), not RTP.
	udptl bool
	// from is the SDP the entry came from: a resent message shares its
	// first copy's, and has nothing new to note.
	from *sdpInfo
}

// noteRtpmaps indexes the clock rates an SDP gives; a later SDP for the
// same address replaces an earlier one (a re-INVITE may change codecs).
func (s *state) noteRtpmaps(sd *sdpInfo, c *sipCall, at time.Time) {
	if sd == nil || c == nil {
		return
	}
	for i := range sd.Media {
		m := &sd.Media[i]
		if !m.Addr.IsValid() || (len(m.Rates) == 0 && !m.UDPTL) {
			continue
		}
		e, ok := s.rtpmaps[m.Addr]
		switch {
		case ok && e.from == sd && e.call == c && bundledBefore(sd, i) && !e.rates.has(m.Rates):
			// BUNDLE (RFC 9143): an earlier m= line of this SDP is on the
			// same address; a packet's payload type tells the lines apart.
			e.rates = append(append(clockRates(nil), e.rates...), m.Rates...)
			e.codecs = append(append([]string(nil), e.codecs...), m.Codecs...)
			s.rtpmaps[m.Addr] = e
			continue
		case ok && e.from == sd && e.call == c:
			continue // noted already
		case !ok && len(s.rtpmaps) >= s.limits.Streams:
			continue // bounded like the stream table
		}
		if ok && e.call != c && e.call.group != c.group {
			s.sealFlows(m.Addr, at) // sealflows.go
		}
		if !ok || e.call != c {
			c.rtpmapAddrs = append(c.rtpmapAddrs, m.Addr)
		}
		s.rtpmaps[m.Addr] = rtpmapEntry{rates: m.Rates, codecs: m.Codecs, proto: m.Proto, crypto: m.Crypto, call: c, udptl: m.UDPTL, from: sd}
		s.rtpmapPorts[m.Addr.Port()] = m.Addr
	}
}

// has says whether r holds all of more (a resent SDP's m= lines were
// merged already).
func (r clockRates) has(more clockRates) bool {
	for _, x := range more {
		if !slices.Contains(r, x) {
			return false
		}
	}
	return true
}

// bundledBefore says whether an m= line before line i of sd is on line
// i's address: noteRtpmaps has just noted it, in this same pass.
func bundledBefore(sd *sdpInfo, i int) bool {
	for j := range i {
		if sd.Media[j].Addr == sd.Media[i].Addr && (len(sd.Media[j].Rates) > 0 || sd.Media[j].UDPTL) {
			return true
		}
	}
	return false
}

// forgetRtpmaps drops the entries of finalised calls.
func (s *state) forgetRtpmaps(gone map[*sipCall]bool) {
	if len(gone) == 0 {
		return
	}
	for c := range gone {
		for _, a := range c.rtpmapAddrs {
			if e, ok := s.rtpmaps[a]; ok && e.call == c {
				delete(s.rtpmaps, a)
				if s.rtpmapPorts[a.Port()] == a {
					delete(s.rtpmapPorts, a.Port())
				}
			}
		}
	}
}

// clockRate gives the rate of payload type pt in the stream k: the rtpmap
// of the SDP that asked for media at the stream's destination, else at its
// source (RFC 3264 §6.1: an answer keeps the offer's payload type numbers,
// so both directions share them, which also covers media sent to a NAT
// mapping the SDP never named), else RFC 3551's static rate, 8 kHz for an
// unknown dynamic type.
func (s *state) clockRate(src, dst netip.AddrPort, pt uint8) (rate float64, guessed bool) {
	if r, ok := s.sdpClockRate(src, dst, pt); ok {
		return r, false
	}
	return staticClockRate(pt), pt > maxStaticPT
}

// sdpClockRate is the clock rate an SDP gives the payload type of a
// stream between src and dst.
func (s *state) sdpClockRate(src, dst netip.AddrPort, pt uint8) (float64, bool) {
	for _, a := range [2]netip.AddrPort{dst, src} {
		if e, ok := s.rtpmaps[a]; ok {
			if r, ok := e.rates.rate(pt); ok {
				return r, true
			}
		}
	}
	if e, ok := s.rtpmapOnPort(src, dst, pt); ok {
		return e.rates.rate(pt)
	}
	return 0, false
}

// adoptClock gives a stream whose clock was guessed (its first packet's
// payload type is one no SDP names and RFC 3551 does not assign:
// Linphone's first packet on 95, sent before the answer) the clock of a
// later type of it: a dynamic one an SDP names, or a static voice codec
// (PCMU, PCMA, G.722, G.729: SDP may name them without rtpmap), which
// also names the stream's codec. Called only when the type changes, so a
// stream of one unknown type costs nothing.
func (s *state) adoptClock(f *rtpFlow, pt uint8) {
	r, ok := s.sdpClockRate(f.Key.Src, f.Key.Dst, pt)
	if !ok && staticVoice(pt) {
		r, ok = staticClockRate(pt), true
	}
	if !ok {
		return
	}
	f.clockRate, f.clockPT, f.clockGuessed = r, pt, false
	f.span, f.haveTransit = 0, false // the guessed clock's transit is not this one's
	if f.q.codec == "" && f.srtp == nil {
		s.describeFlow(f, pt)
	}
}

// rtpmapOnPort finds the rtpmap of a stream neither of whose addresses an
// SDP named (both parties behind NATs, media sent between their
// mappings) by the port of one of them: most NATs keep a media socket's
// port, so the SDP that named that port, with a rtpmap for the stream's
// payload type, describes it. Without it an H.264 stream at 90 kHz, or
// Opus at 48 kHz, is timed at 8 kHz, and its jitter is many times what it
// is.
func (s *state) rtpmapOnPort(src, dst netip.AddrPort, pt uint8) (rtpmapEntry, bool) {
	for _, a := range [2]netip.AddrPort{dst, src} {
		named, ok := s.rtpmapPorts[a.Port()]
		if !ok {
			continue
		}
		if e, ok := s.rtpmaps[named]; ok {
			if _, ok := e.rates.rate(pt); ok {
				return e, true
			}
		}
	}
	return rtpmapEntry{}, false
}

// staticVoice says whether pt is a static payload type of a voice codec
// (RFC 3551 §6), comfort noise aside.
func staticVoice(pt uint8) bool {
	return pt != 13 && staticCodecName[strconv.Itoa(int(pt))] != ""
}
