// Package netenv gives natdoc's live checks their sockets through one seam,
// so a test can run a check inside a lab network namespace (natlab's Host.Do)
// and the command runs it in the host's own network. It diagnoses nothing.
package netenv
