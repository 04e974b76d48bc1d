package diagnose

import (
	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/natdoc/natdoc/report"
)

// The HTML report of natdoc diagnose draws the network from this host to the
// SIP server and marks the element a problem finding points at. Which
// finding points where is knowledge of the checks, so it is told to report
// here rather than spelled there.
func init() {
	report.RegisterNetworkPicture(report.NetworkPicture{
		Router: []report.FindingID{IDSIPALG, IDSIPALGDrop, IDSIPPortNotForwarded, IDRTPNotForwarded,
			report.IDMappingVaries, stunprobe.IDNoUDP, igd.FindingMappingLimit, stunprobe.IDNoHairpin},
		SecondRouter: []report.FindingID{igd.FindingDoubleNAT},
		ProviderNAT:  []report.FindingID{IDCGNAT},
		Server: []report.FindingID{IDServerPrivate, IDServerNoAnswer, IDServerNoRport,
			IDServerUnresolved, IDServerDNSPrivate, IDDynDNSStale},
		ServerNamed: []report.FindingID{IDServerUnresolved, IDServerNoAnswer, IDServerReachable,
			IDServerPrivate, IDServerNoRport, IDServerDNSPrivate, IDDynDNSStale},
		PublicAddress: []report.FindingID{IDPublicAddress, IDHostPublic},
	})
}
