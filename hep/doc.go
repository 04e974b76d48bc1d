// Package hep reads and writes HEP, the Homer Encapsulation Protocol that
// SIP servers and capture agents (Kamailio siptrace, OpenSIPS proto_hep,
// FreeSWITCH, Asterisk res_hep, heplify, rtpengine) use to copy every SIP
// message, RTCP report and log line to a HOMER collector.
//
// What it does: decodes HEPv3 (the chunked "HEP3" format: vendor, type and
// length per chunk) and the older fixed-header HEPv1/v2 into a Packet, and
// encodes Packets as HEPv3 (and HEPv2, which some collectors still take).
// It frames HEPv3 on a TCP byte stream by the header's total length.
//
// What it does not: it does not interpret payloads (SIP, RTCP JSON, logs
// are bytes to it), verify authentication keys, or inflate compressed
// payloads beyond MaxInflated.
//
// Hostile input: every length read from the wire is checked against what
// the buffer holds before it is used; nothing is allocated while decoding.
// Decode fills a caller-owned Packet whose byte fields alias the input, so
// a receiver decodes without allocating per message.
package hep
