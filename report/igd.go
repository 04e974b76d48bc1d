package report

import "time"

// IGDReport holds what the router's port-mapping services (UPnP IGD,
// NAT-PMP, PCP) showed.
type IGDReport struct {
	Devices []IGDDevice `json:"devices,omitempty"`
	// Chosen is the index in Devices natdoc used, and why.
	Chosen       int           `json:"chosen"`
	ChosenReason string        `json:"chosen_reason,omitempty"`
	NATPMP       Tri           `json:"natpmp,omitempty"`
	PCP          Tri           `json:"pcp,omitempty"`
	Mappings     []PortMapping `json:"mappings,omitempty"`
	Limit        *MappingLimit `json:"limit,omitempty"`
}

// IGDDevice is one Internet Gateway Device that answered.
type IGDDevice struct {
	Location     string   `json:"location"`
	FriendlyName string   `json:"friendly_name,omitempty"`
	Manufacturer string   `json:"manufacturer,omitempty"`
	Model        string   `json:"model,omitempty"`
	Services     []string `json:"services,omitempty"`
	Connection   string   `json:"connection_status,omitempty"`
	ExternalIP   string   `json:"external_ip,omitempty"`
	Protocol     string   `json:"protocol,omitempty"` // "upnp-igd1", "upnp-igd2", "nat-pmp", "pcp"
}

// PortMapping is one entry of the router's table, as read back.
type PortMapping struct {
	Protocol     string        `json:"protocol"`
	ExternalPort uint16        `json:"external_port"`
	InternalAddr string        `json:"internal_addr"`
	InternalPort uint16        `json:"internal_port"`
	Description  string        `json:"description,omitempty"`
	LeaseAsked   time.Duration `json:"lease_asked_ns,omitempty"`
	LeaseGranted time.Duration `json:"lease_granted_ns,omitempty"`
	Enabled      bool          `json:"enabled"`
	ThisHost     bool          `json:"this_host,omitempty"`
	ByNatdoc     bool          `json:"by_natdoc,omitempty"`
	// Verified: an inbound packet really arrived through it (Tri: not tried).
	Verified Tri `json:"verified,omitempty"`
}

// MappingLimit is what `upnp limits` measured.
type MappingLimit struct {
	Asked     int    `json:"asked"`
	Accepted  int    `json:"accepted"`
	Applied   int    `json:"applied"` // present on read-back
	Verified  int    `json:"verified,omitempty"`
	ErrorCode int    `json:"error_code,omitempty"`
	ErrorText string `json:"error_text,omitempty"`
	// Calls is how many simultaneous calls the accepted mappings carry
	// (RTP+RTCP per call, after the SIP port).
	Calls     int    `json:"calls"`
	LeaseNote string `json:"lease_note,omitempty"`
}
