// Package phone is the simulated phone behind `natdoc call`, built on
// emiago/sipgo. A Phone registers with a SIP server, calls or answers,
// sends G.711 RTP whose payload names it (package internal/sipcall) and
// counts what arrives each way (packets, loss, jitter); at the end of the
// call the two ends exchange their counts in an INFO, so either phone
// reports both directions and gives the call's audio verdict (two-way,
// one-way naming who cannot hear, no-way) with findings.
//
// Its SDP address is the thing real phones get wrong, so it is a choice:
// its own (private) address (the common mistake), the address a STUN
// server reports for its RTP socket, or an address the user gives.
//
// It is no SIP server (that is package proxy, behind `natdoc serve`) and
// no check of a remote one (package diagnose/sipserver). It does not
// transcode, play or record sound, use TLS, SRTP or ICE, or handle more
// than one call at a time.
package phone
