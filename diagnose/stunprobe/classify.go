package stunprobe

import (
	"net/netip"
	"time"

	"github.com/natdoc/natdoc/report"
)

// classifyMapping applies RFC 5780 §4.3 to the three mapped addresses.
// local is the socket's own address: a mapping equal to it means no NAT.
func classifyMapping(local, t1, t2, t3 netip.AddrPort) (report.Behaviour, string) {
	switch {
	case !t1.IsValid():
		return report.BehaviourUnknown, "the server did not answer test I"
	case t1 == local:
		return report.BehaviourNoNAT, ""
	case !t2.IsValid():
		return report.BehaviourUnknown, "the alternate address did not answer test II"
	case t2 == t1:
		return report.BehaviourEndpointIndependent, ""
	case !t3.IsValid():
		return report.BehaviourUnknown, "the alternate address and port did not answer test III"
	case t3 == t2:
		return report.BehaviourAddressDependent, ""
	default:
		return report.BehaviourAddressAndPortDependent, ""
	}
}

// classifyFiltering applies RFC 5780 §4.4. A silence counts only when the
// control request after it was answered: a lost path is not a filter.
func classifyFiltering(changeBoth, changePort Outcome, controlAfter bool) (report.Behaviour, string) {
	switch {
	case changeBoth == OutcomeUnchanged || changePort == OutcomeUnchanged:
		return report.BehaviourUnknown, "the server answered CHANGE-REQUEST from its primary address (it has no working alternate address)"
	case changeBoth == OutcomeAnswered:
		return report.BehaviourEndpointIndependent, ""
	case changeBoth != OutcomeNoAnswer:
		return report.BehaviourUnknown, "the change-IP-and-port test did not run"
	case !controlAfter:
		return report.BehaviourUnknown, "the server stopped answering plain requests, so silence proves nothing"
	case changePort == OutcomeAnswered:
		return report.BehaviourAddressDependent, ""
	case changePort == OutcomeNoAnswer:
		return report.BehaviourAddressAndPortDependent, ""
	default:
		return report.BehaviourUnknown, "the change-port test did not run"
	}
}

// RFC3489Name gives the old RFC 3489 name users search for. RFC 4787 §4
// explains why the old names are imprecise; they are shown beside the new
// terms, never alone.
func RFC3489Name(mapping, filtering report.Behaviour) string {
	switch mapping {
	case report.BehaviourNoNAT:
		if filtering == report.BehaviourEndpointIndependent {
			return "open internet"
		}
		if filtering != report.BehaviourUnknown {
			return "symmetric UDP firewall"
		}
		return "open internet"
	case report.BehaviourAddressDependent, report.BehaviourAddressAndPortDependent:
		return "symmetric"
	case report.BehaviourEndpointIndependent:
		switch filtering {
		case report.BehaviourEndpointIndependent:
			return "full cone"
		case report.BehaviourAddressDependent:
			return "restricted cone"
		case report.BehaviourAddressAndPortDependent:
			return "port restricted cone"
		}
	}
	return ""
}

// mappingConsistent compares the mapped addresses the servers reported for
// one local socket: yes when all agree, unknown with fewer than two answers.
func mappingConsistent(servers []ServerResult) report.Tri {
	var first netip.AddrPort
	n := 0
	for _, s := range servers {
		if !s.Answered() {
			continue
		}
		if n == 0 {
			first = s.Mapped
		} else if s.Mapped != first {
			return report.TriNo
		}
		n++
	}
	if n < 2 {
		return report.TriUnknown
	}
	return report.TriYes
}

// portPreserved compares the local port with the public one.
func portPreserved(local, mapped netip.AddrPort) report.Tri {
	if !local.IsValid() || !mapped.IsValid() {
		return report.TriUnknown
	}
	if local.Port() == mapped.Port() {
		return report.TriYes
	}
	return report.TriNo
}

// lifetimeBracket returns the longest idle time a mapping survived and the
// shortest after which it was gone, given trials in any order. A trial that
// died earlier than a longer one survived is contradictory (loss, or a NAT
// that refreshes unevenly); the bracket then spans both.
func lifetimeBracket(trials []LifetimeTrial) (alive, dead time.Duration) {
	for _, t := range trials {
		if t.Alive && t.Idle > alive {
			alive = t.Idle
		}
	}
	for _, t := range trials {
		if !t.Alive && t.Idle > alive && (dead == 0 || t.Idle < dead) {
			dead = t.Idle
		}
	}
	return alive, dead
}
