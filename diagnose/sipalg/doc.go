// Package sipalg detects a SIP ALG (application-level gateway) between this
// host and the internet, actively: it sends a SIP INVITE whose Via, Contact
// and SDP carry this host's private address to a cooperating mirror outside
// (natdoc mirror, or natdoc serve), which answers with the exact bytes it
// received. Any difference is a middlebox rewriting SIP: rewritten
// Via/Contact/SDP, changed ports, a changed Content-Length; a request that
// never arrives over UDP while TCP works is an ALG dropping it. It tests UDP
// and TCP separately, since most ALGs (the Linux nf_conntrack_sip helper
// among them) only touch UDP 5060.
//
// TestFragments sends SIP too big for one packet each way (IP fragments):
// a 3,000-byte INVITE that the mirror answers with a digest of one packet,
// and a 1,200-byte one whose copy comes back in two. A path that drops
// fragments (a firewall or NAT that does not reassemble them, an ALG
// that cannot) loses big INVITEs and answers while small ones pass.
//
// It does not detect an ALG without a mirror: that check is then "not run",
// never "passed". It cannot see an ALG that only acts on registrations or
// on calls towards one particular server, nor one that rewrites only
// messages from a LAN address it knows as a phone.
//
// The mirror side (Mirror, MirrorResponse) answers only SIP requests, never
// ACK, rate-limits each source and sends at most about 1.5 times the bytes
// it received plus a few headers, so it cannot be used as an amplifier.
package sipalg
