// Command hostilepcap writes captures that try to exhaust an analyser's
// memory, for bench/hostile.sh: every record is valid, the state they ask
// for is not (internal/pcapgen's hostile writers).
//
//	hostilepcap -kind callids -n 1000000 -o callids.pcap    # INVITEs, each a new Call-ID, never answered
//	hostilepcap -kind tcp -size 1073741824 -o tcp.pcap      # one TCP stream: a SIP header that never ends
//	hostilepcap -kind fragments -n 5000000 -o frag.pcap     # first IPv4 fragments whose rest never comes
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/natdoc/natdoc/internal/pcapgen"
)

func main() {
	kind := flag.String("kind", "callids", "callids, tcp or fragments")
	n := flag.Int("n", 1_000_000, "Call-IDs (callids) or fragments (fragments)")
	size := flag.Int64("size", 1<<30, "bytes of the endless SIP message (tcp)")
	out := flag.String("o", "", "output file")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "hostilepcap: -o FILE is required")
		os.Exit(2)
	}
	if err := write(*out, *kind, *n, *size); err != nil {
		fmt.Fprintln(os.Stderr, "hostilepcap:", err)
		os.Exit(1)
	}
}

func write(path, kind string, n int, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	switch kind {
	case "callids":
		err = pcapgen.WriteCallFlood(f, n)
	case "tcp":
		err = pcapgen.WriteEndlessTCP(f, size)
	case "fragments":
		err = pcapgen.WriteFragmentFlood(f, n)
	default:
		err = fmt.Errorf("unknown -kind %q", kind)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
