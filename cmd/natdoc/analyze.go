package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
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
	// WriteFile receives the packets of the calls shown (-w).
	WriteFile string
	// MaxCalls bounds the calls a report that keeps them holds.
	MaxCalls int
	filterFlags
	TLS    tlsKeyFlags
	HEPOut hepOutFlags
}

func newAnalyzeCmd(a *app) *cobra.Command {
	var opts analyzeOptions
	cmd := &cobra.Command{
		Use:   "analyze FILE...",
		Short: "Find one-way and no-way audio in pcap/pcapng captures",
		Long: `Reads pcap or pcapng captures (also .gz, and - for standard input), groups SIP
into calls (a call through a proxy or B2BUA is one call of several legs),
matches each SDP promise with the RTP that really flowed, and gives every call
a verdict with the packets that prove it and the remedy, with each stream's
quality (loss, jitter, MOS, audio level, RTCP). Several files are merged in
time order, as mergecap does, frames numbered in that order; packets captured
twice are counted once; pcapng comments are shown.

  natdoc analyze call.pcap
  tcpdump -i eth0 -w - | natdoc analyze -
  natdoc analyze --call C2 call.pcap         (ladder diagram of one call)
  natdoc analyze --format html -o report.html call.pcap
  natdoc analyze lan-side.pcap wan-side.pcap (two captures as one)
  natdoc analyze --verdict one-way --host 192.168.1.10 busy.pcap
  natdoc analyze --call C2 -w c2.pcap busy.pcap   (hand one call on)
  natdoc analyze --tls-keylog keys.log tls.pcap (SIP over TLS, read with the keys)
  natdoc analyze --hep-out homer:9060 call.pcap (the calls and verdicts into HOMER)

Captures of HEP traffic (UDP 9060) are unwrapped: the SIP inside is
analysed as if captured where the HEP agent saw it.

Filters select calls after they are judged, so a verdict never depends on
them; calls keep the names (C7) they have without filters.

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
	cmd.Flags().IntVar(&opts.MaxCalls, "max-kept-calls", 10000, "most calls a report that keeps its calls holds (--call, -w, HTML, Markdown); later ones are judged and counted, not shown (text, JSON and JSON Lines write every call as it is judged and keep none)")
	cmd.Flags().StringVarP(&opts.WriteFile, "write", "w", "", "write the packets of the calls shown (--call, filters) to this pcap `FILE`: SIP, RTP, RTCP, fragments")
	opts.filterFlags.add(cmd)
	opts.TLS.register(cmd.Flags())
	opts.HEPOut.register(cmd.Flags())
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

// A streamed analysis keeps no report: its live heap is the calls in
// progress, about 10 MB for 200 calls at once and 35 MB for the 9,000 a
// flood of unanswered INVITEs keeps waiting for Timer B. The collector's
// work follows the bytes allocated divided by the growth it allows, so it
// may double the heap (the Go default) under a soft limit that keeps the
// process under 100 MB; a report that grows is no longer what would push
// the heap against the limit. Measured on one core against 25 and no
// limit: 50,000 calls of signalling 3.45 -> 2.86 s CPU (36 -> 51 MB), 60,000
// unanswered INVITEs 6.1 -> 4.2 s (66 -> 89 MB). 200 then took
// the signalling capture from 1.97 to 1.85 s (55 -> 78 MB) and left the
// unanswered INVITEs, whose heap the limit holds, as they were (2.36 s,
// 89 MB).
const (
	streamedGCPercent   = 200
	streamedMemoryLimit = 80 << 20
)

func runAnalyze(cmd *cobra.Command, a *app, opts analyzeOptions) error {
	defer debug.SetGCPercent(debug.SetGCPercent(analyzeGCPercent))
	f, err := a.format()
	if err != nil {
		return err
	}
	copts, cleanup, err := captureOptionsOf(a, opts)
	if err != nil {
		return err
	}
	defer cleanup()
	if opts.CallID == "" && opts.WriteFile == "" && report.Streamable(f) {
		return analyzeStreamed(cmd, a, f, copts)
	}
	return analyzeKept(cmd, a, opts, copts)
}

// captureOptionsOf turns analyze's flags into the analysis' options;
// cleanup closes what they opened.
func captureOptionsOf(a *app, opts analyzeOptions) (copts capture.Options, cleanup func(), err error) {
	detail, err := a.wantsCallDetail(opts.CallID)
	if err != nil {
		return copts, nil, err
	}
	if opts.WriteFile != "" {
		if slices.Contains(opts.Files, "-") {
			return copts, nil, usageErrorf("-w: give capture files (standard input cannot be read twice)")
		}
		detail = true // the calls' messages say which frames are theirs
	}
	filter, err := opts.filterFlags.filter()
	if err != nil {
		return copts, nil, err
	}
	keys, err := opts.TLS.load()
	if err != nil {
		return copts, nil, err
	}
	sender, err := opts.HEPOut.dial()
	if err != nil {
		return copts, nil, err
	}
	copts = capture.Options{Files: opts.Files, Stdin: a.stdin, Detail: detail, Filter: filter, TLSKeys: keys, HEPOut: sender, Limits: opts.Limits}
	cleanup = func() { closeHEPOut(a.stderr, sender) }
	if opts.Progress && isTerminal(a.stderr) {
		bar := newProgressBar(a.stderr, "reading", 50<<20) // small files finish before a bar helps
		copts.Progress = bar.update
		cleanup = func() { bar.done(); closeHEPOut(a.stderr, sender) }
	}
	return copts, cleanup, nil
}

// analyzeStreamed writes each call as the analysis judges it (text, JSON,
// JSON Lines), keeping none: memory follows the calls in progress.
func analyzeStreamed(cmd *cobra.Command, a *app, f report.Format, copts capture.Options) error {
	defer debug.SetGCPercent(debug.SetGCPercent(streamedGCPercent))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(streamedMemoryLimit))
	rep := newReport("analyze")
	rep.Started = time.Now()
	return writeStreamed(a, f, rep, func(onCall func(report.Call) error) (*capture.Result, error) {
		copts.OnCall = onCall
		res, err := capture.Analyze(cmd.Context(), copts)
		if err != nil {
			return nil, analyzeError(err)
		}
		return res, nil
	})
}

// writeStreamed writes rep's head, then each call as run's judging hands
// it on, then the rest of rep with run's result (text, JSON, JSON Lines).
// run's errors are returned as they are.
func writeStreamed(a *app, f report.Format, rep *report.Report, run func(onCall func(report.Call) error) (*capture.Result, error)) error {
	w, closeOutput, err := a.output()
	if err != nil {
		return err
	}
	defer closeOutput()
	cw, err := report.NewCallWriter(w, a.renderOptions(f, w))
	if err != nil {
		return usageErrorf("%w", err)
	}
	if err := cw.Begin(rep); err != nil {
		return cannotRunErrorf("write report: %w", err)
	}
	res, err := run(cw.Call)
	if err != nil {
		return err
	}
	res.Fill(rep)
	rep.Finished = time.Now()
	if err := cw.End(rep); err != nil {
		return cannotRunErrorf("write report: %w", err)
	}
	if res.CallProblems || rep.ProblemsFound() {
		return errProblemsFound
	}
	return nil
}

// analyzeKept keeps the calls a report draws (--call, -w, HTML, Markdown),
// at most --max-kept-calls of them; the summary counts every call.
func analyzeKept(cmd *cobra.Command, a *app, opts analyzeOptions, copts capture.Options) error {
	var kept []report.Call
	left := 0
	copts.OnCall = func(c report.Call) error {
		if len(kept) < opts.MaxCalls || (opts.CallID != "" && isCall(c, opts.CallID)) {
			kept = append(kept, c)
		} else {
			left++
		}
		return nil
	}
	res, err := capture.Analyze(cmd.Context(), copts)
	if err != nil {
		return analyzeError(err)
	}
	rep := newReport("analyze")
	rep.Started = time.Now()
	res.Calls = kept
	res.Fill(rep)
	rep.Capture.CallsLeftOut = left
	rep.Finished = time.Now()
	if opts.CallID != "" {
		if !hasCall(rep.Calls, opts.CallID) {
			return usageErrorf("--call %q: no such call (see the calls table)", opts.CallID)
		}
		a.callID = opts.CallID
	}
	if opts.WriteFile != "" {
		if err := writeCalls(cmd, a, opts, rep.Calls); err != nil {
			return err
		}
	}
	if err := a.emit(rep); err != nil || !res.CallProblems {
		return err
	}
	return errProblemsFound
}

// analyzeError is the exit status of a failed analysis.
func analyzeError(err error) error {
	if errors.Is(err, capture.ErrUnreadable) {
		return usageErrorf("analyze: %w", err)
	}
	return cannotRunErrorf("analyze: %w", err)
}

// writeCalls saves the packets of the calls shown: the one of --call, or
// all that passed the filters.
func writeCalls(cmd *cobra.Command, a *app, opts analyzeOptions, calls []report.Call) error {
	if opts.CallID != "" {
		for _, c := range calls {
			if c.ID == opts.CallID || c.CallID == opts.CallID {
				calls = []report.Call{c}
				break
			}
		}
	}
	out, err := os.Create(opts.WriteFile)
	if err != nil {
		return usageErrorf("-w: %w", err)
	}
	n, err := capture.WriteCalls(cmd.Context(), opts.Files, calls, out)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return cannotRunErrorf("-w %s: %w", opts.WriteFile, err)
	}
	fmt.Fprintf(a.stderr, "wrote %d packets of %d call(s) to %s\n", n, len(calls), opts.WriteFile)
	return nil
}

// captureOptions are the flags of natdoc capture.
type captureOptions struct {
	Interface string
	HEP       string
	WriteFile string
	Duration  time.Duration
	Hosts     []string
	Limits    capture.Limits
	HEPOut    hepOutFlags
	Metrics   string
}

func newCaptureCmd(a *app) *cobra.Command {
	var opts captureOptions
	cmd := &cobra.Command{
		Use:   "capture (-i IF | --hep ADDR:PORT) [-w FILE.pcap] [--duration D]",
		Short: "Watch live traffic on an interface and judge calls as they end",
		Long: `The analyze pipeline on live traffic (AF_PACKET, Linux only, needs root or
CAP_NET_RAW). Each call is announced on standard error as its signalling ends;
the full report with every call's verdict follows on Ctrl-C or after --duration.

  natdoc capture -i eth0 --duration 2m
  natdoc capture -i eth0 -w calls.pcap     (also save the packets)
  natdoc capture --hep 0.0.0.0:9060        (judge what Kamailio, OpenSIPS, Asterisk,
                                            FreeSWITCH or heplify send as HEP)
  natdoc capture --hep :9060 --metrics :9464 --hep-out homer:9060

--hep receives HEPv3 and HEPv2 over UDP and HEPv3 over TCP on the same port.
Where only SIP arrives (HEP rarely carries RTP), verdicts say that audio
cannot be judged; the signalling findings stand.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCapture(cmd, a, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Interface, "interface", "i", "", "network interface to capture on")
	cmd.Flags().StringVar(&opts.HEP, "hep", "", "receive HEP from SIP servers and capture agents on this `ADDR:PORT` (UDP and TCP; port 0 takes one the kernel picks, said on stderr) instead of capturing")
	cmd.Flags().StringVar(&opts.Metrics, "metrics", "", "serve Prometheus metrics on `ADDR:PORT`/metrics while capturing")
	opts.HEPOut.register(cmd.Flags())
	cmd.Flags().StringVarP(&opts.WriteFile, "write", "w", "", "also save the packets to this pcap `FILE`")
	cmd.Flags().DurationVar(&opts.Duration, "duration", 0, "stop after this long (default: until Ctrl-C)")
	cmd.Flags().StringSliceVar(&opts.Hosts, "host", nil, "analyse only packets to or from this `IP` (repeatable: a phone, the SIP server)")
	limitFlags(cmd.Flags(), &opts.Limits)
	cmd.MarkFlagsOneRequired("interface", "hep")
	cmd.MarkFlagsMutuallyExclusive("interface", "hep")
	cmd.MarkFlagsMutuallyExclusive("write", "hep")
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
	return callID != "" || f == report.FormatJSON || f == report.FormatJSONL || f == report.FormatHTML, nil
}

// hepGCPercent is the Go default for capture --hep: a busy HEP feed is all
// short-lived SIP parsing garbage, and at analyze's 25 the collector took
// a third more CPU per message (30,000 messages/s offered on one core:
// 31 against 21 µs of CPU per message read) for 0.6 times the memory.
const hepGCPercent = 100

func runCapture(cmd *cobra.Command, a *app, opts captureOptions) error {
	gc := analyzeGCPercent
	if opts.HEP != "" {
		gc = hepGCPercent
	}
	defer debug.SetGCPercent(debug.SetGCPercent(gc))
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
	sender, err := opts.HEPOut.dial()
	if err != nil {
		return err
	}
	defer closeHEPOut(a.stderr, sender)
	m, stopMetrics, err := startMetrics(cmd.Context(), a.stderr, opts.Metrics)
	if err != nil {
		return err
	}
	defer stopMetrics()
	onJudged, onSIP, onAnomaly := observeCapture(m, func(c report.Call) {
		fmt.Fprintf(a.stderr, "%s judged: %s → %s: %s; %s (%s)\n", c.End.Format("15:04:05"),
			partyOf(c.Caller), partyOf(c.Callee), c.Verdict, c.Explain, c.CallID)
	})
	live := capture.LiveOptions{
		Interface: opts.Interface, WriteFile: opts.WriteFile, Duration: opts.Duration, Hosts: hosts, Detail: detail, Limits: opts.Limits,
		OnCallEnd: func(e capture.CallEnd) {
			fmt.Fprintf(a.stderr, "%s call ended: %s → %s (status %d) %s\n", e.At.Format("15:04:05"), e.From, e.To, e.Status, e.CallID)
		},
		OnCallJudged: onJudged, OnSIP: onSIP, OnAnomaly: onAnomaly, HEPOut: sender,
	}
	if f, _ := a.format(); report.Streamable(f) {
		// A capture may run for days: its calls are written as they are
		// judged, not kept for the end.
		return writeStreamed(a, f, rep, func(onCall func(report.Call) error) (*capture.Result, error) {
			live.OnCall = onCall
			return listenLive(cmd.Context(), a.stderr, opts, live)
		})
	}
	res, err := listenLive(cmd.Context(), a.stderr, opts, live)
	if err != nil {
		return err
	}
	res.Fill(rep)
	rep.Finished = time.Now()
	return a.emit(rep)
}

// listenLive runs the capture: HEP on opts.HEP (said on stderr where,
// for a port the kernel chose), else the interface.
func listenLive(ctx context.Context, stderr io.Writer, opts captureOptions, live capture.LiveOptions) (res *capture.Result, err error) {
	if opts.HEP != "" {
		listening := func(addr string) { fmt.Fprintf(stderr, "receiving HEP on udp and tcp %s\n", addr) }
		res, err = capture.ListenHEP(ctx, capture.HEPOptions{LiveOptions: live, Listen: opts.HEP, Listening: listening})
	} else {
		res, err = capture.Live(ctx, live)
	}
	if errors.Is(err, capture.ErrLiveUnsupported) {
		return nil, cannotRunErrorf("capture: %w", err)
	} else if err != nil {
		return nil, cannotRunErrorf("%w", err)
	}
	return res, nil
}

func hasCall(calls []report.Call, id string) bool {
	return slices.ContainsFunc(calls, func(c report.Call) bool { return isCall(c, id) })
}

// isCall says whether id names c: its natdoc ID (C7) or its SIP Call-ID.
func isCall(c report.Call, id string) bool { return c.ID == id || c.CallID == id }

func partyOf(p report.Party) string {
	if p.User != "" {
		return p.User + "@" + p.Host
	}
	return p.Host
}
