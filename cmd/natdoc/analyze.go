package main

import (
	"errors"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
	"github.com/spf13/cobra"
)

// analyzeOptions are the flags of natdoc analyze.
type analyzeOptions struct {
	Files    []string
	CallID   string
	Progress bool
}

func newAnalyzeCmd(a *app) *cobra.Command {
	var opts analyzeOptions
	cmd := &cobra.Command{
		Use:   "analyze FILE...",
		Short: "Find one-way and no-way audio in pcap/pcapng captures",
		Long: `Reads pcap or pcapng captures (also .gz, and - for standard input), groups SIP
into calls, matches each SDP promise with the RTP that really flowed, and gives
every call a verdict with the packets that prove it and the remedy.

  natdoc analyze call.pcap
  tcpdump -i eth0 -w - | natdoc analyze -
  natdoc analyze --call C2 call.pcap         (ladder diagram of one call)
  natdoc analyze --format html -o report.html call.pcap

Exit status 1 when any call had one-way or no-way audio.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			return runAnalyze(cmd, a, opts)
		},
	}
	cmd.Flags().StringVar(&opts.CallID, "call", "", "show one call in detail (natdoc ID like C2, or the SIP Call-ID) with its ladder diagram")
	cmd.Flags().BoolVar(&opts.Progress, "progress", true, "show a progress bar on standard error when it is a terminal")
	return cmd
}

func runAnalyze(cmd *cobra.Command, a *app, opts analyzeOptions) error {
	rep := newReport("analyze")
	rep.Started = time.Now()
	copts := capture.Options{Files: opts.Files, Stdin: a.stdin}
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

func newCaptureCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "capture -i IF",
		Short: "Watch live traffic on an interface and judge calls as they end",
		Long: `The analyze pipeline on live traffic (AF_PACKET, Linux only).

Not built yet (issue #5): it exits 3 without capturing anything.`,
		RunE: notBuilt("natdoc capture", 5),
	}
}

func hasCall(calls []report.Call, id string) bool {
	for _, c := range calls {
		if c.ID == id || c.CallID == id {
			return true
		}
	}
	return false
}
