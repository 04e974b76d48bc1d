// Package diagnose runs natdoc's live checks on the user's network together
// and turns their results into one report: a verdict sentence, findings with
// evidence, and remedies ranked by how likely they fix this network.
//
// The checks: this host (hostinfo), the path's first routers (a double NAT
// shows as two private hops), NAT behaviour (a NATProber: the stunprobe
// package), the router's port-mapping services (a RouterProber: the igd
// package), the SIP ALG (sipalg, with a mirror), port forwarding (forward,
// RFC 5780 RESPONSE-PORT) and the SIP server (sipserver). They run
// concurrently under one deadline; a check without what it needs (no
// mirror, no server named) is reported as not run, never as passed.
//
// Run gathers a Result (plain facts); Findings, Remedies and Verdict are
// pure functions of it, table-tested case by case. diagnose does not
// change the router: whatever a prober maps it removes itself.
package diagnose
