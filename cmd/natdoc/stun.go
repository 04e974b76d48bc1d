package main

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/spf13/cobra"
)

// stunOptions are the flags of `natdoc stun`.
type stunOptions struct {
	Servers     []string
	LocalPort   uint16
	Lifetime    bool
	LifetimeMax time.Duration
	TCP         bool
	IPv6        bool
}

func newStunCmd(a *app) *cobra.Command {
	var opts stunOptions
	cmd := &cobra.Command{
		Use:   "stun [HOST:PORT...]",
		Short: "Measure how the NAT maps and filters UDP, and whether STUN can fix audio",
		Long: `Asks STUN servers how this host is seen from the internet and measures the
NAT's behaviour: public address and port (and whether the local port was kept),
mapping and filtering behaviour (RFC 5780 tests with a server that supports
them, and a comparison across all servers asked from one socket), hairpinning,
and with --lifetime how long an idle UDP mapping survives.

The verdict says whether STUN can fix one-way audio here: it cannot when the
NAT gives every destination its own public port ("symmetric NAT").

Without servers, a short list of public STUN servers is used:
  ` + fmt.Sprint(stunprobe.DefaultServers) + `
natdoc stun-server runs one of your own (RFC 5780 with two addresses).`,
		Example: `  natdoc stun
  natdoc stun --local-port 5060          # what the phone's SIP port gets
  natdoc stun --lifetime stun.example.net:3478
  natdoc stun --json 203.0.113.10:3478 198.51.100.7`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Servers = args
			if err := opts.validate(); err != nil {
				return err
			}
			return runStun(cmd, a, opts)
		},
	}
	f := cmd.Flags()
	f.Uint16Var(&opts.LocalPort, "local-port", 0, "bind the probe to this local UDP `PORT` (e.g. the phone's SIP port 5060); 0 picks one")
	f.BoolVar(&opts.Lifetime, "lifetime", false, "also measure how long an idle UDP mapping survives (takes minutes)")
	f.DurationVar(&opts.LifetimeMax, "lifetime-max", 4*time.Minute, "longest idle time the --lifetime search tries")
	f.BoolVar(&opts.TCP, "tcp", false, "also ask the first server for a TCP mapping")
	f.BoolVarP(&opts.IPv6, "ipv6", "6", false, "probe over IPv6 instead of IPv4")
	return cmd
}

// validate checks the server names before anything is sent.
func (o *stunOptions) validate() error {
	for _, s := range o.Servers {
		if err := stunprobe.ValidServer(s); err != nil {
			return usageError{err}
		}
	}
	if o.Lifetime && o.LifetimeMax < 2*time.Second {
		return usageErrorf("--lifetime-max %s: want at least 2s", o.LifetimeMax)
	}
	if len(o.Servers) == 0 {
		o.Servers = stunprobe.DefaultServers
	}
	return nil
}

func runStun(cmd *cobra.Command, a *app, o stunOptions) error {
	cfg := stunprobe.Config{
		Servers: o.Servers, LocalPort: o.LocalPort, Lifetime: o.Lifetime,
		LifetimeMax: o.LifetimeMax, TCP: o.TCP, Log: a.log,
	}
	if o.IPv6 {
		cfg.Network = "udp6"
	}
	if o.Lifetime {
		a.log.Info("measuring the binding lifetime; this takes up to about twice --lifetime-max", "lifetime-max", o.LifetimeMax)
	}
	rep := newReport("stun")
	rep.Started = time.Now()
	res, err := stunprobe.Run(cmd.Context(), cfg)
	if errors.Is(err, syscall.EADDRINUSE) {
		return cannotRunErrorf("stun: %w (a SIP phone or softphone on this host may hold the port: stop it, or give another --local-port)", err)
	}
	if err != nil {
		return cannotRunErrorf("stun: %w", err)
	}
	rep.Finished = time.Now()
	rep.NAT = stunprobe.NATReport(res)
	rep.Add(stunprobe.Findings(res)...)
	rep.Verdict = stunprobe.Verdict(res)
	return a.emit(rep)
}
