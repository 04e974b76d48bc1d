package igd

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Refusal is what a router's "no" to one mapping means for natdoc: only a
// full table ends a search for more mappings; a refusal of one port sends
// natdoc to other ports.
type Refusal string

const (
	// RefusalNone: not refused, or no refusal at all (a timeout).
	RefusalNone Refusal = ""
	// RefusalPermission: the router's rules refuse this port (UPnP 606,
	// or 718 when no other client holds the port, as IGDv1 miniupnpd
	// answers; PCP NOT_AUTHORIZED or CANNOT_PROVIDE_EXTERNAL; NAT-PMP
	// NOT_AUTHORIZED): not this port, another may do.
	RefusalPermission Refusal = "permission"
	// RefusalPortTaken: another client holds the port (UPnP 718).
	RefusalPortTaken Refusal = "port-taken"
	// RefusalTableFull: no more mappings (UPnP 728; PCP NO_RESOURCES or
	// USER_EX_QUOTA; NAT-PMP OUT_OF_RESOURCES).
	RefusalTableFull Refusal = "table-full"
	// RefusalLease: the router's lease policy (UPnP 725 still refused
	// after the retry with a permanent lease).
	RefusalLease Refusal = "lease-policy"
	// RefusalSamePort: UPnP 724, internal and external port must match.
	RefusalSamePort Refusal = "same-port"
	// RefusalProtocol: PCP UNSUPP_PROTOCOL, not for this transport.
	RefusalProtocol Refusal = "protocol"
	// RefusalAddress: PCP ADDRESS_MISMATCH, a NAT between this host and
	// the gateway changed our address: mappings would lead to that NAT.
	RefusalAddress Refusal = "address-mismatch"
	// RefusalOther: any other code (402, 501, PCP NETWORK_FAILURE, ...).
	RefusalOther Refusal = "other"
)

// NAT-PMP result codes (RFC 6886 §3.5).
const (
	NATPMPUnsuppVersion  = 1
	NATPMPNotAuthorized  = 2
	NATPMPNetworkFailure = 3
	NATPMPNoResources    = 4
	NATPMPUnsuppOpcode   = 5
)

// ClassifyRefusal names what a refusal code of the protocol via (a
// Session's Via) means. Code 0 is no refusal.
func ClassifyRefusal(via string, code int) Refusal {
	if code == 0 {
		return RefusalNone
	}
	var r Refusal
	switch {
	case strings.HasPrefix(via, "upnp"):
		r = upnpRefusals[code]
	case via == ViaPCP:
		r = pcpRefusals[code]
	case via == ViaNATPMP:
		r = natpmpRefusals[code]
	}
	if r == RefusalNone {
		return RefusalOther
	}
	return r
}

var upnpRefusals = map[int]Refusal{
	ErrNotAuthorized:       RefusalPermission,
	ErrConflictInMapping:   RefusalPortTaken,
	ErrNoPortMapsAvailable: RefusalTableFull,
	ErrOnlyPermanentLeases: RefusalLease,
	ErrSamePortValues:      RefusalSamePort,
}

var pcpRefusals = map[int]Refusal{
	PCPNotAuthorized:    RefusalPermission,
	PCPCannotProvideExt: RefusalPermission,
	PCPNoResources:      RefusalTableFull,
	PCPUserExQuota:      RefusalTableFull,
	PCPUnsuppProtocol:   RefusalProtocol,
	PCPAddressMismatch:  RefusalAddress,
}

var natpmpRefusals = map[int]Refusal{
	NATPMPNotAuthorized: RefusalPermission,
	NATPMPNoResources:   RefusalTableFull,
}

// NATPMPError is a refusal by a NAT-PMP gateway (RFC 6886 §3.5 result
// code).
type NATPMPError struct{ Code int }

func (e *NATPMPError) Error() string {
	return fmt.Sprintf("NAT-PMP result %d (%s)", e.Code, natpmpResultText(e.Code))
}

func natpmpResultText(code int) string {
	names := []string{"success", "unsupported version", "not authorized", "network failure", "out of resources", "unsupported opcode"}
	if code >= 0 && code < len(names) {
		return names[code]
	}
	return fmt.Sprintf("result %d", code)
}

// natpmpResultCode finds the result code in go-nat-pmp's error text ("Non-zero
// result code 2 (...)"): the library has no error type for it.
var natpmpResultCode = regexp.MustCompile(`result code (\d{1,5})`)

// asNATPMPError turns go-nat-pmp's refusal into a *NATPMPError; other
// errors (a timeout) pass unchanged.
func asNATPMPError(err error) error {
	if err == nil {
		return nil
	}
	m := natpmpResultCode.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	code, _ := strconv.Atoi(m[1])
	return &NATPMPError{Code: code}
}

// RefusalCode is the protocol's refusal code in err (UPnP error code, PCP
// or NAT-PMP result code), or 0 when err is no refusal.
func RefusalCode(err error) int {
	var pe *PCPError
	var ne *NATPMPError
	switch {
	case errors.As(err, &pe):
		return pe.Code
	case errors.As(err, &ne):
		return ne.Code
	}
	return ErrorCode(err)
}

// RefusalText names a refusal code of the protocol via in the user's
// words.
func RefusalText(via string, code int) string {
	switch {
	case strings.HasPrefix(via, "upnp"):
		return UPnPErrorText(code)
	case via == ViaPCP:
		return pcpResultText(code)
	case via == ViaNATPMP:
		return natpmpResultText(code)
	}
	return ""
}
