//go:build !linux

package relay

import "errors"

// kernelFinalWait bounds how long Stats of a closed session waits for the
// last read of its kernel counters (never used here: no kernel forwarding).
const kernelFinalWait = 0

// kernelForwarder: kernel forwarding is nftables, so Linux only; elsewhere
// Config.KernelForward logs a warning and the relay forwards in user space.
type kernelForwarder struct{}

func startKernelForwarder(*Relay) (*kernelForwarder, error) {
	return nil, errors.New("kernel forwarding needs Linux nftables")
}

func removeStaleKernelTables(Config) {}

func (*kernelForwarder) latched(*Session)             {}
func (*kernelForwarder) forget(*Session, func()) bool { return false }
func (*kernelForwarder) close()                       {}
