package hostinfo

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// maxRouteLines bounds how much of a routing table is read; a host with more
// routes than this is no home PC, and the default route comes early anyway.
const maxRouteLines = 10000

// routeFlagGateway is RTF_GATEWAY from <linux/route.h>.
const routeFlagGateway = 0x2

// ParseProcRoute finds the IPv4 default gateway in the text of
// /proc/net/route (Linux): the first route with destination 0.0.0.0, mask
// 0.0.0.0 and RTF_GATEWAY, lowest metric first. Fields are hexadecimal in
// host byte order (little endian on every platform natdoc builds for).
func ParseProcRoute(r io.Reader) (gw netip.Addr, iface string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 4096)
	bestMetric := -1
	for n := 0; sc.Scan() && n < maxRouteLines; n++ {
		f := strings.Fields(sc.Text())
		if n == 0 || len(f) < 8 {
			continue // header line "Iface Destination Gateway Flags ..."
		}
		if f[1] != "00000000" || f[7] != "00000000" {
			continue
		}
		flags, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil || flags&routeFlagGateway == 0 {
			continue
		}
		addr, ok := hexLEAddr(f[2])
		if !ok {
			continue
		}
		metric, err := strconv.Atoi(f[6])
		if err != nil || metric < 0 {
			continue
		}
		if bestMetric < 0 || metric < bestMetric {
			gw, iface, bestMetric = addr, f[0], metric
		}
	}
	return gw, iface
}

func hexLEAddr(s string) (netip.Addr, bool) {
	if len(s) != 8 {
		return netip.Addr{}, false
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return netip.Addr{}, false
	}
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], binary.LittleEndian.Uint32(b))
	return netip.AddrFrom4(a), true
}
