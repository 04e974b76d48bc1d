// Package stunprobe measures how the NAT in front of this host maps and
// filters UDP, and so whether STUN can fix one-way audio on this network.
//
// It diagnoses, from one run against one or more STUN servers:
//   - the public address and port, and whether the local port was kept;
//   - mapping behaviour by RFC 5780 §4.3 (with a server that returns
//     OTHER-ADDRESS), and mapping consistency across all the servers asked
//     from one local socket (which works with plain RFC 5389 servers);
//   - filtering behaviour by RFC 5780 §4.4 (CHANGE-REQUEST), believing a
//     "changed" answer only when its source and RESPONSE-ORIGIN really
//     changed, and a silence only when a control request after it is
//     answered;
//   - hairpinning (§4.5), binding lifetime (§4.6, RESPONSE-PORT, a parallel
//     bracketing search), and a TCP mapping where the server takes TCP.
//
// Every transaction follows RFC 5389 §7.2.1 retransmission with named
// schedules (see probe.go), checks the transaction ID, the source address
// and FINGERPRINT, and counts what it did not believe as anomalies.
// Run returns a plain Result; Findings, Verdict and NATReport interpret it
// without I/O.
//
// It does not diagnose: SIP ALGs (diagnose/sipalg), the router's port
// mapping services (diagnose/igd), TURN relays, ICE, or anything about a
// NAT other than the one between this host and the servers. Mapping and
// filtering of one socket toward a few servers is a sample: a NAT that
// changes behaviour under load or per port range is not seen.
package stunprobe
