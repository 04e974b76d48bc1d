// Command relayload pushes G.711-like RTP through a relay (natdoc's relayd
// or rtpengine) on loopback and measures delivered packets, loss, added
// latency (send time in the payload) and the relay process's CPU time.
// bench/relay.sh runs it; see there for the setup.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

type result struct {
	Target       string  `json:"target"`
	Calls        int     `json:"calls"`
	OfferedPPS   float64 `json:"offered_pps"`
	Sent         uint64  `json:"sent"`
	Received     uint64  `json:"received"`
	LossPercent  float64 `json:"loss_percent"`
	DeliveredPPS float64 `json:"delivered_pps"`
	P50us        float64 `json:"p50_us"`
	P99us        float64 `json:"p99_us"`
	MaxUs        float64 `json:"max_us"`
	CPUPercent   float64 `json:"relay_cpu_percent"`
	CPUnsPerPkt  float64 `json:"relay_cpu_ns_per_packet"`
}

const payloadLen = 160 // 20 ms PCMU; RTP total 172 bytes

func main() {
	target := flag.String("target", "natdoc", "natdoc (relayd) or rtpengine")
	ctl := flag.String("ctl", "127.0.0.1:2224", "control address of the relay (loopback)")
	pid := flag.Int("pid", 0, "relay process id, for its CPU time")
	calls := flag.Int("calls", 100, "relayed calls")
	pps := flag.Int("pps", 50, "packets per second per stream (two streams per call)")
	dur := flag.Duration("duration", 20*time.Second, "measured time")
	warm := flag.Duration("warmup", 2*time.Second, "traffic before measuring (latching)")
	flag.Parse()
	if ap, err := netip.ParseAddrPort(*ctl); err != nil || !ap.Addr().IsLoopback() {
		log.Fatalf("relayload: -ctl %q must be loopback", *ctl)
	}
	caller, callee := mustListen(), mustListen()
	ports, err := setup(*target, *ctl, *calls, addr(caller), addr(callee))
	if err != nil {
		log.Fatal(err)
	}
	defer teardown(*target, *ctl, *calls)
	res := run(*target, *pid, *calls, *pps, *dur, *warm, caller, callee, ports)
	json.NewEncoder(os.Stdout).Encode(res)
}

func mustListen() *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		log.Fatal(err)
	}
	c.SetReadBuffer(8 << 20)
	c.SetWriteBuffer(8 << 20)
	return c
}

