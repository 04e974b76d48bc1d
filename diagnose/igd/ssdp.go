package igd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// ssdpGroup is the SSDP multicast group and port (UPnP Device Architecture
// 1.1 §1.1.1).
var ssdpGroup = netip.MustParseAddrPort("239.255.255.250:1900")

// Search targets: IGD v2 devices also answer v1 searches, but some only
// answer the exact type; we ask for both.
var ssdpTargets = []string{
	"urn:schemas-upnp-org:device:InternetGatewayDevice:2",
	"urn:schemas-upnp-org:device:InternetGatewayDevice:1",
}

// SSDPReply is one answer to an M-SEARCH, as parsed from the datagram.
type SSDPReply struct {
	From     netip.AddrPort // who sent it
	Location string         // root description URL
	ST       string
	USN      string
	Server   string
}

// buildMSearch returns the M-SEARCH request for target (UDA 1.1 §1.3.2).
func buildMSearch(target string) []byte {
	return []byte("M-SEARCH * HTTP/1.1\r\n" +
		"HOST: 239.255.255.250:1900\r\n" +
		"MAN: \"ssdp:discover\"\r\n" +
		fmt.Sprintf("MX: %d\r\n", ssdpMX) +
		"ST: " + target + "\r\n\r\n")
}

var errNotSSDPReply = errors.New("not an SSDP search reply")

// ParseSSDPReply parses a unicast reply to M-SEARCH. It accepts only
// "HTTP/1.x 200" replies with a LOCATION header of scheme http.
func ParseSSDPReply(b []byte) (SSDPReply, error) {
	var r SSDPReply
	if len(b) > maxSSDPReply {
		return r, fmt.Errorf("ssdp: reply of %d bytes: %w", len(b), errNotSSDPReply)
	}
	lines := bytes.Split(b, []byte("\n"))
	status := strings.Fields(strings.TrimSpace(string(lines[0])))
	if len(status) < 2 || !strings.HasPrefix(status[0], "HTTP/1.") || status[1] != "200" {
		return r, fmt.Errorf("ssdp: status line %.40q: %w", lines[0], errNotSSDPReply)
	}
	for _, line := range lines[1:] {
		name, value, ok := strings.Cut(strings.TrimSpace(string(line)), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToUpper(strings.TrimSpace(name)) {
		case "LOCATION":
			r.Location = value
		case "ST":
			r.ST = value
		case "USN":
			r.USN = value
		case "SERVER":
			r.Server = value
		}
	}
	if r.Location == "" {
		return r, fmt.Errorf("ssdp: no LOCATION: %w", errNotSSDPReply)
	}
	u, err := url.Parse(r.Location)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return r, fmt.Errorf("ssdp: LOCATION %.80q is no http URL: %w", r.Location, errNotSSDPReply)
	}
	return r, nil
}

// searchSSDP sends M-SEARCH from conn (an unconnected UDP socket the
// caller created, so tests control its namespace) and collects replies
// until the context ends or wait passes. Replies from one
// LOCATION are kept once. Malformed datagrams are counted, not fatal.
func searchSSDP(ctx context.Context, conn net.PacketConn, dst netip.AddrPort, wait time.Duration) (replies []SSDPReply, malformed int, err error) {
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := sendMSearch(conn, dst); err != nil {
		return nil, 0, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	nextSend := time.Now().Add(ssdpResend)
	c := ssdpCollector{seen: map[string]bool{}}
	buf := make([]byte, maxSSDPReply+1)
	for {
		if err := conn.SetReadDeadline(earliest(deadline, nextSend)); err != nil {
			return c.replies, c.malformed, fmt.Errorf("ssdp: %w", err)
		}
		n, from, err := conn.ReadFrom(buf)
		if ctx.Err() != nil {
			return c.replies, c.malformed, ctx.Err()
		}
		if err == nil {
			c.add(buf[:n], from)
			continue
		}
		if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
			return c.replies, c.malformed, fmt.Errorf("ssdp: read: %w", err)
		}
		now := time.Now()
		if !now.Before(deadline) {
			return c.replies, c.malformed, nil
		}
		if !now.Before(nextSend) {
			nextSend = now.Add(4 * ssdpResend) // one resend is enough
			if err := sendMSearch(conn, dst); err != nil {
				return c.replies, c.malformed, err
			}
		}
	}
}

// sendMSearch asks for every device type natdoc can use.
func sendMSearch(conn net.PacketConn, dst netip.AddrPort) error {
	for _, st := range ssdpTargets {
		if _, err := conn.WriteTo(buildMSearch(st), net.UDPAddrFromAddrPort(dst)); err != nil {
			return fmt.Errorf("ssdp: send M-SEARCH to %v: %w", dst, err)
		}
	}
	return nil
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// ssdpCollector keeps the first reply of each device (by LOCATION), at
// most maxDevices, and counts replies that do not parse.
type ssdpCollector struct {
	replies   []SSDPReply
	malformed int
	seen      map[string]bool
}

func (c *ssdpCollector) add(b []byte, from net.Addr) {
	r, err := ParseSSDPReply(b)
	if err != nil {
		c.malformed++
		return
	}
	if ua, ok := from.(*net.UDPAddr); ok {
		r.From = ua.AddrPort()
	}
	if c.seen[r.Location] || len(c.seen) >= maxDevices {
		return
	}
	c.seen[r.Location] = true
	c.replies = append(c.replies, r)
}
