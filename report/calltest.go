package report

import "time"

// CallTestReport is what a simulated phone measured on one call.
type CallTestReport struct {
	Local    string         `json:"local"`
	Remote   string         `json:"remote"`
	SDPAddr  string         `json:"sdp_addr,omitempty"`
	Duration time.Duration  `json:"duration_ns"`
	Sent     DirectionStats `json:"sent"`
	Received DirectionStats `json:"received"`
	Verdict  Verdict        `json:"verdict"`
	Explain  string         `json:"explain,omitempty"`
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
	Listen     []string      `json:"listen,omitempty"`
	PublicAddr string        `json:"public_addr,omitempty"`
	Fix        bool          `json:"fix"`
	Registered int           `json:"registered"`
	Calls      []RelayedCall `json:"calls,omitempty"`
	Counters   []KeyValue    `json:"counters,omitempty"`
}

// RelayedCall is one call the server set up, with relay counters per leg.
type RelayedCall struct {
	CallID string     `json:"call_id"`
	From   string     `json:"from"`
	To     string     `json:"to"`
	Start  time.Time  `json:"start,omitzero"`
	End    time.Time  `json:"end,omitzero"`
	Legs   []RelayLeg `json:"legs,omitempty"`
}

// RelayLeg counts what the relay forwarded toward one party.
type RelayLeg struct {
	Party   string `json:"party"`
	Latched string `json:"latched,omitempty"` // the real media address learned
	SDPAddr string `json:"sdp_addr,omitempty"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	Dropped uint64 `json:"dropped,omitempty"`
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
