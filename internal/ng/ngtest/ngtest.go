// Package ngtest is a fake ng engine on loopback for unit tests of code
// that drives rtpengine: it hands every datagram to the test's function
// and sends back what that returns. The engines that work are real
// rtpengines, in the lab tests; this one answers as a test needs a broken
// or silent one to.
package ngtest

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/natdoc/natdoc/internal/ng"
)

// Engine is a fake engine listening on 127.0.0.1.
type Engine struct {
	conn *net.UDPConn
	// Received counts the datagrams that reached it.
	Received atomic.Int32
}

// Start runs a fake engine until the test ends. answer gets each
// datagram's cookie and command (nil when it was no ng request) and
// returns the datagram to send back, nil for none.
func Start(t testing.TB, answer func(cookie string, cmd map[string]any) []byte) *Engine {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{conn: conn}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			e.Received.Add(1)
			cookie, cmd, _ := ng.Parse(buf[:n])
			if out := answer(cookie, cmd); out != nil {
				conn.WriteToUDPAddrPort(out, from)
			}
		}
	})
	t.Cleanup(func() { conn.Close(); wg.Wait() })
	return e
}

// Addr is where it listens.
func (e *Engine) Addr() netip.AddrPort { return e.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Pong answers ping with pong and every other command with fn's datagram.
func Pong(fn func(cookie string, cmd map[string]any) []byte) func(string, map[string]any) []byte {
	return func(cookie string, cmd map[string]any) []byte {
		if cmd["command"] == "ping" {
			return ng.Reply(cookie, map[string]any{"result": "pong"})
		}
		return fn(cookie, cmd)
	}
}
