package sipcall

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/natdoc/natdoc/internal/transact"
	"github.com/pion/stun/v3"
)

// stunSchedule: RFC 5389 §7.2.1 starts at RTO 500 ms and doubles; three
// tries (0.5 + 1 + 2 s) ride out a lost packet or two without making a
// phone wait long for its call.
var stunSchedule = transact.Schedule{RTO: 500 * time.Millisecond, Sends: 3}

// ErrNoSTUNAnswer: the STUN server never answered.
var ErrNoSTUNAnswer = errors.New("stun: no answer")

// STUNMapped asks server what public address conn's packets come from
// (RFC 5389 Binding): on a phone's RTP socket, the NAT mapping for that
// socket; on any socket, the router's public address. It must run before
// anything else reads conn.
func STUNMapped(ctx context.Context, conn *net.UDPConn, server netip.AddrPort) (netip.AddrPort, error) {
	msg := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	accept := func(d transact.Datagram) (netip.AddrPort, bool) {
		return parseBindingResponse(d.Data, msg.TransactionID)
	}
	mapped, _, err := transact.UDP(ctx, stunSchedule, conn, server, msg.Raw, accept)
	switch {
	case errors.Is(err, transact.ErrNoAnswer):
		return netip.AddrPort{}, fmt.Errorf("%w from %s", ErrNoSTUNAnswer, server)
	case err != nil:
		return netip.AddrPort{}, fmt.Errorf("stun: binding with %s: %w", server, err)
	}
	return mapped, nil
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
