package igd

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/natdoc/natdoc/diagnose/forward"
)

// VerifyResult says whether an inbound packet arrived through a mapping.
type VerifyResult struct {
	Server netip.AddrPort
	// Outcome is the RESPONSE-PORT test's: Reached or NotReached when it
	// could tell, otherwise why not (unsupported server, port busy).
	Outcome forward.Outcome
	// Arrived: the server's response, sent to external-IP:external-port,
	// reached the mapping's internal port.
	Arrived bool
	// SenderMapped is the public address the server saw for our sending
	// socket (the public IP the answer went to).
	SenderMapped netip.AddrPort
	Err          string
}

// Told reports whether the test could tell: the server honoured
// RESPONSE-PORT and the internal port could be listened on.
func (v VerifyResult) Told() bool {
	return v.Outcome == forward.Reached || v.Outcome == forward.NotReached
}

// Verify proves a mapping of externalPort → this host's internalPort with
// a real inbound packet (RFC 5780 §7.5 RESPONSE-PORT, forward.Probe): the
// server answers to our public address at the external port, which reaches
// the socket on internalPort only through the mapping.
func Verify(ctx context.Context, opt Options, server netip.AddrPort, externalPort, internalPort uint16) VerifyResult {
	res := VerifyResult{Server: server}
	listener, err := opt.Env.ListenUDP("udp4", &net.UDPAddr{Port: int(internalPort)})
	if err != nil {
		res.Outcome, res.Err = forward.PortBusy, fmt.Sprintf("listen on internal port %d: %v", internalPort, err)
		return res
	}
	defer listener.Close()
	pr := forward.Probe(ctx, opt.Env, server, listener, externalPort, false)
	res.Outcome, res.Arrived, res.SenderMapped, res.Err = pr.Outcome, pr.Outcome == forward.Reached, pr.Public, pr.Err
	if pr.Outcome == forward.NotReached {
		res.Err = fmt.Sprintf("no packet arrived at internal port %d after %d tries", internalPort, pr.Sends)
	}
	return res
}

// MappedAddress asks a STUN server for this host's public address, from
// a fresh socket (for the double-NAT check in discover).
func MappedAddress(ctx context.Context, opt Options, server netip.AddrPort) (netip.AddrPort, error) {
	return forward.MappedAddress(ctx, opt.Env, server)
}
