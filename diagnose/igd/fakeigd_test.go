package igd

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeIGD is an in-process UPnP IGD on loopback for what a real
// miniupnpd cannot show: a table that fills up (728), mappings accepted
// but not applied, leases rewritten, faults without text. It is a unit
// test tool; the lab tests run the real miniupnpd.
type fakeIGD struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	service    string // full URN of the WAN service
	externalIP string
	status     string
	table      []fakeEntry
	calls      map[string]int

	// behaviours
	limit          int                 // refuse with 728 beyond this many entries (0: no limit)
	dropPorts      map[uint16]bool     // accept but do not store
	rewriteClient  string              // store another internal client
	leaseFor       func(uint32) uint32 // rewrite granted lease
	faultNoText    bool                // faults carry only errorCode
	onlyPermanent  bool                // refuse finite leases with 725
	endOfTableCode int                 // error at end of GetGeneric (default 713)
	hook           func(action string) // called before each action
	rootXML        string              // overrides the description
	allowed        []PortRange         // permission rules: others refused with 606 (nil: all)
}

// allows applies the permission rules.
func (f *fakeIGD) allows(p uint16) bool {
	if f.allowed == nil {
		return true
	}
	for _, r := range f.allowed {
		if r.Contains(p) {
			return true
		}
	}
	return false
}

type fakeEntry struct {
	proto, client, desc string
	ext, in             uint16
	lease               uint32
}

