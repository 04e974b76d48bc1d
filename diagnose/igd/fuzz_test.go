package igd

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/huin/goupnp"
	ig "github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"
)

// Seeds: a miniupnpd reply, the D-Link DIR-890L reply (ST is its UUID,
// not the search target), lower-case headers, and broken ones.
var ssdpSeeds = []string{
	"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\nUSN: uuid:3d3cec3a::urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\nEXT:\r\nSERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n",
	"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nDATE: Fri, 05 Oct 2018 15:48:28 GMT\r\nEXT:\r\nLOCATION: http://10.0.0.1:49152/InternetGatewayDevice.xml\r\nSERVER: Linux, UPnP/1.0, DIR-890L Ver 1.20\r\nST: uuid:81195F69-620A-380A-A9FA-908D784C0DDF\r\nUSN: uuid:81195F69-620A-380A-A9FA-908D784C0DDF\r\n\r\n",
	"HTTP/1.1 200 OK\nlocation:http://[fe80::1]:80/x.xml\nst: upnp:rootdevice\n\n",
	"HTTP/1.1 200 OK\r\nLOCATION: file:///etc/passwd\r\n\r\n",
	"NOTIFY * HTTP/1.1\r\nLOCATION: http://1.2.3.4/\r\n\r\n",
	"HTTP/1.1 200\r\nLOCATION:\r\n",
	"",
}

func TestParseSSDPReplySeeds(t *testing.T) {
	want := []bool{true, true, true, false, false, false, false}
	for i, s := range ssdpSeeds {
		r, err := ParseSSDPReply([]byte(s))
		if (err == nil) != want[i] {
			t.Errorf("seed %d: %+v %v", i, r, err)
		}
	}
	r, _ := ParseSSDPReply([]byte(ssdpSeeds[1]))
	if r.Location != "http://10.0.0.1:49152/InternetGatewayDevice.xml" || r.Server != "Linux, UPnP/1.0, DIR-890L Ver 1.20" {
		t.Errorf("D-Link reply parsed as %+v", r)
	}
}

func FuzzParseSSDPReply(f *testing.F) {
	for _, s := range ssdpSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseSSDPReply(b)
		if err != nil {
			return
		}
		u, perr := url.Parse(r.Location)
		if perr != nil || u.Scheme != "http" || u.Host == "" {
			t.Fatalf("accepted LOCATION %q", r.Location)
		}
	})
}

// replayTransport answers every HTTP request with one fixed response, so
// goupnp's SOAP handling meets hostile bytes without a network.
type replayTransport struct {
	status int
	body   []byte
}

func (r replayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: r.status, Status: http.StatusText(r.status), Body: io.NopCloser(bytes.NewReader(r.body)),
		ContentLength: int64(len(r.body)), Header: http.Header{}, Request: req}, nil
}

func replayWAN(status int, body []byte) wanConnection {
	u, _ := url.Parse("http://192.0.2.1:5000/ctl/IPConn")
	hc := http.Client{Transport: cappedBody{replayTransport{status, body}, maxSOAPResponse}}
	c := &ig.WANIPConnection1{ServiceClient: goupnp.ServiceClient{SOAPClient: &soap.SOAPClient{EndpointURL: *u, HTTPClient: hc},
		Service: &goupnp.Service{ServiceType: ig.URN_WANIPConnection_1}}}
	return c
}

var soapSeeds = []string{
	`<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetSpecificPortMappingEntryResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"><NewInternalPort>5060</NewInternalPort><NewInternalClient>192.168.1.10</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>natdoc</NewPortMappingDescription><NewLeaseDuration>3600</NewLeaseDuration></u:GetSpecificPortMappingEntryResponse></s:Body></s:Envelope>`,
	// A fault without faultstring or description (issue #4 quirk list).
	`<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>714</errorCode></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
	`<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>606</errorCode><errorDescription>Action not authorized</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
	`<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:X><NewLeaseDuration>-1</NewLeaseDuration><NewInternalPort>99999</NewInternalPort></u:X></s:Body></s:Envelope>`,
	`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>` + strings.Repeat("<a>", 200),
	"not xml",
}

// FuzzSOAPResponse drives the calls natdoc makes (read-back, table walk,
// add, status) through goupnp against arbitrary response bodies: errors
// are fine, panics and hangs are not.
func FuzzSOAPResponse(f *testing.F) {
	for _, s := range soapSeeds {
		f.Add(200, []byte(s))
		f.Add(500, []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			status = 200
		}
		wan := replayWAN(status, body)
		ctx := context.Background()
		e, err := readBack(ctx, wan, "UDP", 5060)
		if err == nil && e != nil && len(e.Description) > 200 {
			t.Fatalf("unsanitised description of %d bytes", len(e.Description))
		}
		_ = classify("AddPortMapping", wan.AddPortMappingCtx(ctx, "", 5060, "UDP", 5060, "192.168.1.10", true, Description, 3600))
		g := &Gateway{wan: wan}
		if es, _ := List(ctx, g); len(es) > maxTableEntries {
			t.Fatalf("walked %d entries", len(es))
		}
	})
}

