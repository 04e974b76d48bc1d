package main

import (
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/natdoc/natdoc/diagnose/sipalg"
	"github.com/natdoc/natdoc/internal/udptcp"
	"github.com/natdoc/natdoc/report"
)

func newMirrorCmd(a *app) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "mirror",
		Short: "Answer SIP requests with the bytes received, for natdoc diagnose's SIP ALG test",
		Long: `Runs the other end of natdoc diagnose's SIP ALG test on a host with a public
address: every SIP request that arrives over UDP or TCP is answered with the
exact bytes received (base64 in the body) and the source address seen, so the
sender can tell what a router on the way rewrote; asked for a digest instead
(diagnose's IP-fragments test), it answers with the request's length and
SHA-256 in one small packet. On request it also sends
one small UDP packet per port (at most 8) back to the requester's own address
from another port, for diagnose's port-forwarding check. It answers SIP requests
only (never ACK), rate-limits each source and answers at most about 1.5 times
the bytes received. It runs until interrupted, then prints its counters.`,
		Example: `  natdoc mirror --listen :5060
  natdoc diagnose --mirror THIS-HOST:5060   (on the network under test)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			udpAddr, err := net.ResolveUDPAddr("udp", listen)
			if err != nil {
				return usageErrorf("--listen %q: %w", listen, err)
			}
			udp, tcp, err := udptcp.Listen("udp", listen)
			if err != nil {
				return cannotRunErrorf("mirror: %w", err)
			}
			// Callbacks (port-forwarding checks) leave from a port of their
			// own, so they match no binding the request opened.
			callback, err := net.ListenUDP("udp", &net.UDPAddr{IP: udpAddr.IP})
			if err != nil {
				udp.Close()
				tcp.Close()
				return cannotRunErrorf("mirror: callback socket: %w", err)
			}
			a.log.Info("mirror listening", "udp", udp.LocalAddr(), "tcp", tcp.Addr(), "callbacks from", callback.LocalAddr())
			fmt.Fprintf(a.stderr, "natdoc mirror: answering on %s (udp and tcp); Ctrl-C stops\n", udp.LocalAddr())
			rep := newReport("mirror")
			rep.Started = time.Now()
			m := &sipalg.Mirror{UDP: udp, TCP: tcp, Callback: callback}
			if err := m.Serve(cmd.Context()); err != nil {
				return cannotRunErrorf("%w", err)
			}
			rep.Finished = time.Now()
			st := m.Stats()
			rep.Verdict = fmt.Sprintf("Mirror stopped after answering %d requests.", st.Answered.Load())
			rep.Checks = []report.Check{{Name: "mirror", Status: report.CheckPassed, Took: rep.Finished.Sub(rep.Started).Round(time.Second),
				Detail: fmt.Sprintf("answered %d, ignored %d (not SIP requests), rate-limited %d", st.Answered.Load(), st.Ignored.Load(), st.RateLimited.Load())}}
			return a.emit(rep)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", ":5060", "`ADDR:PORT` to answer on, UDP and TCP")
	return cmd
}
