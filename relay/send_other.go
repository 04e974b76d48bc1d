//go:build !linux

package relay

import (
	"net"
	"net/netip"
)

// destination is where one endpoint's packets go; built when the address
// changes (latch, SDP), never per packet.
type destination struct {
	addr netip.AddrPort
}

func newDestination(a netip.AddrPort, _ bool) *destination { return &destination{addr: a} }

// batchWriter sends one datagram per system call where sendmmsg(2) does
// not exist; WriteToUDPAddrPort does not allocate.
type batchWriter struct {
	c *net.UDPConn
}

func newBatchWriter(c *net.UDPConn, _ int) *batchWriter { return &batchWriter{c: c} }

// write sends bufs to dst.
func (w *batchWriter) write(bufs [][]byte, dst *destination) (int, error) {
	for i, b := range bufs {
		if _, err := w.c.WriteToUDPAddrPort(b, dst.addr); err != nil {
			return i, err
		}
	}
	return len(bufs), nil
}