func FuzzParseRootDevice(f *testing.F) {
	for _, name := range []string{"dlink-dir-890l.xml", "miniupnpd-2.3.1-debian-nftables.xml"} {
		b, err := os.ReadFile("testdata/devices/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<?xml version="1.0" encoding="ISO-8859-1"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device><deviceType>x</deviceType><friendlyName>Caf` + "\xe9" + `</friendlyName></device></root>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		root, err := parseRootDevice(bytes.NewReader(b))
		if err != nil {
			return
		}
		loc, _ := url.Parse("http://192.0.2.1:5000/rootDesc.xml")
		root.SetURLBase(loc)
		_ = serviceTypes(root)
		_ = wanServices(root, loc, &http.Client{})
	})
}

var pcpSeeds = [][]byte{
	// MAP success: lifetime 7200, UDP 5060 → 203.0.113.1:5060.
	append(append([]byte{2, 0x81, 0, 0, 0, 0, 0x1c, 0x20, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		make([]byte, 12)...), []byte{17, 0, 0, 0, 0x13, 0xc4, 0x13, 0xc4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 1}...),
	{2, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // ANNOUNCE success
	{0, 0x80, 0, 1, 0, 0, 0, 1}, // NAT-PMP gateway: unsupported version
	{2, 0x81, 0, 8, 0, 0, 0, 0}, // truncated NO_RESOURCES
	{2, 0x01, 0, 0},             // a request, not a response
}

func TestParsePCPSeeds(t *testing.T) {
	r, err := parsePCPResponse(pcpSeeds[0])
	if err != nil || r.Opcode != pcpOpMap || r.Lifetime != 7200 || r.External.String() != "203.0.113.1:5060" || r.InternalPort != 5060 || r.Protocol != 17 {
		t.Errorf("MAP: %+v %v", r, err)
	}
	if r, err := parsePCPResponse(pcpSeeds[2]); err != nil || r.Version != 0 || r.ResultCode != 1 {
		t.Errorf("NAT-PMP reply: %+v %v", r, err)
	}
	for _, b := range pcpSeeds[3:] {
		if _, err := parsePCPResponse(b); err == nil {
			t.Errorf("accepted %x", b)
		}
	}
}

func TestMarshalPCPMapRequest(t *testing.T) {
	req := &pcpMapRequest{Nonce: [12]byte{1, 2, 3}, Protocol: 17, InternalPort: 5060}
	b := marshalPCPRequest(pcpOpMap, 3600, netip.MustParseAddr("192.168.1.10"), req)
	if len(b) != pcpHeaderLen+pcpMapLen || b[0] != 2 || b[1] != 1 || b[7] != 0x10 || b[6] != 0x0e {
		t.Fatalf("header %x", b[:8])
	}
	// Client address as IPv4-mapped IPv6 (RFC 6887 §5).
	if !bytes.Equal(b[8:24], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 10}) {
		t.Errorf("client %x", b[8:24])
	}
	p := b[24:]
	if p[0] != 1 || p[12] != 17 || p[16] != 0x13 || p[17] != 0xc4 || !bytes.Equal(p[30:36], []byte{0xff, 0xff, 0, 0, 0, 0}) {
		t.Errorf("payload %x", p)
	}
}

func FuzzParsePCPResponse(f *testing.F) {
	for _, s := range pcpSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parsePCPResponse(b)
		if err == nil && r.Version == pcpVersion && len(b) > pcpMaxMessage {
			t.Fatal("accepted an oversized message")
		}
	})
}

func FuzzReadJournal(f *testing.F) {
	f.Add([]byte(`{"id":"a","op":"add","via":"upnp","location":"http://192.168.1.1:5000/rootDesc.xml","proto":"UDP","external_port":5060,"internal_client":"192.168.1.10","internal_port":5060}
{"id":"a","op":"done"}
{"id":"b","op":"add","via":"pcp","gateway":"192.168.1.1","nonce":"000102030405060708090a0b","proto":"UDP","internal_port":10000}
{"id":"c","op":"add","via":"nat-pmp","gateway":"192.168.1.1","proto":"TCP","internal_port":1}
{"id":"c","op":"keep"}
{"id":"e","op":"add","via":"upnp","location":"http://192.168.1.1:5000/rootDesc.xml","proto":"UDP","external_port":10000,"any_port":true,"internal_port":10000}
{"id":"e","op":"port","external_port":40000}
{"id":"d","op":"add","via":"upnp","loc`))
	f.Add([]byte(strings.Repeat("x", maxJournalLine+10) + "\n{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pending, _, err := readJournal(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, e := range pending {
			if !validEntry(e) {
				t.Fatalf("invalid pending entry %+v", e)
			}
		}
	})
}
