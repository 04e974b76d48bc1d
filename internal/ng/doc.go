// Package ng speaks rtpengine's control protocol ("ng"): bencoded
// dictionaries over UDP, each datagram "COOKIE SPACE DICT", the reply
// carrying the request's cookie. natdoc serve drives rtpengine with it
// (--media rtpengine=...), and the benchmarks drive rtpengine and natdoc's
// own relay (bench/cmd/ngrelay) through it, so one load generator loads
// both.
//
// A Client is safe for concurrent use: one socket per engine, one reader
// that hands each reply to the request with its cookie, retransmission by
// a schedule (internal/transact; rtpengine answers a repeated cookie from
// its cache, so a resend never runs a command twice). Every failure says
// which: no reply within the schedule (ErrNoReply), nothing listening
// (ErrRefused, from the ICMP port unreachable a connected socket sees),
// a reply that is no bencoded dictionary (ErrBencode), or the engine's own
// refusal (ErrFailed, with its error-reason). Replies are hostile input:
// lengths and nesting are bounded before anything is allocated.
//
// Commands: ping, offer, answer, delete, query and statistics, and
// Request for any other dictionary. CallStats reads the per-party counts
// of a query or delete reply. What it does not do: no TCP, WebSocket or
// HTTP transport of ng, no SDP rewriting of its own.
package ng
