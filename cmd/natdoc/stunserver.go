package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/natdoc/natdoc/diagnose/stunserver"
	"github.com/natdoc/natdoc/report"
	"github.com/spf13/cobra"
)

// stunServerOptions are the flags of `natdoc stun-server`.
type stunServerOptions struct {
	Listen    string
	Alternate string
	Rate      float64
	Burst     int
	Duration  time.Duration
}

func newStunServerCmd(a *app) *cobra.Command {
	var opts stunServerOptions
	cmd := &cobra.Command{
		Use:   "stun-server",
		Short: "Run natdoc's own STUN server (RFC 5780 with two addresses)",
		Long: `Answers STUN Binding requests so that natdoc stun (or any STUN client) can test
a NAT against a server you control.

With --alternate (a second IP address of this host and a second port) it
supports RFC 5780 NAT behaviour discovery: OTHER-ADDRESS, CHANGE-REQUEST,
RESPONSE-ORIGIN and RESPONSE-PORT, so one public host gives the full test.
It answers nothing but Binding requests, limits answers per source IP, and
never sends an answer more than 5 times the size of its request.

It runs until Ctrl-C (or --duration) and then prints what it answered.`,
		Example: `  natdoc stun-server --listen 203.0.113.10:3478 --alternate 203.0.113.11:3479
  natdoc stun 203.0.113.10:3478           # from behind the NAT to test`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := opts.config()
			if err != nil {
				return err
			}
			cfg.Log = a.log
			return runStunServer(cmd.Context(), a, cfg, opts.Duration)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Listen, "listen", "0.0.0.0:3478", "primary `ADDR:PORT` to answer on")
	f.StringVar(&opts.Alternate, "alternate", "", "alternate `ADDR:PORT` (another IP and port of this host) for RFC 5780")
	f.Float64Var(&opts.Rate, "rate", 50, "answers per second allowed per source IP")
	f.IntVar(&opts.Burst, "burst", 100, "answers a source IP may get in a burst")
	f.DurationVar(&opts.Duration, "duration", 0, "stop after this long (0: run until interrupted)")
	return cmd
}

func (o stunServerOptions) config() (stunserver.Config, error) {
	var cfg stunserver.Config
	var err error
	if cfg.Primary, err = netip.ParseAddrPort(o.Listen); err != nil {
		return cfg, usageErrorf("--listen %q: want IP:PORT", o.Listen)
	}
	if o.Alternate != "" {
		if cfg.Alternate, err = netip.ParseAddrPort(o.Alternate); err != nil {
			return cfg, usageErrorf("--alternate %q: want IP:PORT", o.Alternate)
		}
		if cfg.Primary.Addr().IsUnspecified() {
			return cfg, usageErrorf("--alternate needs a specific --listen address, not %s: RFC 5780 answers name the address they come from", cfg.Primary.Addr())
		}
	}
	if o.Rate <= 0 || o.Burst <= 0 {
		return cfg, usageErrorf("--rate and --burst must be positive")
	}
	cfg.Rate, cfg.Burst = o.Rate, o.Burst
	return cfg, nil
}

func runStunServer(ctx context.Context, a *app, cfg stunserver.Config, d time.Duration) error {
	srv, err := stunserver.Listen(cfg)
	if err != nil {
		return cannotRunErrorf("stun-server: %w", err)
	}
	rep := newReport("stun-server")
	rep.Started = time.Now()
	for _, addr := range srv.Addrs() {
		rep.Serve = appendListen(rep.Serve, addr.String()+"/udp")
	}
	a.log.Warn("STUN server answering; Ctrl-C stops it", "addresses", srv.Addrs(), "rfc5780", srv.RFC5780())
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if err := srv.Serve(ctx); err != nil {
		return cannotRunErrorf("stun-server: %w", err)
	}
	rep.Finished = time.Now()
	s := &srv.Stats
	rep.Serve.Counters = []report.KeyValue{
		{Key: "received", Value: fmt.Sprint(s.Received.Load())},
		{Key: "answered", Value: fmt.Sprint(s.Answered.Load())},
		{Key: "answered from the other address (CHANGE-REQUEST)", Value: fmt.Sprint(s.AnsweredFromOther.Load())},
		{Key: "420 unknown attribute", Value: fmt.Sprint(s.Errors420.Load())},
		{Key: "dropped: rate limit", Value: fmt.Sprint(s.RateLimited.Load())},
		{Key: "dropped: malformed", Value: fmt.Sprint(s.Malformed.Load())},
		{Key: "dropped: not a Binding request", Value: fmt.Sprint(s.NotBindingRequest.Load())},
		{Key: "dropped: answer would amplify", Value: fmt.Sprint(s.TooBig.Load())},
	}
	rep.Verdict = fmt.Sprintf("Answered %d STUN requests.", s.Answered.Load())
	return a.emit(rep)
}

func appendListen(s *report.ServeReport, addr string) *report.ServeReport {
	if s == nil {
		s = &report.ServeReport{}
	}
	s.Listen = append(s.Listen, addr)
	return s
}
