package main

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// analyzeOptions are the flags of natdoc analyze.
type analyzeOptions struct {
	Files    []string
	CallID   string
	Progress bool
	Limits   capture.Limits
}

func newAnalyzeCmd(a *app) *cobra.Command {
	var opts analyzeOptions
	cmd := &cobra.Command{
		Use:   "analyze FILE...",
		Short: "Find one-way and no-way audio in pcap/pcapng captures",
		Long: `Reads pcap or pcapng captures (also .gz, and - for standard input), groups SIP
into calls (a call through a proxy or B2BUA is one call of several legs),
matches each SDP promise with the RTP that really flowed, and gives every call
a verdict with the packets that prove it and the remedy. Several files are
merged by time; packets captured twice are counted once.

  natdoc analyze call.pcap
  tcpdump -i eth0 -w - | natdoc analyze -
  natdoc analyze --call C2 call.pcap         (ladder diagram of one call)
  natdoc analyze --format html -o report.html call.pcap
  natdoc analyze lan-side.pcap wan-side.pcap (two captures as one)

Verdicts: two-way, one-way, no-way, on-hold, one-way-negotiated, not-answered
(rejected, cancelled, timed-out, unreachable), no-media-expected,
incomplete-capture. Exit status 1 when any call had one-way or no-way audio,
or a finding of warning or error (a call that never rang because of NAT, a
registrar that stored a private Contact).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			return runAnalyze(cmd, a, opts)
		},
	}
	cmd.Flags().StringVar(&opts.CallID, "call", "", "show one call in detail (natdoc ID like C2, or the SIP Call-ID) with its ladder diagram")
	cmd.Flags().BoolVar(&opts.Progress, "progress", true, "show a progress bar on standard error when it is a terminal")
	limitFlags(cmd.Flags(), &opts.Limits)
	return cmd
}

// limitFlags are the bounds on the state analyze and capture keep, so
// that memory stays bounded whatever the input; what they turn away is
// counted in the report's anomalies.
func limitFlags(f *pflag.FlagSet, l *capture.Limits) {
	f.IntVar(&l.Calls, "max-calls", capture.DefaultMaxCalls, "calls in progress followed at once; more are counted as calls-not-followed")
	f.IntVar(&l.Streams, "max-streams", capture.DefaultMaxStreams, "RTP/RTCP streams followed at once; more are counted as too-many-media-flows")
	f.IntVar(&l.TCPStreams, "max-tcp-streams", capture.DefaultMaxTCPStreams, "SIP-over-TCP connections followed at once; more are counted as too-many-tcp-streams")
	f.IntVar(&l.Fragments, "max-fragments", capture.DefaultMaxFragments, "IP fragments held for reassembly; at the limit those held are dropped and counted as ip-fragments-dropped")
}

// analyzeGCPercent lets the heap grow by a quarter of its live size
// between collections instead of doubling: the live state (calls in
// progress, the report's entries) is small, mostly long-lived and much of
// it pointer-free batch buffers, so collections stay cheap. Measured on the
// 1.1 GB benchmark against 50: peak RSS 36 -> 31 MB (4.4 GB, 4,000 calls:
// 51 -> 46 MB) for about 0.02 s more CPU. There is no soft memory limit on
// top: a 40 MB one made the collector run back to back once a report grew
// past it (10,000 calls in 0.95 GB: 2.16 s instead of 1.33 s wall, 73 MB
// instead of 83 MB), and did nothing below it.
const analyzeGCPercent = 25

func runAnalyze(cmd *cobra.Command, a *app, opts analyzeOptions) error {
	defer debug.SetGCPercent(debug.SetGCPercent(analyzeGCPercent))
	rep := newReport("analyze")
	rep.Started = time.Now()
	detail, err := a.wantsCallDetail(opts.CallID)
	if err != nil {
		return err
	}
	copts := capture.Options{Files: opts.Files, Stdin: a.stdin, Detail: detail, Limits: opts.Limits}
	if opts.Progress && isTerminal(a.stderr) {
		bar := newProgressBar(a.stderr, "reading", 50<<20) // small files finish before a bar helps
		copts.Progress = bar.update
		defer bar.done()
	}
	res, err := capture.Analyze(cmd.Context(), copts)
	if err != nil {
		if errors.Is(err, capture.ErrUnreadable) {
			return usageErrorf("analyze: %w", err)
		}
		return cannotRunErrorf("analyze: %w", err)
	}
	res.Fill(rep)
	rep.Finished = time.Now()
	if opts.CallID != "" {
		if !hasCall(rep.Calls, opts.CallID) {
			return usageErrorf("--call %q: no such call (see the calls table)", opts.CallID)
		}
		a.callID = opts.CallID
	}
	return a.emit(rep)
}

// captureOptions are the flags of natdoc capture.
type captureOptions struct {
	Interface string
	WriteFile string
	Duration  time.Duration
	Hosts     []string
	Limits    capture.Limits
}

func newCaptureCmd(a *app) *cobra.Command {
	var opts captureOptions
	cmd := &cobra.Command{
		Use:   "capture -i IF [-w FILE.pcap] [--duration D]",
		Short: "Watch live traffic on an interface and judge calls as they end",
		Long: `The analyze pipeline on live traffic (AF_PACKET, Linux only, needs root or
CAP_NET_RAW). Each call is announced on standard error as its signalling ends;
the full report with every call's verdict follows on Ctrl-C or after --duration.

  natdoc capture -i eth0 --duration 2m
  natdoc capture -i eth0 -w calls.pcap     (also save the packets)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCapture(cmd, a, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Interface, "interface", "i", "", "network interface to capture on (required)")
	cmd.Flags().StringVarP(&opts.WriteFile, "write", "w", "", "also save the packets to this pcap `FILE`")
	cmd.Flags().DurationVar(&opts.Duration, "duration", 0, "stop after this long (default: until Ctrl-C)")
	cmd.Flags().StringSliceVar(&opts.Hosts, "host", nil, "analyse only packets to or from this `IP` (repeatable: a phone, the SIP server)")
	limitFlags(cmd.Flags(), &opts.Limits)
	_ = cmd.MarkFlagRequired("interface")
	return cmd
}

// wantsCallDetail says whether the report will draw single calls: their
// ladder diagram and SDP (--call, HTML) and RTP timelines (HTML), or carry
// the full model (JSON). Only then does the analysis keep each call whole;
// otherwise finished calls keep what the calls table and findings need,
// and memory stays nearly flat on long captures.
func (a *app) wantsCallDetail(callID string) (bool, error) {
	f, err := a.format()
	if err != nil {
		return false, err
	}
	return callID != "" || f == report.FormatJSON || f == report.FormatHTML, nil
}

func runCapture(cmd *cobra.Command, a *app, opts captureOptions) error {
	defer debug.SetGCPercent(debug.SetGCPercent(analyzeGCPercent))
	detail, err := a.wantsCallDetail("")
	if err != nil {
		return err
	}
	rep := newReport("capture")
	rep.Started = time.Now()
	var hosts []netip.Addr
	for _, h := range opts.Hosts {
		a, err := netip.ParseAddr(h)
		if err != nil {
			return usageErrorf("--host %q: %w", h, err)
		}
		hosts = append(hosts, a)
	}
	res, err := capture.Live(cmd.Context(), capture.LiveOptions{
		Interface: opts.Interface, WriteFile: opts.WriteFile, Duration: opts.Duration, Hosts: hosts, Detail: detail, Limits: opts.Limits,
		OnCallEnd: func(e capture.CallEnd) {
			fmt.Fprintf(a.stderr, "%s call ended: %s → %s (status %d) %s\n", e.At.Format("15:04:05"), e.From, e.To, e.Status, e.CallID)
		},
		OnCallJudged: func(c report.Call) {
			fmt.Fprintf(a.stderr, "%s judged: %s → %s: %s; %s (%s)\n", c.End.Format("15:04:05"),
				partyOf(c.Caller), partyOf(c.Callee), c.Verdict, c.Explain, c.CallID)
		},
	})
	if err != nil {
		if errors.Is(err, capture.ErrLiveUnsupported) {
			return cannotRunErrorf("capture: %w", err)
		}
		return cannotRunErrorf("%w", err)
	}
	res.Fill(rep)
	rep.Finished = time.Now()
	return a.emit(rep)
}

func hasCall(calls []report.Call, id string) bool {
	for _, c := range calls {
		if c.ID == id || c.CallID == id {
			return true
		}
	}
	return false
}

func partyOf(p report.Party) string {
	if p.User != "" {
		return p.User + "@" + p.Host
	}
	return p.Host
}
