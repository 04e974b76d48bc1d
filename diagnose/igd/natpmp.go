package igd

import (
	"net/netip"
	"time"

	natpmp "github.com/jackpal/go-nat-pmp"

	"github.com/natdoc/natdoc/diagnose/netenv"
)

// natpmpTimeout is the whole budget of one NAT-PMP call in go-nat-pmp
// (it retransmits from 250 ms, doubling, RFC 6886 §3.1); the gateway is
// one hop away, so 2 s means it does not speak NAT-PMP.
const natpmpTimeout = 2 * time.Second

// Quirk: NAT-PMP cannot say "this external port or nothing" (RFC 6886
// §3.3 lets the gateway pick another), and miniupnpd 2.3.1 answers a
// request for a port its permission rules refuse only after trying every
// other port ("Failed to find available eport for NAT-PMP", natpmp.c),
// which takes longer than natpmpTimeout and repeats for each retransmit.
// natdoc therefore prefers UPnP, then PCP (with PREFER_FAILURE), and uses
// NAT-PMP only when nothing else answers.

// probeNATPMP asks the gateway for its external address (RFC 6886 §3.2).
// go-nat-pmp creates its socket inside the call, so the call runs inside
// env (the thread is in env's network while it does).
func probeNATPMP(env netenv.Env, gw netip.Addr) PMPProbe {
	p := PMPProbe{Tried: true, Gateway: gw}
	var r *natpmp.GetExternalAddressResult
	err := env.Run(func() error {
		var err error
		r, err = natpmp.NewClientWithTimeout(gw.AsSlice(), natpmpTimeout).GetExternalAddress()
		return err
	})
	if err != nil {
		p.Err = err.Error()
		return p
	}
	p.Answered = true
	p.ExternalIP = netip.AddrFrom4(r.ExternalIPAddress)
	return p
}
