//go:build linux

package main

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
)

// natdoc serve listening on every interface of a host with two addresses
// on one interface, with a main address that is not one of them (a 1:1
// NAT's), cannot bind its relay to the address phones send media to: it
// says that relayed media leaves from the address the kernel picks, which
// a phone behind a filtering NAT that sent to the other loses. On a host
// with one address, or with the main address one of the host's (the relay
// binds to it: TestLabServeMultihomed), it does not.
func TestLabServeMultihomedNotice(t *testing.T) {
	natlab.Require(t)
	const notice = "listening on every interface of a host with several addresses on one interface"
	for _, tc := range []struct {
		name  string
		addrs []string
		main  string
		want  bool
	}{
		{"two addresses", []string{"203.0.113.20", "203.0.113.22"}, "203.0.113.99", true},
		{"one address", []string{"203.0.113.20"}, "203.0.113.99", false},
		{"main address on the host", []string{"203.0.113.20", "203.0.113.22"}, "203.0.113.22", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lab := natlab.New(t)
			srv := lab.PublicHost("server", tc.addrs...)
			p := srv.Start(t, os.Args[0], append(helperArgs, "serve", "--listen", "0.0.0.0:5060", "--public-addr", tc.main,
				"--rtp-ports", "28400-28419", "--open", "--tcp=false", "--echo=false", "--router-check=false")...)
			waitLog(t, p, "listening on")
			time.Sleep(200 * time.Millisecond)
			p.Stop()
			if got := strings.Contains(p.Log(), notice); got != tc.want {
				t.Errorf("notice shown %v, want %v:\n%s", got, tc.want, p.Log())
			}
		})
	}
}

// TestLabServeMultihomed: serve on a host with two addresses on one
// interface (203.0.113.20, the kernel's source for the subnet, and
// 203.0.113.22), listening on every interface with 203.0.113.22 as its
// public address. Alice behind a Linux router, which lets in only what
// comes from where she sends, registers and calls there; Bob is on the
// internet. Answers and relayed media must leave from 203.0.113.22, the
// address Alice's SIP and media go to, or her router keeps them out: both
// calls are two-way by the phones' own counts.
func TestLabServeMultihomed(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	srv := lab.PublicHost("server", "203.0.113.20", "203.0.113.22")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	aHost, bHost := r1.LANHost("alice", "192.168.1.10"), lab.PublicHost("bob", "198.51.100.20")
	serve := srv.Start(t, os.Args[0], append(helperArgs, "serve", "--listen", "0.0.0.0:5060", "--public-addr", "203.0.113.22",
		"--rtp-ports", "28400-28419", "--allow", "0.0.0.0/0", "--tcp=false", "--echo=false", "--router-check=false")...)
	waitLog(t, serve, "listening on")
	registrar := netip.MustParseAddrPort("203.0.113.22:5060")
	alice := natlab.StartBaresip(t, aHost, natlab.BaresipConfig{User: "alice", Registrar: registrar, AutoAnswer: true})
	bob := natlab.StartBaresip(t, bHost, natlab.BaresipConfig{User: "bob", Registrar: registrar, AutoAnswer: true})
	waitLog(t, serve, `alice`)
	waitLog(t, serve, `bob`)
	baresipCall(t, "alice calls bob", alice, bob, "sip:bob@203.0.113.22")
	baresipCall(t, "bob calls alice", bob, alice, "sip:alice@203.0.113.22")
}
