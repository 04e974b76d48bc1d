// Package hostinfo describes the host natdoc diagnose runs on: its
// interfaces and addresses, the default gateway (from the kernel's routing
// table on Linux), the source address it uses towards the internet, whether
// it holds a public address itself, and the routers on the path (TTL-limited
// probes, Linux only) from which a double NAT shows.
//
// It does not measure NAT behaviour (stunprobe does) nor ask the router
// anything (igd does). It sends packets only in PathHops, and only to the
// destination its caller names.
package hostinfo
