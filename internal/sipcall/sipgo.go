package sipcall

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// listenReadyTimeout: sipgo registers a served socket asynchronously; it
// takes microseconds, a second means something is wrong.
const listenReadyTimeout = time.Second

// WaitServing waits until sipgo's transport layer holds conn, so requests
// sent right away leave through it (and not through a new socket, which
// would get another NAT mapping).
func WaitServing(ua *sipgo.UserAgent, conn net.PacketConn) error {
	addr := conn.LocalAddr().String()
	deadline := time.Now().Add(listenReadyTimeout)
	for {
		if _, err := ua.TransportLayer().GetConnection("udp", addr); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sip: socket %s not served after %v", addr, listenReadyTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// EchoMediaHeader in the 200 OK of natdoc serve's echo user says how the
// echo sends its audio, so the calling phone can report which behaviour
// its result shows.
const EchoMediaHeader = "X-Natdoc-Echo-Media"

// Values of EchoMediaHeader.
const (
	// EchoViaRelay: through the server's relay, which sends to where the
	// caller's media really comes from (natdoc serve's fix mode).
	EchoViaRelay = "relay"
	// EchoToSDP: to the address in the caller's SDP, as a NAT-unaware
	// phone does (natdoc serve --fix=false).
	EchoToSDP = "sdp-address"
)

// HasToTag reports whether req belongs to a dialog (RFC 3261 §12.2).
func HasToTag(req *sip.Request) bool {
	to := req.To()
	return to != nil && to.Params.Has("tag")
}

// AddrString writes a for reports: empty when a is not set.
func AddrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
