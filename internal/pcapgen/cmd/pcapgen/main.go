// Command pcapgen writes a deterministic capture of many SIP calls for
// benchmarks (bench/analyze.sh) and prints the truth summary on standard
// error. Three mixes: media (G.711 RTP both ways, every Nth call one-way),
// signalling (SIP only, as an SBC's capture filtered to SIP: complete,
// cancelled and rejected calls, re-INVITEs, some over TCP) and unanswered
// (SIP only, INVITEs nobody answers, each resent until Timer B).
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/natdoc/natdoc/internal/pcapgen"
)

func main() {
	mix := flag.String("mix", "media", "what the calls are: media, signalling or unanswered")
	calls := flag.Int("calls", 1000, "number of calls")
	concurrent := flag.Int("concurrent", 100, "calls in progress at once (media, signalling)")
	media := flag.Duration("media", 48*time.Second, "RTP duration of each call, each way (media); the average answered call's length (signalling)")
	oneWayEvery := flag.Int("one-way-every", 10, "every Nth call leaks a private SDP address (one-way audio); 0 for none (media)")
	rate := flag.Int("rate", 100, "new INVITEs a second (unanswered)")
	out := flag.String("o", "", "output pcap file (required)")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" || *calls <= 0 || *concurrent <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	opt := pcapgen.Options{Seed: *seed, SignallingOnly: *mix != "media"}
	var list []pcapgen.Call
	switch *mix {
	case "media":
		list = mediaCalls(*calls, *concurrent, *media, *oneWayEvery)
	case "signalling":
		list = pcapgen.SignallingMix(*calls, *concurrent, *media)
	case "unanswered":
		list = pcapgen.UnansweredFlood(*calls, *rate)
	default:
		fmt.Fprintf(os.Stderr, "pcapgen: unknown -mix %q (want media, signalling or unanswered)\n", *mix)
		os.Exit(2)
	}
	truths, err := write(*out, list, opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pcapgen:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "pcapgen: %d calls (%s mix): %s\n", len(list), *mix, summary(truths))
}

// mediaCalls lays out calls with RTP. A call lasts media + 2 s of set-up;
// starting one every (duration / concurrent) keeps that many in progress.
func mediaCalls(n, concurrent int, media time.Duration, oneWayEvery int) []pcapgen.Call {
	spacing := (media + 2*time.Second) / time.Duration(concurrent)
	list := make([]pcapgen.Call, n)
	for i := range list {
		kind := pcapgen.Normal
		if oneWayEvery > 0 && i%oneWayEvery == oneWayEvery-1 {
			kind = pcapgen.LeakCaller
		}
		list[i] = pcapgen.Call{Kind: kind, Start: time.Duration(i) * spacing, Media: media}
	}
	return list
}

func write(path string, list []pcapgen.Call, opt pcapgen.Options) ([]pcapgen.Truth, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	truths, err := pcapgen.Write(f, list, opt)
	if err != nil {
		f.Close()
		return nil, err
	}
	return truths, f.Close()
}

// summary counts the dialogs by the verdict a correct analysis gives them,
// in the words natdoc's verdict sentence uses ("45000 incomplete-capture").
func summary(truths []pcapgen.Truth) string {
	counts := map[string]int{}
	for _, t := range truths {
		counts[string(t.Verdict)]++
	}
	var parts []string
	for v, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
