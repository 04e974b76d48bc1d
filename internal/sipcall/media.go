package sipcall

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natdoc/natdoc/internal/g711"
	"github.com/natdoc/natdoc/internal/rtpseq"
)

// G.711 framing: 20 ms of PCMU at 8 kHz is 160 bytes (RFC 3551 §4.5.14).
const (
	pcmuPayloadType = 0
	frameSamples    = 160
	frameInterval   = 20 * time.Millisecond
	rtpHeaderLen    = 12
	// payloadMagic starts every natdoc payload so a receiver can tell
	// natdoc media from anything else arriving on its port.
	payloadMagic = "NATDOC"
	maxLabel     = 16
)

// payload layout after the magic: label length (1), label (up to 16),
// packets the sender has received so far (4), send time in unix ns (8);
// the rest is a μ-law 400 Hz tone, so a human listening hears audio.
func buildPayload(buf []byte, label string, rxCount uint32, sent time.Time, tone []byte) []byte {
	buf = buf[:0]
	buf = append(buf, payloadMagic...)
	l := min(len(label), maxLabel)
	buf = append(buf, byte(l))
	buf = append(buf, label[:l]...)
	buf = binary.BigEndian.AppendUint32(buf, rxCount)
	buf = binary.BigEndian.AppendUint64(buf, uint64(sent.UnixNano()))
	if n := frameSamples - len(buf); n > 0 {
		buf = append(buf, tone[:n]...)
	}
	return buf
}

// parsePayload reads a natdoc payload; ok is false for anything else.
func parsePayload(p []byte) (label string, rxCount uint32, sent time.Time, ok bool) {
	if !bytes.HasPrefix(p, []byte(payloadMagic)) || len(p) < len(payloadMagic)+1 {
		return "", 0, time.Time{}, false
	}
	p = p[len(payloadMagic):]
	l := int(p[0])
	if l > maxLabel || len(p) < 1+l+12 {
		return "", 0, time.Time{}, false
	}
	label = string(p[1 : 1+l])
	p = p[1+l:]
	return label, binary.BigEndian.Uint32(p), time.Unix(0, int64(binary.BigEndian.Uint64(p[4:]))), true
}

// toneFrame is one 20 ms frame of a 400 Hz tone in μ-law.
func toneFrame() []byte { return g711.ULawTone(frameSamples, 400, 8000) }

// DirStats counts one direction of a call as one phone saw it.
type DirStats struct {
	Packets  uint64
	Bytes    uint64
	Lost     int64
	JitterMs float64
	// Foreign counts packets that arrived but were not natdoc media.
	Foreign uint64
	From    netip.AddrPort // first source of received media
	Label   string         // the sender's label from the payload
}

// Stream sends PCMU frames and measures what arrives: one party's audio
// on one call.
type Stream struct {
	recv    *net.UDPConn
	send    *net.UDPConn // == recv when symmetric (RFC 4961)
	comedia bool         // answer to where media comes from
	label   string
	ssrc    uint32

	mu        sync.Mutex
	remote    netip.AddrPort
	latched   bool
	rx        DirStats
	frozen    *DirStats // received counts as reported to the peer
	seq       rtpseq.Tracker
	jitter    float64 // RFC 3550 A.8, in timestamp units
	lastTr    int64   // previous transit time, timestamp units
	haveTr    bool
	peerRx    int64 // latest "received" count the peer put in its payload; -1 unknown
	firstSent chan struct{}
	firstOnce sync.Once
	sent      atomic.Uint64
	sentByte  atomic.Uint64
}

// NewStream measures on recv and sends from send (the same socket for
// symmetric RTP, RFC 4961). With comedia it sends to where the other side's
// media comes from once it arrives, not to the address given by SetRemote.
// Every payload carries label, so the receiver can name the sender.
func NewStream(recv, send *net.UDPConn, comedia bool, label string) *Stream {
	return &Stream{recv: recv, send: send, comedia: comedia, label: label, ssrc: rand.Uint32(), peerRx: -1, firstSent: make(chan struct{})}
}

// WaitFirstSend waits until the first frame went out (or sending ended).
func (m *Stream) WaitFirstSend() { <-m.firstSent }

// SetRemote sets where media goes (the other side's SDP address); a
// comedia stream that latched keeps the latched source.
func (m *Stream) SetRemote(a netip.AddrPort) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.latched {
		m.remote = a
	}
}

