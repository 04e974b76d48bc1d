package main

import "github.com/spf13/cobra"

func newUpnpCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upnp",
		Short: "Ask the router's UPnP IGD what it really forwards, and its limits",
		Long: `Finds the router's UPnP IGD (and NAT-PMP/PCP), maps the SIP and RTP ports as a
SIP server would, and measures how many mappings it accepts, leaving the router
as it was.

Not built yet (issue #4): every subcommand exits 3 without touching the router.`,
	}
	for _, sub := range []struct{ use, short string }{
		{"discover", "List every IGD that answers"},
		{"list", "Show the router's port-mapping table"},
		{"map", "Forward the SIP port and an RTP range"},
		{"unmap", "Remove mappings natdoc made"},
		{"limits", "Measure how many mappings the router accepts"},
		{"cleanup", "Remove every mapping natdoc made, from its journal"},
	} {
		cmd.AddCommand(&cobra.Command{Use: sub.use, Short: sub.short, RunE: notBuilt("natdoc upnp "+sub.use, 4)})
	}
	return cmd
}
