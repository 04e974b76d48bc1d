// Package ratelimit is a token bucket per source IP with a bounded table,
// shared by natdoc's servers (STUN server, SIP server, SIP ALG mirror): a
// flood from one address is throttled, and a flood of spoofed addresses can
// at worst make the table forget, never grow it.
package ratelimit

import (
	"net/netip"
	"sync"
	"time"
)

// PerSource allows Burst requests at once and Rate per second thereafter,
// per source address. It is safe for concurrent use.
type PerSource struct {
	rate, burst float64
	maxSources  int

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter of rate requests per second with the given burst
// (at least one request), tracking at most maxSources addresses.
func New(rate, burst float64, maxSources int) *PerSource {
	if burst < 1 {
		burst = max(rate, 1)
	}
	return &PerSource{rate: rate, burst: burst, maxSources: maxSources, buckets: make(map[netip.Addr]*bucket)}
}

// Allow takes a token for ip at time now, or reports that none is left.
func (l *PerSource) Allow(ip netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[ip]
	if !ok {
		if len(l.buckets) >= l.maxSources {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[ip] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Tracked returns how many sources the table holds.
func (l *PerSource) Tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// sweep forgets sources whose bucket has refilled (they are as if new);
// if that frees nothing, it forgets everyone.
func (l *PerSource) sweep(now time.Time) {
	for ip, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, ip)
		}
	}
	if len(l.buckets) >= l.maxSources {
		clear(l.buckets)
	}
}
