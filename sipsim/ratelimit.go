package sipsim

import (
	"net/netip"
	"sync"
	"time"
)

// maxLimiterSources bounds the limiter's table: a spoofed-source flood
// resets it rather than growing it.
const maxLimiterSources = 65536

// rateLimiter is a token bucket per source IP.
type rateLimiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	now     func() time.Time
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate, burst float64, now func() time.Time) *rateLimiter {
	if burst < 1 {
		burst = rate
	}
	return &rateLimiter{rate: rate, burst: burst, now: now, buckets: make(map[netip.Addr]*bucket)}
}

func (l *rateLimiter) allow(ip netip.Addr) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[ip]
	if !ok {
		if len(l.buckets) >= maxLimiterSources {
			clear(l.buckets)
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
