package proxy

// maxLimiterSources bounds the limiter's table: a spoofed-source flood
// resets it rather than growing it.
const maxLimiterSources = 65536
