//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Live captures on an interface with AF_PACKET (TPACKET_V3 ring, no cgo)
// and analyses the packets with the same pipeline as files.
func Live(ctx context.Context, opt LiveOptions) (*Result, error) {
	s, ctx, stop := newLiveState(ctx, opt)
	defer stop()
	tp, err := afpacket.NewTPacket(afpacket.OptInterface(opt.Interface), afpacket.OptPollTimeout(livePollTimeout),
		afpacket.OptFrameSize(1<<16), afpacket.OptBlockSize(1<<20), afpacket.OptNumBlocks(16))
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", opt.Interface, err)
	}
	defer tp.Close()
	src := &liveSource{tp: tp, ctx: ctx}
	if opt.Duration > 0 {
		src.deadline = time.Now().Add(opt.Duration)
	}
	if opt.WriteFile != "" {
		f, err := os.Create(opt.WriteFile)
		if err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
		defer f.Close()
		w := pcapgo.NewWriterNanos(f)
		if err := w.WriteFileHeader(MaxRecordLen, layers.LinkTypeEthernet); err != nil {
			return nil, fmt.Errorf("capture: write %s: %w", opt.WriteFile, err)
		}
		src.w = w
	}
	err = runPipeline(context.WithoutCancel(ctx), src, &readerStats{}, s, func() {})
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if src.err != nil {
		return nil, src.err
	}
	return s.liveResult(opt.Interface)
}

// liveSource reads the AF_PACKET ring until the context ends or the
// deadline passes; both end the capture normally (io.EOF).
type liveSource struct {
	tp       *afpacket.TPacket
	ctx      context.Context
	deadline time.Time
	w        *pcapgo.Writer
	read     int64
	err      error
	// lastIdle is when the pipeline last handed on its batch; on a steady
	// trickle of packets the ring never times out, so flush by the clock.
	lastIdle   time.Time
	pending    Record
	hasPending bool
}

func (s *liveSource) Next() (Record, error) {
	if s.hasPending { // read before an idle flush; its data is still valid
		s.hasPending = false
		return s.pending, nil
	}
	for {
		if s.ctx.Err() != nil || (!s.deadline.IsZero() && time.Now().After(s.deadline)) {
			return Record{}, io.EOF
		}
		data, ci, err := s.tp.ZeroCopyReadPacketData()
		timeout := errors.Is(err, afpacket.ErrTimeout)
		if err != nil && !timeout {
			s.err = fmt.Errorf("capture: read: %w", err)
			return Record{}, io.EOF
		}
		if !timeout {
			if s.w != nil {
				if err := s.w.WritePacket(ci, data); err != nil {
					s.err = fmt.Errorf("capture: write: %w", err)
					return Record{}, io.EOF
				}
			}
			s.read += int64(len(data))
			rec := Record{Data: data, Time: ci.Timestamp, WireLen: ci.Length, LinkType: layers.LinkTypeEthernet, Offset: s.read}
			if time.Since(s.lastIdle) <= livePollTimeout {
				return rec, nil
			}
			s.pending, s.hasPending = rec, true
		}
		s.lastIdle = time.Now()
		return Record{}, errIdle
	}
}

var _ gopacket.ZeroCopyPacketDataSource = (*afpacket.TPacket)(nil)
