package capture

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/natdoc/natdoc/report"
)

// Why a call failed or ended, as the network said it: the Reason header
// (RFC 3326: a Q.850 cause from the telephone network, a SIP status, or
// a vendor's code) that carriers and PBXs put on final responses, CANCEL
// and BYE, and the Warning header (RFC 3261 §20.43) a server adds to a
// refusal. An engineer reads these first when a call set-up fails.

// Bounds on what a message's causes keep: hostile input can write
// thousands of long headers.
const (
	maxCauses     = 4
	maxCauseChars = 160
)

// setCauses keeps a message's Reason and Warning values, bounded.
func (h *sipHeaders) setCauses(reasons, warnings []string) {
	if len(reasons) == 0 && len(warnings) == 0 {
		return
	}
	e := *h.extras()
	e.Reasons, e.Warnings = boundedValues(reasons), boundedValues(warnings)
	h.setExtras(e)
}

func boundedValues(values []string) []string {
	if len(values) == 0 {
		return nil
	}
	out := slices.Clone(values[:min(len(values), maxCauses)])
	for i, v := range out {
		out[i] = v[:min(len(v), maxCauseChars)]
	}
	return out
}

// headerValues are the values of every header called name.
func headerValues(msg sip.Message, name string) []string {
	var values []string
	for _, h := range msg.GetHeaders(name) {
		values = append(values, strings.TrimSpace(h.Value()))
	}
	return values
}

// causeText says what a message's Reason and Warning headers give as the
// cause, "" when they say none: `Q.850 cause 34 (no circuit/channel
// available)`, `SIP cause 200 "Call completed elsewhere"`, `Warning 399
// sip1 "No other DNS entries to try"`.
func causeText(e *sipExtras) string {
	var parts []string
	for _, r := range e.Reasons {
		if t := reasonText(r); t != "" {
			parts = append(parts, t)
		}
	}
	for _, w := range e.Warnings {
		parts = append(parts, "Warning "+strings.Join(strings.Fields(w), " "))
	}
	return strings.Join(parts, "; ")
}

// reasonText reads one Reason value: protocol, then ;cause= and ;text=.
func reasonText(v string) string {
	protocol, params, _ := strings.Cut(v, ";")
	protocol = strings.TrimSpace(protocol)
	if strings.EqualFold(protocol, "q.850") {
		protocol = "Q.850"
	}
	cause, text := paramOf(params, "cause"), strings.Trim(paramOf(params, "text"), `"`)
	switch {
	case cause == "":
		return "Reason " + v
	case cause == "0" && text == "":
		return "" // Q.850 cause 0 is no cause: some PBXs write it on every CANCEL
	}
	out := protocol + " cause " + cause
	if text != "" {
		return out + " \"" + text + "\""
	}
	if n, err := strconv.Atoi(cause); err == nil && protocol == "Q.850" && q850Causes[n] != "" {
		return out + " (" + q850Causes[n] + ")"
	}
	return out
}

// endCause is a BYE's Reason when it gives a cause other than normal
// clearing: a Q.850 cause but 16 and 31 (normal) and 0 (none), or a SIP
// status but 200. Vendors' own codes (X.int, RELEASE_CAUSE) are not read:
// their meaning is the vendor's.
func endCause(e *sipExtras) (string, bool) {
	for _, r := range e.Reasons {
		protocol, params, _ := strings.Cut(r, ";")
		normal, read := normalEnds[strings.ToUpper(strings.TrimSpace(protocol))]
		if cause := paramOf(params, "cause"); read && cause != "" && !slices.Contains(normal, cause) {
			return reasonText(r), true
		}
	}
	return "", false
}

// normalEnds are the causes of a call ended as callers end calls, by
// the Reason protocols whose causes natdoc reads.
var normalEnds = map[string][]string{"Q.850": {"0", "16", "31"}, "SIP": {"200"}}

// paramOf is the value of a Reason parameter, "" when absent.
func paramOf(params, name string) string {
	for _, p := range strings.Split(params, ";") {
		if k, v, _ := strings.Cut(p, "="); strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// endCauseFinding names the party that ended the call with a cause other
// than normal clearing, and the cause: a carrier's or PBX's own reason (a
// timer, a network failure, a media timeout) is what an engineer reads
// first about a call that dropped.
func endCauseFinding(cb *callBuild, subject string) (report.Finding, bool) {
	c := cb.call
	if c.endCause == "" {
		return report.Finding{}, false
	}
	title := fmt.Sprintf("The %s ended the call with a cause other than normal clearing: %s", partyLabel(cb.parties()[c.endCauseFrom]), c.endCause)
	if lower := strings.ToLower(c.endCause); strings.Contains(lower, "timeout") && (strings.Contains(lower, "rtp") || strings.Contains(lower, "media")) {
		title += " (it stopped receiving RTP)"
	}
	return report.Finding{ID: IDCallEndedWithCause, Severity: report.SeverityInfo, Subject: subject, Title: title,
		Evidence: frameEvidence("BYE Reason header", c.endCauseFrame)}, true
}

// answeredElsewhere says whether a CANCEL's Reason is a forking proxy's
// "another branch answered" (RFC 3326 §2: SIP cause 200, "Call completed
// elsewhere"): the call was taken, not abandoned.
func answeredElsewhere(e *sipExtras) bool {
	for _, r := range e.Reasons {
		protocol, params, _ := strings.Cut(r, ";")
		if strings.EqualFold(strings.TrimSpace(protocol), "SIP") && paramOf(params, "cause") == "200" {
			return true
		}
	}
	return false
}

// q850Causes name the ITU-T Q.850 cause values a SIP call meets most.
var q850Causes = map[int]string{
	1: "unallocated number", 2: "no route to transit network", 3: "no route to destination",
	16: "normal call clearing", 17: "user busy", 18: "no user responding", 19: "no answer from user",
	20: "subscriber absent", 21: "call rejected", 22: "number changed", 27: "destination out of order",
	28: "invalid number format", 29: "facility rejected", 31: "normal, unspecified",
	34: "no circuit/channel available", 38: "network out of order", 41: "temporary failure",
	42: "switching equipment congestion", 44: "requested circuit/channel not available",
	47: "resource unavailable", 55: "incoming calls barred", 57: "bearer capability not authorized",
	58: "bearer capability not available", 63: "service or option not available",
	65: "bearer capability not implemented", 79: "service or option not implemented",
	88: "incompatible destination", 102: "recovery on timer expiry", 111: "protocol error",
	127: "interworking, unspecified",
}
