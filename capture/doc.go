// Package capture reads packets (pcap, pcapng, gzip, standard input, live
// AF_PACKET on Linux, HEP from SIP servers and capture agents), finds SIP
// calls in them and judges, for every call, whether audio flowed both ways,
// and if not, who could not hear whom and why.
//
// What it diagnoses: the SDP promises of each side (per m= line, audio,
// video, T.38 fax) against the RTP, RTCP and UDPTL that really flowed, per
// direction and from where the capture point can see it (JudgeDelivery:
// seen arriving, seen leaving, or inferred from the receiver's own NAT
// mapping; media sent to a NAT port the receiver does not use is likely
// lost); NAT evidence in SIP (private Contact and Via, Via sent-by against
// the packet's source, a server's received/rport) and SDP (private c=, c=
// against the signalling source); RTP arriving from an address its SDP did
// not name (a NAT mapping); signs of a SIP ALG rewriting messages; calls
// that never connect (rejected, cancelled, timed out, unreachable) and the
// NAT causes behind "incoming calls never ring": requests sent to a private
// address, registrars that stored a private Contact, registrations silent
// longer than NATs keep a mapping. A call seen at a proxy, SBC or B2BUA is
// one call of several legs (legs.go), each judged on its own; the forks of
// an INVITE that did not answer are its early dialogs. Each RTP stream's
// quality (quality.go: loss, order, jitter, MOS), what the parties' RTCP
// reported about it (rtcp.go), and G.711 audio that carries only silence
// (silence.go), also in SDES-SRTP decrypted with the SDP's keys (srtp.go).
// SIP is found by content on any port, over UDP, TCP (reassembled), SCTP,
// WebSocket, inside IP-in-IP, GRE/ERSPAN, PPTP, PPPoE and MPLS, in frames a
// mirror sent in VXLAN, Geneve, TZSP or ERSPAN III, in a mobile core's
// GTP-U tunnels (mirror.go), in NFLOG
// records (nflog.go), in IPv4 and IPv6 fragments,
// unwrapped from HEP (hep.go: UDP 9060 in captures, or received with
// ListenHEP; RTCP reports sent as JSON are read as RTCP and judge the
// streams a feed carries no RTP of), and over TLS when the session's keys
// are given (tls.go); a
// header sipgo cannot parse costs only that header; copies of a packet
// (SPAN, ERSPAN, overlapping files, merged by time) are counted once.
//
// What it does not: it cannot read SIP over TLS without the keys, or
// DTLS-SRTP payloads (it says the signalling is encrypted and still reports
// the media flows it sees); it measures the level of G.711 audio only; and
// it judges only from the capture point: a packet seen leaving is not proof
// it arrived, so verdicts say where the capture was taken and what that
// point cannot see.
//
// How: goroutines in a pipeline (pipeline.go). One reads records into
// batches (a fast path frames classic pcap records in place), two decode
// them, taking turns by batch, and classify RTP/RTCP into compact events,
// one keeps the state: RTP statistics per stream (RFC 3550 loss, and jitter
// at the clock rate of the stream's SDP rtpmap, without allocating per
// packet) and SIP calls (parsed by sipgo or its fast path, SDP by pion/sdp). Decoding takes
// a fixed-offset header walk for plain Ethernet(+802.1Q)/IPv4/UDP, nearly
// every packet of a VoIP capture (fastpath.go), and gopacket's
// DecodingLayerParser for everything else. Calls that ended and went quiet
// for 30 s of capture time are judged and dropped as the capture streams
// past, at moments set by the packets' times alone, and the result does not
// depend on how the pipeline batched the packets. A judged call is handed
// on in order (Options.OnCall, stream.go) and not kept, what the summary
// needs of it tallied, so memory follows the calls in progress, not the
// file's size; kept (Result.Calls), a call is compacted (compact.go) to the
// calls table row, verdict, RTP counts and findings, about 3.5 KB, unless
// Options.Detail asks for the ladder, SDP, RTCP flows and timelines that
// only a single call's view, HTML or JSON show. SIP messages in the plain
// form nearly all are in take a fast path (sipfast.go) held equal to sipgo
// by a fuzz target. Verdicts (verdict.go) and findings are pure functions
// of plain facts.
//
// Hostile input: every length read from a file or the wire is bounded before
// use; malformed records, SIP, SDP and RTP are counted as anomalies with
// their byte offsets and frame numbers, and the rest of the file is analysed.
package capture
