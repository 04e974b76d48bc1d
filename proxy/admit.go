package proxy

import (
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/natdoc/natdoc/internal/sipcall"
)

// knownMethods are the methods natdoc recognises (RFC 3261 and its common
// extensions). A request with another method gets 501, one with a method
// natdoc knows but does not serve 405 (RFC 3261 §8.2.1).
var knownMethods = map[sip.RequestMethod]bool{
	sip.INVITE: true, sip.ACK: true, sip.CANCEL: true, sip.BYE: true, sip.REGISTER: true, sip.OPTIONS: true,
	sip.SUBSCRIBE: true, sip.NOTIFY: true, sip.REFER: true, sip.INFO: true, sip.MESSAGE: true, sip.PRACK: true,
	sip.UPDATE: true, sip.PUBLISH: true,
}

// singleValued are the header fields a request may carry once: two
// Call-IDs or Content-Lengths leave no way to know which one is meant
// (RFC 4475 §3.1.2.x multi01, mcl01).
var singleValued = []string{"call-id", "cseq", "from", "to", "max-forwards", "content-length"}

// rejection is why a request is refused before any handler sees it.
type rejection struct {
	code   int
	reason string
}

// admitted wraps a handler: requests that break RFC 3261's rules for
// every request are answered (or, for ACK, dropped) and counted as
// invalid, and never reach h.
func (s *Server) admitted(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		r, ok := checkRequest(req)
		if ok {
			s.nat64.note(req, sourceOf(req), s.publicIP())
			h(req, tx)
			return
		}
		s.Counters.Invalid.Add(1)
		if req.IsAck() {
			return // an ACK gets no response (RFC 3261 §17.2.1)
		}
		res := sip.NewResponseFromRequest(req, r.code, r.reason, nil)
		res.SipVersion = "SIP/2.0" // also to a request of another version
		if r.code == 420 {
			res.AppendHeader(sip.NewHeader("Unsupported", unsupported(req)))
		}
		s.send(tx, req, res)
	}
}

// checkRequest applies the rules, most fundamental first, and says how
// to refuse a request that breaks one.
func checkRequest(req *sip.Request) (rejection, bool) {
	switch {
	case req.SipVersion != "SIP/2.0":
		return rejection{505, "Version Not Supported"}, false
	case req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil || req.Via() == nil:
		return rejection{400, "Bad Request: missing From, To, Call-ID, CSeq or Via"}, false
	case repeatedHeader(req) != "":
		return rejection{400, "Bad Request: more than one " + repeatedHeader(req)}, false
	case !knownMethods[req.Method]:
		return rejection{501, "Not Implemented"}, false
	case req.CSeq().MethodName != req.Method:
		return rejection{400, "Bad Request: CSeq method differs from the request's"}, false
	case !sipScheme(req.Recipient.Scheme):
		return rejection{416, "Unsupported URI Scheme"}, false
	case len(req.Recipient.Headers) > 0:
		// Headers in a Request-URI are for building a request, not for
		// sending one (RFC 3261 §19.1.5; RFC 4475 escruri).
		return rejection{400, "Bad Request: headers in the Request-URI"}, false
	case unsupported(req) != "":
		// natdoc supports no option tags: as a proxy it must refuse what
		// Proxy-Require asks (§16.3 step 5), and as the UAS of OPTIONS and
		// REGISTER what Require asks (§8.2.2.3).
		return rejection{420, "Bad Extension"}, false
	}
	return rejection{}, true
}

// repeatedHeader names a single-valued header field the request carries
// more than once, or "".
func repeatedHeader(req *sip.Request) string {
	for _, name := range singleValued {
		if len(req.GetHeaders(name)) > 1 {
			return name
		}
	}
	return ""
}

func sipScheme(scheme string) bool {
	switch strings.ToLower(scheme) {
	case "sip", "sips", "tel":
		return true
	}
	return false
}

// unsupported lists the option tags the request requires of natdoc:
// Proxy-Require always, Require where natdoc answers itself (REGISTER and
// out-of-dialog OPTIONS; Require on a proxied request is for its UAS).
func unsupported(req *sip.Request) string {
	var tags []string
	headers := req.GetHeaders("Proxy-Require")
	if req.Method == sip.REGISTER || (req.Method == sip.OPTIONS && !sipcall.HasToTag(req)) {
		headers = append(headers, req.GetHeaders("Require")...)
	}
	for _, h := range headers {
		for _, t := range strings.Split(h.Value(), ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	return strings.Join(tags, ", ")
}
