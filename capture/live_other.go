//go:build !linux

package capture

import "context"

// Live is only built on Linux.
func Live(ctx context.Context, opt LiveOptions) (*Result, error) {
	return nil, ErrLiveUnsupported
}
