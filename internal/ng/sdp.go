package ng

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// AudioSDP is a minimal G.711 offer or answer receiving RTP at addr.
func AudioSDP(addr netip.AddrPort, sessionID int) string {
	ip := addr.Addr().String()
	return "v=0\r\n" +
		"o=- " + strconv.Itoa(sessionID) + " 1 IN IP4 " + ip + "\r\n" +
		"s=natdoc-bench\r\n" +
		"c=IN IP4 " + ip + "\r\n" +
		"t=0 0\r\n" +
		"m=audio " + strconv.Itoa(int(addr.Port())) + " RTP/AVP 0\r\n" +
		"a=rtpmap:0 PCMU/8000\r\n" +
		"a=sendrecv\r\n"
}

// MediaAddr reads the first audio stream's address from an SDP body: the
// media-level c= line if present, else the session-level one (RFC 4566
// §5.7), and the port of the first m=audio line.
func MediaAddr(sdp string) (netip.AddrPort, error) {
	var session, media string
	port := -1
lines:
	for line := range strings.Lines(sdp) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "m="):
			if port >= 0 {
				break lines // the next stream's lines are not ours
			}
			f := strings.Fields(line[2:])
			if len(f) >= 2 && f[0] == "audio" {
				p, err := strconv.Atoi(f[1])
				if err != nil || p < 0 || p > 65535 {
					return netip.AddrPort{}, fmt.Errorf("sdp: bad port in %q", line)
				}
				port = p
			}
		case strings.HasPrefix(line, "c=IN IP4 ") || strings.HasPrefix(line, "c=IN IP6 "):
			a := strings.Fields(line[len("c=IN IP4 "):])
			if len(a) == 0 {
				continue
			}
			if port >= 0 && media == "" {
				media = a[0]
			} else if port < 0 {
				session = a[0]
			}
		}
	}
	if port < 0 {
		return netip.AddrPort{}, errors.New("sdp: no m=audio line")
	}
	host := media
	if host == "" {
		host = session
	}
	ip, err := netip.ParseAddr(strings.SplitN(host, "/", 2)[0])
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("sdp: connection address %q: %w", host, err)
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}
