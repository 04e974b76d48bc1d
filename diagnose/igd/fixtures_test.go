package igd

import (
	"context"
	"net/netip"
	"os"
	"testing"
)

func TestRealRootDescriptions(t *testing.T) {
	for _, tc := range []struct {
		file, name, service string
		version             int
	}{
		{"dlink-dir-890l.xml", "Wireless Broadband Router", "WANIPConnection:1", 1},
		{"miniupnpd-2.3.1-debian-nftables.xml", "natlab router", "WANIPConnection:2", 2},
	} {
		t.Run(tc.file, func(t *testing.T) {
			xml, err := os.ReadFile("testdata/devices/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			f := newFakeIGD(t, "urn:schemas-upnp-org:service:"+tc.service)
			f.rootXML = string(xml)
			d, opt := discoverFake(t, f)
			g := d.Best()
			if g.FriendlyName != tc.name || g.Service != tc.service || g.Version() != tc.version || g.ExternalIP.String() != "203.0.113.7" {
				t.Fatalf("gateway %+v", g)
			}
			// The SOAP calls reach the fake although the description names
			// another host in URLBase (the D-Link's 10.0.0.1:49152).
			s, _ := newTestSession(t, d, opt)
			ms := MapAll(context.Background(), s, opt, []Request{{Proto: "UDP", ExternalPort: 5060, InternalPort: 5060}}, netip.AddrPort{})
			if !ms[0].Accepted || ms[0].ReadBackOK != Yes || f.count("AddPortMapping") != 1 {
				t.Errorf("map %+v, %d adds", ms[0], f.count("AddPortMapping"))
			}
			s.Close(context.Background())
			if len(f.snapshot()) != 0 {
				t.Error("mapping left behind")
			}
		})
	}
}
