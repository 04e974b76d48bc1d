// Package sipserver checks the SIP server the phones use (natdoc diagnose
// --server): DNS resolution (SRV for _sip._udp, then A/AAAA), whether a
// dynamic-DNS name points at this network's current public address, an
// OPTIONS ping over UDP with its round-trip time and retransmissions,
// whether the server honours rport (RFC 3581) in its answer, and whether
// its own Via, Contact, Record-Route or SDP leak a private address (a
// server behind NAT without its public "main address" set: phones outside
// then send their audio nowhere).
//
// It checks a remote server from the outside; it is not the SIP server
// natdoc runs itself (package proxy, behind natdoc serve). It does not
// register, authenticate or place calls, and it cannot tell what the
// server does for other clients. NAPTR records are not looked up
// (the standard resolver has no NAPTR query); SRV covers nearly every
// deployment.
package sipserver
