//go:build linux

package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Timing of kernel forwarding, each with its reason.
const (
	// kernelBatchDelay: after the first latch, wait this long for more
	// before running nft, so a burst of call set-ups costs one nft run per
	// window, not one per call. Packets keep flowing through user space
	// meanwhile, so nothing is lost while waiting.
	kernelBatchDelay = 25 * time.Millisecond
	// kernelCounterInterval: how often the kernel's counters are read into
	// the legs' counters. It must stay well below relatchSilence: a stream
	// forwarded in the kernel is alive for the re-latch rule only as far as
	// its counter shows.
	kernelCounterInterval = time.Second
	// nftTimeout: nft with thousands of elements finishes in well under a
	// second; a run this long hangs (a stuck netlink socket) and is killed.
	nftTimeout = 10 * time.Second
	// routeCacheTTL: the route toward a party is looked up once per this
	// long (an exec of ip), not per stream; routes on a relay change rarely.
	routeCacheTTL = 30 * time.Second
	// kernelFinalWait bounds how long Stats of a closed session waits for
	// the last read of its kernel counters.
	kernelFinalWait = time.Second
	// maxRouteCache: route entries kept before expired ones are dropped
	// (MaxSessions calls have at most twice as many parties).
	maxRouteCache = 2 * DefaultMaxSessions
	// maxKernelWarnings bounds the log lines for failed nft runs.
	maxKernelWarnings = 5
)

// tableSeq numbers the relays of one process (tests run several).
var tableSeq atomic.Uint32

// removeStaleKernelTables is what a relay without kernel forwarding does at
// start: a relay killed with kernel forwarding on left rules that would
// take packets for ports this relay is about to use (the port pool starts
// from the bottom of the range again). Best effort, silent where nft is
// missing or not permitted.
func removeStaleKernelTables(cfg Config) {
	nft := cfg.NftCommand
	if len(nft) == 0 {
		nft = []string{"nft"}
	}
	if os.Geteuid() != 0 {
		return
	}
	if _, err := exec.LookPath(nft[0]); err != nil {
		return
	}
	k := &kernelForwarder{nft: nft, log: cfg.Log, table: "-"}
	if err := k.removeStaleTables(context.Background()); err != nil {
		cfg.Log.Debug("relay: looking for stale kernel forwarding tables", "err", err)
	}
}

// kernelForwarder moves latched streams into the kernel: a netdev ingress
// hook (nftables) rewrites and forwards them, so the relay's sockets see a
// stream's packets only until both ends latched (and again after a party's
// source changed). One goroutine owns the installed state; latches and
// closes only queue work for it.
type kernelForwarder struct {
	r     *Relay
	table string
	nft   []string
	ip    []string
	log   *slog.Logger

	mu      sync.Mutex
	dirty   map[*Session]struct{}
	leaving map[*Session]func()
	closed  bool
	kick    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup

	// Owned by the loop goroutine.
	streams  map[*endpoint]*kernelStream
	byID     map[uint64]*kernelStream
	devices  map[string]bool // ingress chains made
	routes   map[netip.Addr]cachedRoute
	nextID   uint64
	warnings int
}

// kernelStream is one installed direction of one socket's stream.
type kernelStream struct {
	id      uint64
	e       *endpoint // the socket whose party's packets it takes
	spec    kernelSpec
	packets uint64 // counter at the last read
	bytes   uint64
}

type cachedRoute struct {
	info routeInfo
	err  error
	at   time.Time
}

// startKernelForwarder checks that nft runs here with permission, removes
// tables of relays that died without cleaning up, creates this relay's
// table and starts the loop.
func startKernelForwarder(r *Relay) (*kernelForwarder, error) {
	cfg := r.cfg
	nft := cfg.NftCommand
	if len(nft) == 0 {
		nft = []string{"nft"}
	}
	ip := cfg.IPCommand
	if len(ip) == 0 {
		ip = []string{"ip"}
	}
	for _, prog := range [][]string{nft, ip} {
		if _, err := exec.LookPath(prog[0]); err != nil {
			return nil, fmt.Errorf("kernel forwarding needs %s: %w", prog[0], err)
		}
	}
	k := &kernelForwarder{
		r:       r,
		table:   fmt.Sprintf("%s%d_%d", tablePrefix, os.Getpid(), tableSeq.Add(1)),
		nft:     nft,
		ip:      ip,
		log:     cfg.Log,
		dirty:   make(map[*Session]struct{}),
		leaving: make(map[*Session]func()),
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		streams: make(map[*endpoint]*kernelStream),
		byID:    make(map[uint64]*kernelStream),
		devices: make(map[string]bool),
		routes:  make(map[netip.Addr]cachedRoute),
	}
	ctx := context.Background()
	if err := k.removeStaleTables(ctx); err != nil {
		return nil, err
	}
	t := k.text()
	t.createTable()
	t.probeFwd()
	if err := k.apply(ctx, t); err != nil {
		return nil, err
	}
	// Ingress chains where the relay's address receives: lo (parties on
	// this host) and the device of the bind address; devices toward other
	// parties are added as their streams come.
	devs := []string{"lo"}
	if b := cfg.Bind; !b.IsUnspecified() && !b.IsLoopback() {
		if dev, err := k.addrDevice(ctx, b); err == nil {
			devs = append(devs, dev)
		}
	}
	if err := k.ensureDevices(ctx, devs); err != nil {
		k.deleteTable()
		return nil, err
	}
	k.wg.Add(1)
	go k.loop()
	return k, nil
}

