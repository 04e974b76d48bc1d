package capture

import (
	"net"
	"strconv"
	"strings"
)

// Addresses and URIs in plain form, read the way sipgo reads them
// (sipfast.go): where sipgo's reading of a form has a quirk, the form is
// left to sipgo.

// plainURI is a sip: or sips: URI in plain form.
type plainURI struct {
	user, host string
	port       int    // as written; 0 when none is
	params     string // URI parameters without the leading ';'
}

// parsePlainURI reads scheme:[user@]host[:port][;params] (RFC 3261
// §19.1.1) with an unreserved user part, a host name or IPv4 address,
// digits for the port and parameters name[=value]; ok is false for
// anything else.
func parsePlainURI(s string) (plainURI, bool) {
	var u plainURI
	scheme, rest, ok := cutByte(s, ':')
	if !ok || !(strings.EqualFold(scheme, "sip") || strings.EqualFold(scheme, "sips")) || strings.HasPrefix(rest, "//") {
		return u, false
	}
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		u.user, rest = rest[:at], rest[at+1:]
		if !plainChars(u.user, userClass) {
			return u, false
		}
	}
	hostPort, params, hasParams := cutByte(rest, ';')
	host, port, ok := plainHostPort(hostPort, false)
	if !ok || (hasParams && !plainURIParams(params)) {
		return u, false
	}
	u.host, u.port, u.params = host, port, params
	return u, true
}

// plainHostPort reads host[:port] with a host name, an IPv4 address or an
// IPv6 address in brackets, and a port of one to five digits. For a Via
// (via) the host comes without its brackets, as sipgo gives it, and the
// port must be one sipgo writes back as it came (no leading zero, not 0).
func plainHostPort(s string, via bool) (host string, port int, ok bool) {
	var portText string
	var hasPort bool
	if strings.HasPrefix(s, "[") {
		host, portText, hasPort, ok = plainIPv6(s, via)
	} else {
		host, portText, hasPort = cutByte(s, ':')
		ok = plainChars(host, hostClass)
	}
	switch {
	case !ok:
		return "", 0, false
	case !hasPort:
		return host, 0, true
	case len(portText) > 5 || !allDigits(portText) || (via && portText[0] == '0'):
		return "", 0, false
	}
	port, _ = strconv.Atoi(portText)
	return host, port, true
}

// plainIPv6 reads "[address]" and what follows it: nothing or ":port".
// sipgo keeps the brackets on a URI's host, looking for the ']' in the
// first 42 characters, and drops them from a Via's, writing them back only
// around what net.ParseIP takes for IPv6.
func plainIPv6(s string, via bool) (host, port string, hasPort, ok bool) {
	end := strings.IndexByte(s, ']')
	if end < 2 || (!via && end >= 42) || !plainChars(s[1:end], ipv6Class) {
		return "", "", false, false
	}
	host = s[:end+1]
	if via {
		host = s[1:end]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return "", "", false, false
		}
	}
	rest := s[end+1:]
	if rest == "" {
		return host, "", false, true
	}
	if rest[0] != ':' {
		return "", "", false, false
	}
	return host, rest[1:], true, true
}

