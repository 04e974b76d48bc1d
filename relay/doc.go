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
// Hot path: on Linux, epoll event loops (one per GOMAXPROCS) serve the
// sockets of all sessions (edge-triggered: a socket is reported when a
// datagram arrives): a ready socket is drained with recvmmsg into the
// loop's buffers (shared by all its sockets: it serves one at a time, so a
// session costs a few KB, not Batch buffers per socket), and what passes
// the latching rule leaves with one sendmmsg whose destination sockaddr was
// built in advance (per latch, not per packet).
// The loop owns its descriptors, so it issues these non-blocking calls
// directly (RawSyscall: no runtime syscall bookkeeping, no descriptor lock),
// and it waits for its epoll descriptor through Go's netpoller instead of
// blocking in epoll_wait (see waiter: a blocked system call costs sysmon
// wake-ups and context switches, which are dear on a virtual machine). With
// thousands of calls each socket carries one packet per 20 ms, so a loop
// avoids a goroutine wake-up per packet. Elsewhere (and with
// Config.Goroutines) each socket has its own goroutine, reading and writing
// through its RawConn. No allocation per packet either way
// (TestNoAllocationPerPacket).
//
// Kernel forwarding (Config.KernelForward, `natdoc serve --kernel-forward`;
// Linux, root, nft): on this kind of machine a system call or wake-up costs
// microseconds, so even perfectly batched user-space forwarding spends
// several µs per packet. Once both parties of a stream have latched, the
// relay installs, per direction, an nftables netdev ingress rule that
// matches (party IP, party port, relay IP, leg port) through a verdict map
// (a hash lookup whatever the number of calls), jumps to the stream's chain,
// counts, rewrites source to the other leg's port and destination to the
// other party, and hands the packet to the egress device (`fwd ip to NEXTHOP
// device DEV`, next hop and device from the kernel's route). The relay's
// socket then sees nothing of that stream; a packet from a new source still
// reaches it, so re-latching works as before and replaces the rule. Rules are
// applied in batches (one `nft -f -` per kernelBatchDelay, packets flow
// through user space until then), counters are read back every
// kernelCounterInterval (packets, bytes, last activity for the idle
// timeout); RTP loss cannot be counted there and is reported as not
// measured. Each relay owns one table, natdoc_relay_PID_N, removed on
// Close; a table whose process is gone is removed by the next relay. IPv4
// and IPv6 (`fwd ip6`) alike; a stream between an IPv4 and an IPv6 party
// stays in user space. Differences from user space: a forwarded packet
// keeps the TTL/hop limit and DSCP it arrived with, and it bypasses the
// relay host's own netfilter hooks after ingress (conntrack, a firewall's
// output rules, SNAT on the relay host itself). Not covered: a party whose
// packets arrive on another device than the route back to it (no ingress
// chain there: they stay in user space).
//
// API: New(cfg) → r.Allocate(ctx, callID) → *Session with legs A and B;
// Leg.Expect(signalling IP), Leg.SetSDPAddr(rtp, rtcp), Leg.Port() for the
// SDP, Session.Stats() / Leg.Stats() for counters, Session.Close(),
// r.Close() frees everything.
//
// What it does not do: no transcoding, no SRTP, no ICE/TURN, no jitter buffer,
// no recording. It does not parse SIP or SDP; package proxy does that.
package relay
