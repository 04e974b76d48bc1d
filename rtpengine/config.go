package rtpengine

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// EngineConfig is one engine as natdoc serve is told it.
type EngineConfig struct {
	// Addr is its ng control address (UDP).
	Addr netip.AddrPort
	// Weight is its share of new calls relative to the others (default 1).
	Weight int
	// Main and Local name its logical interfaces (rtpengine
	// --interface=NAME/ADDR) facing peers given the server's main address
	// and LAN peers given the additional one; both empty: it has one
	// interface and gets no direction.
	Main, Local string
}

// maxWeight keeps weights meaningful (a share, not a count).
const maxWeight = 1000

// ParseEngine reads "udp:HOST:PORT[,weight=N][,main=IF,local=IF]" (the
// value of --media rtpengine=...). HOST is an IP or a name resolved now.
func ParseEngine(s string) (EngineConfig, error) {
	parts := strings.Split(s, ",")
	addr, ok := strings.CutPrefix(parts[0], "udp:")
	if !ok {
		return EngineConfig{}, fmt.Errorf("rtpengine %q: want udp:HOST:PORT (the engine's --listen-ng)", s)
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil || ua.Port == 0 {
		return EngineConfig{}, fmt.Errorf("rtpengine %q: want udp:HOST:PORT: %v", s, err)
	}
	ap := ua.AddrPort()
	e := EngineConfig{Addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), Weight: 1}
	for _, kv := range parts[1:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "weight":
			if e.Weight, err = strconv.Atoi(v); err != nil || e.Weight < 1 || e.Weight > maxWeight {
				return EngineConfig{}, fmt.Errorf("rtpengine %q: weight %q: want 1-%d", s, v, maxWeight)
			}
		case "main":
			e.Main = v
		case "local":
			e.Local = v
		default:
			return EngineConfig{}, fmt.Errorf("rtpengine %q: unknown option %q (weight=, main=, local=)", s, k)
		}
	}
	if (e.Main == "") != (e.Local == "") {
		return EngineConfig{}, fmt.Errorf("rtpengine %q: main= and local= name its two interfaces: give both or neither", s)
	}
	return e, nil
}

// String is the engine as ParseEngine reads it.
func (e EngineConfig) String() string {
	s := "udp:" + e.Addr.String()
	if e.Weight > 1 {
		s += ",weight=" + strconv.Itoa(e.Weight)
	}
	if e.Main != "" {
		s += ",main=" + e.Main + ",local=" + e.Local
	}
	return s
}
