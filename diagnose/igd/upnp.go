package igd

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/huin/goupnp"
	ig "github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"
)

// wanConnection is what natdoc needs from a WAN connection service. The
// three goupnp generated clients (WANIPConnection2, WANIPConnection1,
// WANPPPConnection1) all satisfy it unchanged.
type wanConnection interface {
	AddPortMappingCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string, internalPort uint16, internalClient string, enabled bool, description string, leaseSeconds uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string) error
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
	GetStatusInfoCtx(ctx context.Context) (status, lastError string, uptime uint32, err error)
	GetGenericPortMappingEntryCtx(ctx context.Context, index uint16) (remoteHost string, externalPort uint16, protocol string, internalPort uint16, internalClient string, enabled bool, description string, leaseSeconds uint32, err error)
	GetSpecificPortMappingEntryCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string) (internalPort uint16, internalClient string, enabled bool, description string, leaseSeconds uint32, err error)
	GetServiceClient() *goupnp.ServiceClient
}

// upnpProtocol spells a transport protocol for AddPortMapping. It must be
// upper case: some routers reject "udp" (tailscale/tailscale#7377; the
// UPnP WANIPConnection spec lists only "TCP" and "UDP").
func upnpProtocol(p string) string { return strings.ToUpper(p) }

// UPnP error codes from WANIPConnection v2 §2.5 and UDA 1.1 §3.2.2: the
// router's reasons for refusing.
const (
	ErrInvalidAction        = 401
	ErrInvalidArgs          = 402
	ErrActionFailed         = 501
	ErrNotAuthorized        = 606
	ErrSpecifiedArrayIndex  = 713
	ErrNoSuchEntry          = 714
	ErrConflictInMapping    = 718
	ErrSamePortValues       = 724
	ErrOnlyPermanentLeases  = 725
	ErrRemoteHostWildcard   = 726
	ErrExternalPortWildcard = 727
	ErrNoPortMapsAvailable  = 728
	ErrConflictWithOther    = 729
	ErrPortMappingNotFound  = 730
)

// UPnPErrorText names an error code in the user's words.
func UPnPErrorText(code int) string {
	switch code {
	case ErrInvalidAction:
		return "invalid action (the router does not offer this call)"
	case ErrInvalidArgs:
		return "invalid arguments"
	case ErrActionFailed:
		return "action failed"
	case ErrNotAuthorized:
		return "not authorized (the router's permission rules refuse this mapping)"
	case ErrSpecifiedArrayIndex:
		return "no entry at this index (end of the table)"
	case ErrNoSuchEntry:
		return "no such entry"
	case ErrConflictInMapping:
		return "conflict: the port is mapped to another client"
	case ErrSamePortValues:
		return "internal and external port must be the same"
	case ErrOnlyPermanentLeases:
		return "only permanent leases are supported"
	case ErrRemoteHostWildcard:
		return "remote host must be a wildcard"
	case ErrExternalPortWildcard:
		return "external port must not be a wildcard"
	case ErrNoPortMapsAvailable:
		return "no port maps available (the router's table is full)"
	case ErrConflictWithOther:
		return "conflict with another mechanism"
	case ErrPortMappingNotFound:
		return "port mapping not found"
	}
	return ""
}

// UPnPError is a refusal by the router: a SOAP fault with its UPnP error
// code. Some routers send faults without faultstring or description
// (the issue names them); Code is then all there is.
type UPnPError struct {
	Action      string
	Code        int
	Description string
}

func (e *UPnPError) Error() string {
	desc := e.Description
	if desc == "" {
		desc = UPnPErrorText(e.Code)
	}
	if desc == "" {
		return fmt.Sprintf("%s: UPnP error %d", e.Action, e.Code)
	}
	return fmt.Sprintf("%s: UPnP error %d (%s)", e.Action, e.Code, desc)
}

// ErrorCode returns the UPnP error code in err, or 0.
func ErrorCode(err error) int {
	var ue *UPnPError
	if errors.As(err, &ue) {
		return ue.Code
	}
	return 0
}

// classify turns goupnp's SOAP fault into a *UPnPError so callers can
// branch on the code; other errors pass through with context.
func classify(action string, err error) error {
	if err == nil {
		return nil
	}
	var fault *soap.SOAPFaultError
	if errors.As(err, &fault) {
		return &UPnPError{Action: action, Code: fault.Detail.UPnPError.Errorcode,
			Description: sanitize(fault.Detail.UPnPError.ErrorDescription, 120)}
	}
	return fmt.Errorf("%s: %w", action, err)
}

// sanitize keeps router-supplied text printable and short before it goes
// into a report or a terminal.
func sanitize(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// httpClient builds the client for everything natdoc asks the IGD: every
// response body is capped, redirects are refused (a description URL that
// redirects elsewhere is not the LAN router) and dial goes through the
// injected dialer.
func (o *Options) httpClient() *http.Client {
	tr := &http.Transport{
		DialContext:            o.Env.DialContext,
		ResponseHeaderTimeout:  httpTimeout,
		MaxResponseHeaderBytes: 64 << 10,
		IdleConnTimeout:        httpTimeout,
		DisableCompression:     true,
		Proxy:                  nil, // the router is on the LAN: never via a proxy
	}
	return &http.Client{
		Transport: cappedBody{tr, maxSOAPResponse},
		Timeout:   httpTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("the IGD redirected; refusing to follow")
		},
	}
}

// cappedBody limits every response body so a hostile or broken router
// cannot make natdoc read without end.
type cappedBody struct {
	rt  http.RoundTripper
	max int64
}

