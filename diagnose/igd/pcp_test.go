package igd

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakePCP answers PCP on loopback like a small gateway: ANNOUNCE, and MAP
// for ports below limit (NO_RESOURCES above, or CANNOT_PROVIDE_EXTERNAL
// when the request carries PREFER_FAILURE). Before each real answer it
// sends a decoy with a wrong nonce, which the client must ignore.
func fakePCP(t *testing.T, limit uint16) (*net.UDPConn, func() int) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var mu sync.Mutex
	mapped := map[uint16]bool{}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(mapped) }
	go func() {
		buf := make([]byte, 1200)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			req := buf[:n]
			mu.Lock()
			resp := make([]byte, pcpHeaderLen)
			resp[0], resp[1] = 2, req[1]|pcpReplyBit
			if req[1] == pcpOpMap && n >= pcpHeaderLen+pcpMapLen {
				p := req[pcpHeaderLen:]
				port := binary.BigEndian.Uint16(p[18:20])
				lifetime := binary.BigEndian.Uint32(req[4:8])
				switch {
				case lifetime == 0:
					delete(mapped, binary.BigEndian.Uint16(p[16:18]))
				case port >= limit && n > pcpHeaderLen+pcpMapLen && p[pcpMapLen] == pcpOptPreferFailure:
					resp[3] = PCPCannotProvideExt
				case port >= limit:
					resp[3] = PCPNoResources
				default:
					mapped[port] = true
				}
				binary.BigEndian.PutUint32(resp[4:8], lifetime)
				payload := append([]byte(nil), p[:pcpMapLen]...)
				copy(payload[20:36], netip.MustParseAddr("::ffff:203.0.113.1").AsSlice())
				decoy := append(append([]byte(nil), resp...), payload...)
				decoy[pcpHeaderLen] ^= 0xff // other nonce
				c.WriteToUDP(decoy, from)
				resp = append(resp, payload...)
			}
			mu.Unlock()
			c.WriteToUDP(resp, from)
		}
	}()
	return c, count
}

func TestPCPSessionOnLoopback(t *testing.T) {
	srv, mapped := fakePCP(t, 10003)
	opt := Options{pcpPort: uint16(srv.LocalAddr().(*net.UDPAddr).Port)}
	lo := netip.MustParseAddr("127.0.0.1")
	d := &Discovery{Chosen: -1, PCP: probePCP(context.Background(), &opt, lo, lo)}
	if !d.PCP.Answered {
		t.Fatalf("probe %+v", d.PCP)
	}
	j := OpenJournal(filepath.Join(t.TempDir(), "j"))
	s, err := NewSession(d, opt, ViaAuto, j)
	if err != nil || s.Via() != "pcp" {
		t.Fatalf("session %v %v", s, err)
	}
	res, err := Limits(context.Background(), s, opt, LimitOptions{StartPort: 10000, Max: 10, Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The gateway maps every port below 10003: 10003 is refused for this
	// port (CANNOT_PROVIDE_EXTERNAL), the search finds 1024-10002, and the
	// remaining seven mappings go there.
	if res.Accepted != 10 || res.Reached() || !res.Restricted || len(res.Allowed) != 1 || res.Allowed[0] != (PortRange{1024, 10002}) ||
		res.Mappings[3].ErrorCode != PCPCannotProvideExt || res.Removed != 10 || res.ReadBack {
		t.Errorf("limits %+v refusal %+v", res, res.Refusal)
	}
	if res.Mappings[0].External.String() != "203.0.113.1:10000" {
		t.Errorf("external %v", res.Mappings[0].External)
	}
	if n := mapped(); n != 0 {
		t.Errorf("left %d mapped", n)
	}
	if p := mustPending(t, j); len(p) != 0 {
		t.Errorf("journal %v", p)
	}
}
