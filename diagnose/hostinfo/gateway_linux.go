//go:build linux

package hostinfo

import (
	"net/netip"
	"os"
)

// defaultGateway reads the routing table of the calling thread's network
// namespace: /proc/thread-self/net follows the thread (natlab's Do locks one
// into a lab namespace), /proc/net follows the process's main thread.
func defaultGateway() (netip.Addr, string) {
	for _, path := range []string{"/proc/thread-self/net/route", "/proc/net/route"} {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		gw, iface := ParseProcRoute(f)
		f.Close()
		return gw, iface
	}
	return netip.Addr{}, ""
}
