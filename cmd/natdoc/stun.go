package main

import "github.com/spf13/cobra"

func newStunCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "stun [HOST:PORT...]",
		Short: "Measure how the NAT maps and filters UDP, and whether STUN can fix audio",
		Long: `Discovers the public address and the NAT's mapping and filtering behaviour
(RFC 5780), binding lifetime and hairpinning.

Not built yet (issue #3): it exits 3 without sending anything.`,
		RunE: notBuilt("natdoc stun", 3),
	}
}
