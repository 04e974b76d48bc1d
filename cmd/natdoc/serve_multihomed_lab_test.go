//go:build linux

package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
)

// natdoc serve listening on every interface of a host with two addresses
// on one interface says that its answers and media leave from the address
// the kernel picks, which a phone behind a filtering NAT that reached the
// other loses; on a host with one address it does not.
func TestLabServeMultihomedNotice(t *testing.T) {
	natlab.Require(t)
	const notice = "listening on every interface of a host with several addresses on one interface"
	for _, tc := range []struct {
		name  string
		addrs []string
		want  bool
	}{{"two addresses", []string{"203.0.113.20", "203.0.113.22"}, true}, {"one address", []string{"203.0.113.20"}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lab := natlab.New(t)
			srv := lab.PublicHost("server", tc.addrs...)
			p := srv.Start(t, os.Args[0], append(helperArgs, "serve", "--listen", "0.0.0.0:5060", "--public-addr", "203.0.113.22",
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
