// Package stunserver is natdoc's own STUN server, so that a user with one
// public host can run the full NAT test without a third-party server.
//
// It answers Binding requests only (RFC 5389 §10). Given one address it is a
// plain STUN server that also honours RESPONSE-PORT; given two (an alternate
// IP and port) it supports the RFC 5780 NAT behaviour discovery attributes:
// OTHER-ADDRESS, CHANGE-REQUEST, RESPONSE-ORIGIN and RESPONSE-PORT, by
// listening on all four combinations of the two IPs and two ports.
//
// It is built to be left running on the internet: requests are rate-limited
// per source IP, nothing but well-formed Binding requests is answered (no
// reply to garbage, indications or other methods), and no answer is more
// than maxAmplification times the size of the request that caused it.
//
// It does not do TURN, authentication (long-term or short-term
// credentials), TLS or DTLS, TCP, or the RFC 5780 PADDING attribute (which
// exists to make answers larger: it gets 420 Unknown Attribute).
package stunserver
