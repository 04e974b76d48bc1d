// Command pcapgen writes a deterministic capture of many SIP calls with
// G.711 RTP for benchmarks (bench/analyze.sh) and prints the truth summary
// on standard error.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/natdoc/natdoc/internal/pcapgen"
)

func main() {
	calls := flag.Int("calls", 1000, "number of calls")
	concurrent := flag.Int("concurrent", 100, "calls in progress at once")
	media := flag.Duration("media", 48*time.Second, "RTP duration of each call (each way)")
	oneWayEvery := flag.Int("one-way-every", 10, "every Nth call leaks a private SDP address (one-way audio); 0 for none")
	out := flag.String("o", "", "output pcap file (required)")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" || *calls <= 0 || *concurrent <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	// A call lasts media + 2 s of set-up; starting one every
	// (duration / concurrent) keeps that many in progress.
	spacing := (*media + 2*time.Second) / time.Duration(*concurrent)
	list := make([]pcapgen.Call, *calls)
	oneWay := 0
	for i := range list {
		kind := pcapgen.Normal
		if *oneWayEvery > 0 && i%*oneWayEvery == *oneWayEvery-1 {
			kind = pcapgen.LeakCaller
			oneWay++
		}
		list[i] = pcapgen.Call{Kind: kind, Start: time.Duration(i) * spacing, Media: *media}
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pcapgen:", err)
		os.Exit(1)
	}
	if _, err := pcapgen.Write(f, list, pcapgen.Options{Seed: *seed}); err != nil {
		fmt.Fprintln(os.Stderr, "pcapgen:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "pcapgen:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "pcapgen: %d calls (%d one-way), %d concurrent, %s of RTP each way\n", *calls, oneWay, *concurrent, *media)
}
