// Package sipcall holds what natdoc's own SIP endpoints share: the
// simulated phones of `natdoc call` (package phone) and the built-in echo
// user of `natdoc serve` (package proxy). Both send and measure the same
// audio and read the same SDP:
//
//   - Stream: G.711 RTP whose payload names its sender and carries how many
//     packets the sender has received so far, counted on arrival (packets,
//     RFC 3550 loss and jitter), so either end can report both directions.
//   - SDP of one audio stream: reading where it asks to receive (bounded
//     before parsing) and writing a plain PCMU offer or answer.
//   - The end-of-call count exchange (an INFO whose body and answer say
//     "received=N").
//   - Waiting until sipgo serves a socket.
//   - A STUN Binding client (RFC 5389): the phone's public RTP address for
//     its SDP, the router's public address for the server.
//
// It is no SIP server and no phone: it opens no socket of its own and holds
// no dialog. It does not transcode, does not play or record sound, and
// carries one audio stream per call.
package sipcall
