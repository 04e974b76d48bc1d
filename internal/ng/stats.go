package ng

import (
	"net/netip"
	"strconv"
	"time"
)

// CallStats is what an engine counted for one call (a query or delete
// reply), per party.
type CallStats struct {
	// Parties by SIP tag (the From tag of the caller, the To tag of the
	// callee).
	Parties map[string]PartyStats
	// RTP and RTCP are the call's totals, every party summed.
	RTP, RTCP Counts
}

// PartyStats is the first audio stream of one party as the engine saw it.
type PartyStats struct {
	// Local is the engine's address this party sends to.
	Local netip.AddrPort
	// Endpoint is where the engine sends this party's media: learned from
	// its packets once they came (latched), until then from its SDP or
	// its SIP source.
	Endpoint netip.AddrPort
	// Advertised is the address in the party's SDP.
	Advertised netip.AddrPort
	// RTP and RTCP count what the engine received from this party.
	RTP, RTCP Counts
	// LastPacket: when its last packet came (zero: none).
	LastPacket time.Time
}

// Counts are packets, bytes and errors of one stream.
type Counts struct {
	Packets, Bytes, Errors uint64
}

// ReadCallStats reads a query or delete reply. Missing or mistyped keys
// read as zero: a reply of another rtpengine version loses figures, not
// the call.
func ReadCallStats(r map[string]any) CallStats {
	cs := CallStats{Parties: map[string]PartyStats{}}
	totals := dict(r["totals"])
	cs.RTP, cs.RTCP = readCounts(totals["RTP"]), readCounts(totals["RTCP"])
	for tag, v := range dict(r["tags"]) {
		cs.Parties[tag] = readParty(dict(v))
	}
	return cs
}

// readParty takes the RTP and RTCP streams of the party's first audio
// media.
func readParty(t map[string]any) PartyStats {
	var p PartyStats
	for _, m := range list(t["medias"]) {
		md := dict(m)
		if str(md["type"]) != "audio" {
			continue
		}
		for _, s := range list(md["streams"]) {
			sd := dict(s)
			if hasFlag(sd, "RTCP") {
				p.RTCP = readCounts(sd["stats"])
				continue
			}
			p.Local = netip.AddrPortFrom(addr(sd["local address"]), port(sd["local port"]))
			p.Endpoint, p.Advertised = endpoint(sd["endpoint"]), endpoint(sd["advertised endpoint"])
			p.RTP = readCounts(sd["stats"])
			if last := num(sd["last packet"]); last > 0 && p.RTP.Packets > 0 {
				p.LastPacket = time.Unix(last, 0)
			}
		}
		break
	}
	return p
}

func hasFlag(d map[string]any, flag string) bool {
	for _, f := range list(d["flags"]) {
		if str(f) == flag {
			return true
		}
	}
	return false
}

func endpoint(v any) netip.AddrPort {
	d := dict(v)
	return netip.AddrPortFrom(addr(d["address"]), port(d["port"]))
}

func readCounts(v any) Counts {
	d := dict(v)
	return Counts{Packets: unum(d["packets"]), Bytes: unum(d["bytes"]), Errors: unum(d["errors"])}
}

// EngineStats are an engine's own figures (the statistics command).
type EngineStats struct {
	// Sessions in progress on this engine, and the rates over its last
	// second.
	Sessions                        int64
	PacketRate, ByteRate, ErrorRate int64
	// Since the engine started: sessions ended, those that timed out
	// (no media), streams with media one way or none, packets relayed.
	Managed, TimedOut, Rejected   int64
	OneWay, NoWay                 int64
	RelayedPackets, RelayedErrors int64
	RelayedBytes                  int64
}

// ReadEngineStats reads a statistics reply; missing keys read as zero.
func ReadEngineStats(r map[string]any) EngineStats {
	st := dict(r["statistics"])
	cur, tot := dict(st["currentstatistics"]), dict(st["totalstatistics"])
	return EngineStats{Sessions: num(cur["sessionsown"]), PacketRate: num(cur["packetrate"]), ByteRate: num(cur["byterate"]),
		ErrorRate: num(cur["errorrate"]), Managed: num(tot["managedsessions"]), TimedOut: num(tot["timeoutsessions"]),
		Rejected: num(tot["rejectedsessions"]), OneWay: num(tot["onewaystreams"]), NoWay: num(tot["zerowaystreams"]),
		RelayedPackets: num(tot["relayedpackets"]), RelayedErrors: num(tot["relayedpacketerrors"]), RelayedBytes: num(tot["relayedbytes"])}
}

// Readers of decoded values that tolerate any type: a wrong one is zero.

func dict(v any) map[string]any {
	d, _ := v.(map[string]any)
	return d
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// num reads an integer, also one sent as a string ("uptime": "1").
func num(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

// port reads a port number; one out of range is zero.
func port(v any) uint16 {
	if n := num(v); n > 0 && n <= 65535 {
		return uint16(n)
	}
	return 0
}

func unum(v any) uint64 { return uint64(max(num(v), 0)) }

func addr(v any) netip.Addr {
	a, _ := netip.ParseAddr(str(v))
	return a.Unmap()
}
