package main

import "github.com/spf13/cobra"

func newDiagnoseCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "diagnose",
		Short: "Run every check on this network and say whether calls will have two-way audio",
		Long: `Runs the NAT, router, SIP ALG and port-forwarding checks together and prints
one report with remedies.

Not built yet (issue #7): it exits 3 without checking anything.`,
		RunE: notBuilt("natdoc diagnose", 7),
	}
}
