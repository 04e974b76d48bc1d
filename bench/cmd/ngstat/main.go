// Command ngstat prints how many calls an rtpengine has handled since it
// started (ng statistics: sessions ended plus in progress), so
// bench/signalling.sh can show that every call of a step had its media
// anchored there.
//
//	ngstat HOST:PORT
package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/natdoc/natdoc/internal/ng"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ngstat HOST:PORT")
		os.Exit(2)
	}
	addr, err := netip.ParseAddrPort(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "ngstat:", err)
		os.Exit(2)
	}
	c, err := ng.Dial(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ngstat:", err)
		os.Exit(3)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.Statistics(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ngstat:", err)
		os.Exit(3)
	}
	fmt.Println(st.Managed + st.Sessions)
}