// Run sends for d (or until ctx ends) while receiving; receiving goes on
// until ctx ends.
func (m *Stream) Run(ctx context.Context, d time.Duration) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.receive() }()
	m.sendLoop(ctx, d)
	<-ctx.Done()
	m.recv.Close()
	if m.send != m.recv {
		m.send.Close()
	}
	wg.Wait()
}

func (m *Stream) sendLoop(ctx context.Context, d time.Duration) {
	tone := toneFrame()
	pkt := make([]byte, rtpHeaderLen, rtpHeaderLen+frameSamples)
	payload := make([]byte, 0, frameSamples)
	t := time.NewTicker(frameInterval)
	defer t.Stop()
	defer m.firstOnce.Do(func() { close(m.firstSent) })
	end := time.Now().Add(d)
	seq, ts := uint16(rand.Uint32()), rand.Uint32()
	for first := true; time.Now().Before(end); first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		m.mu.Lock()
		to, rxCount := m.remote, uint32(m.rx.Packets)
		m.mu.Unlock()
		ts += frameSamples
		if !to.IsValid() || to.Port() == 0 || to.Addr().IsUnspecified() {
			continue // on hold or no address: RFC 3264 §8.4 says send nothing
		}
		seq++
		pkt = pkt[:rtpHeaderLen]
		pkt[0], pkt[1] = 0x80, pcmuPayloadType
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], ts)
		binary.BigEndian.PutUint32(pkt[8:], m.ssrc)
		pkt = append(pkt, buildPayload(payload, m.label, rxCount, time.Now(), tone)...)
		if n, err := m.send.WriteToUDPAddrPort(pkt, to); err == nil {
			m.sent.Add(1)
			m.sentByte.Add(uint64(n))
		}
		m.firstOnce.Do(func() { close(m.firstSent) })
	}
}

func (m *Stream) receive() {
	buf := make([]byte, 2048)
	for {
		n, src, err := m.recv.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors reported on the socket
		}
		m.handle(buf[:n], netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), time.Now())
	}
}

func (m *Stream) handle(p []byte, src netip.AddrPort, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(p) < rtpHeaderLen || p[0]>>6 != 2 {
		m.rx.Foreign++
		return
	}
	label, peerRx, _, ok := parsePayload(p[rtpHeaderLen:])
	if !ok {
		m.rx.Foreign++
		return
	}
	if m.rx.Packets == 0 {
		m.rx.From, m.rx.Label = src, label
	}
	if m.comedia && !m.latched {
		// Comedia (RFC 4145 "active" media, as servers do): answer to
		// where media comes from, not to the SDP address.
		m.remote, m.latched = src, true
	}
	m.rx.Packets++
	m.rx.Bytes += uint64(len(p))
	m.rx.Lost = m.seq.Add(binary.BigEndian.Uint16(p[2:]))
	m.peerRx = int64(peerRx)
	// Interarrival jitter, RFC 3550 A.8, in 8 kHz timestamp units.
	arrival := now.UnixNano() * 8000 / int64(time.Second)
	transit := arrival - int64(binary.BigEndian.Uint32(p[4:]))
	if m.haveTr {
		d := math.Abs(float64(transit - m.lastTr))
		m.jitter += (d - m.jitter) / 16
	}
	m.lastTr, m.haveTr = transit, true
}

// Freeze fixes the received counts at the moment they are told to the
// other phone, so both phones' reports describe the same window.
func (m *Stream) Freeze() DirStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.frozen == nil {
		rx := m.rx
		rx.JitterMs = m.jitter / 8
		m.frozen = &rx
	}
	return *m.frozen
}

// Stats returns what was sent and received (the frozen counts once Freeze
// ran) and the latest received count the peer put in its payloads (-1:
// none arrived).
func (m *Stream) Stats() (sent, received DirStats, peerRx int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rx := m.rx
	rx.JitterMs = m.jitter / 8 // 8 timestamp units per ms
	if m.frozen != nil {
		rx = *m.frozen
	}
	return DirStats{Packets: m.sent.Load(), Bytes: m.sentByte.Load(), Label: m.label}, rx, m.peerRx
}

// CloseSockets closes a stream that will never Run.
func (m *Stream) CloseSockets() {
	m.recv.Close()
	if m.send != m.recv {
		m.send.Close()
	}
}
