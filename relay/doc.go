// Package relay is natdoc's RTP/RTCP media relay: the "media anchoring" half
// of `natdoc serve` fix mode.
//
// A Relay owns a range of UDP ports. For every call the SIP server asks it
// for a Session: two legs, one facing each party, each with an RTP port and
// the RTCP port above it (RFC 3550 §11: RTP on an even port, RTCP on the next
// odd one). The server writes the leg's address into the SDP it forwards to
// that party, so both phones send their media to the relay, which forwards it
// out of the other leg.
//
// Latching ("symmetric RTP", "comedia"): a phone behind NAT cannot know the
// public address its media will come from, so the SDP address is often a
// private one nobody can reach. The relay therefore learns each party's real
// media address from the first packets it receives on that party's leg and
// sends the other party's media back there (RFC 4961 symmetric RTP). It only
// latches onto packets whose source IP is the one the party's SIP came from
// (Leg.Expect), unless Config.LatchAnySource is set; everything else is
// dropped and counted, so the relay is no open reflector.
//
// Streams without packets for Config.IdleTimeout are closed and their ports
// return to the pool. Counters (packets, bytes, RTP loss from sequence
// numbers, drops by reason, last packet time) are kept per leg and direction.
//
// Hot path: one goroutine per socket reads batches of packets (recvmmsg on
// Linux, with caller-owned buffers and address storage) and forwards them with
// golang.org/x/net's WriteBatch (sendmmsg); no allocation per packet.
//
// What it does not do: no transcoding, no SRTP, no ICE/TURN, no jitter buffer,
// no recording. It does not parse SIP or SDP; package sipsim does that.
package relay
