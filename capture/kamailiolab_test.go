//go:build linux

package capture

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
)

// kamailioLab is a real Kamailio on the internet (203.0.113.20:5060, its
// host server) with the internet's switch captured (UDP and ICMP): the
// scene of the registration and call set-up lab tests, whose phones come
// and go on it.
type kamailioLab struct {
	lab       *natlab.Lab
	server    *natlab.Host
	registrar netip.AddrPort
	pcap      string
	dump      *natlab.Proc
}

func newKamailioLab(t *testing.T, k natKamailio) *kamailioLab {
	t.Helper()
	natlab.Require(t)
	l := &kamailioLab{lab: natlab.New(t), registrar: netip.MustParseAddrPort("203.0.113.20:5060"), pcap: filepath.Join(t.TempDir(), "switch.pcap")}
	l.server = l.lab.PublicHost("server", "203.0.113.20")
	startNATKamailio(t, l.server, "203.0.113.20", k)
	l.dump = l.lab.Core().StartTcpdumpOn(t, "br0", l.pcap, "udp or icmp")
	return l
}

// homeRouter is a router at 203.0.113.1 whose LAN, 192.168.1.0/24, sits
// behind an endpoint-independent NAT.
func (l *kamailioLab) homeRouter() *natlab.Router {
	return l.lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
}

// analyze stops the capture, keeps it as name (NATDOC_KEEP_LAB) and
// analyzes it.
func (l *kamailioLab) analyze(t *testing.T, name string) *Result {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	l.dump.Stop()
	keepLabFile(t, l.pcap, name)
	return analyzePath(t, l.pcap)
}
