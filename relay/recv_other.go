//go:build !linux

package relay

import (
	"errors"
	"net"
	"net/netip"
)

// batchReader reads one datagram at a time where recvmmsg(2) does not exist;
// ReadFromUDPAddrPort does not allocate.
type batchReader struct {
	c     *net.UDPConn
	buf   []byte
	n     int
	src   netip.AddrPort
	trunc bool
}

func newBatchReader(c *net.UDPConn, _ int) *batchReader {
	return &batchReader{c: c, buf: make([]byte, maxPacket+1)}
}

func (r *batchReader) read() (int, error) {
	n, src, err := r.c.ReadFromUDPAddrPort(r.buf)
	if err != nil {
		return 0, err
	}
	r.n, r.src, r.trunc = n, src, n > maxPacket
	return 1, nil
}

func (r *batchReader) packet(int) ([]byte, netip.AddrPort, bool) {
	return r.buf[:r.n], r.src, r.trunc
}

func isTransient(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
