// Package ng speaks the control protocol of rtpengine ("ng"): bencoded
// dictionaries over UDP, each datagram "COOKIE SPACE DICT". The benchmarks
// use it to set up relayed calls in rtpengine and, through the same
// commands, in natdoc's relay (bench/cmd/ngrelay), so one load generator
// drives both.
//
// Only what the benchmarks need: ping, offer, answer, delete, and a
// bencode codec for byte strings, integers, lists and dictionaries. Replies
// come from a local process but are still parsed as hostile input: lengths
// and nesting are bounded before anything is allocated.
//
// What it does not do: no other ng commands (query, list, statistics,
// recording), no TCP or WebSocket transport, no SDP beyond the first
// audio stream's address. It is benchmark tooling, not a relay controller.
package ng
