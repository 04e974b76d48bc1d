//go:build !linux

// Command rtpload is the RTP load generator of bench/relay.sh; it uses
// Linux system calls (recvmmsg, sendmmsg, timerfd, SO_TIMESTAMPNS).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "rtpload: Linux only")
	os.Exit(3)
}
