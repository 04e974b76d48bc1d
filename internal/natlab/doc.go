// Package natlab builds real networks on this machine for natdoc's tests:
// network namespaces joined by veth pairs, routers running real Linux NAT
// with nftables (endpoint-independent or address-and-port-dependent mapping,
// port forwards, the kernel SIP ALG, short UDP binding lifetimes, loss), and
// real services inside them (coturn as an RFC 5780 STUN server, miniupnpd as
// the router's UPnP IGD).
//
// It exists so that natdoc is tested against the NATs users have, not
// against a model of them. It needs root, iproute2 and nftables. Without them
// tests skip with a message, unless NATDOC_LAB=require (CI), where they fail.
//
// Topology: a core namespace plays the internet. It holds one bridge that
// routes 203.0.113.0/24 and 198.51.100.0/24 (core is .254 on both). Public
// hosts and routers' WAN sides plug into it; LAN hosts plug into their
// router's LAN bridge; a router may sit on another router's LAN (double NAT).
// All addresses are from documentation ranges and live only inside the
// namespaces: nothing is sent from or to the host's own namespace.
package natlab
