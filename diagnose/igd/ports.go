package igd

import (
	"fmt"
	"sort"
	"strings"
)

// PortRange is an inclusive range of ports.
type PortRange struct{ Lo, Hi uint16 }

// Len is the number of ports in r; the zero PortRange is empty.
func (r PortRange) Len() int {
	if r.Lo == 0 || r.Hi < r.Lo {
		return 0
	}
	return int(r.Hi) - int(r.Lo) + 1
}

// Contains reports whether p is in r.
func (r PortRange) Contains(p uint16) bool { return r.Lo <= p && p <= r.Hi }

// Covers reports whether all of o is in r.
func (r PortRange) Covers(o PortRange) bool { return r.Lo <= o.Lo && o.Hi <= r.Hi }

func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return fmt.Sprint(r.Lo)
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// rangesText lists ranges for people: "40000-40100, 50000-50010".
func rangesText(rs []PortRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// portsIn counts the ports of rs.
func portsIn(rs []PortRange) int {
	n := 0
	for _, r := range rs {
		n += r.Len()
	}
	return n
}

// searchLow and searchHigh bound where natdoc looks for allowed ports:
// below 1024 are the system ports, which no SIP server's RTP uses and
// many routers refuse anyway.
const (
	searchLow  = 1024
	searchHigh = 65535
)

// portState is what natdoc learned about one external port.
type portState int8

const (
	portUnknown portState = iota
	portAllowed           // a mapping there was accepted
	portRefused           // the router's rules refuse it
	// portTaken: another client holds it, so natdoc cannot ask; it is
	// counted with the allowed ports around it (routers allow ranges).
	portTaken
)

// allowedRanges reads the ranges of allowed ports out of what natdoc
// learned: maximal runs of allowed (or taken) ports with no refused port
// between them, from their lowest to their highest allowed port. Ports
// inside a run that were never asked count as allowed: rules allow
// ranges, and the boundaries are where the search found them.
func allowedRanges(known map[uint16]portState) []PortRange {
	ports := make([]int, 0, len(known))
	for p, st := range known {
		if st != portUnknown {
			ports = append(ports, int(p))
		}
	}
	sort.Ints(ports)
	var out []PortRange
	open := false
	for _, p := range ports {
		switch known[uint16(p)] {
		case portRefused:
			open = false
		case portAllowed, portTaken:
			if open {
				out[len(out)-1].Hi = uint16(p)
			} else {
				out = append(out, PortRange{uint16(p), uint16(p)})
				open = true
			}
		}
	}
	return out
}

// rangeFrom orders ranges for filling: the one holding start (from start
// on), then those above it, then those below.
func rangeFrom(rs []PortRange, start uint16) []PortRange {
	var above, below []PortRange
	for _, r := range rs {
		switch {
		case r.Contains(start):
			above = append([]PortRange{{start, r.Hi}}, above...)
			if r.Lo < start {
				below = append(below, PortRange{r.Lo, start - 1})
			}
		case r.Lo > start:
			above = append(above, r)
		default:
			below = append(below, r)
		}
	}
	return append(above, below...)
}

// spreadPorts are where the search asks first: evenly across
// searchLow-searchHigh, and the RTP ranges SIP servers and phones use by
// default (Asterisk 10000-20000, FreeSWITCH 16384-32768, the IANA dynamic
// range from 49152).
func spreadPorts() []uint16 {
	const n = 16
	seen := map[uint16]bool{}
	var out []uint16
	add := func(p uint16) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range []uint16{10000, 16384, 20000, 30000, 40000, 49152} {
		add(p)
	}
	for i := range n {
		add(uint16(searchLow + i*(searchHigh-searchLow)/(n-1)))
	}
	return out
}

// rtpAdvice says what the allowed ranges mean for a SIP server whose RTP
// range is rtp: "" when rtp is allowed (or nothing is known to be
// refused).
func rtpAdvice(rtp PortRange, allowed []PortRange) string {
	if rtp.Len() == 0 {
		return ""
	}
	for _, a := range allowed {
		if a.Covers(rtp) {
			return ""
		}
	}
	if len(allowed) == 0 {
		return fmt.Sprintf("Forward UDP %s (the RTP range) and the SIP port by hand: the router's UPnP rules allow none of the ports natdoc tried.", rtp)
	}
	best := allowed[0]
	for _, a := range allowed[1:] {
		if a.Len() > best.Len() {
			best = a
		}
	}
	pairs := best.Len() / 2
	return fmt.Sprintf("Forward UDP %s by hand, or set the SIP server's RTP range to the allowed %s (%d RTP/RTCP pairs).", rtp, best, pairs)
}
