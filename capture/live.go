package capture

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/report"
)

// LiveOptions control a live capture (natdoc capture).
type LiveOptions struct {
	Interface string
	// WriteFile, when set, also saves every packet to this pcap file.
	WriteFile string
	// Duration stops the capture after this long (0: until ctx ends).
	Duration time.Duration
	// Hosts, when not empty, keeps only packets to or from these addresses
	// (a phone, the SIP server); -w still saves everything.
	Hosts []netip.Addr
	// OnCallEnd is told about each call whose signalling ended (BYE, or a
	// final failure), as it happens.
	OnCallEnd func(CallEnd)
	// OnCallJudged is given each call's verdict once the call has ended
	// and its media has been quiet for 30 s (or when the capture stops).
	OnCallJudged func(report.Call)
	// OnCall, when set, takes the judged calls in the order of their
	// numbers, as Options.OnCall does, and the result keeps none: a
	// capture that runs for days holds only the calls in progress. An
	// error from it ends the capture.
	OnCall func(report.Call) error
	// Detail keeps every call's SIP messages and flow timelines, as
	// Options.Detail does.
	Detail bool
	// Limits bound the state kept (zero: the defaults).
	Limits Limits
	// HEPOut, when set, is sent every SIP message seen and each call's
	// verdict (natdoc capture --hep-out).
	HEPOut *hep.Sender
	// OnSIP hears of each SIP message read, and OnAnomaly of each piece
	// of input rejected (natdoc capture --metrics). OnAnomaly is called
	// from several goroutines.
	OnSIP     func(request bool, method string, status int)
	OnAnomaly func(kind string)
}

// CallEnd announces a call that ended during a live capture.
type CallEnd struct {
	CallID string
	From   string
	To     string
	Status int
	At     time.Time
}

// ErrLiveUnsupported is returned where live capture is not built (it uses
// Linux AF_PACKET).
var ErrLiveUnsupported = errors.New("live capture needs Linux (AF_PACKET)")

// setLive applies what every live capture shares to a new state.
func (s *state) setLive(opt LiveOptions) {
	s.setDetail(opt.Detail)
	s.setLimits(opt.Limits)
	s.calls.onEnd = opt.OnCallEnd
	s.onJudged = opt.OnCallJudged
	s.setHosts(opt.Hosts)
	s.onSIP, s.anomalies.observe = opt.OnSIP, opt.OnAnomaly
	if opt.HEPOut != nil {
		s.setHEPOut(opt.HEPOut)
	}
}

// newLiveState is the state of a live capture: what every live capture
// shares applied, and the judged calls handed to opt.OnCall instead of
// kept when it is set; the context it returns ends when OnCall fails.
func newLiveState(ctx context.Context, opt LiveOptions) (*state, context.Context, context.CancelFunc) {
	s := newState()
	s.setLive(opt)
	ctx, stop := context.WithCancel(ctx)
	if opt.OnCall != nil {
		s.ordered = newOrderedCalls(opt.OnCall, stop)
	}
	return s, ctx, stop
}

// liveResult is the result of a live capture, or the sink's error.
func (s *state) liveResult(source string) (*Result, error) {
	res := s.result(nil, source)
	if s.ordered != nil && s.ordered.err != nil {
		return nil, s.ordered.err
	}
	return res, nil
}

// setHosts limits the analysis to packets to or from hosts (none: all).
func (s *state) setHosts(hosts []netip.Addr) {
	if len(hosts) == 0 {
		return
	}
	s.hosts = map[netip.Addr]bool{}
	for _, h := range hosts {
		s.hosts[h.Unmap()] = true
	}
}

// livePollTimeout bounds how long a read waits for a packet, so Ctrl-C and
// --duration are honoured within a tenth of a second on a quiet link.
const livePollTimeout = 100 * time.Millisecond
