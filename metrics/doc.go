// Package metrics exposes natdoc's counters to Prometheus, with the
// ecosystem's own client library, on a /metrics endpoint for natdoc serve
// and natdoc capture: calls judged by verdict, findings by ID, SIP requests
// by method and responses by class, registrations, relay sessions, ports in
// use, packets, bytes and loss relayed per direction, rejected input by
// reason, and the Go process metrics.
//
// Names follow Prometheus conventions: the natdoc_ prefix, _total for
// counters, base units (bytes). Every label value comes from a bounded
// set: fixed lists (verdicts, response classes, relay directions), known
// SIP methods, or the first maxLabelValues values seen of a code-defined
// set (finding IDs, anomaly kinds) with "other" past it. A Call-ID, user
// or address never becomes a label, so series cannot grow with traffic.
//
// What it does not: it keeps no per-call state and does no judging; the
// packages that judge call it.
package metrics
