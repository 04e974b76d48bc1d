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
}
