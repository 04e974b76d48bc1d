//go:build linux

package relay

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// destination is where one endpoint's packets go, encoded as sendmmsg(2)
// takes it. It is built when the address changes (latch, SDP), so no packet
// pays for the conversion.
type destination struct {
	addr netip.AddrPort
	sa   unix.RawSockaddrInet6 // large enough for sockaddr_in too
	len  uint32
}

// newDestination encodes a for a socket of the family the relay binds: an
// IPv4 destination stays AF_INET for an IPv4 socket, an IPv6 socket gets
// the IPv4-mapped form (RFC 4291 §2.5.5.2).
func newDestination(a netip.AddrPort, ipv6Socket bool) *destination {
	d := &destination{addr: a}
	port := (*[2]byte)(unsafe.Pointer(&d.sa.Port))[:]
	binary.BigEndian.PutUint16(port, a.Port())
	if a.Addr().Is4() && !ipv6Socket {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&d.sa))
		sa4.Family = unix.AF_INET
		sa4.Addr = a.Addr().As4()
		d.len = unix.SizeofSockaddrInet4
		return d
	}
	d.sa.Family = unix.AF_INET6
	d.sa.Addr = a.Addr().As16()
	d.len = unix.SizeofSockaddrInet6
	return d
}

// batchWriter sends a batch to one destination with one sendmmsg(2): its
// message headers and iovecs are built once and reused, so no packet
// allocates. The poller, which owns its descriptors, calls the system call
// directly (writeFD); a goroutine-mode endpoint goes through the socket's
// RawConn (write), whose descriptor lock keeps a concurrent Close safe.
type batchWriter struct {
	rc   syscall.RawConn
	hdrs []mmsghdr
	iovs []unix.Iovec

	count   int // messages loaded by load
	sent    int
	errno   syscall.Errno
	writeFn func(fd uintptr) bool // bound once: a method value per call would allocate
}

func newBatchWriter(c *net.UDPConn, batch int) *batchWriter {
	w := &batchWriter{hdrs: make([]mmsghdr, batch), iovs: make([]unix.Iovec, batch)}
	w.writeFn = w.sendmmsg
	if c != nil { // nil: the poller's writer, which only uses writeFD
		if rc, err := c.SyscallConn(); err == nil {
			w.rc = rc
		}
	}
	for i := range w.hdrs {
		w.hdrs[i].hdr.Iov = &w.iovs[i]
		w.hdrs[i].hdr.SetIovlen(1)
	}
	return w
}

// load points the message headers at bufs, all addressed to dst.
func (w *batchWriter) load(bufs [][]byte, dst *destination) {
	for i, b := range bufs {
		// SliceData, not &b[0]: an empty datagram is legal UDP and must not
		// panic (the buffer behind it has capacity).
		w.iovs[i].Base = unsafe.SliceData(b)
		w.iovs[i].SetLen(len(b))
		h := &w.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&dst.sa))
		h.Namelen = dst.len
	}
	w.count, w.sent, w.errno = len(bufs), 0, 0
}

// sendmmsg sends what is left of the loaded batch. MSG_DONTWAIT: the relay
// never waits for a full send buffer (loopback and real links drain it in
// microseconds; a stuck one drops, as a router would). RawSyscall6: the call
// does not block, so the runtime's entersyscall/exitsyscall bookkeeping is
// pure cost.
func (w *batchWriter) sendmmsg(fd uintptr) bool {
	for w.sent < w.count {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.hdrs[w.sent])),
			uintptr(w.count-w.sent), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == unix.EINTR:
			continue
		case errno != 0:
			w.errno = errno
			return true
		}
		w.sent += int(n)
	}
	return true
}

// writeFD sends bufs to dst out of fd (the poller's own descriptor) and
// returns how many left.
func (w *batchWriter) writeFD(fd int, bufs [][]byte, dst *destination) (int, error) {
	w.load(bufs, dst)
	w.sendmmsg(uintptr(fd))
	return w.result()
}

// write sends bufs to dst through the socket's RawConn (goroutine mode).
func (w *batchWriter) write(bufs [][]byte, dst *destination) (int, error) {
	if w.rc == nil {
		return 0, net.ErrClosed
	}
	w.load(bufs, dst)
	if err := w.rc.Write(w.writeFn); err != nil {
		return w.sent, err
	}
	return w.result()
}

func (w *batchWriter) result() (int, error) {
	if w.errno != 0 {
		return w.sent, w.errno
	}
	return w.sent, nil
}
