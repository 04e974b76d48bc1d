package main

import "github.com/spf13/cobra"

func newAnalyzeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "analyze FILE...",
		Short: "Find one-way and no-way audio in pcap/pcapng captures",
		Long: `Reads pcap or pcapng captures (also .gz, and - for standard input), groups SIP
into calls, matches each SDP promise with the RTP that really flowed, and gives
every call a verdict with the packets that prove it and the remedy.

Not built yet (issue #5): it exits 3 without reading anything.`,
		Args: cobra.MinimumNArgs(1),
		RunE: notBuilt("natdoc analyze", 5),
	}
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
