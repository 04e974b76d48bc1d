package netenv

import (
	"context"
	"net"
	"net/netip"
)

// Env creates sockets. The zero value uses the calling process's network.
type Env struct {
	// Do runs fn so that the sockets it creates belong to the network the
	// checks should use (natlab: Host.Do). Nil runs fn directly.
	Do func(fn func() error) error
}

func (e Env) do(fn func() error) error {
	if e.Do == nil {
		return fn()
	}
	return e.Do(fn)
}

// Run runs fn in the environment's network (for code that reads per-network
// state such as /proc/thread-self/net/route or the interface list).
func (e Env) Run(fn func() error) error { return e.do(fn) }

// ListenUDP opens a UDP socket.
func (e Env) ListenUDP(network string, laddr *net.UDPAddr) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := e.do(func() error {
		var err error
		c, err = net.ListenUDP(network, laddr)
		return err
	})
	return c, err
}

// SourceAddr is the local address the kernel would send from toward dst
// (network "udp4" or "udp6"): connecting a UDP socket sends nothing.
func (e Env) SourceAddr(network string, dst netip.AddrPort) (netip.Addr, error) {
	var a netip.Addr
	err := e.do(func() error {
		c, err := net.DialUDP(network, nil, net.UDPAddrFromAddrPort(dst))
		if err != nil {
			return err
		}
		defer c.Close()
		a = c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
		return nil
	})
	return a, err
}

// DialContext connects like net.Dialer.DialContext. The connect runs inside
// Do, so ctx bounds it.
func (e Env) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := e.do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Resolver returns a resolver whose queries leave through this environment.
// With server ("192.0.2.53:53") every query goes there; empty uses the
// system's configured servers (Go resolver, so it also works in a
// namespace).
func (e Env) Resolver(server string) *net.Resolver {
	if e.Do == nil && server == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if server != "" {
			addr = server
		}
		return e.DialContext(ctx, network, addr)
	}}
}
