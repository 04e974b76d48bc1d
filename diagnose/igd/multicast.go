package igd

import (
	"fmt"
	"net"

	"golang.org/x/net/ipv4"
)

// setMulticastInterface makes the M-SEARCH leave by the named interface
// (IP_MULTICAST_IF); without it the kernel picks the interface of the
// multicast route, which on a host with a VPN is often the wrong one.
func setMulticastInterface(conn net.PacketConn, name string) error {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return err
	}
	if err := ipv4.NewPacketConn(conn).SetMulticastInterface(ifi); err != nil {
		return fmt.Errorf("set multicast interface: %w", err)
	}
	return nil
}
