//go:build linux

package hostinfo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/natdoc/natdoc/diagnose/netenv"
)

// hopTimeout is how long one TTL-limited probe waits for the router's
// "time exceeded": routers on the first hops answer in milliseconds, and
// Linux rate-limits these ICMP messages (1/s per destination after a burst
// of 6), so waiting longer mostly waits for an answer that will not come.
const hopTimeout = 400 * time.Millisecond

// PathHops sends one UDP probe with TTL 1, 2, ... maxHops towards dst, each
// carrying payload (a request the destination understands, e.g. a STUN
// Binding request, so a probe that arrives is no garbage), and records who
// answered. It stops at the destination. It needs no privileges:
// IP_RECVERR queues the ICMP errors on the socket (Linux).
func PathHops(ctx context.Context, env netenv.Env, dst netip.AddrPort, payload []byte, maxHops int) (*Path, error) {
	p := &Path{Dest: dst}
	if !dst.Addr().Is4() {
		return p, errors.New("hostinfo: path probing is IPv4 only")
	}
	c, err := env.ListenUDP("udp4", nil)
	if err != nil {
		return p, fmt.Errorf("hostinfo: path probe socket: %w", err)
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		return p, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVERR, 1) }); err != nil || serr != nil {
		return p, fmt.Errorf("hostinfo: IP_RECVERR: %w", errors.Join(err, serr))
	}
	for ttl := 1; ttl <= maxHops && ctx.Err() == nil; ttl++ {
		hop, err := probeHop(ctx, c, rc, dst, payload, ttl)
		if err != nil {
			return p, err
		}
		p.Hops = append(p.Hops, hop)
		if hop.Reached {
			break
		}
	}
	return p, nil
}

func probeHop(ctx context.Context, c *net.UDPConn, rc syscall.RawConn, dst netip.AddrPort, payload []byte, ttl int) (Hop, error) {
	hop := Hop{TTL: ttl}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl) }); err != nil || serr != nil {
		return hop, fmt.Errorf("hostinfo: set ttl %d: %w", ttl, errors.Join(err, serr))
	}
	start := time.Now()
	if _, err := c.WriteToUDPAddrPort(payload, dst); err != nil {
		return hop, nil // an error queued by an earlier probe can surface here; the hop stays unknown
	}
	deadline := start.Add(hopTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.SetReadDeadline(deadline)
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 1500)
	oob := make([]byte, 512)
	err := rc.Read(func(fd uintptr) bool {
		if from, icmpType, ok := readErrQueue(int(fd), buf, oob); ok {
			// "Destination unreachable" from the destination itself (port
			// closed) means the probe got there.
			hop.Addr, hop.Reached = from, icmpType == 3 && from == dst.Addr()
			return true
		}
		if n, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT); err == nil && n >= 0 {
			hop.Addr, hop.Reached = dst.Addr(), true
			return true
		}
		return false
	})
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return hop, nil
	}
	if hop.Addr.IsValid() {
		hop.RTT = time.Since(start)
	}
	return hop, nil
}

// readErrQueue reads one queued ICMP error and returns the address of the
// router that sent it (SO_EE_OFFENDER). Only "time exceeded" (type 11) and
// "destination unreachable" (type 3, which means the probe reached the end)
// count.
func readErrQueue(fd int, buf, oob []byte) (netip.Addr, byte, bool) {
	_, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return netip.Addr{}, 0, false
	}
	for _, m := range msgs {
		if m.Header.Level != unix.IPPROTO_IP || m.Header.Type != unix.IP_RECVERR {
			continue
		}
		if addr, icmpType, ok := offender(m.Data); ok {
			return addr, icmpType, true
		}
	}
	return netip.Addr{}, 0, false
}

// offender decodes struct sock_extended_err followed by the offender's
// struct sockaddr_in (include/uapi/linux/errqueue.h).
func offender(data []byte) (netip.Addr, byte, bool) {
	const extErrLen = 16
	const soEEOriginICMP = 2
	if len(data) < extErrLen+8 || data[4] != soEEOriginICMP {
		return netip.Addr{}, 0, false
	}
	icmpType := data[5]
	if icmpType != 11 && icmpType != 3 {
		return netip.Addr{}, 0, false
	}
	sa := data[extErrLen:]
	if binary.NativeEndian.Uint16(sa[0:2]) != unix.AF_INET {
		return netip.Addr{}, 0, false
	}
	return netip.AddrFrom4([4]byte(sa[4:8])), icmpType, true
}
