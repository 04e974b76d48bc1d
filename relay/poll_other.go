//go:build !linux

package relay

// poller exists on Linux only (epoll); elsewhere every socket has its
// goroutine.
type poller struct{}

func startPollers(int, int) []*poller { return nil }
func (*poller) add(*Session) error    { return nil }
func (*poller) remove(*Session)       {}
func (*poller) stop()                 {}