// plainURIParams checks name[=value] parameters separated by ';', none
// empty, without the characters that change how sipgo splits them.
func plainURIParams(s string) bool {
	for {
		p, rest, more := cutByte(s, ';')
		if _, ok := plainParam(p); !ok {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// plainParam checks one name[=value] parameter and returns its name.
func plainParam(p string) (name string, ok bool) {
	name, value, hasValue := cutByte(p, '=')
	return name, plainChars(name, paramClass) && (!hasValue || plainChars(value, paramClass))
}

// plainViaParams checks a Via's parameters (present: the value has a
// ';'): name[=value], none empty, no name twice, so sipgo writes them back
// as they came.
func plainViaParams(s string, present bool) bool {
	if !present {
		return true
	}
	var names [16]string
	n := 0
	for {
		p, rest, more := cutByte(s, ';')
		name, ok := plainParam(p)
		if !ok {
			return false
		}
		for _, seen := range names[:n] {
			if seen == name {
				return false
			}
		}
		if n == len(names) {
			return false
		}
		names[n] = name
		n++
		if !more {
			return true
		}
		s = rest
	}
}

// paramValue returns the value of the parameter name in ';'-separated
// params as sipgo's HeaderParams.Get does: a name given twice keeps its
// last value.
func paramValue(params, name string) (value string, ok bool) {
	for params != "" {
		p := params
		if i := strings.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			params = ""
		}
		if n, v, _ := cutByte(p, '='); n == name {
			value, ok = v, true
		}
	}
	return value, ok
}

// plainAddr is a From, To or Contact value in plain form (RFC 3261
// §20.10): an optional display name, the URI, header parameters.
type plainAddr struct {
	display string
	uri     plainURI
	params  string // header parameters without the leading ';'
}

// param returns the header parameter name ("" when absent).
func (a plainAddr) param(name string) string {
	v, _ := paramValue(a.params, name)
	return v
}

// parsePlainAddr reads `"Name" <uri>;params`, `Name <uri>;params`,
// `<uri>;params` or `uri;params`. A Contact must hold one value (no
// comma).
func parsePlainAddr(v string, contact bool) (plainAddr, bool) {
	var a plainAddr
	if v == "" || (contact && strings.IndexByte(v, ',') >= 0) {
		return a, false
	}
	if scheme, _, _ := cutByte(v, ':'); strings.EqualFold(scheme, "sip") || strings.EqualFold(scheme, "sips") {
		// Without <>, every parameter after the URI is a header
		// parameter (RFC 3261 §20.10).
		uriText, params, hasParams := cutByte(v, ';')
		u, ok := parsePlainURI(uriText)
		if !ok || (hasParams && !plainHeaderParams(params)) {
			return a, false
		}
		a.uri, a.params = u, params
		return a, true
	}
	var bracket string
	if v[0] == '"' {
		end := strings.IndexByte(v[1:], '"')
		if end < 0 || strings.IndexByte(v[1:1+end], '\\') >= 0 {
			return a, false
		}
		a.display = v[1 : 1+end]
		after := trimSP(v[2+end:])
		if !strings.HasPrefix(after, "<") {
			return a, false
		}
		bracket = after[1:]
	} else {
		lt := strings.IndexByte(v, '<')
		if lt < 0 || strings.IndexByte(v[:lt], '"') >= 0 || strings.IndexByte(v[:lt], ';') >= 0 {
			return a, false
		}
		a.display, bracket = trimSP(v[:lt]), v[lt+1:]
	}
	return a.readBracketed(bracket)
}

// readBracketed reads "uri>" and the header parameters after it.
func (a plainAddr) readBracketed(s string) (plainAddr, bool) {
	gt := strings.IndexByte(s, '>')
	if gt < 0 {
		return a, false
	}
	u, ok := parsePlainURI(s[:gt])
	if !ok {
		return a, false
	}
	a.uri = u
	rest := s[gt+1:]
	if rest == "" {
		return a, true
	}
	if rest[0] != ';' || !plainHeaderParams(rest[1:]) {
		return a, false
	}
	a.params = rest[1:]
	return a, true
}

// plainHeaderParams checks header parameters after an address: sipgo
// splits them at every ';' and each at its '='; a parameter with two '='
// or starting with one is left to sipgo.
func plainHeaderParams(s string) bool {
	for {
		p, rest, more := cutByte(s, ';')
		if strings.Count(p, "=") > 1 || strings.HasPrefix(p, "=") {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// binding reads a Contact's address, expiry and NAT marks, as bindingOf
// does from sipgo's Contact.
func (a plainAddr) binding() contactBinding {
	expires, hasExpires := paramValue(a.params, "expires")
	_, received := paramValue(a.params, "received")
	_, alias := paramValue(a.uri.params, "alias")
	return newBinding(a.uri.host, a.uri.port, expires, hasExpires, received || alias)
}

// Characters of the plain form, beyond letters and digits.
const (
	userChars  = "-_.!~*'()&=+$/%#"
	hostChars  = "-_."
	ipv6Chars  = ":.abcdefABCDEF"
	paramChars = "-_.!~*'()&+$/%#:|`^{}"
)

// charClass is a set of bytes, looked up in one step: the checks below
// run over every URI, parameter and host of every message.
type charClass [256]bool

func newCharClass(extra string) *charClass {
	var c charClass
	for b := 'a'; b <= 'z'; b++ {
		c[b] = true
	}
	for b := 'A'; b <= 'Z'; b++ {
		c[b] = true
	}
	for b := '0'; b <= '9'; b++ {
		c[b] = true
	}
	for i := 0; i < len(extra); i++ {
		c[extra[i]] = true
	}
	return &c
}

var (
	userClass  = newCharClass(userChars)
	hostClass  = newCharClass(hostChars)
	ipv6Class  = newCharClass(ipv6Chars)
	paramClass = newCharClass(paramChars)
)

// plainChars says whether s is non-empty and made of bytes of class.
func plainChars(s string, class *charClass) bool {
	for i := 0; i < len(s); i++ {
		if !class[s[i]] {
			return false
		}
	}
	return s != ""
}
