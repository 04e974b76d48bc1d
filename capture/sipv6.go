package capture

import (
	"net/netip"
	"strings"
)

// Some phones write an IPv6 host in a SIP URI or a Via without the
// brackets RFC 3261 §25.1 (IPv6reference) requires:
// <sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e0:5060>. sipgo refuses such a
// header; natdoc brackets the address (the last group is a port when the
// rest is a whole address) and parses again, so the message keeps its
// From, To, Contact and Via.

// bracketIPv6Hosts returns header value v with every unbracketed IPv6 host
// of its SIP URIs, and of a Via's sent-by when via is set, in brackets; v
// itself when it has none.
func bracketIPv6Hosts(v string, via bool) string {
	if via {
		return bracketViaSentBy(v)
	}
	var b strings.Builder
	rest := v
	for {
		i := indexURIHost(rest)
		if i < 0 {
			break
		}
		end := i + strings.IndexAny(rest[i:]+">", ";>?, \t")
		fixed, ok := bracketHostPort(rest[i:end])
		if ok {
			b.WriteString(rest[:i])
			b.WriteString(fixed)
		} else {
			b.WriteString(rest[:end])
		}
		rest = rest[end:]
	}
	if b.Len() == 0 {
		return v
	}
	b.WriteString(rest)
	return b.String()
}

// indexURIHost is where the host of the first sip: or sips: URI in s
// starts (after its userinfo), or -1.
func indexURIHost(s string) int {
	lower := asciiLower(s) // byte for byte: strings.ToLower may change lengths
	i := strings.Index(lower, "sip:")
	n := 4
	if j := strings.Index(lower, "sips:"); j >= 0 && (i < 0 || j < i) {
		i, n = j, 5
	}
	if i < 0 {
		return -1
	}
	start := i + n
	end := start + strings.IndexAny(s[start:]+">", ";>?, \t")
	if at := strings.LastIndexByte(s[start:end], '@'); at >= 0 {
		return start + at + 1
	}
	return start
}

// bracketViaSentBy brackets the sent-by host of a Via value
// ("SIP/2.0/UDP host:port;params"), keeping every other byte.
func bracketViaSentBy(v string) string {
	lead := len(v) - len(strings.TrimLeft(v, " \t"))
	sp := strings.IndexAny(v[lead:], " \t")
	if sp < 0 {
		return v
	}
	start := lead + sp
	start += len(v[start:]) - len(strings.TrimLeft(v[start:], " \t"))
	end := start + strings.IndexAny(v[start:]+";", "; \t")
	fixed, ok := bracketHostPort(v[start:end])
	if !ok {
		return v
	}
	return v[:start] + fixed + v[end:]
}

// bracketHostPort brackets hp when it is an IPv6 address, alone or with a
// port after its last colon.
func bracketHostPort(hp string) (string, bool) {
	if strings.Count(hp, ":") < 2 || strings.ContainsAny(hp, "[]") {
		return hp, false
	}
	if a, err := netip.ParseAddr(hp); err == nil && a.Is6() {
		return "[" + hp + "]", true
	}
	i := strings.LastIndexByte(hp, ':')
	if a, err := netip.ParseAddr(hp[:i]); err == nil && a.Is6() && i+1 < len(hp) && allDigits(hp[i+1:]) {
		return "[" + hp[:i] + "]" + hp[i:], true
	}
	return hp, false
}

// asciiLower lowers the ASCII letters of s and keeps every other byte, so
// indexes into it are indexes into s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