func newFakeIGD(t *testing.T, service string) *fakeIGD {
	f := &fakeIGD{t: t, service: service, externalIP: "203.0.113.7", status: "Connected", calls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/rootDesc.xml", f.serveRoot)
	mux.HandleFunc("/ctl/IPConn", f.serveSOAP)
	mux.HandleFunc("/soap.cgi", f.serveSOAP) // D-Link: /soap.cgi?service=WANIPConn1
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIGD) URL() string { return f.srv.URL + "/rootDesc.xml" }

func (f *fakeIGD) serveRoot(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rootXML != "" {
		io.WriteString(w, f.rootXML)
		return
	}
	fmt.Fprintf(w, fakeRootTemplate, f.service)
}

const fakeRootTemplate = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<friendlyName>Fake Router</friendlyName><manufacturer>natdoc tests</manufacturer><modelName>fake</modelName><modelNumber>1</modelNumber>
<UDN>uuid:00000000-0000-0000-0000-000000000001</UDN>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><serviceId>urn:upnp-org:serviceId:L3Forwarding1</serviceId><controlURL>/ctl/L3F</controlURL><eventSubURL>/evt/L3F</eventSubURL><SCPDURL>/L3F.xml</SCPDURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><friendlyName>WANDevice</friendlyName><UDN>uuid:00000000-0000-0000-0000-000000000002</UDN>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><friendlyName>WANConnectionDevice</friendlyName><UDN>uuid:00000000-0000-0000-0000-000000000003</UDN>
<serviceList><service><serviceType>%s</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL></service></serviceList>
</device></deviceList></device></deviceList></device></root>`

var argRe = regexp.MustCompile(`<(New[A-Za-z]+)>([^<]*)</New[A-Za-z]+>`)

func (f *fakeIGD) serveSOAP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	action := r.Header.Get("SOAPACTION")
	action = strings.Trim(action[strings.LastIndex(action, "#")+1:], `"`)
	args := map[string]string{}
	for _, m := range argRe.FindAllStringSubmatch(string(body), -1) {
		args[m[1]] = m[2]
	}
	f.mu.Lock()
	f.calls[action]++
	hook := f.hook
	f.mu.Unlock()
	if hook != nil {
		hook(action)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out, code := f.act(action, args)
	if code != 0 {
		f.fault(w, code)
		return
	}
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	var b strings.Builder
	for _, kv := range out {
		fmt.Fprintf(&b, "<%s>%s</%s>", kv[0], kv[1], kv[0])
	}
	fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%sResponse xmlns:u="%s">%s</u:%sResponse></s:Body></s:Envelope>`,
		action, f.service, b.String(), action)
}

func (f *fakeIGD) fault(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusInternalServerError)
	desc := ""
	faultstring := "<faultstring>UPnPError</faultstring>"
	if f.faultNoText {
		faultstring = ""
	} else {
		desc = "<errorDescription>" + UPnPErrorText(code) + "</errorDescription>"
	}
	fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode>%s<detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode>%s</UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
		faultstring, code, desc)
}

type kv [2]string

func (f *fakeIGD) act(action string, a map[string]string) ([]kv, int) {
	port := func(k string) uint16 { n, _ := strconv.Atoi(a[k]); return uint16(n) }
	find := func(proto string, ext uint16) int {
		for i, e := range f.table {
			if e.proto == proto && e.ext == ext {
				return i
			}
		}
		return -1
	}
	switch action {
	case "GetStatusInfo":
		return []kv{{"NewConnectionStatus", f.status}, {"NewLastConnectionError", "ERROR_NONE"}, {"NewUptime", "100"}}, 0
	case "GetExternalIPAddress":
		return []kv{{"NewExternalIPAddress", f.externalIP}}, 0
	case "AddPortMapping":
		proto, ext := a["NewProtocol"], port("NewExternalPort")
		lease64, _ := strconv.ParseUint(a["NewLeaseDuration"], 10, 32)
		lease := uint32(lease64)
		if proto != "UDP" && proto != "TCP" {
			return nil, 402 // the upper-case quirk: lower case refused
		}
		if f.onlyPermanent && lease != 0 {
			return nil, 725
		}
		if !f.allows(ext) {
			return nil, 606
		}
		i := find(proto, ext)
		if i >= 0 && f.table[i].client != a["NewInternalClient"] {
			return nil, 718
		}
		if i < 0 && f.limit > 0 && len(f.table) >= f.limit {
			return nil, 728
		}
		if f.dropPorts[ext] {
			return nil, 0
		}
		if f.leaseFor != nil {
			lease = f.leaseFor(lease)
		}
		e := fakeEntry{proto: proto, client: a["NewInternalClient"], desc: a["NewPortMappingDescription"], ext: ext, in: port("NewInternalPort"), lease: lease}
		if f.rewriteClient != "" {
			e.client = f.rewriteClient
		}
		if i >= 0 {
			f.table[i] = e
		} else {
			f.table = append(f.table, e)
		}
		return nil, 0
	case "AddAnyPortMapping":
		return f.addAny(a)
	case "DeletePortMapping":
		i := find(a["NewProtocol"], port("NewExternalPort"))
		if i < 0 {
			return nil, 714
		}
		f.table = append(f.table[:i], f.table[i+1:]...)
		return nil, 0
	case "GetSpecificPortMappingEntry":
		i := find(a["NewProtocol"], port("NewExternalPort"))
		if i < 0 {
			return nil, 714
		}
		e := f.table[i]
		return []kv{{"NewInternalPort", fmt.Sprint(e.in)}, {"NewInternalClient", e.client}, {"NewEnabled", "1"},
			{"NewPortMappingDescription", e.desc}, {"NewLeaseDuration", fmt.Sprint(e.lease)}}, 0
	case "GetGenericPortMappingEntry":
		i, _ := strconv.Atoi(a["NewPortMappingIndex"])
		if i >= len(f.table) {
			if f.endOfTableCode != 0 {
				return nil, f.endOfTableCode
			}
			return nil, 713
		}
		e := f.table[i]
		return []kv{{"NewRemoteHost", ""}, {"NewExternalPort", fmt.Sprint(e.ext)}, {"NewProtocol", e.proto}, {"NewInternalPort", fmt.Sprint(e.in)},
			{"NewInternalClient", e.client}, {"NewEnabled", "1"}, {"NewPortMappingDescription", e.desc}, {"NewLeaseDuration", fmt.Sprint(e.lease)}}, 0
	}
	return nil, 401
}

// addAny places the mapping on the allowed port nearest the one asked
// that no other client holds, as miniupnpd does.
func (f *fakeIGD) addAny(a map[string]string) ([]kv, int) {
	want, _ := strconv.Atoi(a["NewExternalPort"])
	for d := 0; d < 65536; d++ {
		for _, p := range []int{want - d, want + d} {
			if p < 1 || p > 65535 || !f.allows(uint16(p)) {
				continue
			}
			args := maps.Clone(a)
			args["NewExternalPort"] = fmt.Sprint(p)
			if _, code := f.act("AddPortMapping", args); code == 0 {
				return []kv{{"NewReservedPort", fmt.Sprint(p)}}, 0
			}
		}
	}
	return nil, 728
}

func (f *fakeIGD) snapshot() []fakeEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeEntry(nil), f.table...)
}

func (f *fakeIGD) add(e fakeEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.table = append(f.table, e)
}

func (f *fakeIGD) count(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[action]
}
