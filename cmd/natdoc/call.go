package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/natdoc/natdoc/phone"
	"github.com/spf13/cobra"
)

// callOptions are the flags of `natdoc call`.
type callOptions struct {
	Target    string
	Server    string
	User      string
	Password  string
	Answer    bool
	Register  bool
	Duration  time.Duration
	Wait      time.Duration
	SDPAddr   string
	STUN      string
	Symmetric bool
	Comedia   bool
	LocalIP   string
	SIPPort   int
	RTPPort   int

	mode     phone.SDPMode
	explicit netip.Addr
	stun     netip.AddrPort
	local    netip.Addr
}

func newCallCmd(a *app) *cobra.Command {
	var o callOptions
	cmd := &cobra.Command{
		Use:   "call [USER | sip:USER@HOST]",
		Short: "A simulated phone: call or answer, and measure audio each way",
		Long: `Registers with a SIP server, calls a user (or with --answer waits for a call),
sends G.711 RTP whose payload names this phone for --duration, and reports per
direction what was sent, received, lost and the jitter, with the verdict:
two-way, one-way (naming who cannot hear) or no-way. When both ends are natdoc
phones (or the server's "echo" user) they tell each other their counts at the
end of the call, so each report covers both directions. Exit status 1 when the
call is not two-way.

The SDP address is what real phones get wrong: --sdp-addr local puts the
phone's own (private) address in SDP, the common mistake; --sdp-addr stun asks
--stun SERVER for the public address of the RTP socket; an IP puts that
address (e.g. a port-forwarded public address, with --rtp-port in the
forwarded range).`,
		Example: `  natdoc call --server 203.0.113.10:5060 --user alice echo
  natdoc call --server 203.0.113.10:5060 --user bob --answer
  natdoc call --server pbx.example.net:5060 --user alice --sdp-addr stun --stun stun.example.net:3478 bob`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Target = args[0]
			}
			if err := o.validate(); err != nil {
				return err
			}
			return runCall(cmd.Context(), a, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Server, "server", "", "SIP server `HOST:PORT` (required; it is also the outbound proxy)")
	f.StringVar(&o.User, "user", "natdoc", "this phone's user name")
	f.StringVar(&o.Password, "password", "", "digest password, when the server asks")
	f.BoolVar(&o.Answer, "answer", false, "wait for a call and answer it instead of calling")
	f.BoolVar(&o.Register, "register", true, "register before calling (answering always registers)")
	f.DurationVar(&o.Duration, "duration", 5*time.Second, "how long to send audio")
	f.DurationVar(&o.Wait, "wait", 5*time.Minute, "with --answer: how long to wait for a call")
	f.StringVar(&o.SDPAddr, "sdp-addr", "local", "address in SDP: local, stun, or an `IP`")
	f.StringVar(&o.STUN, "stun", "", "STUN `HOST:PORT` for --sdp-addr stun")
	f.BoolVar(&o.Symmetric, "symmetric-rtp", true, "send RTP from the port it is received on (RFC 4961)")
	f.BoolVar(&o.Comedia, "comedia", false, "send RTP to where the other side's media comes from, not to its SDP address")
	f.StringVar(&o.LocalIP, "local-ip", "", "local `IP` to use (default: the one routing to --server)")
	f.IntVar(&o.SIPPort, "sip-port", 0, "local SIP port (0: any)")
	f.IntVar(&o.RTPPort, "rtp-port", 0, "local RTP port (0: any)")
	return cmd
}

func (o *callOptions) validate() error {
	if o.Server == "" {
		return usageErrorf("--server is required")
	}
	if !strings.Contains(o.Server, ":") {
		o.Server += ":5060"
	}
	if o.Answer == (o.Target != "") {
		return usageErrorf("give a user to call, or --answer (not both)")
	}
	switch o.SDPAddr {
	case "local":
		o.mode = phone.SDPLocal
	case "stun":
		o.mode = phone.SDPSTUN
		ap, err := netip.ParseAddrPort(o.STUN)
		if err != nil {
			return usageErrorf("--sdp-addr stun needs --stun IP:PORT (got %q)", o.STUN)
		}
		o.stun = ap
	default:
		ip, err := netip.ParseAddr(o.SDPAddr)
		if err != nil {
			return usageErrorf("--sdp-addr %q: want local, stun or an IP", o.SDPAddr)
		}
		o.mode, o.explicit = phone.SDPExplicit, ip
	}
	if o.LocalIP != "" {
		ip, err := netip.ParseAddr(o.LocalIP)
		if err != nil {
			return usageErrorf("--local-ip %q: want an IP", o.LocalIP)
		}
		o.local = ip
	}
	if o.Duration <= 0 || o.SIPPort < 0 || o.SIPPort > 65535 || o.RTPPort < 0 || o.RTPPort > 65535 {
		return usageErrorf("--duration, --sip-port or --rtp-port out of range")
	}
	return nil
}

func runCall(ctx context.Context, a *app, o *callOptions) error {
	silenceSipgo(a)
	rep := newReport("call")
	rep.Started = time.Now()
	opt := phone.RunOptions{Config: phone.Config{User: o.User, Password: o.Password, Server: o.Server, LocalIP: o.local, SDPMode: o.mode,
		SDPAddr: o.explicit, STUN: o.stun, Symmetric: o.Symmetric, Comedia: o.Comedia, RTPPort: o.RTPPort, Log: a.log},
		SIPPort: o.SIPPort, Register: o.Register, Target: o.Target, Answer: o.Answer, Duration: o.Duration, Wait: o.Wait,
		Notify: func(msg string) { fmt.Fprintln(a.stderr, "natdoc call: "+msg) }}
	if err := phone.Run(ctx, opt, rep); err != nil {
		return cannotRunErrorf("%w", err)
	}
	return a.emit(rep)
}
