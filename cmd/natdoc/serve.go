package main

import "github.com/spf13/cobra"

func newServeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run a SIP server with an RTP relay that anchors media (fix mode)",
		Long: `A temporary SIP registrar and proxy with an RTP relay, so that phones behind
NAT hear each other.

Not built yet (issue #6): it exits 3 without listening.`,
		RunE: notBuilt("natdoc serve", 6),
	}
}

func newCallCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "call [sip:USER@HOST]",
		Short: "A simulated phone: call or answer, and measure audio each way",
		Long: `Registers, calls or answers, sends G.711 RTP and reports what arrived in each
direction.

Not built yet (issue #6): it exits 3 without sending anything.`,
		RunE: notBuilt("natdoc call", 6),
	}
}
