package capture

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/natdoc/natdoc/report"
)

// Handing one call on (natdoc analyze --call C2 -w c2.pcap, sngrep's
// "save"): the packets of the selected calls are written, in the order and
// with the times they were captured, to a pcap that Wireshark opens and
// natdoc judges as before. They are found in a second pass over the
// input, from what the judged calls name:
//
//   - SIP: the frames of the calls' messages; for SIP over TCP and SCTP
//     every segment between the two ends while the call lasted, so the
//     messages reassemble (a connection shared with other calls brings
//     their messages along); IP fragments between the two ends of a
//     message while the call lasted, so a fragmented INVITE is whole.
//   - RTP and RTCP: the packets between each stream's two ends from its
//     first to its last frame, on every leg and early dialog of the call;
//     for a stream a TURN server relayed, everything between the client
//     and the server, so the allocation and its channels come along.
//
// The calls must come from an analysis with Options.Detail, which keeps
// their messages. One verdict cannot travel: a no-way call written alone
// is a file without any RTP, which no longer shows that the capture point
// saw media, so it reads as incomplete-capture.

// ErrNeedsFile: standard input cannot be read twice.
var ErrNeedsFile = errors.New("writing calls needs the capture as a file (standard input cannot be read twice)")

// exportWindow widens a call's time span for its TCP segments and IP
// fragments: a segment that starts a message comes before the message's
// frame, and retransmissions trail it.
const exportWindow = 2 * time.Second

// addrPair is one direction between two transport addresses.
type addrPair struct{ src, dst netip.AddrPort }

// ipPair is one direction between two hosts.
type ipPair struct{ src, dst netip.Addr }

// timeSpan is a span of capture time.
type timeSpan struct{ from, to time.Time }

func (t timeSpan) has(at time.Time) bool { return !at.Before(t.from) && !at.After(t.to) }

// exportSelector decides, record by record, what belongs to the calls.
type exportSelector struct {
	sipFrames map[uint64]bool
	streams   map[addrPair][][2]uint64 // frame ranges of the streams between two ends
	// sipEnds and sipHosts: where the calls' SIP ran, and when.
	sipEnds  map[addrPair][]timeSpan
	sipHosts map[ipPair][]timeSpan
	// turnEnds: a TURN client and server whose relay carried the calls'
	// media. Everything between them goes along (the Allocate and
	// ChannelBind exchanges come before the call), or the written file
	// could not unwrap the media.
	turnEnds map[addrPair]bool
}

func newExportSelector(calls []report.Call) *exportSelector {
	x := &exportSelector{sipFrames: map[uint64]bool{}, streams: map[addrPair][][2]uint64{},
		sipEnds: map[addrPair][]timeSpan{}, sipHosts: map[ipPair][]timeSpan{}, turnEnds: map[addrPair]bool{}}
	for _, c := range calls {
		span := timeSpan{c.Start.Add(-exportWindow), c.End.Add(exportWindow)}
		for _, m := range c.Messages {
			x.sipFrames[m.Frame] = true
			src, err1 := netip.ParseAddrPort(m.Src)
			dst, err2 := netip.ParseAddrPort(m.Dst)
			if err1 != nil || err2 != nil {
				continue
			}
			x.sipEnds[addrPair{src, dst}] = append(x.sipEnds[addrPair{src, dst}], span)
			x.sipHosts[ipPair{src.Addr(), dst.Addr()}] = append(x.sipHosts[ipPair{src.Addr(), dst.Addr()}], span)
		}
		x.addStreams(c.Streams)
		for _, l := range c.Legs {
			x.addStreams(l.Streams)
		}
		for _, e := range c.EarlyDialogs {
			x.addStreams(e.Streams)
		}
	}
	return x
}

// addStreams selects the packets of streams (one leg's, one early
// dialog's).
func (x *exportSelector) addStreams(streams []report.MediaStream) {
	for _, s := range streams {
		for _, f := range s.Flows {
			src, err1 := netip.ParseAddrPort(f.Src)
			dst, err2 := netip.ParseAddrPort(f.Dst)
			if err1 == nil && err2 == nil {
				k := addrPair{src, dst}
				x.streams[k] = append(x.streams[k], [2]uint64{f.FirstFrame, f.LastFrame})
			}
			client, err1 := netip.ParseAddrPort(f.TURNClient)
			server, err2 := netip.ParseAddrPort(f.TURNServer)
			if err1 == nil && err2 == nil {
				x.turnEnds[addrPair{client, server}], x.turnEnds[addrPair{server, client}] = true, true
			}
		}
	}
}