func (k *kernelForwarder) text() *nftText { return &nftText{table: k.table} }

// nftRun runs nft with args, the batch (if any) on stdin.
func (k *kernelForwarder) nftRun(ctx context.Context, stdin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, nftTimeout)
	defer cancel()
	argv := append(append([]string(nil), k.nft[1:]...), args...)
	cmd := exec.CommandContext(ctx, k.nft[0], argv...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return nil, fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return out, nil
}

func (k *kernelForwarder) apply(ctx context.Context, t *nftText) error {
	if t.empty() {
		return nil
	}
	_, err := k.nftRun(ctx, t.String(), "-f", "-")
	return err
}

// removeStaleTables deletes natdoc relay tables whose process is gone (a
// relay killed with SIGKILL could not remove its own): their rules would
// forward packets for ports nobody holds any more.
func (k *kernelForwarder) removeStaleTables(ctx context.Context) error {
	out, err := k.nftRun(ctx, "", "-j", "list", "tables", "netdev")
	if err != nil {
		return err
	}
	tables, err := parseTables(out)
	if err != nil {
		return err
	}
	for name, pid := range tables {
		if pidAlive(pid) {
			continue
		}
		if _, err := k.nftRun(ctx, "", "delete", "table", "netdev", name); err != nil {
			return fmt.Errorf("remove stale table of PID %d: %w", pid, err)
		}
		k.log.Info("relay: removed the kernel forwarding table of a relay that is gone", "table", name, "pid", pid)
	}
	return nil
}

// pidAlive: signal 0 checks existence; EPERM means it exists (another
// user's process).
func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

func (k *kernelForwarder) deleteTable() {
	ctx := context.Background()
	if _, err := k.nftRun(ctx, "", "delete", "table", "netdev", k.table); err != nil {
		k.log.Warn("relay: could not remove the kernel forwarding table", "table", k.table, "err", err)
	}
}

// ensureDevices adds an ingress chain on each device that has none yet.
func (k *kernelForwarder) ensureDevices(ctx context.Context, devs []string) error {
	t := k.text()
	var added []string
	for _, d := range devs {
		if k.devices[d] || !validDevName(d) || slices.Contains(added, d) {
			continue
		}
		t.ingressChain(fmt.Sprintf("in%d", len(k.devices)+len(added)), d)
		added = append(added, d)
	}
	if err := k.apply(ctx, t); err != nil {
		return err
	}
	for _, d := range added {
		k.devices[d] = true
	}
	return nil
}

// addrDevice names the device that holds local address a (ip addr show
// to A; a route lookup of a local address only says lo).
func (k *kernelForwarder) addrDevice(ctx context.Context, a netip.Addr) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, nftTimeout)
	defer cancel()
	argv := append(append([]string(nil), k.ip[1:]...), "-j", "addr", "show", "to", a.String())
	out, err := exec.CommandContext(ctx, k.ip[0], argv...).Output()
	if err != nil {
		return "", fmt.Errorf("device of %s: %w", a, err)
	}
	return parseAddrDevice(out)
}

