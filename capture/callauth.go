package capture

import (
	"fmt"
	"time"

	"github.com/natdoc/natdoc/report"
)

// A server that authenticates callers answers an INVITE without
// credentials with a challenge (401, 407, RFC 3261 §22), and the caller
// sends it again with them. A call that ends on that challenge had a
// caller without an account for the server; one refused (403, or
// challenged again) after its INVITE carried credentials had them wrong,
// or an account that may not make that call. Both fail before anyone
// rings, and the verdict alone ("rejected 407") does not say whose
// settings are at fault.

// IDCallAuthFailed: the call failed on the server's authentication.
const IDCallAuthFailed report.FindingID = "call-auth-failed"

// challengeAnswered: a caller with credentials answers a challenge at once
// (milliseconds); one that sent none this long after it had none to send.
const challengeAnswered = 2 * time.Second

const (
	remedyCallCredentials = "Check the caller's account on that server: its user name and authentication name, password and realm, " +
		"and whether the account may call that destination (international, premium or emergency numbers are often barred); a 403 " +
		"after the credentials is most often a wrong password or a barred destination, and repeated failures may get the caller " +
		"banned (fail2ban)."
	remedyCallNoCredentials = "Give the caller the credentials of its account on that server (a phone's or trunk's user name and password), " +
		"or have the server take the caller by its IP address (a trunk without registration: Asterisk's identify, FreeSWITCH's ACL, " +
		"Kamailio's permissions) so it stops challenging it."
)

// callAuthFinding tells a call refused by the server's authentication:
// its credentials refused, or a challenge it never answered.
func callAuthFinding(cb *callBuild, s SetupFacts, na *report.NotAnswered, now time.Time) (report.Finding, bool) {
	t := &cb.call.setup
	if na == nil || na.Reason != report.NotAnsweredRejected || t.sent == 0 {
		return report.Finding{}, false
	}
	challenge := na.Status == 401 || na.Status == 407
	status := statusText(na.Status, na.Phrase)
	server := t.dst.Addr().String()
	f := report.Finding{ID: IDCallAuthFailed, Severity: report.SeverityWarning, Subject: cb.call.CallID,
		Evidence: []report.Evidence{t.sentEvidence()}}
	switch {
	case t.authorized && (challenge || na.Status == 403):
		f.Title = fmt.Sprintf("The server %s refused the caller's credentials (%s to its INVITE with credentials)", server, status)
		if na.Status == 403 {
			f.Title = fmt.Sprintf("The server %s refused the call after the caller sent its credentials (%s): they are wrong, or the account may not call %s",
				server, status, cb.call.dialled())
		}
		f.Evidence[0].Text += ", with credentials"
		if t.lastChallenge > 0 {
			f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("the server's %s before it", report.Plural(t.challenges, "challenge")), Frames: []uint64{t.lastChallenge}})
		}
		f.Remedy = remedyCallCredentials
	case challenge && !t.authorized && now.Sub(t.challengeAt) >= challengeAnswered:
		// Long enough for the caller to have answered it, had it credentials.
		f.Title = fmt.Sprintf("The server %s asked the caller for credentials (%s) and the caller never sent any: it has no account for that server set up", server, status)
		f.Evidence = append(f.Evidence, report.Evidence{Text: "the challenge, not answered by an INVITE with credentials", Frames: []uint64{t.challengeFrame}})
		f.Remedy = remedyCallNoCredentials
	default:
		return report.Finding{}, false
	}
	if sign := scanSign(cb, s); sign != "" {
		f.Title += "; it is a SIP scanner's, by all signs (" + sign + "): refused as it should be"
		f.Severity, f.Remedy = report.SeverityInfo, remedyScanner
	}
	return f, true
}