// packet says whether a decoded packet belongs to the calls.
func (x *exportSelector) packet(p *packet) bool {
	k := addrPair{p.Src, p.Dst}
	if x.sipFrames[p.Frame] || x.turnEnds[k] {
		return true
	}
	if p.Proto == protoUDP {
		for _, r := range x.streams[k] {
			if p.Frame >= r[0] && p.Frame <= r[1] {
				return true
			}
		}
		return false
	}
	return inSpans(x.sipEnds[k], p.Time) // TCP and SCTP carrying SIP
}

// fragment says whether an IP fragment of a datagram from src to dst at
// time at may be part of the calls' SIP.
func (x *exportSelector) fragment(src, dst netip.Addr, at time.Time) bool {
	return inSpans(x.sipHosts[ipPair{src, dst}], at)
}

func inSpans(spans []timeSpan, at time.Time) bool {
	for _, s := range spans {
		if s.has(at) {
			return true
		}
	}
	return false
}

// WriteCalls writes the packets of calls from the capture files paths
// (merged as Analyze merges them) into a pcap at w and returns how many
// it wrote.
func WriteCalls(ctx context.Context, paths []string, calls []report.Call, w io.Writer) (uint64, error) {
	if slices.Contains(paths, "-") {
		return 0, ErrNeedsFile
	}
	var anoms anomalies
	var read int64
	src, closeAll, err := openInputs(paths, nil, &read, &anoms)
	if err != nil {
		return 0, fmt.Errorf("write calls: %w", err)
	}
	defer closeAll()
	ex := &exporter{sel: newExportSelector(calls), dec: newDecoder(&anoms), bw: bufio.NewWriterSize(w, 1<<20)}
	for frame := uint64(1); ; frame++ {
		if frame%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return ex.written, err
			}
		}
		rec, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ex.written, fmt.Errorf("write calls: %w", err)
		}
		if err := ex.record(rec, frame); err != nil {
			return ex.written, err
		}
	}
	if err := ex.bw.Flush(); err != nil {
		return ex.written, fmt.Errorf("write calls: %w", err)
	}
	return ex.written, nil
}

// exporter writes the selected records of one capture.
type exporter struct {
	sel     *exportSelector
	dec     *decoder
	bw      *bufio.Writer
	pw      *pcapgo.Writer
	link    layers.LinkType
	written uint64
	hit     bool
}

// record decodes one record and writes it when it belongs to the calls.
func (ex *exporter) record(rec Record, frame uint64) error {
	ex.hit = false
	ex.dec.decoded = ex.dec.decoded[:0] // the fast path leaves it as it is
	ex.dec.decode(rec, frame, func(p *packet) { ex.hit = ex.hit || ex.sel.packet(p) })
	if !ex.hit {
		src, dst, ok := ex.fragmentEnds()
		ex.hit = ok && ex.sel.fragment(src, dst, rec.Time)
	}
	if !ex.hit {
		return nil
	}
	if ex.pw == nil {
		ex.pw, ex.link = pcapgo.NewWriterNanos(ex.bw), rec.LinkType
		if err := ex.pw.WriteFileHeader(MaxRecordLen, rec.LinkType); err != nil {
			return fmt.Errorf("write calls: %w", err)
		}
	}
	if rec.LinkType != ex.link {
		return fmt.Errorf("write calls: frame %d has link type %s, the file so far %s: a pcap holds one", frame, rec.LinkType, ex.link)
	}
	ci := gopacket.CaptureInfo{Timestamp: rec.Time, CaptureLength: len(rec.Data), Length: max(rec.WireLen, len(rec.Data))}
	if err := ex.pw.WritePacket(ci, rec.Data); err != nil {
		return fmt.Errorf("write calls: %w", err)
	}
	ex.written++
	return nil
}

// fragmentEnds gives the addresses of the record the decoder just read
// when it is an IP fragment.
func (ex *exporter) fragmentEnds() (src, dst netip.Addr, ok bool) {
	d := ex.dec
	for i := len(d.decoded) - 1; i >= 0; i-- {
		switch d.decoded[i] {
		case layers.LayerTypeIPv6Fragment:
			return addr16(d.ip6.SrcIP), addr16(d.ip6.DstIP), true
		case layers.LayerTypeIPv4:
			if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
				return addr4(d.ip4.SrcIP), addr4(d.ip4.DstIP), true
			}
			return src, dst, false
		}
	}
	return src, dst, false
}
