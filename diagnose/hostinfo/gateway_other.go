//go:build !linux

package hostinfo

import "net/netip"

// defaultGateway is unknown off Linux: there is no portable routing table
// API in the standard library. The report then shows the source address
// towards the servers (Info.SourceAddr) instead.
func defaultGateway() (netip.Addr, string) { return netip.Addr{}, "" }