// lookupRoute asks the kernel (ip route get) how it reaches dst; cached.
func (k *kernelForwarder) lookupRoute(ctx context.Context, dst netip.Addr) (routeInfo, error) {
	now := time.Now()
	if c, ok := k.routes[dst]; ok && now.Sub(c.at) < routeCacheTTL {
		return c.info, c.err
	}
	if len(k.routes) >= maxRouteCache {
		// Bounded state: a long-running server meets many phones.
		for a, c := range k.routes {
			if now.Sub(c.at) >= routeCacheTTL {
				delete(k.routes, a)
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, nftTimeout)
	defer cancel()
	argv := append(append([]string(nil), k.ip[1:]...), "-j", "route", "get", dst.String())
	out, err := exec.CommandContext(ctx, k.ip[0], argv...).Output()
	var info routeInfo
	if err == nil {
		info, err = parseRoute(out)
	}
	if err != nil {
		err = fmt.Errorf("route to %s: %w", dst, err)
	}
	k.routes[dst] = cachedRoute{info: info, err: err, at: now}
	return info, err
}

// latched is called when one of s's sockets latched onto a source (first
// packet, or a new source after silence): its streams are looked at in
// the next batch.
func (k *kernelForwarder) latched(s *Session) {
	k.mu.Lock()
	if !k.closed {
		k.dirty[s] = struct{}{}
		s.kernelTouched.Store(true)
	}
	k.mu.Unlock()
	k.wake()
}

// forget is called when s's sockets are closed: its streams are removed
// (after a last read of their counters) and then done runs. It reports
// false when there is nothing to remove: the caller runs done itself.
func (k *kernelForwarder) forget(s *Session, done func()) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.dirty, s)
	// A session that latched may have an install in flight in the loop
	// right now: let the loop see it leave after that.
	if k.closed || !s.kernelTouched.Load() {
		return false
	}
	k.leaving[s] = done
	k.wake()
	return true
}

func (k *kernelForwarder) wake() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

func (k *kernelForwarder) loop() {
	defer k.wg.Done()
	ctx := context.Background()
	tick := time.NewTicker(kernelCounterInterval)
	defer tick.Stop()
	for {
		select {
		case <-k.done:
			return
		case <-tick.C:
			k.readCounters(ctx)
		case <-k.kick:
			select {
			case <-time.After(kernelBatchDelay):
			case <-k.done:
				return
			}
			k.applyPending(ctx)
		}
	}
}

// close stops the loop (sessions closed before it still had their streams
// removed) and deletes the table with whatever is left.
func (k *kernelForwarder) close() {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return
	}
	k.closed = true
	leaving := k.leaving
	k.leaving = nil
	k.mu.Unlock()
	close(k.done)
	k.wg.Wait()
	k.deleteTable()
	for s, done := range leaving {
		s.kernelFinal()
		done()
	}
}

// applyPending installs, changes and removes the streams of the sessions
// queued since the last run, in one nft transaction.
func (k *kernelForwarder) applyPending(ctx context.Context) {
	k.mu.Lock()
	dirty, leaving := k.dirty, k.leaving
	k.dirty, k.leaving = make(map[*Session]struct{}), make(map[*Session]func())
	k.mu.Unlock()

	if len(leaving) > 0 {
		k.readCounters(ctx) // the last packets of ending calls count too
		t := k.text()
		var gone []*kernelStream
		for s := range leaving {
			for _, e := range s.endpoints() {
				if st := k.streams[e]; st != nil {
					t.deleteStream(st.id, st.spec)
					gone = append(gone, st)
				}
			}
		}
		if err := k.apply(ctx, t); err != nil {
			k.warn("relay: removing kernel forwarding rules failed (they go with the table at close)", err)
		}
		for _, st := range gone {
			delete(k.streams, st.e)
			delete(k.byID, st.id)
		}
		for s, done := range leaving {
			s.kernelFinal()
			done()
		}
	}
	if len(dirty) > 0 {
		k.install(ctx, dirty)
	}
}

// change is one session's part of a batch, committed to k.streams only
// once nft accepted it.
type change struct {
	text   *nftText
	commit []func()
}

// install brings the kernel streams of the given sessions in line with
// their latched addresses. All in one transaction; if nft refuses it, each
// session is tried alone so one bad stream does not keep the rest in user
// space.
func (k *kernelForwarder) install(ctx context.Context, sessions map[*Session]struct{}) {
	var changes []change
	var devs []string
	for s := range sessions {
		select {
		case <-s.done:
			continue // closing: forget removes what it has
		default:
		}
		c, d := k.plan(ctx, s)
		if c.text.empty() {
			continue
		}
		changes = append(changes, c)
		devs = append(devs, d...)
	}
	if len(changes) == 0 {
		return
	}
	if err := k.ensureDevices(ctx, devs); err != nil {
		k.warn("relay: adding an ingress chain failed; these streams stay in user space", err)
		return
	}
	all := k.text()
	for _, c := range changes {
		all.b.WriteString(c.text.String())
	}
	if err := k.apply(ctx, all); err == nil {
		for _, c := range changes {
			for _, f := range c.commit {
				f()
			}
		}
		return
	} else if len(changes) == 1 {
		k.warn("relay: installing kernel forwarding rules failed; the stream stays in user space", err)
		return
	}
	for _, c := range changes {
		if err := k.apply(ctx, c.text); err != nil {
			k.warn("relay: installing kernel forwarding rules failed; the stream stays in user space", err)
			continue
		}
		for _, f := range c.commit {
			f()
		}
	}
}

