package igd

import (
	"time"

	"github.com/natdoc/natdoc/internal/transact"
)

// Timeouts for network waits. The router is one hop away on the LAN, so
// anything slower than these is a router that will not answer.
const (
	// ssdpSearchTime is how long discovery listens for M-SEARCH replies.
	// UPnP Device Architecture 1.1 §1.3.2 lets devices delay their reply
	// by up to MX seconds; we send MX=2 and listen a little longer.
	ssdpSearchTime = 2500 * time.Millisecond
	// ssdpMX is the MX header value: the random delay a device may add.
	ssdpMX = 2
	// ssdpResend is when the M-SEARCH is sent again: UDP multicast on a
	// busy Wi-Fi loses packets, and UDA 1.1 recommends sending it more
	// than once.
	ssdpResend = 800 * time.Millisecond
	// httpTimeout bounds one HTTP exchange with the IGD (description or
	// SOAP action). Cheap routers answer SOAP in tens of milliseconds;
	// some take a second when their table is large.
	httpTimeout = 4 * time.Second
	// deleteTimeout bounds the removal of our mappings after the command's
	// context was cancelled (Ctrl-C): cleanup gets its own budget.
	deleteTimeout = 10 * time.Second
	// deletePerMapping and deleteTimeoutMax scale that budget with the
	// number of mappings (a NAT-PMP/PCP delete may need its retransmits),
	// without letting a vanished router hold Ctrl-C for minutes.
	deletePerMapping = 2 * time.Second
	deleteTimeoutMax = time.Minute
)

// pcpSchedule retransmits PCP requests from 250 ms, doubling (RFC 6887
// §8.1.1, as RFC 6886 §3.1 does for NAT-PMP); three tries, because the
// gateway is one hop away.
var pcpSchedule = transact.Schedule{RTO: 250 * time.Millisecond, Sends: 3}

// Size bounds for hostile input: nothing from the network or a file is
// allocated by its own claimed length.
const (
	maxSSDPReply      = 2048    // one UDP datagram; real replies are ~300 bytes
	maxDescription    = 1 << 20 // root description XML; real ones are 2-20 KiB
	maxSOAPResponse   = 1 << 20 // one SOAP response body
	maxTableEntries   = 4096    // GetGenericPortMappingEntry indexes we walk
	maxDevices        = 16      // distinct LOCATIONs we load
	maxJournalLine    = 4096
	maxJournalEntries = 100000
)
