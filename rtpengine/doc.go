// Package rtpengine anchors natdoc serve's media in one or more rtpengine
// daemons (natdoc serve --media rtpengine=udp:HOST:PORT[,weight=N]), the
// media relay Kamailio and OpenSIPS drive, over its ng protocol
// (internal/ng).
//
// A Pool holds the engines. A call goes to one engine for its whole life:
// the engines are ranked per Call-ID by weighted rendezvous hashing (the
// same Call-ID ranks them the same way in every process, and an engine
// that leaves moves only its own calls), and the first live one in that
// order takes it. Health is ping: an engine that does not answer (or a
// request to it that gets no reply) is taken out, new calls go to the
// others, and the calls it had in progress are kept as an Outage so the
// server can report them; it comes back when it answers a ping again.
// Each engine's figures come from its statistics command.
//
// Command builds an offer or answer the way Kamailio's rtpengine module
// does for a NAT-aware proxy: origin and session connection replaced,
// ICE removed, plain RTP/AVP toward the receiver, no recording, the
// sender's SIP source as received-from, SIP-source-address when the SDP
// names an address the engine cannot reach (a phone behind NAT leaking
// its private address) and trust-address otherwise, and direction= when
// the engine has named interfaces for the main and the LAN address.
//
// What it does not do: no SRTP, DTLS, transcoding or recording set-up, no
// media of its own; rtpengine latches onto the first source that sends to
// a port (symmetric RTP) and does not restrict it to the phone's SIP
// source IP as natdoc's own relay does.
package rtpengine
