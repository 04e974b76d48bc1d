// Package proxy is the SIP server natdoc runs itself, behind `natdoc
// serve`, built on emiago/sipgo: a registrar and proxy that is NAT-aware
// and, in fix mode, anchors every call's audio in package relay or in
// rtpengine (package rtpengine).
//
//   - Registrar (registrar.go): it sends to where a REGISTER really came
//     from (RFC 3581 received and rport), not to a private Contact, and
//     keeps that NAT binding open with OPTIONS pings.
//   - Proxy (proxy.go): calls go only between its own registered users (404
//     for anyone else: never an open proxy); it stays in the path with
//     Record-Route and forwards in-dialog requests to each party's real
//     signalling address.
//   - Media anchoring (media.go, sdp.go, media_rtpengine.go): in fix mode
//     every SDP is rewritten toward the anchor, at an address the receiving
//     peer can reach (the main address, or the additional one for LAN
//     peers), so the phones' private addresses in SDP stop mattering. The
//     anchor is natdoc's relay or rtpengine, behind one interface; a
//     request whose media cannot be anchored is refused with a status and
//     a Warning saying why. With Fix false SDP passes untouched and the
//     server reproduces the broken deployment.
//   - Digest authentication (auth.go, RFC 3261 §22) with stateless nonces.
//   - The echo user (echo.go): answers calls to "echo" with measured audio,
//     so one phone proves two-way audio.
//   - The mirror hook (mirror.go): requests to sip:mirror@... are answered
//     for natdoc diagnose's SIP ALG and port-forwarding checks before
//     authentication, and never reach the registrar, proxy or relay.
//   - Findings and the report section of a run (findings.go).
//   - What it tells the tools operators run (observe.go): Prometheus
//     metrics and a HEP copy of every SIP message it reads or sends, with
//     each ended call's outcome, seen on its sockets below sipgo.
//
// It is not a check of someone else's SIP server (that is package
// diagnose/sipserver) and not a phone (package phone). What it does not
// do: no TLS/WebSocket transports, no forking to several contacts of one
// user (the latest registration wins), no video in natdoc's relay (only
// the first audio stream is anchored; rtpengine anchors every stream), no
// transcoding, no SRTP, no moving a call's media to another engine when
// its engine dies.
package proxy