func addr(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// callPorts: where the caller sends (relay's caller-facing port) and where
// the callee sends.
type callPorts struct{ forCaller, forCallee int }

var runID = strconv.FormatInt(time.Now().UnixNano(), 36) // fresh call-ids per run (rtpengine reuses old ones)

func callID(i int) string { return fmt.Sprintf("bench-%s-%d", runID, i) }

func setup(target, ctl string, n int, caller, callee netip.AddrPort) ([]callPorts, error) {
	c, err := net.Dial("udp4", ctl)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	out := make([]callPorts, n)
	for i := range n {
		var err error
		if target == "rtpengine" {
			out[i], err = rtpengineCall(c, callID(i), caller, callee)
		} else {
			out[i], err = relaydCall(c, callID(i), caller, callee)
		}
		if err != nil {
			return nil, fmt.Errorf("call %d: %w", i, err)
		}
	}
	return out, nil
}

func roundTrip(c net.Conn, msg []byte) ([]byte, error) {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	return buf[:n], err
}

func relaydCall(c net.Conn, id string, caller, callee netip.AddrPort) (callPorts, error) {
	resp, err := roundTrip(c, []byte(fmt.Sprintf("alloc %s %s %s", id, caller, callee)))
	if err != nil {
		return callPorts{}, err
	}
	var p callPorts
	if _, err := fmt.Sscanf(string(resp), "ok %d %d", &p.forCaller, &p.forCallee); err != nil {
		return callPorts{}, fmt.Errorf("relayd: %s", resp)
	}
	return p, nil
}

func sdpFor(a netip.AddrPort) string {
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", a.Addr(), a.Addr(), a.Port())
}

var mPort = regexp.MustCompile(`m=audio (\d+)`)

func ng(c net.Conn, cmd map[string]any) (map[string]any, error) {
	cookie := strconv.FormatInt(time.Now().UnixNano(), 36)
	resp, err := roundTrip(c, append([]byte(cookie+" "), bencode(cmd)...))
	if err != nil {
		return nil, err
	}
	_, body, ok := strings.Cut(string(resp), " ")
	if !ok {
		return nil, fmt.Errorf("ng: %q", resp)
	}
	v, _, err := bdecode([]byte(body))
	if err != nil {
		return nil, err
	}
	d, _ := v.(map[string]any)
	if d["result"] != "ok" {
		return nil, fmt.Errorf("ng %s: %v", cmd["command"], d)
	}
	return d, nil
}

func rtpengineCall(c net.Conn, id string, caller, callee netip.AddrPort) (callPorts, error) {
	offer, err := ng(c, map[string]any{"command": "offer", "call-id": id, "from-tag": "a", "sdp": sdpFor(caller), "replace": []any{"origin", "session-connection"}})
	if err != nil {
		return callPorts{}, err
	}
	answer, err := ng(c, map[string]any{"command": "answer", "call-id": id, "from-tag": "a", "to-tag": "b", "sdp": sdpFor(callee), "replace": []any{"origin", "session-connection"}})
	if err != nil {
		return callPorts{}, err
	}
	var p callPorts
	// The offer's SDP goes to the callee: it names where the callee sends.
	m1 := mPort.FindStringSubmatch(fmt.Sprint(offer["sdp"]))
	m2 := mPort.FindStringSubmatch(fmt.Sprint(answer["sdp"]))
	if m1 == nil || m2 == nil {
		return callPorts{}, fmt.Errorf("rtpengine sdp without port")
	}
	p.forCallee, _ = strconv.Atoi(m1[1])
	p.forCaller, _ = strconv.Atoi(m2[1])
	return p, nil
}

func teardown(target, ctl string, n int) {
	c, err := net.Dial("udp4", ctl)
	if err != nil {
		return
	}
	defer c.Close()
	for i := range n {
		if target == "rtpengine" {
			ng(c, map[string]any{"command": "delete", "call-id": callID(i), "from-tag": "a"})
		} else {
			roundTrip(c, []byte("delete "+callID(i)))
		}
	}
}

// latency histogram: 1 µs buckets to 10 ms, then 100 µs to 1 s.
type histogram struct {
	fine   [10000]uint64
	coarse [10000]uint64
	over   uint64
	max    float64
	n      uint64
}

func (h *histogram) add(us float64) {
	h.n++
	h.max = math.Max(h.max, us)
	switch {
	case us < 10000:
		h.fine[int(us)]++
	case us < 1e6:
		h.coarse[int(us/100)]++
	default:
		h.over++
	}
}

func (h *histogram) merge(o *histogram) {
	for i := range h.fine {
		h.fine[i] += o.fine[i]
		h.coarse[i] += o.coarse[i]
	}
	h.over += o.over
	h.n += o.n
	h.max = math.Max(h.max, o.max)
}

func (h *histogram) quantile(q float64) float64 {
	want := uint64(math.Ceil(q * float64(h.n)))
	var acc uint64
	for i, c := range h.fine {
		if acc += c; acc >= want && c > 0 {
			return float64(i)
		}
	}
	for i, c := range h.coarse {
		if acc += c; acc >= want && c > 0 {
			return float64(i * 100)
		}
	}
	return h.max
}

func run(target string, pid, calls, pps int, dur, warm time.Duration, caller, callee *net.UDPConn, ports []callPorts) result {
	start := time.Now()
	measureFrom := start.Add(warm).UnixNano()
	measureTo := start.Add(warm + dur).UnixNano()
	var stop atomic.Bool
	var hists [2]histogram
	var recv [2]atomic.Uint64
	var wg sync.WaitGroup
	for i, c := range []*net.UDPConn{caller, callee} {
		wg.Add(1)
		go func() { defer wg.Done(); receive(c, &stop, &hists[i], &recv[i], measureFrom, measureTo) }()
	}
	var cpuStart, cpuEnd float64
	go func() {
		time.Sleep(time.Until(time.Unix(0, measureFrom)))
		cpuStart = cpuSeconds(pid)
		time.Sleep(dur)
		cpuEnd = cpuSeconds(pid)
	}()
	sent := send(caller, callee, ports, pps, start, measureFrom, measureTo)
	time.Sleep(500 * time.Millisecond) // in-flight packets
	stop.Store(true)
	caller.SetReadDeadline(time.Now())
	callee.SetReadDeadline(time.Now())
	wg.Wait()
	hists[0].merge(&hists[1])
	got := recv[0].Load() + recv[1].Load()
	cpu := cpuEnd - cpuStart
	r := result{Target: target, Calls: calls, OfferedPPS: float64(2 * calls * pps), Sent: sent, Received: got,
		DeliveredPPS: float64(got) / dur.Seconds(), P50us: hists[0].quantile(0.50), P99us: hists[0].quantile(0.99), MaxUs: hists[0].max}
	if sent > 0 {
		r.LossPercent = 100 * float64(sent-min(sent, got)) / float64(sent)
	}
	if pid > 0 {
		r.CPUPercent = 100 * cpu / dur.Seconds()
		if got > 0 {
			r.CPUnsPerPkt = cpu * 1e9 / float64(got)
		}
	}
	return r
}

// send paces all streams: every 20 ms (at 50 pps) one packet per stream,
// written with sendmmsg in batches.
func send(caller, callee *net.UDPConn, ports []callPorts, pps int, start time.Time, from, to int64) uint64 {
	interval := time.Second / time.Duration(pps)
	type stream struct {
		conn *ipv4.PacketConn
		dst  *net.UDPAddr
		call uint32
		dir  byte
	}
	pcs := map[*net.UDPConn]*ipv4.PacketConn{caller: ipv4.NewPacketConn(caller), callee: ipv4.NewPacketConn(callee)}
	var streams []stream
	for i, p := range ports {
		streams = append(streams,
			stream{pcs[caller], &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p.forCaller}, uint32(i), 0},
			stream{pcs[callee], &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p.forCallee}, uint32(i), 1})
	}
	bufs := make([][]byte, len(streams))
	for i := range bufs {
		bufs[i] = make([]byte, 12+payloadLen)
		bufs[i][0] = 0x80
	}
	const batch = 64
	msgs := map[*ipv4.PacketConn][]ipv4.Message{}
	var sent uint64
	seq := uint16(0)
	for tick := start; ; tick = tick.Add(interval) {
		time.Sleep(time.Until(tick))
		now := time.Now().UnixNano()
		if now > to {
			return sent
		}
		seq++
		for i, s := range streams {
			b := bufs[i]
			binary.BigEndian.PutUint16(b[2:], seq)
			binary.BigEndian.PutUint32(b[12:], s.call)
			b[16] = s.dir
			binary.BigEndian.PutUint64(b[17:], uint64(time.Now().UnixNano()))
			msgs[s.conn] = append(msgs[s.conn], ipv4.Message{Buffers: [][]byte{b}, Addr: s.dst})
			if len(msgs[s.conn]) == batch {
				sent += flush(s.conn, msgs[s.conn], now >= from)
				msgs[s.conn] = msgs[s.conn][:0]
			}
		}
		for pc, m := range msgs {
			sent += flush(pc, m, now >= from)
			msgs[pc] = m[:0]
		}
	}
}

func flush(pc *ipv4.PacketConn, m []ipv4.Message, count bool) uint64 {
	done := 0
	for done < len(m) {
		n, err := pc.WriteBatch(m[done:], 0)
		if err != nil {
			break
		}
		done += n
	}
	if !count {
		return 0
	}
	return uint64(done)
}

func receive(c *net.UDPConn, stop *atomic.Bool, h *histogram, got *atomic.Uint64, from, to int64) {
	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	for !stop.Load() {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			continue
		}
		now := time.Now().UnixNano()
		for _, m := range msgs[:n] {
			b := m.Buffers[0][:m.N]
			if len(b) < 25 {
				continue
			}
			sentAt := int64(binary.BigEndian.Uint64(b[17:]))
			if sentAt < from || sentAt > to {
				continue
			}
			got.Add(1)
			h.add(float64(now-sentAt) / 1e3)
		}
	}
}

// cpuSeconds is utime+stime of pid from /proc (Linux), in seconds.
func cpuSeconds(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}
