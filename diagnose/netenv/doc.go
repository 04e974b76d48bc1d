// Package netenv gives natdoc's live checks and servers their sockets
// through one seam, so a test can run a check inside a lab network
// namespace (natlab's Host.Do) and the command runs it in the host's own
// network. Every probe package (stunprobe, igd, forward, sipalg, sipserver,
// hostinfo) and natdoc's STUN server take an Env and make no socket of
// their own; a library that makes its sockets itself (go-nat-pmp) is called
// inside Env.Run. It diagnoses nothing.
package netenv