func (c cappedBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, c.max), resp.Body}
	return resp, nil
}

// fetchRootDevice loads and parses the root description at loc, like
// goupnp.DeviceByURLCtx but through our bounded client.
func fetchRootDevice(ctx context.Context, hc *http.Client, loc *url.URL) (*goupnp.RootDevice, error) {
	root, _, err := fetchRootDeviceFrom(ctx, hc, loc)
	return root, err
}

// fetchRootDeviceFrom also returns our address on the connection to the
// IGD: the address it sees, so the internal client of our mappings. It
// comes from the socket the (injectable) dialer made, so it is right on
// multi-homed hosts and inside test namespaces alike.
func fetchRootDeviceFrom(ctx context.Context, hc *http.Client, loc *url.URL) (*goupnp.RootDevice, netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	var local netip.Addr
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		if ta, ok := ci.Conn.LocalAddr().(*net.TCPAddr); ok {
			local = ta.AddrPort().Addr().Unmap()
		}
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return nil, local, fmt.Errorf("upnp: description %s: %w", loc, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, local, fmt.Errorf("upnp: description %s: %w", loc, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, local, fmt.Errorf("upnp: description %s: HTTP %s", loc, sanitize(resp.Status, 60))
	}
	root, err := parseRootDevice(io.LimitReader(resp.Body, maxDescription))
	if err != nil {
		return nil, local, fmt.Errorf("upnp: description %s: %w", loc, err)
	}
	base := loc
	if root.URLBaseStr != "" {
		// UDA 1.0 URLBase; UDA 1.1 deprecates it. A URLBase on another
		// host than the description is the same quirk as a LOCATION that
		// points away (tailscale/tailscale#5502): keep the host we reached.
		if u, err := url.Parse(root.URLBaseStr); err == nil && u.Scheme == "http" {
			u.Host = loc.Host
			base = u
		}
	}
	root.SetURLBase(base)
	return root, local, nil
}

// parseRootDevice decodes a root description. Charsets other than UTF-8
// are read as Latin-1 (some routers declare ISO-8859-1 for ASCII text).
func parseRootDevice(r io.Reader) (*goupnp.RootDevice, error) {
	root := new(goupnp.RootDevice)
	dec := xml.NewDecoder(r)
	dec.DefaultSpace = goupnp.DeviceXMLNamespace
	dec.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return latin1Reader{in}, nil }
	if err := dec.Decode(root); err != nil {
		return nil, fmt.Errorf("parse XML: %w", err)
	}
	if root.Device.DeviceType == "" {
		return nil, errors.New("no root device in description")
	}
	return root, nil
}

// latin1Reader converts ISO-8859-1 bytes to UTF-8.
type latin1Reader struct{ r io.Reader }

func (l latin1Reader) Read(p []byte) (int, error) {
	// Each input byte becomes at most 2 output bytes.
	buf := make([]byte, len(p)/2+1)
	n, err := l.r.Read(buf)
	out := p[:0]
	for _, c := range buf[:n] {
		out = utf8.AppendRune(out, rune(c))
	}
	return len(out), err
}

// wanServiceOrder is the preference among WAN connection services on one
// device: IGDv2's WANIPConnection2 (AddAnyPortMapping, finite leases),
// then WANIPConnection1, then WANPPPConnection1 (DSL routers).
var wanServiceOrder = []string{ig.URN_WANIPConnection_2, ig.URN_WANIPConnection_1, ig.URN_WANPPPConnection_1}

// wanServices returns the WAN connection clients of root in preference
// order, each using hc.
func wanServices(root *goupnp.RootDevice, loc *url.URL, hc *http.Client) []wanConnection {
	var out []wanConnection
	if cs, err := ig.NewWANIPConnection2ClientsFromRootDevice(root, loc); err == nil {
		for _, c := range cs {
			out = append(out, c)
		}
	}
	if cs, err := ig.NewWANIPConnection1ClientsFromRootDevice(root, loc); err == nil {
		for _, c := range cs {
			out = append(out, c)
		}
	}
	if cs, err := ig.NewWANPPPConnection1ClientsFromRootDevice(root, loc); err == nil {
		for _, c := range cs {
			out = append(out, c)
		}
	}
	for _, c := range out {
		c.GetServiceClient().SOAPClient.HTTPClient = *hc
	}
	return out
}

// serviceTypes lists every service type in the description, in order.
func serviceTypes(root *goupnp.RootDevice) []string {
	var out []string
	root.Device.VisitServices(func(s *goupnp.Service) {
		if len(out) < 64 {
			out = append(out, sanitize(s.ServiceType, 100))
		}
	})
	return out
}

// shortService turns "urn:schemas-upnp-org:service:WANIPConnection:2"
// into "WANIPConnection:2".
func shortService(urn string) string {
	return strings.TrimPrefix(urn, "urn:schemas-upnp-org:service:")
}

// repointLocation handles LOCATION URLs that name another address than the
// device that answered the M-SEARCH: some routers advertise an address of
// another interface or a stale one (tailscale/tailscale#5502). The replier
// is on our LAN, so we ask it at the same port. It returns the URL to use
// and whether it changed.
func repointLocation(loc *url.URL, replier netip.Addr) (*url.URL, bool) {
	if !replier.IsValid() {
		return loc, false
	}
	host := loc.Hostname()
	if a, err := netip.ParseAddr(host); err == nil && a.Unmap() == replier.Unmap() {
		return loc, false
	}
	u := *loc
	port := loc.Port()
	if port == "" {
		port = "80"
	}
	u.Host = net.JoinHostPort(replier.Unmap().String(), port)
	return &u, true
}
