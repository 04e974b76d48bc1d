package report

import "time"

// Behaviour is an RFC 4787 mapping or filtering class.
type Behaviour string

const (
	BehaviourUnknown                 Behaviour = ""
	BehaviourEndpointIndependent     Behaviour = "endpoint-independent"
	BehaviourAddressDependent        Behaviour = "address-dependent"
	BehaviourAddressAndPortDependent Behaviour = "address-and-port-dependent"
	BehaviourNoNAT                   Behaviour = "no-nat"
)

// Tri is a tri-state: "not checked" differs from "false".
type Tri string

const (
	TriUnknown Tri = ""
	TriYes     Tri = "yes"
	TriNo      Tri = "no"
)

// NATReport holds what STUN probing observed about the NAT. Each field is one
// observed fact; interpretation lives in findings.
type NATReport struct {
	LocalAddr  string `json:"local_addr,omitempty"`
	MappedAddr string `json:"mapped_addr,omitempty"`
	// PortPreserved: the NAT kept the local port as the public port.
	PortPreserved Tri       `json:"port_preserved,omitempty"`
	Mapping       Behaviour `json:"mapping,omitempty"`
	Filtering     Behaviour `json:"filtering,omitempty"`
	// RFC3489Name is the old name users search for ("full cone",
	// "restricted cone", "port restricted cone", "symmetric").
	RFC3489Name string `json:"rfc3489_name,omitempty"`
	// MappingConsistent: every server saw the same public address:port
	// from one local socket.
	MappingConsistent Tri `json:"mapping_consistent,omitempty"`
	Hairpinning       Tri `json:"hairpinning,omitempty"`
	UDPBlocked        Tri `json:"udp_blocked,omitempty"`
	// Binding lifetime lies between these bounds (zero: not measured).
	LifetimeMin time.Duration      `json:"lifetime_min_ns,omitempty"`
	LifetimeMax time.Duration      `json:"lifetime_max_ns,omitempty"`
	Servers     []STUNServerResult `json:"servers,omitempty"`
	Took        time.Duration      `json:"took_ns,omitempty"`

	// Network is "udp4" or "udp6".
	Network string `json:"network,omitempty"`
	// RFC5780Server is the server the mapping and filtering tests used
	// (one answering with OTHER-ADDRESS); empty: none could.
	RFC5780Server string `json:"rfc5780_server,omitempty"`
	// MappingTests and FilteringTests are the RFC 5780 §4.3/§4.4 steps,
	// in order, with what each saw.
	MappingTests   []NATTest `json:"mapping_tests,omitempty"`
	FilteringTests []NATTest `json:"filtering_tests,omitempty"`
	// MappingNote and FilteringNote say why a behaviour is unknown.
	MappingNote   string `json:"mapping_note,omitempty"`
	FilteringNote string `json:"filtering_note,omitempty"`
	// HairpinFrom is the source of the packet that came back through the
	// public address; HairpinNote says why hairpinning was not judged.
	HairpinFrom string `json:"hairpin_from,omitempty"`
	HairpinNote string `json:"hairpin_note,omitempty"`
	// LifetimeTrials are the idle mappings probed (RFC 5780 §4.6);
	// KeepAlive is the longest safe interval between keep-alives
	// derived from the bracket.
	LifetimeTrials []LifetimeTrial `json:"lifetime_trials,omitempty"`
	LifetimeNote   string          `json:"lifetime_note,omitempty"`
	KeepAlive      time.Duration   `json:"keepalive_ns,omitempty"`
	// TCP is a Binding over TCP to the first server (nil: not tried).
	TCP *STUNServerResult `json:"tcp,omitempty"`
	// Anomalies counts answers that were not believed (bad FINGERPRINT,
	// wrong source, unknown transaction, malformed).
	Anomalies []Anomaly `json:"anomalies,omitempty"`
	// RTPPort is the probe repeated from the phones' first RTP port
	// (natdoc diagnose --rtp-ports): NATs may treat it unlike the SIP
	// port. Nil: not probed.
	RTPPort *NATPortMapping `json:"rtp_port,omitempty"`
}

// NATPortMapping is what the NAT did with one more local port.
type NATPortMapping struct {
	Local  string `json:"local"`
	Mapped string `json:"mapped,omitempty"` // empty: no STUN answer
	// PortPreserved: the public port equals the local one.
	PortPreserved Tri       `json:"port_preserved,omitempty"`
	Mapping       Behaviour `json:"mapping,omitempty"`
	// Note says why the probe gave no mapping.
	Note string `json:"note,omitempty"`
}

// NATTest is one step of an RFC 5780 test.
type NATTest struct {
	Name   string `json:"name"`             // "mapping test II: alternate IP"
	To     string `json:"to,omitempty"`     // where the request went
	Result string `json:"result"`           // mapped address or outcome
	Detail string `json:"detail,omitempty"` // what it shows
}

// LifetimeTrial is one idle mapping probed from outside after Idle.
type LifetimeTrial struct {
	Idle  time.Duration `json:"idle_ns"`
	Alive bool          `json:"alive"`
}

// STUNServerResult is what one STUN server answered.
type STUNServerResult struct {
	Server       string        `json:"server"`
	LocalAddr    string        `json:"local_addr,omitempty"`
	MappedAddr   string        `json:"mapped_addr,omitempty"`
	OtherAddr    string        `json:"other_addr,omitempty"` // RFC 5780 OTHER-ADDRESS
	ResponseFrom string        `json:"response_origin,omitempty"`
	RTT          time.Duration `json:"rtt_ns,omitempty"`
	Software     string        `json:"software,omitempty"`
	Error        string        `json:"error,omitempty"`
	// Sent counts datagrams, retransmissions included (RFC 5389 §7.2.1).
	Sent int `json:"sent,omitempty"`
}
