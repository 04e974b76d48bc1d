// Package forward checks whether port forwarding on the router works:
// whether an unsolicited UDP packet sent from the internet to this network's
// public address on the SIP port and on RTP ports reaches this host, as
// manual forwarding of UDP 5060 and the RTP range requires.
//
// It uses the RESPONSE-PORT method of RFC 5780 §7.5: a Binding request sent
// from a second, ephemeral socket asks an RFC 5780 STUN server to answer to
// public-address:PORT. No packet has gone from PORT to that server before,
// so the answer matches no NAT binding: it arrives only through a forward
// (or when the host has no NAT in front of it).
//
// It does not check forwards to other hosts (run it on the phone's or the
// server's network with their ports), TCP forwards, or forwards that
// only admit certain source addresses. It needs a STUN server that
// implements RESPONSE-PORT (coturn, natdoc's own); others make it "not run".
package forward