// plan computes what the kernel should do with each socket's stream of s
// and the nft text that gets it there from what is installed; it also
// names the ingress devices the streams need.
func (k *kernelForwarder) plan(ctx context.Context, s *Session) (change, []string) {
	c := change{text: k.text()}
	var devs []string
	for _, e := range s.endpoints() {
		want, inDev, ok := k.spec(ctx, e)
		have := k.streams[e]
		switch {
		case !ok:
			// Not both ends latched (or families differ, or no route): user space
			// keeps it. An installed stream stays: latches only move.
		case have == nil:
			k.nextID++
			st := &kernelStream{id: k.nextID, e: e, spec: want}
			c.text.addStream(st.id, want)
			c.commit = append(c.commit, func() {
				k.streams[e], k.byID[st.id] = st, st
				s.kernelUsed.Store(true)
			})
			devs = append(devs, inDev)
		case have.spec != want:
			c.text.changeStream(have.id, have.spec, want)
			c.commit = append(c.commit, func() { have.spec = want })
			devs = append(devs, inDev)
		}
	}
	return c, devs
}

// spec is the kernel rule for packets arriving on e: from e's latched
// party to the other leg's latched party, out of the peer socket's port.
// Both ends must be latched: only a party's own packets prove where it is.
// ok is false when the stream stays in user space.
func (k *kernelForwarder) spec(ctx context.Context, e *endpoint) (kernelSpec, string, bool) {
	src, dst := e.latchedPub.Load(), e.peer.latchedPub.Load()
	if src == nil || dst == nil || src.Addr().Is6() != dst.Addr().Is6() {
		return kernelSpec{}, "", false // one party on IPv4, the other on IPv6: user space translates
	}
	back, err := k.lookupRoute(ctx, src.Addr())
	if err != nil {
		return kernelSpec{}, "", false
	}
	toDst, err := k.lookupRoute(ctx, dst.Addr())
	if err != nil || back.local || toDst.local {
		// A party on this host itself (natdoc serve's echo user) is no
		// neighbour to `fwd` a packet to: the kernel's fwd to its own
		// address never reaches the socket. User space keeps the stream.
		return kernelSpec{}, "", false
	}
	// A relay bound to one address sends from it; bound to all, the kernel
	// would pick the route's preferred source, and the party presumably
	// sends to the address the relay answers from. If it does not, the
	// rule does not match and user space keeps the stream.
	localIP, outIP := k.r.cfg.Bind.Unmap(), k.r.cfg.Bind.Unmap()
	if localIP.IsUnspecified() || localIP.Is6() != src.Addr().Is6() {
		// Bound to all addresses (or dual-stack "::" with an IPv4 party).
		localIP, outIP = back.src, toDst.src
	}
	spec := kernelSpec{
		src:     *src,
		local:   netip.AddrPortFrom(localIP, uint16(e.port())),
		out:     netip.AddrPortFrom(outIP, uint16(e.peer.port())),
		dst:     *dst,
		nexthop: toDst.nexthop(dst.Addr()),
		dev:     toDst.dev,
	}
	if !spec.valid() || !validDevName(back.dev) {
		return kernelSpec{}, "", false
	}
	return spec, back.dev, true
}

// readCounters adds what the kernel forwarded since the last read to the
// legs' counters and marks the streams alive.
func (k *kernelForwarder) readCounters(ctx context.Context) {
	if len(k.streams) == 0 {
		return
	}
	out, err := k.nftRun(ctx, "", "-j", "list", "counters", "table", "netdev", k.table)
	if err != nil {
		k.warn("relay: reading kernel counters failed", err)
		return
	}
	values, err := parseCounters(out)
	if err != nil {
		k.warn("relay: reading kernel counters failed", err)
		return
	}
	now := time.Now().UnixNano()
	for id, v := range values {
		st := k.byID[id]
		if st == nil || v.packets < st.packets || v.bytes < st.bytes {
			continue
		}
		dp, db := v.packets-st.packets, v.bytes-st.bytes
		st.packets, st.bytes = v.packets, v.bytes
		if dp == 0 {
			continue
		}
		payload := uint64(0)
		if h := st.spec.headerBytes(); db > dp*h {
			payload = db - dp*h
		}
		st.e.kernelPackets.Add(dp)
		st.e.kernelBytes.Add(payload)
		st.e.kernelSeen.Store(now)
		st.e.last.Store(now)
	}
}

func (k *kernelForwarder) warn(msg string, err error) {
	if k.warnings >= maxKernelWarnings {
		return
	}
	k.warnings++
	k.log.Warn(msg, "table", k.table, "err", err)
}
