// Package capture reads packets (pcap, pcapng, gzip, standard input, live
// AF_PACKET on Linux), finds SIP calls in them and judges, for every call,
// whether audio flowed both ways, and if not, who could not hear whom and why.
//
// What it diagnoses: the SDP promises of each side (per m= line) against the
// RTP and RTCP that really flowed; NAT evidence in SIP (private Contact, Via
// sent-by against the packet's source, rport/received) and SDP (private c=,
// c= against the signalling source); RTP arriving from an address its SDP
// did not name (a NAT mapping); signs of a SIP ALG rewriting messages.
//
// What it does not: it cannot read SIP over TLS or SRTP payloads (it says the
// signalling is encrypted and still reports the media flows it sees), it does
// not decode audio (silence sent as RTP counts as audio), and it judges only
// from the capture point: a packet seen leaving is not proof it arrived, so
// verdicts say where the capture was taken and what that point cannot see.
//
// Hostile input: every length read from a file or the wire is bounded before
// use; malformed records, SIP, SDP and RTP are counted as anomalies with
// their byte offsets and frame numbers, and the rest of the file is analysed.
package capture
