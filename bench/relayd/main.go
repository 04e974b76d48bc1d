// Command relayd runs natdoc's relay alone for benchmarks, driven by a
// one-line text protocol on a UDP control socket (loopback only):
//
//	alloc ID CALLER_IP:PORT CALLEE_IP:PORT  ->  ok PORT_FOR_CALLER PORT_FOR_CALLEE
//	delete ID                               ->  ok
//
// Both legs expect media from the IPs named, as natdoc serve sets them from
// signalling. It is the counterpart of rtpengine's ng protocol in
// bench/relay.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/natdoc/natdoc/relay"
)

func main() {
	ctl := flag.String("ctl", "127.0.0.1:2224", "control `ADDR` (UDP)")
	bind := flag.String("bind", "127.0.0.1", "media address")
	lo := flag.Int("port-min", 30000, "first media port")
	hi := flag.Int("port-max", 40000, "last media port")
	batch := flag.Int("batch", relay.DefaultBatch, "packets per recvmmsg/sendmmsg")
	flag.Parse()
	if ap, err := netip.ParseAddrPort(*ctl); err != nil || !ap.Addr().IsLoopback() {
		log.Fatalf("relayd: -ctl %q must be a loopback address", *ctl)
	}
	r, err := relay.New(relay.Config{Bind: netip.MustParseAddr(*bind), PortMin: *lo, PortMax: *hi, Batch: *batch, MaxSessions: 20000})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	c, err := net.ListenPacket("udp4", *ctl)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); c.Close() }()
	sessions := map[string]*relay.Session{}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		c.WriteTo([]byte(handle(ctx, r, sessions, strings.Fields(string(buf[:n])))), from)
	}
}

func handle(ctx context.Context, r *relay.Relay, sessions map[string]*relay.Session, f []string) string {
	switch {
	case len(f) == 4 && f[0] == "alloc":
		caller, err1 := netip.ParseAddrPort(f[2])
		callee, err2 := netip.ParseAddrPort(f[3])
		if err1 != nil || err2 != nil {
			return "error bad address"
		}
		s, err := r.Allocate(ctx, f[1])
		if err != nil {
			return "error " + err.Error()
		}
		s.A.Expect(caller.Addr())
		s.A.SetSDPAddr(caller, netip.AddrPort{})
		s.B.Expect(callee.Addr())
		s.B.SetSDPAddr(callee, netip.AddrPort{})
		sessions[f[1]] = s
		return fmt.Sprintf("ok %d %d", s.A.Port(), s.B.Port())
	case len(f) == 2 && f[0] == "delete":
		if s := sessions[f[1]]; s != nil {
			s.Close()
			delete(sessions, f[1])
		}
		return "ok"
	}
	return "error unknown command"
}
