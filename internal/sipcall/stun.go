package sipcall

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pion/stun/v3"
)

// stunRetransmits: RFC 5389 §7.2.1 starts at RTO 500 ms and doubles; three
// tries (0.5 + 1 + 2 s) ride out a lost packet or two without making a
// phone wait long for its call.
var stunRetransmits = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}

// ErrNoSTUNAnswer: the STUN server never answered.
var ErrNoSTUNAnswer = errors.New("stun: no answer")

// STUNMapped asks server what public address conn's packets come from
// (RFC 5389 Binding): on a phone's RTP socket, the NAT mapping for that
// socket; on any socket, the router's public address. It must run before
// anything else reads conn.
func STUNMapped(ctx context.Context, conn *net.UDPConn, server netip.AddrPort) (netip.AddrPort, error) {
	msg := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	buf := make([]byte, 1500)
	defer conn.SetReadDeadline(time.Time{})
	for _, rto := range stunRetransmits {
		if _, err := conn.WriteToUDPAddrPort(msg.Raw, server); err != nil {
			return netip.AddrPort{}, fmt.Errorf("stun: send to %s: %w", server, err)
		}
		deadline := time.Now().Add(rto)
		for {
			if err := ctx.Err(); err != nil {
				return netip.AddrPort{}, err
			}
			conn.SetReadDeadline(deadline)
			n, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return netip.AddrPort{}, fmt.Errorf("stun: read: %w", err)
			}
			if a, ok := parseBindingResponse(buf[:n], msg.TransactionID); ok {
				return a, nil
			}
		}
	}
	return netip.AddrPort{}, fmt.Errorf("%w from %s", ErrNoSTUNAnswer, server)
}

func parseBindingResponse(b []byte, id [stun.TransactionIDSize]byte) (netip.AddrPort, bool) {
	if !stun.IsMessage(b) {
		return netip.AddrPort{}, false
	}
	res := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := res.Decode(); err != nil || res.TransactionID != id || res.Type != stun.BindingSuccess {
		return netip.AddrPort{}, false
	}
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(res); err == nil {
		if ip, ok := netip.AddrFromSlice(xor.IP); ok {
			return netip.AddrPortFrom(ip.Unmap(), uint16(xor.Port)), true
		}
	}
	var mapped stun.MappedAddress
	if err := mapped.GetFrom(res); err == nil {
		if ip, ok := netip.AddrFromSlice(mapped.IP); ok {
			return netip.AddrPortFrom(ip.Unmap(), uint16(mapped.Port)), true
		}
	}
	return netip.AddrPort{}, false
}
