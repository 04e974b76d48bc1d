// Package sipsim holds natdoc's SIP user agents, built on emiago/sipgo:
//
//   - Server: the registrar and proxy behind `natdoc serve`. It is NAT-aware
//     (it sends to where a REGISTER really came from, RFC 3581 received and
//     rport, and keeps that NAT binding open with OPTIONS pings), proxies
//     between its own registered users only (404 for anyone else: never an
//     open proxy), stays in the path with Record-Route, and in fix mode
//     anchors every call's audio in package relay by rewriting SDP, so the
//     phones' private addresses in SDP stop mattering. With Fix false it
//     forwards SDP untouched and so reproduces the broken deployment.
//     With Config.Mirror it is also the mirror of natdoc diagnose's SIP ALG
//     and port-forwarding checks (mirror.go): requests to sip:mirror@...
//     are answered with the bytes received, before authentication, and
//     never reach the registrar, the proxy or the relay.
//   - Phone: the simulated phone behind `natdoc call`. It registers, calls
//     or answers, sends G.711 RTP whose payload names the sender and counts
//     what arrives in each direction (packets, loss, jitter), and gives the
//     call's audio verdict. Its SDP address can be the private one (the
//     common mistake), the STUN-learned one, or an explicit address.
//
// What it does not do: no TLS/WebSocket transports, no forking to several
// contacts of one user (the latest registration wins), no video relay (only
// the first audio stream is anchored), no transcoding, no SRTP.
package sipsim
