package sipalg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/natdoc/natdoc/internal/transact"
)

// The fragment test's message sizes. A UDP payload over 1,472 bytes leaves
// a host on Ethernet (MTU 1,500) in IP fragments; one of 1,200 fits every
// usual path (PPPoE's 1,492, most tunnels) in one packet.
const (
	// FragmentOutBytes is an INVITE as big as a video phone's offer with
	// many codecs; the mirror answers it with a digest of one packet.
	FragmentOutBytes = 3000
	// FragmentInBytes is an INVITE of one packet; the mirror's copy of it
	// (base64 and its own headers) takes about 2,100 bytes, two fragments.
	FragmentInBytes = 1200
)

// Directions of the fragment test.
const (
	DirectionOut = "out" // from this host to the mirror
	DirectionIn  = "in"  // from the mirror to this host
)

// FragmentProbe is one direction's test: a SIP message too big for one
// packet sent that way, the other way's message small.
type FragmentProbe struct {
	Direction    string
	RequestBytes int
	// Answered: the mirror's answer arrived (and so did the request).
	Answered    bool
	AnswerBytes int
	// Intact: the mirror received the request byte for byte (by its copy
	// or its digest); false with Answered means a middlebox changed it.
	Intact bool
	// Digest: the mirror answered with a digest, as asked. An older
	// mirror sends a copy, which is itself fragmented on the way back.
	Digest   bool
	Attempts int
	RTT      time.Duration
	Err      string
	// Anomalies counts answers that were no valid answer to this request.
	Anomalies int
}

// FragmentResult is the test of SIP over UDP in IP fragments, each way.
type FragmentResult struct {
	Mirror netip.AddrPort
	Out    FragmentProbe
	In     FragmentProbe
}

// TestFragments sends, over UDP at once, an INVITE too big for one packet
// (answered by a small digest) and one that fits (answered by a copy too
// big for one), so that a path dropping IP fragments is seen, and in which
// direction. A UDP test that gets no answer at all (TransportResult) says
// more about the path than this one.
func TestFragments(ctx context.Context, cfg Config) *FragmentResult {
	res := &FragmentResult{Mirror: cfg.Mirror}
	var wg sync.WaitGroup
	wg.Go(func() { res.Out = probeFragments(ctx, cfg, DirectionOut) })
	wg.Go(func() { res.In = probeFragments(ctx, cfg, DirectionIn) })
	wg.Wait()
	return res
}

func probeFragments(ctx context.Context, cfg Config, direction string) FragmentProbe {
	p := FragmentProbe{Direction: direction}
	c, err := cfg.Env.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		p.Err = fmt.Sprintf("sipalg: udp socket: %v", err)
		return p
	}
	defer c.Close()
	local := netip.AddrPortFrom(cfg.LocalAddr, uint16(c.LocalAddr().(*net.UDPAddr).Port))
	callID := transact.NewID()
	x := inviteExtras{size: FragmentInBytes}
	if direction == DirectionOut {
		x = inviteExtras{size: FragmentOutBytes, headers: []string{HeaderEcho + ": digest"}}
	}
	sent := buildInvite(cfg, "UDP", local, callID, x)
	p.RequestBytes = len(sent)
	echo, st, err := transact.UDP(ctx, udpSchedule, c, cfg.Mirror, sent, func(d transact.Datagram) (*Echo, bool) {
		if d.From.Addr() != cfg.Mirror.Addr() {
			p.Anomalies++
			return nil, false
		}
		e, ok := matchEcho(d.Data, callID, direction == DirectionOut, &p.Anomalies)
		if ok {
			p.AnswerBytes = len(d.Data)
		}
		return e, ok
	})
	p.Attempts = st.Sends
	switch {
	case errors.Is(err, transact.ErrNoAnswer) || ctx.Err() != nil:
		return p
	case err != nil:
		p.Err = err.Error()
		return p
	}
	p.Answered, p.RTT = true, time.Since(st.First)
	p.Digest = echo.Received == nil
	if p.Digest {
		p.Intact = echo.Length == len(sent) && echo.SHA256 == sha256Hex(sent)
	} else {
		p.Intact = string(echo.Received) == string(sent)
	}
	return p
}
