//go:build !linux

package hostinfo

import (
	"context"
	"errors"
	"net/netip"

	"github.com/natdoc/natdoc/diagnose/netenv"
)

// PathHops needs Linux's IP_RECVERR to see ICMP errors without privileges.
func PathHops(ctx context.Context, env netenv.Env, dst netip.AddrPort, payload []byte, maxHops int) (*Path, error) {
	return &Path{Dest: dst, Err: "path probing needs Linux"}, errors.New("hostinfo: path probing needs Linux")
}
