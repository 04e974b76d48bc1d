package report

import "time"

// CallTestReport is what a simulated phone measured on one call.
type CallTestReport struct {
	Local   string `json:"local"`
	Remote  string `json:"remote"`
	CallID  string `json:"call_id,omitempty"`
	Status  int    `json:"status,omitempty"` // final INVITE response code
	SDPAddr string `json:"sdp_addr,omitempty"`
	// RemoteSDP is where the other side's SDP asked for media.
	RemoteSDP string `json:"remote_sdp,omitempty"`
	// PeerReceived is how many of our packets the other phone reported
	// (-1: it could not tell us).
	PeerReceived int64 `json:"peer_received"`
	// CannotHear is "local" (this phone) or "remote" on a one-way call.
	CannotHear string         `json:"cannot_hear,omitempty"`
	Duration   time.Duration  `json:"duration_ns"`
	Sent       DirectionStats `json:"sent"`
	Received   DirectionStats `json:"received"`
	Verdict    Verdict        `json:"verdict"`
	Explain    string         `json:"explain,omitempty"`
}

// DirectionStats counts one direction of a measured call.
type DirectionStats struct {
	Packets  uint64  `json:"packets"`
	Bytes    uint64  `json:"bytes"`
	Lost     int64   `json:"lost"`
	JitterMs float64 `json:"jitter_ms"`
	From     string  `json:"from,omitempty"`
}

// ServeReport summarises a `natdoc serve` run.
type ServeReport struct {
	Listen     []string `json:"listen,omitempty"`
	PublicAddr string   `json:"public_addr,omitempty"`
	LocalAddr  string   `json:"local_addr,omitempty"`
	RTPPorts   string   `json:"rtp_ports,omitempty"`
	Fix        bool     `json:"fix"`
	// Media is where fix mode anchored media: "relay" (natdoc's own) or
	// "rtpengine" (then Engines says which and how they did).
	Media      string        `json:"media,omitempty"`
	Engines    []MediaEngine `json:"engines,omitempty"`
	Registered int           `json:"registered"`
	// Registrations are the phones registered at the end.
	Registrations []Registration `json:"registrations,omitempty"`
	Calls         []RelayedCall  `json:"calls,omitempty"`
	Counters      []KeyValue     `json:"counters,omitempty"`
}

// RelayedCall is one call the server set up, with relay counters per leg.
type RelayedCall struct {
	CallID string    `json:"call_id"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Start  time.Time `json:"start,omitzero"`
	End    time.Time `json:"end,omitzero"`
	State  string    `json:"state,omitempty"`
	Ended  string    `json:"ended,omitempty"` // why: bye, cancelled, idle, shutdown, a response
	// Engine is the rtpengine that had the call's media.
	Engine string     `json:"engine,omitempty"`
	Legs   []RelayLeg `json:"legs,omitempty"`
}

// MediaEngine is one rtpengine natdoc serve anchored media in.
type MediaEngine struct {
	Address string `json:"address"` // its ng control address
	Weight  int    `json:"weight"`
	Up      bool   `json:"up"` // at the end of the run
	// Calls anchored there in all, Active at the end; Failures are
	// requests that got no reply or an error; Outages, times it stopped
	// answering.
	Calls     uint64 `json:"calls"`
	Active    int    `json:"active,omitempty"`
	Failures  uint64 `json:"failures,omitempty"`
	Outages   int    `json:"outages,omitempty"`
	LastError string `json:"last_error,omitempty"`
	// Stats are its own figures (ng statistics): sessions, packet rate,
	// packets relayed since it started, one-way and no-way streams.
	Stats []KeyValue `json:"stats,omitempty"`
}

// Registration is one phone registered with `natdoc serve`.
type Registration struct {
	User    string `json:"user"`
	Contact string `json:"contact"` // what the phone said
	Source  string `json:"source"`  // where it really was (requests go here)
	LAN     bool   `json:"lan,omitempty"`
}

// RelayLeg counts what the relay forwarded toward one party.
type RelayLeg struct {
	Party   string `json:"party"`
	Latched string `json:"latched,omitempty"` // the real media address learned
	SDPAddr string `json:"sdp_addr,omitempty"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	Dropped uint64 `json:"dropped,omitempty"`
	// Received counts what the party sent to the relay; Lost is missing by
	// RTP sequence; Unexpected came from a source that may not latch.
	Received   uint64 `json:"received"`
	Lost       int64  `json:"lost,omitempty"`
	Unexpected uint64 `json:"unexpected,omitempty"`
	// Kernel of Received went through the kernel (natdoc serve
	// --kernel-forward): no sequence check there, so Lost is then not
	// measured for them (LossNotMeasured) rather than zero.
	Kernel          uint64 `json:"kernel,omitempty"`
	LossNotMeasured bool   `json:"loss_not_measured,omitempty"`
}

// HostReport describes the host natdoc ran on.
type HostReport struct {
	Hostname   string          `json:"hostname,omitempty"`
	Interfaces []HostInterface `json:"interfaces,omitempty"`
	Gateway    string          `json:"gateway,omitempty"`
	// PublicAddress: the host itself holds a public address (no NAT before it).
	PublicAddress Tri `json:"public_address,omitempty"`
}

// HostInterface is one local interface with its addresses.
type HostInterface struct {
	Name  string   `json:"name"`
	Addrs []string `json:"addrs,omitempty"`
}
