package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/natdoc/natdoc/report"
)

func TestUpnpUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"upnp", "map"},
		{"upnp", "map", "--rtp", "10019-10000"},
		{"upnp", "map", "--rtp", "1-5000"},
		{"upnp", "map", "--sip", "5060", "--proto", "sctp"},
		{"upnp", "map", "--sip", "5060", "--verify"},
		{"upnp", "limits", "--max", "0"},
		{"upnp", "limits", "--via", "carrier-pigeon"},
		{"upnp", "discover", "--gateway", "not-an-ip"},
	} {
		if code, _, errOut := run(t, args...); code != exitUsage {
			t.Errorf("natdoc %v: exit %d, want %d (stderr %q)", args, code, exitUsage, errOut)
		}
	}
}

// miniIGD is the smallest IGD the command tests need: one WANIPConnection:1
// holding a table in memory. The protocol cases live in diagnose/igd.
func miniIGD(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	table := map[string]string{} // "UDP/5060" → internal client
	arg := func(body, name string) string {
		m := regexp.MustCompile("<" + name + ">([^<]*)</" + name + ">").FindStringSubmatch(body)
		if m == nil {
			return ""
		}
		return m[1]
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/rootDesc.xml" {
			io.WriteString(w, `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><friendlyName>cmd test router</friendlyName><deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><controlURL>/ctl</controlURL><eventSubURL>/evt</eventSubURL><SCPDURL>/scpd.xml</SCPDURL></service></serviceList></device></deviceList></device></deviceList></device></root>`)
			return
		}
		b, _ := io.ReadAll(r.Body)
		body := string(b)
		action := r.Header.Get("SOAPACTION")
		action = strings.Trim(action[strings.LastIndex(action, "#")+1:], `"`)
		key := arg(body, "NewProtocol") + "/" + arg(body, "NewExternalPort")
		mu.Lock()
		defer mu.Unlock()
		out := ""
		switch action {
		case "GetStatusInfo":
			out = "<NewConnectionStatus>Connected</NewConnectionStatus><NewLastConnectionError>ERROR_NONE</NewLastConnectionError><NewUptime>1</NewUptime>"
		case "GetExternalIPAddress":
			out = "<NewExternalIPAddress>203.0.113.7</NewExternalIPAddress>"
		case "AddPortMapping":
			table[key] = arg(body, "NewInternalClient")
		case "DeletePortMapping":
			delete(table, key)
		case "GetSpecificPortMappingEntry":
			c, ok := table[key]
			if !ok {
				w.WriteHeader(500)
				io.WriteString(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><detail><UPnPError><errorCode>714</errorCode></UPnPError></detail></s:Fault></s:Body></s:Envelope>`)
				return
			}
			out = fmt.Sprintf("<NewInternalPort>%s</NewInternalPort><NewInternalClient>%s</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>natdoc</NewPortMappingDescription><NewLeaseDuration>3600</NewLeaseDuration>", strings.TrimPrefix(key, "UDP/"), c)
		case "GetGenericPortMappingEntry":
			w.WriteHeader(500)
			io.WriteString(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><detail><UPnPError><errorCode>713</errorCode></UPnPError></detail></s:Fault></s:Body></s:Envelope>`)
			return
		}
		fmt.Fprintf(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:%sResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">%s</u:%sResponse></s:Body></s:Envelope>`, action, out, action)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestUpnpMapUnmapThroughCommand(t *testing.T) {
	srv := miniIGD(t)
	journal := filepath.Join(t.TempDir(), "j.jsonl")
	url := srv.URL + "/rootDesc.xml"
	code, out, errOut := run(t, "upnp", "map", "--url", url, "--no-pmp", "--journal", journal, "--sip", "5060", "--rtp", "10000-10001", "--json")
	if code != exitOK {
		t.Fatalf("map: exit %d: %s", code, errOut)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Command != "upnp map" || rep.IGD.Via != "upnp-igd1" || len(rep.IGD.Mappings) != 3 || rep.IGD.Mappings[0].Applied != report.TriYes {
		t.Fatalf("report %+v", rep.IGD)
	}
	code, out, _ = run(t, "upnp", "unmap", "--journal", journal, "--no-color")
	if code != exitOK || !strings.Contains(out, "Removed 3 mapping(s)") {
		t.Errorf("unmap: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "upnp", "cleanup", "--journal", journal, "--no-color")
	if code != exitOK || !strings.Contains(out, "nothing to remove") {
		t.Errorf("cleanup: exit %d\n%s", code, out)
	}
}

func TestUpnpNoIGDExit3(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	journal := filepath.Join(t.TempDir(), "j.jsonl")
	if code, _, errOut := run(t, "upnp", "list", "--url", srv.URL+"/rootDesc.xml", "--no-pmp", "--journal", journal); code != exitCannotRun {
		t.Errorf("list without IGD: exit %d (%s)", code, errOut)
	}
	code, out, _ := run(t, "upnp", "discover", "--url", srv.URL+"/rootDesc.xml", "--no-pmp", "--journal", journal, "--no-color")
	if code != exitProblems || !strings.Contains(out, "upnp-not-found") {
		t.Errorf("discover without IGD: exit %d\n%s", code, out)
	}
}

func TestUpnpProgressBar(t *testing.T) {
	var b strings.Builder
	newProgressBar(&b, "mapping", 0).update(3, 10) // not a terminal: silent
	if b.Len() != 0 {
		t.Errorf("progress on a pipe: %q", b.String())
	}
	p := &progressBar{w: &b, tty: true, label: "mapping"}
	p.update(30, 30)
	p.done()
	if !strings.Contains(b.String(), "mapping [") || !strings.Contains(b.String(), "30/30") || !strings.HasSuffix(b.String(), "\r\033[K") {
		t.Errorf("bar %q", b.String())
	}
}
