// Package transact runs natdoc's request/answer exchanges over UDP: a
// retransmission schedule written as data (Schedule, with the send times as
// a pure, tested function), one loop that sends by it and waits for the
// first accepted answer (Run, and UDP for plain sockets), and random IDs
// for requests (NewID).
//
// The schedules it serves: STUN's RFC 5389 §7.2.1 (RTO doubling from
// 500 ms), SIP's RFC 3261 §17.1.1.2 timer A (T1 doubling) and PCP's
// RFC 6887 §8.1.1. The protocols' codecs stay with their packages; what an
// acceptable answer is (source, transaction ID, message) is the caller's
// accept function.
//
// It does not keep transactions across calls (no SIP transaction layer),
// and does not read sockets other than during one exchange.
package transact
