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

	// Via is the protocol natdoc mapped with: "upnp-igd1", "upnp-igd2",
	// "nat-pmp" or "pcp".
	Via string `json:"via,omitempty"`
	// Client is this host's LAN address, the mappings' internal client.
	Client           string `json:"client,omitempty"`
	NATPMPExternalIP string `json:"natpmp_external_ip,omitempty"`
	// STUNMapped is the public address a STUN server saw (discover --stun).
	STUNMapped string `json:"stun_mapped,omitempty"`
	// SSDPMalformed counts datagrams that were no valid M-SEARCH reply.
	SSDPMalformed int `json:"ssdp_malformed,omitempty"`
	// Notes are router quirks met on the way ("retried with lease 0").
	Notes   []string    `json:"notes,omitempty"`
	Cleanup *IGDCleanup `json:"cleanup,omitempty"`
	Journal string      `json:"journal,omitempty"` // path of the undo journal
}

// IGDCleanup is what natdoc did with the mappings in its journal.
type IGDCleanup struct {
	Pending     int      `json:"pending"`
	Removed     int      `json:"removed"`
	AlreadyGone int      `json:"already_gone"`
	NotOurs     int      `json:"not_ours"` // port reused by someone else: left alone
	InUse       int      `json:"in_use"`   // a running natdoc holds them
	Failed      []string `json:"failed,omitempty"`
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
	// LocationAdvertised is the LOCATION the device sent when it pointed
	// at another address and natdoc asked the replier instead.
	LocationAdvertised string `json:"location_advertised,omitempty"`
	Error              string `json:"error,omitempty"`
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
	// Applied: present on read-back as asked (Tri: not read back).
	Applied Tri `json:"applied,omitempty"`
	// Error is the router's refusal of a mapping natdoc asked for.
	Error     string `json:"error,omitempty"`
	ErrorCode int    `json:"error_code,omitempty"`
}

// MappingLimit is what `upnp limits` measured.
type MappingLimit struct {
	Asked    int `json:"asked"`
	Accepted int `json:"accepted"`
	Applied  int `json:"applied"` // present on read-back
	// ReadBack: the protocol could read mappings back (UPnP); without it
	// Applied means nothing.
	ReadBack  bool   `json:"read_back"`
	Verified  int    `json:"verified,omitempty"`
	ErrorCode int    `json:"error_code,omitempty"`
	ErrorText string `json:"error_text,omitempty"`
	// Calls is how many simultaneous calls the accepted mappings carry
	// (RTP+RTCP per call, after the SIP port).
	Calls     int    `json:"calls"`
	LeaseNote string `json:"lease_note,omitempty"`
	// Reached: the router refused before natdoc's maximum, so Accepted is
	// the router's limit (false: the limit is at least Accepted).
	Reached   bool `json:"reached"`
	Skipped   int  `json:"skipped,omitempty"`   // ports in use by others, untouched
	Conflicts int  `json:"conflicts,omitempty"` // 718 answers
	Removed   int  `json:"removed"`
	// Cause is what limits the mappings: "table-size", "permission-rules"
	// (the router's rules allow only Allowed), "lease-policy", "other";
	// empty when the limit was not reached.
	Cause string `json:"cause,omitempty"`
	// Allowed are the port ranges the router's rules allow, as found
	// ("40000-40100"); empty when no port was refused by them.
	Allowed []string `json:"allowed,omitempty"`
	// SearchRequests counts the mappings asked (and released at once) to
	// find Allowed.
	SearchRequests int `json:"search_requests,omitempty"`
	// SearchGap: no allowed port found by exact requests alone; the
	// widest run of ports between two asked (a narrower allowed range may
	// lie there).
	SearchGap int `json:"search_gap,omitempty"`
}
