// Package pcapgen writes deterministic pcap captures of SIP calls with RTP,
// each call built from a scenario whose outcome is known (the truth), so
// natdoc's analysis can be compared with it exactly.
//
// The scene: the capture is taken on the public side, at the far end (a
// SIP server or gateway at 198.51.100.20). Callers sit behind a NAT whose
// public address is 203.0.113.1 (LAN 192.168.1.0/24); some scenarios put the
// callee behind a NAT (203.0.113.2, LAN 10.0.0.0/24) instead. The LAN
// scenario is captured on the caller's LAN. Addresses are from the
// documentation ranges; nothing is ever sent anywhere: the packets exist
// only in the file.
//
// Retransmissions and SIP timers are modelled only where a scenario is about
// them (an INVITE nobody answers is resent on RFC 3261's schedule until Timer
// B); media is PCMU at 20 ms.
package pcapgen
