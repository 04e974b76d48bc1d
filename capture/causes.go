package capture

import (
	"slices"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
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
	var cause, text string
	for _, p := range strings.Split(params, ";") {
		k, val, _ := strings.Cut(p, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "cause":
			cause = strings.TrimSpace(val)
		case "text":
			text = strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
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
	if n, err := strconv.Atoi(cause); err == nil && strings.EqualFold(protocol, "Q.850") && q850Causes[n] != "" {
		return out + " (" + q850Causes[n] + ")"
	}
	return out
}

// answeredElsewhere says whether a CANCEL's Reason is a forking proxy's
// "another branch answered" (RFC 3326 §2: SIP cause 200, "Call completed
// elsewhere"): the call was taken, not abandoned.
func answeredElsewhere(e *sipExtras) bool {
	for _, r := range e.Reasons {
		protocol, params, _ := strings.Cut(r, ";")
		if !strings.EqualFold(strings.TrimSpace(protocol), "SIP") {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			if k, v, _ := strings.Cut(p, "="); strings.EqualFold(strings.TrimSpace(k), "cause") && strings.TrimSpace(v) == "200" {
				return true
			}
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
