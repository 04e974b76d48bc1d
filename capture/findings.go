package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/natdoc/natdoc/report"
)

// Finding IDs made by capture. Scripts match on them: they are never
// renamed, and each is referred to by its constant.
const (
	// IDSDPPrivateAddress: an SDP names a private media address the other party cannot reach.
	IDSDPPrivateAddress report.FindingID = "sdp-private-address"
	// IDSDPAddressDiffers: an SDP names a media address other than its SIP's source.
	IDSDPAddressDiffers report.FindingID = "sdp-address-differs-from-signalling"
	// IDLANMediaViaPublicAddress: a party behind NAT names a public
	// address (its NAT's) to a peer on its own LAN, whose media then
	// needs the router to loop it back in (hairpinning).
	IDLANMediaViaPublicAddress report.FindingID = "lan-media-via-public-address"
	// IDDirectMediaUnreachable: a PBX that anchored a call's media hands
	// one phone the other's private address (direct media) it cannot reach.
	IDDirectMediaUnreachable report.FindingID = "direct-media-unreachable"
	// IDSDPLoopbackAddress: an SDP names a loopback address (127.0.0.1,
	// ::1) for a party whose SIP comes from another host: media sent
	// there stays on the sender's own host.
	IDSDPLoopbackAddress report.FindingID = "sdp-loopback-address"
	// IDSIPALGSuspected: messages carry the traces of a SIP ALG.
	IDSIPALGSuspected report.FindingID = "sip-alg-suspected"
	// IDMediaEncrypted: a stream is SRTP.
	IDMediaEncrypted report.FindingID = "media-encrypted"
	// IDIncompleteCapture: the capture cannot judge a call's audio.
	IDIncompleteCapture report.FindingID = "incomplete-capture"
	// IDContactPrivateAddress: a Contact names a private address while the message came from a public one.
	IDContactPrivateAddress report.FindingID = "contact-private-address"
	// IDViaReceivedRport: a server's received=/rport= shows it saw the sender behind NAT.
	IDViaReceivedRport report.FindingID = "via-received-rport"
	// IDViaPrivateAddress: a Via sent-by is private while the request came from a public address.
	IDViaPrivateAddress report.FindingID = "via-private-address"
	// IDViaSourceMismatch: a Via sent-by differs from the request's source.
	IDViaSourceMismatch report.FindingID = "via-source-mismatch"
	// IDRTPSourceDiffers: RTP comes from an address no SDP of its sender named.
	IDRTPSourceDiffers report.FindingID = "rtp-source-differs-from-sdp"
	// IDSignallingEncrypted: SIP over TLS that cannot be read.
	IDSignallingEncrypted report.FindingID = "signalling-encrypted"
	// IDOtherSignalling: call signalling natdoc does not read (MGCP, SCCP,
	// H.323, Megaco, IAX2: othersig.go).
	IDOtherSignalling report.FindingID = "other-signalling"
	// IDMediaWithoutSignalling: RTP that belongs to no call in the capture.
	IDMediaWithoutSignalling report.FindingID = "media-without-signalling"
	// IDMediaOneWayNoSignalling: RTP of no call that flowed one way only.
	IDMediaOneWayNoSignalling report.FindingID = "media-one-way-without-signalling"
	// IDICEChecksUnanswered: a party's ICE connectivity checks to the
	// other's candidates got no answer, and its media never flowed (ice.go).
	IDICEChecksUnanswered report.FindingID = "ice-checks-unanswered"
	// IDICEChecksRefused: a party's ICE connectivity checks were answered
	// only with error responses (401: the credentials are not the
	// answering agent's), and its media never flowed (ice.go).
	IDICEChecksRefused report.FindingID = "ice-checks-refused"
	// IDICEConnectedNoMedia: ICE checks were answered, yet no media
	// followed in that direction (ice.go).
	IDICEConnectedNoMedia report.FindingID = "ice-connected-no-media"
	// IDCaptureAnomalies: parts of the input could not be read.
	IDCaptureAnomalies report.FindingID = "capture-anomalies"
	// IDRequestToPrivate: a request sent from a public address to a
	// private one got no response.
	IDRequestToPrivate report.FindingID = "request-to-private-address"
	// IDRequestUnanswered: a request was retransmitted without any
	// response.
	IDRequestUnanswered report.FindingID = "request-unanswered"
	// IDDialogUnknown: a re-INVITE or UPDATE in an established call was
	// answered 481: its receiver no longer knew the call (indialog.go).
	IDDialogUnknown report.FindingID = "dialog-unknown-to-peer"
	// IDCallEndedWithCause: a BYE's Reason gave a cause other than normal
	// clearing (causes.go).
	IDCallEndedWithCause report.FindingID = "call-ended-with-cause"
	// IDCalleeNeverRang: the setup ended without the callee ever ringing.
	IDCalleeNeverRang report.FindingID = "callee-never-rang"
	// IDResponsesLost: the caller went on resending its INVITE after the
	// callee had responded, and the call never connected: no response
	// reached the caller.
	IDResponsesLost report.FindingID = "sip-responses-lost"
	// IDAnswerNotAcknowledged: a 2xx to an INVITE was resent and no ACK
	// reached its sender, which ends the call after 32 s.
	IDAnswerNotAcknowledged report.FindingID = "answer-never-acknowledged"
	// IDAnswerNotCaptured: the call was answered by a 2xx the capture does
	// not hold: the caller's ACK and a later BYE or re-INVITE, or another
	// hop's 2xx, or the callee's BYE prove it (sipCall.inferAnswer).
	IDAnswerNotCaptured report.FindingID = "answer-not-captured"
	// IDMediaRemapped: a party behind NAT had its RTP move to another
	// public port mid-call without any SDP saying so (rebind.go).
	IDMediaRemapped report.FindingID = "media-remapped-mid-call"
	// IDMediaStopped: a direction's RTP stopped for good mid-call while
	// the other's went on, with no SDP or BYE explaining it (stopped.go).
	IDMediaStopped report.FindingID = "media-stopped-mid-call"
	// IDMediaStartedLate: a direction's RTP began seconds after the answer
	// let it flow: its listener missed the first words (latestart.go).
	IDMediaStartedLate report.FindingID = "media-started-late"
	// IDPayloadNotListed: RTP arrives in payload types the receiver's SDP
	// never listed: it cannot tell the codec (payload.go).
	IDPayloadNotListed report.FindingID = "rtp-payload-not-negotiated"
	// IDRegisterContactNotFixed: a registrar stored the private Contact of
	// a phone it saw behind NAT.
	IDRegisterContactNotFixed report.FindingID = "register-contact-not-fixed"
	// IDRegistrationOutlivesNAT: a phone behind NAT stayed silent toward
	// its registrar longer than NATs keep an idle mapping.
	IDRegistrationOutlivesNAT report.FindingID = "registration-outlives-nat"
	// IDRegisterRefused: a phone's REGISTER was refused (its credentials,
	// or a final failure) and no later one succeeded in the capture.
	IDRegisterRefused report.FindingID = "register-refused"
	// IDRegisterUnanswered: a phone's REGISTERs got no response at all
	// over Timer F or more: the registrar is out of its reach (register.go).
	IDRegisterUnanswered report.FindingID = "register-unanswered"
	// IDSIPPeerUnreachable: a party's requests outside calls (OPTIONS
	// pings, NOTIFY) to another went unanswered in a row, while that
	// other sent nothing: gone, or its NAT closed the mapping (pings.go).
	IDSIPPeerUnreachable report.FindingID = "sip-peer-unreachable"
	// IDRegisterRepeated: a phone registered again and again long before
	// its registration would end.
	IDRegisterRepeated report.FindingID = "register-repeated"
	// IDRegisterScan: one host tried many accounts at a registrar, once or
	// twice each, and none registered: a scan guessing accounts and
	// passwords (regscan.go).
	IDRegisterScan report.FindingID = "register-scan"
)

// Remedies in the user's words (issue 5), shared by findings.
const (
	remedyPrivateSDP = "On the phone that puts its private address in SDP, set a STUN server (or turn on its NAT traversal / ICE), " +
		"or let the SIP server handle NAT: symmetric RTP (\"comedia\", e.g. Asterisk direct_media=no, rtp_symmetric=yes, force_rport=yes, rewrite_contact=yes) " +
		"or its RTP relay. If the server itself sits behind the NAT, set its external address to the public address or a dynamic-DNS name " +
		"and forward UDP 5060 and its RTP port range to it."
	remedyPrivateSDPWithICE = "The phone offers ICE, but the far end does not do ICE and sends to c=, its private default candidate. " +
		"Turn ICE on at the far end (the server or its trunk), or make the phone put its public candidate in c= " +
		"(STUN on, ICE off, or a default candidate of type srflx or relay), or let the SIP server anchor the media: symmetric RTP (\"comedia\") or its RTP relay."
	remedyOnlyOtherMedia = "The call's other media (its video) flowed both ways, so the parties reach each other: the audio was not sent " +
		"(a muted or missing audio device, an audio codec the phones could not start) or a firewall rule blocks its ports alone. " +
		"Check the phones' audio settings first, then any rule for the audio ports."
	remedySenderHostSilent = "The capture was taken on the sending party's own host (or its link), and its RTP never appeared there: nothing on the network lost it. " +
		"Check that party: whether it started its media at all (an audio device or microphone it could not open, a codec it could not start, a call it holds), " +
		"or a firewall on that host blocking its outgoing UDP."
	remedyFaxToAudioPort = "The far end kept sending to the phone's audio port when the call switched to T.38 fax, as a server or SBC that learns a NATed phone's media address " +
		"from its packets (symmetric RTP, latching) does when no fax packet from the new port moves it. Set the phone or ATA to use its RTP port for T.38 " +
		"(many have that option) or to send T.38 first; on the server, re-learn the address from the first UDPTL packet, or follow the T.38 SDP where the phone's address is reachable."
	remedyMappingVaries = "STUN will not fix one-way audio behind this NAT: it gives every destination its own public port, so the address a phone learns by STUN " +
		"is not the one the far end's media reaches. Have the server send media to where the phone's media comes from (symmetric RTP, \"comedia\") or relay it " +
		"(an RTP relay, TURN, natdoc serve); or set the router to keep one mapping per local port (endpoint-independent mapping: turn off \"symmetric NAT\" or port randomisation); " +
		"port forwarding of the phone's RTP ports or a VPN are the other ways."
	remedyNoMedia = "RTP from this side never appeared: allow outbound UDP for the RTP port range on its firewall, forward UDP 5060 and the RTP range " +
		"to the phone or server behind the NAT, or use the server's RTP relay."
	remedyLoopbackSDP = "The party names a loopback address (127.0.0.1, ::1) as where it receives media, so RTP sent there stays on the sender's own host. " +
		"Make its SIP software write the address of the network it talks on: bind its media to that interface or set its media address " +
		"(a host name that resolves to 127.0.1.1 in /etc/hosts, or an application listening on localhost only, is the classic cause); " +
		"or let the server send media to where the party's media comes from (symmetric RTP, \"comedia\") or relay it."
	remedyRefusedMedia = "The RTP is refused where it arrives (the ICMP errors name who refuses it): open the receiver's firewall to UDP from its peer's media address, " +
		"forward the RTP port range on the receiver's router to it, or check that the receiving phone listens on the port its SDP names (a SIP ALG rewriting the SDP can break that)."
	remedyHairpin = "The parties share a LAN, but one names its NAT's public address (STUN, a configured external address) and the router does not loop packets " +
		"sent from inside back in (no hairpinning; natdoc stun tests it): have LAN peers use LAN addresses (Asterisk localnet, FreeSWITCH local-network-acl, " +
		"no STUN toward the LAN), turn on NAT loopback on the router, or relay the media through the server."
	remedyDirectMediaNAT = "Keep the PBX relaying the media of phones behind NAT instead of handing them each other's addresses: " +
		"Asterisk PJSIP direct_media=no on their endpoints (chan_sip directmedia=no, or directmedia=nonat), FreeSWITCH bypass_media=false, " +
		"or make the phones announce reachable addresses (STUN) before allowing direct media."
	remedySentNoMedia = "The sending phone's own RTCP says it sent no RTP: the network lost nothing on this direction. Check that phone: " +
		"its microphone and audio device (the mute button, an unplugged or muted headset, the softphone's input device, the operating system's " +
		"microphone permission), a hold or mute it did not signal, and its codec settings."
	remedyUnreachableContact = "On the SIP server, route to the address a phone's REGISTER really came from, not the private Contact it wrote: " +
		"Kamailio nathelper fix_nated_register() (and fix_nated_contact() for dialogs) with NAT keepalives (nat_bflag, sipping_from), " +
		"Asterisk PJSIP rewrite_contact=yes and force_rport=yes (chan_sip nat=force_rport,comedia), miniSIPServer's NAT traversal options. " +
		"On the phone: set a STUN server, use SIP outbound (RFC 5626), and send NAT keep-alives more often than the router's UDP timeout (15-30 s)."
	remedyContactPortRemapped = "The registrar sends calls to the port the Contact names, but the phone's NAT gave its REGISTER another port, the one it lets " +
		"requests in at. Let the registrar send to where the REGISTER came from (Kamailio fix_nated_register() or set_contact_alias(), Asterisk PJSIP " +
		"rewrite_contact=yes, FreeSWITCH NDLB-received-in-nat-reg-contact or aggressive-nat-detection), or forward that UDP port on the phone's router " +
		"to it. A router that takes the port for its own SIP service or SIP ALG changes it for every device behind it."
	remedyContactPortMoved = "Requests inside the call go to the party's Contact, but its NAT gave its SIP another port than the Contact names, the one it " +
		"lets requests in at. Let the server or SBC between send to where the party's requests come from (Kamailio fix_nated_contact() or " +
		"set_contact_alias(), Asterisk PJSIP rewrite_contact=yes and force_rport=yes), or forward that UDP port on the party's router to it. " +
		"A router that takes the port for its own SIP service or SIP ALG changes it for every device behind it."
	remedyUnacknowledged = "The ACK goes where the answer's Contact (or a Record-Route) points: where that is a private address, make it the public one: " +
		"on the SIP server or SBC fix the Contact of messages from phones behind NAT (Kamailio nathelper fix_nated_contact() or set_contact_alias(), " +
		"Asterisk PJSIP rewrite_contact=yes and force_rport=yes, chan_sip nat=force_rport,comedia), or let the phone write its public address " +
		"(STUN, SIP outbound); a server behind NAT needs its external address set (Asterisk external_signaling_address, Kamailio advertise). " +
		"A router's SIP ALG that rewrites half a message does the same harm: disable it. Otherwise follow the ACK: a firewall or NAT on its path drops it."
	remedyContactPortNotForwarded = "The answer's Contact names the server's public address with its own SIP port, but the router forwards " +
		"another outside port to it: the ACK and every later request of the call go to a port nothing forwards. Set the server's external port " +
		"with its external address (Asterisk PJSIP external_signaling_port on the transport, chan_sip externaddr=ADDRESS:PORT, Kamailio " +
		"listen=udp:LAN-ADDRESS:5060 advertise PUBLIC-ADDRESS:PORT), or forward the same port outside as inside."
	remedyRecordRoutePrivate = "A proxy behind NAT Record-Routes its private address, so the requests of the call that follow the route set " +
		"(ACK, BYE, re-INVITE) go where no one outside its network can reach. Make it write its public address: Kamailio " +
		"listen=udp:LAN-ADDRESS:5060 advertise PUBLIC-ADDRESS:5060 (or record_route_preset), OpenSIPS socket=udp:LAN-ADDRESS:5060 as " +
		"PUBLIC-ADDRESS:5060; an SBC's outside interface its public address; and forward its SIP port to it."
	remedyAckOtherDialog = "The caller acknowledged the answer with another dialog's To-tag: a fault of its SIP software (or of a proxy that changes tags), " +
		"not of the network. A caller whose INVITE set up two dialogs (two forks answered, or the same INVITE sent again as a new transaction, " +
		"which the server should refuse with 482 Loop Detected, RFC 3261 §8.2.2.2) must acknowledge each 2xx with its own tags and end the dialog " +
		"it does not want with a BYE (RFC 3261 §13.2.2.4). Update the phone or softphone; a phone that sends one INVITE from two sockets needs one SIP transport."
	remedyResponsesLost = "No response reached the party that sent the INVITE: it went on resending it. Responses go back where the request's top Via says " +
		"(with rport, RFC 3581, to the address and port it came from): make the server answer there (Kamailio force_rport(), Asterisk PJSIP force_rport=yes), " +
		"and find what drops them on the way back: that party's NAT or firewall (a mapping that expired, a rule that lets in only replies from where the request went), " +
		"or a SIP ALG. If they do arrive, it discards them: compare their Via branch and tags with its request."
	remedyRegisterResponsesLost = "No answer to the REGISTER reached the phone: it went on resending it. Responses go back where the request's top Via says " +
		"(with rport, RFC 3581, to the address and port it came from): make the registrar answer there (Kamailio force_rport(), Asterisk PJSIP force_rport=yes), " +
		"and find what drops them on the way back: the phone's NAT or firewall, a SIP ALG, or a large response's IP fragments. If they do arrive, the phone " +
		"discards them: compare their Via branch and Call-ID with its request."
	remedyInDialogResponsesLost = "The answers to a request inside the call did not reach its sender: it went on resending it, and gives it up after 32 s. " +
		"Responses go back where the request's top Via says (with rport, RFC 3581, to the address and port it came from): make the answering side " +
		"answer there (Kamailio force_rport(), Asterisk PJSIP force_rport=yes), and find what drops them on the way back: the sender's NAT or firewall " +
		"(a mapping that expired, a rule that lets in only replies from where the request went), a SIP ALG, or an SBC between. " +
		"If they do arrive, the sender discards them: compare their Via branch and tags with its request."
	remedyRemapped = "The NAT gave the phone's media a new mapping mid-call: let the far end follow where media really comes from " +
		"(symmetric RTP / latching, RFC 4961: Asterisk rtp_symmetric=yes, rtpengine, an SBC), keep the mapping alive " +
		"(media keep-alives or comfort noise instead of silence suppression, NAT UDP timeouts of minutes, not seconds), " +
		"and find what resets the router's connection table (a WAN reconnect, a firewall reload, a full table)."
	remedyStopped = "Find where the stream ends: capture at the sending phone and on its router's WAN side. If the phone goes on sending, " +
		"something on the way began dropping the stream mid-call: a NAT or firewall whose UDP mapping timed out or was reset (a WAN " +
		"reconnect, a firewall reload, a full connection table), or a SIP ALG; give UDP mappings minutes, turn the SIP ALG off, or " +
		"anchor the media on a relay that latches to where it comes from (natdoc serve, rtpengine, an SBC). If the phone stopped " +
		"sending, look at the phone: mute, a hold or transfer it did not signal, its firmware."
	remedyStoppedSender = "No NAT stopped this stream: look at the sender, which stopped with no re-INVITE or BYE saying so: the phone " +
		"(mute, a hold or transfer it did not signal, its firmware or audio device, its Wi-Fi) or the media server (one that sends " +
		"nothing while it records or waits for digits leaves the caller in dead silence, and a NAT may drop the idle mapping: " +
		"Asterisk transmit_silence=yes)."
	remedyStartedLate = "The first words are lost while no RTP flows: check that the sending phone starts its RTP at the answer (some wait " +
		"for the far end's first packet, or for ICE), and that no relay, SBC or NAT holds the media back until it has latched onto the " +
		"other side's first packet: have both sides send at once (symmetric RTP with early sending, comfort noise rather than nothing)."
	remedyPayloadNotListed = "Make the sender use the payload types the receiver's SDP lists, dynamic ones by the receiver's numbers " +
		"(RFC 3264): look for a transcoder, SBC or PBX that rewrites the SDP but not the media, a phone that ignores the answer, " +
		"or codec settings that differ between the two ends."
	remedyDialogUnknown = "Find why the far end lost the call: a restart or failover of the PBX, SBC or phone at that moment (its logs), " +
		"or the request reached another device than the one in the call (a Contact or Record-Route naming a NAT's address that now " +
		"maps elsewhere, DNS or load balancing that picked another server). A failed session refresh ends the call (RFC 4028)."
	remedyUnanswered = "Nothing answered this request: check that the destination is up and reachable on its SIP port (firewall, port forwarding for UDP 5060 " +
		"on its router) and that it is the address the phone really registered from."
	remedyIgnored = "The request went over a transport that delivers it or fails the connection (TCP, TLS, WebSocket, SCTP), or its destination " +
		"answered other requests of the call, so the network is not what lost it: look at the far end's SIP service, in its logs for this Call-ID (overload, a request it dropped or could not parse, a dial plan or " +
		"authentication rule that discards instead of rejecting)."
	remedyRegisterRepeated = "A phone registers again long before its registration ends when it does not take the 200 OK as success (it looks " +
		"for its own Contact in the answer, RFC 3261 §10.2.4, which a registrar or SIP ALG that rewrote the Contact leaves out; or it dislikes another " +
		"header of the answer), or when it is set to re-register often to keep its NAT open: read the phone's log and registration settings, and keep " +
		"NATs open with keep-alives (CRLF, OPTIONS) rather than registrations."
	remedyDroppedOnHost = "The request reached its destination (the capture was taken on its host, or on its side of its NAT) and nothing answered: look at the SIP service's logs " +
		"for this Call-ID, and at what drops requests before the service sees them: the host's firewall (nftables, iptables, fail2ban) and the service's " +
		"own access lists or rate limits. A server that silently drops scanners' requests this way does so on purpose."
	remedyNeverRang = "The callee was never alerted: its registration may point at an address it cannot be reached at (look for register-contact-not-fixed " +
		"or request-to-private-address), its NAT's mapping for the SIP port may have expired (send keep-alives more often than the router's UDP timeout), " +
		"or it is offline."
	remedyUnmappedPort = "Send media to where the phone's media really comes from: symmetric RTP on the server, PBX or SBC " +
		"(\"comedia\", RFC 4961; Asterisk rtp_symmetric=yes, Kamailio rtpengine with the SDP rewritten to the source) or its RTP relay; " +
		"disable the router's SIP ALG when it rewrites the SDP port; or give the phone a NAT that keeps its ports (endpoint-independent mapping) or forward its RTP ports."
	remedyMediaAddressMoved = "Send media to where the phone's media really comes from: symmetric RTP on the server, PBX or SBC (\"comedia\", " +
		"RFC 4961; Asterisk rtp_symmetric=yes, Kamailio rtpengine with the SDP rewritten to the source) or its RTP relay; or make the phone's router " +
		"send all of a phone's traffic from one public address: on a router with two internet links, a rule that keeps SIP and RTP on one link " +
		"(policy routing, no per-connection load balancing for VoIP); a carrier NAT pool that keeps one address per host (paired pooling, RFC 4787 REQ-2)."
	remedyStaleExternalAddress = "Set the phone's or PBX's external (public) address to its NAT's current one, where its SIP and media come from, " +
		"or let it follow changes: a dynamic-DNS name it looks up again, or STUN (Asterisk PJSIP external_media_address and " +
		"external_signaling_address, chan_sip externhost with externrefresh; FreeSWITCH ext-rtp-ip and ext-sip-ip set to autonat or a " +
		"stun: server); or symmetric RTP on the far end (\"comedia\"), which sends media to where it comes from."
	remedySendFromWhereReceived = "Send media from the address and port the phone's media goes to (one socket to receive and send: symmetric RTP, " +
		"RFC 4961): a multi-homed media server or RTP proxy bound to all its addresses, or one that sends from another socket, " +
		"meets the filter of the phone's NAT. Bind its media sockets to the address its SDP names, and send from the socket that receives."
	remedyAnswerFromAddressAsked = "Make the server answer from the address the request was sent to: bind its SIP socket to that address " +
		"(Asterisk bindaddr / PJSIP transport bind, Kamailio listen with advertise), not to all of a multi-homed host's addresses, or route " +
		"its answers out of the interface the requests came in on."
	remedySendFromDialogPeer = "Send a call's requests to a phone behind NAT from the address its SIP in the call goes to: keep the dialog's route " +
		"through that one address (Record-Route, one edge proxy or SBC address for every node), or have the phone open its NAT toward every " +
		"server address."
	remedyFilteredSource = "Send requests to a phone behind NAT from the address it registered with: route them through the registrar or one edge " +
		"proxy or SBC address for every node (Path, Record-Route, RFC 5626 outbound); or have the phone open its NAT toward every server " +
		"address (register with, or send keep-alives to, each), or forward its SIP port to it."
	remedyKeepAlive = "Keep the NAT mapping of the phone's SIP port open: have the phone send keep-alives (CRLF, OPTIONS or STUN) every 15-30 s " +
		"or re-register more often than the router's UDP timeout, or have the server ping it (Kamailio nathelper sipping, Asterisk PJSIP qualify_frequency)."
	remedyALG = "Disable the router's SIP ALG (often called \"SIP ALG\", \"SIP helper\", \"SIP passthrough\" or \"SIP fixup\"); " +
		"let the phone (STUN) or the server (rport, comedia) handle NAT instead."
	remedyRegisterRefused = "Check the phone's account against the registrar: the user name and authentication name, the password, the domain " +
		"(realm) and that the account is enabled; a 403 after the challenge is most often a wrong password, an IP access rule or " +
		"a blocked account (fail2ban and the like after repeated failures). A 404 names a user the registrar does not know."
	remedySiteRefused = "The registrar refuses every phone of this site, so no phone's own account is the cause: look on the registrar for a block " +
		"on the site's public address (fail2ban or another guard after failed logins, the provider's fraud protection, an IP access list " +
		"that lacks it), then for the site's trunk, domain or realm settings and whether its accounts still exist there."
	remedySiteUnanswered = "No phone of this site reaches the registrar, so no phone's own settings are the cause: look on the registrar for a block " +
		"on the site's public address (fail2ban or another guard after failed logins, the provider's fraud protection, an access list), check that " +
		"the registrar is up and reachable from the site (its address, DNS, a firewall on either side that drops SIP), then its port forwarding if it " +
		"sits behind a router."
	remedyRegistrarFailed = "The registrar failed, not the phone's account: a 5xx answer is a server error (500: its own fault, " +
		"503: overloaded, down or in maintenance, 504: a server behind it did not answer in time). Look at the registrar's logs and " +
		"its database or back end, or register at another server of the service (DNS SRV) until it is mended."
	remedyOneWayNoSignalling = "Capture where the SIP is readable, or give its TLS keys (--tls-keylog), to judge these calls: a hold with music, " +
		"an announcement or a recording sends one way by design, and only the SDP says so. Otherwise RTP that flows one way " +
		"only goes to an address from which nothing comes back: the far end sends its RTP to where the SDP said, which is not where this " +
		"side's RTP comes from (a private address behind NAT: let the server latch onto the source, symmetric RTP, or relay the media), or " +
		"a NAT or firewall drops it on the way (forward or allow the RTP port range)."
	remedyRegistrarUnreachable = "Make the registrar reachable from the phone: check the registrar's address, port and transport in the phone " +
		"(a DNS name or SRV record that points elsewhere, TCP or TLS where the server takes UDP), that the registrar's firewall lets SIP in from the phone's " +
		"public address (fail2ban bans an address after failed logins), the port forwarding of its SIP port when the registrar sits behind a router, and " +
		"that nothing on the phone's side drops the answers (an outbound firewall, a SIP ALG)."
	remedyScanner = "Nothing to mend: this is a scan for accounts or for open dial-out (toll fraud). Keep such requests " +
		"unanswered or rejected, and keep their sources out: a firewall that admits only the trunks and phones, fail2ban, an IP block list " +
		"(APIBAN); and give accounts non-numeric user names and strong passwords."
	remedyTLSKeys = "Give the key log written while these sessions ran (SSLKEYLOGFILE, -keylogfile) or, for TLS 1.0-1.2 with RSA key exchange, " +
		"the server's RSA key; capture from the session's start so its ClientHello is in the file."
)

// scannerAgents are User-Agent words of SIP scanning tools (SIPVicious,
// sipcli, SIPPTS and their kin), which no phone sends.
var scannerAgents = []string{"friendly-scanner", "sipvicious", "sipcli", "sundayddr", "pplsip", "iwar", "sip-scan", "sivus"}

// scanningTool: the User-Agent is a SIP scanning tool's.
func scanningTool(userAgent string) bool {
	ua := strings.ToLower(userAgent)
	return slices.ContainsFunc(scannerAgents, func(tool string) bool { return strings.Contains(ua, tool) })
}

// scanSign says why an unanswered INVITE from the internet is a SIP
// scanner's (looking for accounts or open dial-out, toll fraud), not a
// phone's: its User-Agent names a scanning tool; or it dials out abroad
// (a probe for dial-out) and was sent once and never resent, where a SIP
// stack resends over UDP until Timer B. Once alone is no sign: a capture
// may miss resends. "" when there is no sign, or when it came from a
// private address (a test on a LAN, whose unanswered INVITE is a fault
// to find).
func scanSign(cb *callBuild, s SetupFacts) string {
	if !isPublic(cb.call.setup.src.Addr()) {
		return ""
	}
	if scanningTool(cb.call.Caller.UserAgent) {
		return "its User-Agent " + strconv.Quote(cb.call.Caller.UserAgent) + " is a scanning tool's"
	}
	if sc := cb.scans.scanning(cb.call.setup.src.Addr()); sc != nil {
		return "its source " + cb.call.setup.src.Addr().String() + " is scanning for open dial-out: " + strconv.Itoa(sc.invites) + " INVITEs dialling abroad so far, through " +
			report.Plural(len(sc.servers), "SIP server")
	}
	dialled := cb.call.dialled()
	if s.neverResent() && dialsAbroad(dialled) {
		return "it dials " + dialled + " abroad, sent once over UDP and never resent, where a phone resends until answered"
	}
	return ""
}

// dialled is the number the caller dialled: the Request-URI's user when
// it differs from the To's, else the To's.
func (c *sipCall) dialled() string {
	if c.Callee.Dialed != "" {
		return c.Callee.Dialed
	}
	return c.Callee.User
}

// dialsAbroad: the number is an international call, "+" or an
// international prefix (00, 011) after at most a few digits of an outside
// line or a PBX's route prefix ("9011…", "000048…"), and 8 digits or more
// after it; 10 digits or more in all.
func dialsAbroad(number string) bool {
	digits := strings.TrimPrefix(number, "+")
	if len(digits) < 10 || strings.Trim(digits, "0123456789") != "" {
		return false
	}
	if digits != number {
		return true
	}
	for skip := 0; skip <= 4; skip++ {
		for _, prefix := range []string{"00", "011"} {
			// A country code and a national number, 8 digits or more.
			if rest := digits[skip:]; strings.HasPrefix(rest, prefix) && len(rest)-len(prefix) >= 8 {
				return true
			}
		}
	}
	return false
}

// sentTimes says how often and over how long the INVITE from src to dst
// was sent.
func sentTimes(src, dst string, t *setupTrack) string {
	if t.sent <= 1 {
		return "INVITE " + src + " → " + dst + " sent once"
	}
	return "INVITE " + src + " → " + dst + " sent " + strconv.Itoa(t.sent) + " times over " + roundWait(t.lastSentAt.Sub(t.sentAt)).String()
}

// filteredOut says, per party, whether media to it came from an address
// its own media does not go to, which its NAT's address filter keeps out
// (FromOtherAddress): what it cannot hear is not its SDP's fault.
func filteredOut(facts []StreamFacts) (out [2]bool) {
	for _, f := range facts {
		for sender := range 2 {
			out[other(sender)] = out[other(sender)] || f.FromOtherAddress[sender]
		}
	}
	return out
}

// sentEvidence tells the INVITE's transmissions.
func (t *setupTrack) sentEvidence() report.Evidence {
	return report.Evidence{Text: sentTimes(t.src.String(), t.dst.String(), t), Frames: uniqueFrames(t.firstFrame, t.lastFrame), Time: t.sentAt}
}

// statusText writes a SIP status with its reason phrase: "403 Forbidden",
// or "403" when the phrase is empty.
func statusText(status int, reason string) string {
	return strings.TrimSpace(strconv.Itoa(status) + " " + reason)
}

// setupFinding is the finding of a setup that failed for a reason NAT
// often causes (SetupProblem), with the INVITE's transmissions as
// evidence.
func setupFinding(cb *callBuild, s SetupFacts, v StreamVerdict) (report.Finding, bool) {
	id, sev := SetupProblem(s, v)
	if id == "" {
		return report.Finding{}, false
	}
	t := &cb.call.setup
	f := report.Finding{ID: id, Severity: sev, Subject: cb.call.CallID}
	// Concatenated, not formatted: a flood of unanswered INVITEs makes
	// this text for each of them.
	src, dst := t.src.String(), t.dst.String()
	sent := t.sentEvidence()
	sent.Addrs = []string{dst}
	switch id {
	case IDRequestToPrivate:
		f.Title = fmt.Sprintf("The INVITE was sent from the public address %s to the private address %s and never answered: no one on the internet can reach it",
			t.src.Addr(), t.dst.Addr())
		f.Evidence = []report.Evidence{sent}
		if reg := cb.regs.contactOwner(t.dst); reg != nil {
			f.Title += fmt.Sprintf(" (the Contact %s registered from %s)", reg.contact, reg.src)
			f.Evidence = append(f.Evidence, reg.registerEvidence())
			if reg.echoed {
				f.Evidence = append(f.Evidence, report.Evidence{Text: "the registrar's 200 OK echoed that Contact unchanged: it did not fix it", Frames: []uint64{reg.okFrame}})
			}
		}
		f.Remedy = remedyUnreachableContact
	case IDRequestUnanswered:
		f.Title = "Nothing answered the INVITE to " + dst
		f.Evidence = []report.Evidence{sent}
		f.Remedy = remedyUnanswered
		reset, wasReset := cb.unreach.connects().resetAfter(t.src, t.dst, t.sentAt)
		closed := cb.unreach.about(t.src, t.dst).portClosedBy(t.dst.Addr())
		filtered := cb.regs.filteredFrom(t.dst, t.src, t.sentAt)
		deadMapping := cb.regs.mappingOf(t.dst, t.sentAt, closed)
		remapped := cb.regs.contactPortRemapped(t.dst)
		switch {
		case wasReset && reliableTransport(cb.call.Transport):
			f.Title += " over " + cb.call.Transport + ": " + t.dst.String() + " reset the connection it went over, so it never arrived; " +
				"a NAT that forgot the connection's mapping (its TCP timeout, a restart) resets what it can deliver nowhere"
			f.Evidence = append(f.Evidence, report.Evidence{Text: "TCP reset from " + t.dst.String() + " to " + src, Frames: []uint64{reset.frame}, Time: reset.at})
			f.Remedy = remedyKeepTCPOpen
		case reliableTransport(cb.call.Transport):
			// No retransmissions to lose: the far end's stack took it.
			f.Title += " over " + cb.call.Transport + " (a transport that delivers or breaks the connection): the far end's SIP service never responded"
			f.Remedy = remedyIgnored
		case t.fragmented:
			// Too big for one packet: lost whole wherever fragments are
			// dropped, however often resent, while small requests pass.
			f.Title += ", sent in IP fragments (too big for one packet): " + fragmentsLoseIt
			if cb.call.SeenFrom[callee] {
				f.Title += ", while the far end answered this call's smaller requests"
			}
			f.Remedy = remedyFragmentsLost
		case cb.call.SeenFrom[callee]:
			f.Title += ", though it answered other requests of this call: its SIP service ignored the INVITE"
			f.Remedy = remedyIgnored
		case filtered != nil:
			f.Title += filtered.filteredText(t.src, t.sentAt, closed) // regmove.go
			f.Evidence = append(f.Evidence, filtered.registerEvidence())
			f.Remedy = remedyFilteredSource
		case deadMapping != nil:
			reg := deadMapping
			f.Title += reg.deadMappingText(t.sentAt, closed) // regmove.go
			f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("REGISTER of %s from %s with Contact %s", reg.aor, reg.src, reg.contactText()),
				Frames: []uint64{reg.frame}, Addrs: []string{reg.src.String()}})
			f.Remedy = remedyKeepAlive
		case remapped != nil:
			f.Title += remapped.remappedPortText()
			f.Evidence = append(f.Evidence, remapped.registerEvidence(), remapped.echoEvidence("port"))
			// Every call to the phone goes there: a cause, not a doubt.
			f.Severity, f.Remedy = report.SeverityError, remedyContactPortRemapped
		case t.dst.Addr() == cb.captureHost:
			f.Title += ", though the capture, taken on that host, shows it arrived: the SIP service there, or a firewall on the host, dropped it"
			f.Remedy = remedyDroppedOnHost
		case cb.view.reached(t.dst.Addr()):
			f.Title += ", though the capture, taken on its side of its NAT, shows it arrived there"
			f.Remedy = remedyDroppedOnHost
		}
		if sign := scanSign(cb, s); sign != "" {
			// Not a call that failed: a scan, which a server does right
			// to ignore.
			f.Title += "; it is a SIP scanner's, by all signs (" + sign + "): a server does right to ignore it"
			f.Severity, f.Remedy = report.SeverityInfo, remedyScanner
		} else if s.neverResent() {
			f.Title += "; it was sent once and not again: " + gaveUpAtOnce
		}
	case IDResponsesLost:
		f.Title, f.Evidence = responsesLost(t, sent)
		f.Remedy = remedyResponsesLost
		if t.responseDst == t.src && t.responseSrc != t.dst {
			f.Remedy = remedyAnswerFromAddressAsked
		}
	case IDCalleeNeverRang:
		f.Title = fmt.Sprintf("The callee never rang: no 180/183 came in the %s the setup lasted", roundWait(s.Waited))
		f.Evidence = []report.Evidence{sent, {Text: v.Explain}}
		f.Remedy = remedyNeverRang
	}
	f.Evidence = appendUnreachable(f.Evidence, cb.unreach.about(t.src, t.dst), t.dst)
	return f, true
}

// responsesLost is the title and evidence of a setup whose INVITE was
// resent after its responses: they never reached the caller.
func responsesLost(t *setupTrack, sent report.Evidence) (string, []report.Evidence) {
	title := fmt.Sprintf("The caller went on resending its INVITE after the callee had responded (%d times after its %d): no response reached the caller, "+
		"which never learnt that the call got through", t.resentAfterResponse, t.firstResponse)
	where := fmt.Sprintf("the first response, %d, went to %s", t.firstResponse, t.responseDst)
	if t.responseDst != t.src {
		// A server that answers the Via's port rather than the source's
		// (RFC 3581) misses the caller's NAT mapping.
		where += fmt.Sprintf(", not to %s where the INVITE came from", t.src)
	} else if t.responseSrc != t.dst {
		// A multi-homed server that answers from another of its
		// addresses (Asterisk bound to 0.0.0.0) meets the caller's
		// NAT's address filter.
		where += fmt.Sprintf(", from %s, not from %s where the INVITE went", t.responseSrc, t.dst)
		title += "; " + otherSourceText(t.responseSrc, t.dst)
	}
	return title, []report.Evidence{sent,
		{Text: where, Frames: []uint64{t.responseFrame}, Addrs: []string{t.responseDst.String()}, Time: t.respondedAt},
		{Text: fmt.Sprintf("the INVITE sent %d more times after it, as a client does while no response reaches it (even a 100 Trying stops its resends)", t.resentAfterResponse),
			Frames: uniqueFrames(t.firstResentFrame, t.lastFrame)},
	}
}

// viaNATParams writes the received and rport parameters a Via carries.
func viaNATParams(v via) string {
	received, rport := v.Received != "", v.RPort != "" && v.RPort != "-"
	switch {
	case received && rport:
		return "received=" + v.Received + " rport=" + v.RPort
	case received:
		return "received=" + v.Received
	case rport:
		return "rport=" + v.RPort
	}
	return ""
}

// frameEvidence is one piece of evidence about one frame, made in one
// allocation with its frame list (a call has several).
func frameEvidence(text string, frame uint64, addrs ...string) []report.Evidence {
	e := &struct {
		ev     [1]report.Evidence
		frames [1]uint64
	}{}
	e.frames[0] = frame
	e.ev[0] = report.Evidence{Text: text, Frames: e.frames[:]}
	if len(addrs) > 0 {
		e.ev[0].Addrs = addrs
	}
	return e.ev[:]
}

// reliableTransport: SIP over it is delivered or its connection fails
// (RFC 3261 §17.1.1.2: no retransmissions over it).
func reliableTransport(t string) bool {
	return t == "TCP" || t == "TLS" || t == "WS" || t == "WSS" || t == "SCTP"
}

// uniqueFrames lists a and b, once when they are the same frame.
func uniqueFrames(a, b uint64) []uint64 {
	if a == b {
		return []uint64{a}
	}
	return []uint64{a, b}
}

// callFindings derives the findings of one reported dialog from the call
// model; it only reads plain data.
func callFindings(cb *callBuild, streams []*streamState, media []string, facts []StreamFacts, v StreamVerdict, sigs [2]netip.AddrPort, setup *report.Finding) []report.Finding {
	c := cb.call
	problem := v.Verdict.IsProblem()
	subject := c.CallID
	sdpFs, traces := sdpFindings(cb, v, sigs, filteredOut(facts))
	cb.lanPublic = traces.lanPublic
	sigFs := signallingFindings(c, subject, problem)
	mediaFs := mediaSourceFindings(cb, streams, subject)
	verdictF, hasVerdict := verdictFinding(cb, streams, facts, media, v, subject, traces, sigs)
	encryptedF, encrypted := encryptedMediaFinding(streams, subject)
	answerF, unacknowledged := answerFinding(cb)
	unseenF, unseen := unseenAnswerFinding(cb)
	inviteF, noInvite := unseenInviteFinding(cb)
	reinviteF, midCall := reinviteStartFinding(cb)
	inDialogF, lostRequest := inDialogFinding(cb, sigs)
	answersLostF, answersLost := answersLostFinding(cb)
	endF, endCause := endCauseFinding(cb, subject)
	n := len(sdpFs) + len(sigFs) + len(mediaFs) + b2i(unacknowledged) + b2i(unseen) + b2i(noInvite) + b2i(midCall) + b2i(lostRequest) + b2i(answersLost) + b2i(endCause)
	if n == 0 && setup == nil && !hasVerdict && !encrypted {
		return nil
	}
	// Made in one slice, with room for a quality finding.
	fs := make([]report.Finding, 0, n+4)
	if setup != nil {
		fs = append(fs, *setup)
	}
	if hasVerdict {
		fs = append(fs, verdictF)
	}
	if unacknowledged {
		fs = append(fs, answerF)
	}
	if unseen {
		fs = append(fs, unseenF)
	}
	if noInvite {
		fs = append(fs, inviteF)
	}
	if midCall {
		fs = append(fs, reinviteF)
	}
	if lostRequest {
		fs = append(fs, inDialogF)
	}
	if answersLost {
		fs = append(fs, answersLostF)
	}
	if endCause {
		fs = append(fs, endF)
	}
	fs = append(fs, sdpFs...)
	fs = append(fs, cb.iceFindings(streams, facts, subject, problem)...)
	fs = append(fs, sigFs...)
	fs = append(fs, mediaFs...)
	if encrypted {
		fs = append(fs, encryptedF)
	}
	return fs
}

// privateSDPFinding says that ev's SDP asks for media at m's private
// address, which no one reaches from where the party's SIP comes from
// (sig, or publicA a server's Via received= showed). reachable is an ICE
// candidate the other party could have used but, not doing ICE, did not.
func privateSDPFinding(cb *callBuild, ev *sdpEvent, m *sdpMedia, sig netip.AddrPort, publicA netip.Addr, reachable iceCandidate, deaf bool) report.Finding {
	seenAs := sig.String()
	if publicA.IsValid() && IsPrivate(m.Addr.Addr()) {
		seenAs = publicA.String() + " (the server's Via received=)"
	}
	sev := report.SeverityInfo
	if deaf {
		sev = report.SeverityError
	}
	ev0 := report.Evidence{
		Text:   fmt.Sprintf("SDP c= in %s names %s, but its SIP reaches the server from the public address %s: no one on the internet can send there", ev.Method, m.Addr, seenAs),
		Frames: []uint64{ev.Frame}, Addrs: []string{m.Addr.String(), sig.String()},
	}
	party := cb.parties()[ev.Party]
	title := fmt.Sprintf("The %s asks for media at its private address %s", partyLabel(party), m.Addr)
	if party.Role == roleProxy { // the SDP of the party beyond it
		title = fmt.Sprintf("The %s passes on an SDP that names the private address %s, of the party beyond it", partyLabel(party), m.Addr)
		ev0.Text = fmt.Sprintf("SDP c= in %s names %s, a private address: no one outside that party's network can send there", ev.Method, m.Addr)
	}
	f := report.Finding{
		ID: IDSDPPrivateAddress, Severity: sev, Subject: cb.call.CallID,
		Title: title, Evidence: []report.Evidence{ev0}, Remedy: remedyPrivateSDP,
	}
	if to, ok := cb.symmetricRTPTo(ev.Party); ok {
		f.Evidence = append(f.Evidence, report.Evidence{
			Text: fmt.Sprintf("the %s sends its RTP to %s, where the %s's own RTP comes from (symmetric RTP, \"comedia\"): it works around this address",
				partyLabel(cb.parties()[other(ev.Party)]), to, partyNames[ev.Party]),
			Addrs: []string{to.String()},
		})
	}
	if reachable.Addr.IsValid() {
		f.Evidence = append(f.Evidence, report.Evidence{
			Text: fmt.Sprintf("its ICE offers the %s candidate %s, which can be reached, but the %s's SDP does not negotiate ICE: it sends to c=",
				reachable.Type, reachable.Addr, partyNames[other(ev.Party)]),
			Frames: []uint64{ev.Frame}, Addrs: []string{reachable.Addr.String()},
		})
		f.Remedy = remedyPrivateSDPWithICE
	}
	return f
}

// directMediaHandover is the finding for an SDP in which the
// intermediary at one end of the leg, having anchored the media at an
// address of its own first, hands the party at the other end the private
// address the call's own party beyond it named on its leg (direct media,
// a PBX's re-INVITE): from outside that party's NAT it cannot be reached.
// Phones behind one NAT (the same public address) reach each other.
func (cb *callBuild) directMediaHandover(ev *sdpEvent, m *sdpMedia, sigs [2]netip.AddrPort) (report.Finding, bool) {
	end, to := ev.Party, other(ev.Party)
	owner := cb.farParties[end]
	if cb.roles[end] == "" || cb.roles[to] != "" || owner.Role == "" || !IsPrivate(m.Addr.Addr()) ||
		!slices.Contains(cb.farMedia[end], m.Addr) || !isPublic(sigs[to].Addr()) ||
		slices.Contains(cb.farEnds[end], sigs[to].Addr()) || !cb.anchoredBefore(ev) {
		return report.Finding{}, false
	}
	parties := cb.parties()
	return report.Finding{
		ID: IDDirectMediaUnreachable, Severity: report.SeverityWarning, Subject: cb.call.CallID,
		Title: fmt.Sprintf("The %s hands the %s the %s's private address %s (direct media): the %s cannot reach it from outside the %s's NAT, so from then on the %s hears nothing",
			partyLabel(parties[end]), partyLabel(parties[to]), partyLabel(owner), m.Addr, partyNames[to], partyNames[end], partyNames[end]),
		Evidence: []report.Evidence{{
			Text:   fmt.Sprintf("SDP c= in %s names %s, which the %s's own SDP named on its leg; the %s signals from %s", ev.Method, m.Addr, partyNames[end], partyNames[to], sigs[to]),
			Frames: []uint64{ev.Frame}, Addrs: []string{m.Addr.String(), sigs[to].String()},
		}},
		Remedy: remedyDirectMediaNAT,
	}, true
}

// anchoredBefore says whether the intermediary that wrote ev named an
// address of its own before it: it relayed the media, then moved it.
func (cb *callBuild) anchoredBefore(ev *sdpEvent) bool {
	for _, e := range cb.timeline() {
		if e.Frame >= ev.Frame {
			break
		}
		if e.Party != ev.Party {
			continue
		}
		for _, m := range e.SDP.Media {
			if m.Addr.IsValid() && !isHoldAddress(m.Addr) && !slices.Contains(cb.farMedia[ev.Party], m.Addr) && !slices.Contains(cb.farEnds[ev.Party], m.Addr.Addr()) {
				return true
			}
		}
	}
	return false
}

// symmetricRTPTo is where the other party sends its RTP to party, when
// that is the address party's own RTP comes from and no SDP of party's
// names it: the far end latched onto the media's source (symmetric RTP),
// as a server does for a phone behind NAT.
func (cb *callBuild) symmetricRTPTo(party int) (netip.AddrPort, bool) {
	for _, in := range cb.flows {
		if in.flow.Key.RTCP || in.bd.sender != other(party) || in.flow.Packets == 0 || in.bd.matched {
			continue
		}
		for _, out := range cb.flows {
			if !out.flow.Key.RTCP && out.bd.sender == party && out.flow.Key.Src == in.flow.Key.Dst {
				return in.flow.Key.Dst, true
			}
		}
	}
	return netip.AddrPort{}, false
}

// reachableCandidate is m's first RTP candidate under ICE at an address
// private does not refuse: one the other party could reach.
func reachableCandidate(m *sdpMedia, private func(netip.Addr) bool) (iceCandidate, bool) {
	for _, c := range m.Candidates {
		if c.Component == 1 && !private(c.Addr.Addr()) {
			return c, true
		}
	}
	return iceCandidate{}, false
}

// iceUsed says, per party, whether one of its SDPs in the call negotiates
// ICE: only then does it send to the other's candidates, not to c=.
func (cb *callBuild) iceUsed() (used [2]bool) {
	for _, ev := range cb.timeline() {
		for i := range ev.SDP.Media {
			used[ev.Party] = used[ev.Party] || ev.SDP.Media[i].ICE
		}
	}
	return used
}

// sdpTraces are what a leg's SDPs showed, by party, that its verdict's
// remedy depends on.
type sdpTraces struct {
	// private: the party leaked a private address (sdpFindings).
	private [2]bool
	// lanPublic is the public address the party named to a peer on its
	// own LAN, lanPeer (namesPublicToLAN).
	lanPublic [2]netip.AddrPort
	lanPeer   [2]netip.Addr
	// loopback: the party named a loopback address for its media
	// (loopbackSDPFinding).
	loopback [2]bool
}

// loopbackSDPFinding says that the party whose SDP ev is names media, a
// loopback address, while its SIP comes from sig, a network address:
// whoever sends there sends to its own host. An error when that party
// hears nothing, a note when the call carried no media (not answered), a
// warning otherwise.
func loopbackSDPFinding(cb *callBuild, ev *sdpEvent, media, sig netip.AddrPort, v StreamVerdict) report.Finding {
	p := cb.parties()[ev.Party]
	sev := report.SeverityWarning
	switch {
	case v.Verdict == report.VerdictNoWay || v.Verdict == report.VerdictOneWay && v.CannotHear == partyNames[ev.Party]:
		sev = report.SeverityError
	case v.Verdict == report.VerdictNotAnswered || v.Verdict == report.VerdictNoMediaExpected:
		sev = report.SeverityInfo
	}
	return report.Finding{
		ID: IDSDPLoopbackAddress, Severity: sev, Subject: cb.call.CallID, Remedy: remedyLoopbackSDP,
		Title: fmt.Sprintf("The %s asks for media at %s, a loopback address, while its SIP comes from %s: media sent there never leaves the sender's own host",
			partyLabel(p), media.Addr(), sig.Addr()),
		Evidence: []report.Evidence{{Text: fmt.Sprintf("SDP c= in %s names %s", ev.Method, media), Frames: []uint64{ev.Frame}, Addrs: []string{media.String(), sig.String()}}},
	}
}

// sdpFindings reads each party's SDP: private addresses seen from outside
// the party's NAT (or from inside it when a server's Via received= showed
// its public address), public ones named to a peer on the party's own
// LAN, media addresses other than the signalling source, and the traces
// of a SIP ALG.
func sdpFindings(cb *callBuild, v StreamVerdict, sigs [2]netip.AddrPort, keptOut [2]bool) (fs []report.Finding, traces sdpTraces) {
	privateSDP := &traces.private
	c := cb.call
	subject := c.CallID
	problem := v.Verdict.IsProblem()
	parties := cb.parties()
	publicAs := publicAddresses(c)
	algSeen := false
	differs := [2]bool{}
	iceUsed := cb.iceUsed()
	for _, ev := range cb.timeline() {
		sig := sigs[ev.Party]
		for _, m := range ev.SDP.Media {
			ip := m.Addr.Addr()
			if !m.Addr.IsValid() || isHoldAddress(m.Addr) || privateSDP[ev.Party] {
				continue
			}
			privateFor := func(ip netip.Addr) bool {
				return unreachableFromOutside(ip, sig.Addr()) || publicAs[ev.Party].IsValid() && IsPrivate(ip)
			}
			if ip.IsLoopback() {
				// Its SIP on loopback too: 127.0.1.1 and 127.0.0.1 are
				// one host, no media server apart.
				if !sig.Addr().IsLoopback() && !traces.loopback[ev.Party] {
					traces.loopback[ev.Party] = true
					fs = append(fs, loopbackSDPFinding(cb, &ev, m.Addr, sig, v))
				}
				continue
			}
			if f, ok := cb.directMediaHandover(&ev, &m, sigs); ok {
				fs = append(fs, f)
				continue
			}
			if privateFor(ip) {
				reachable, ok := reachableCandidate(&m, privateFor)
				if ok && iceUsed[other(ev.Party)] {
					continue // ICE carries the media by the candidate, not by c=
				}
				privateSDP[ev.Party] = true
				cb.privateSDPs = append(cb.privateSDPs, privateSDPNote{addr: m.Addr, passedOn: cb.roles[ev.Party] != ""})
				fs = append(fs, privateSDPFinding(cb, &ev, &m, sig, publicAs[ev.Party], reachable,
					problem && v.CannotHear == partyNames[ev.Party] && !keptOut[ev.Party]))
			} else if peer, ok := cb.namesPublicToLAN(ev.Party, ip, sigs); ok && !differs[ev.Party] && !iceUsed[other(ev.Party)] {
				// (A peer doing ICE reaches the party's host candidate.)
				differs[ev.Party] = true
				traces.lanPublic[ev.Party], traces.lanPeer[ev.Party] = m.Addr, peer
				fs = append(fs, lanViaPublicFinding(cb, &ev, m.Addr, peer, sig.Addr(), problem && v.CannotHear == partyNames[ev.Party]))
			} else if sig.IsValid() && ip != sig.Addr() && !differs[ev.Party] && !isHoldAddress(m.Addr) {
				differs[ev.Party] = true
				fs = append(fs, report.Finding{
					ID: IDSDPAddressDiffers, Severity: report.SeverityInfo, Subject: subject,
					Title:    cb.differsTitle(parties[ev.Party], ev.Party, m.Addr, sig.Addr()),
					Evidence: []report.Evidence{{Text: "SDP c= against the IP source of the message", Frames: []uint64{ev.Frame}, Addrs: []string{m.Addr.String(), sig.String()}}},
				})
			}
			// A proxy's Contact is its own and the SDP it passes on is
			// another party's: no trace of an ALG.
			passedOn := parties[ev.Party].Role == roleProxy
			if why := ALGSign(sig.Addr(), ev.Contact, ev.SDP.OriginAddr, ip); why != "" && !algSeen && !passedOn {
				algSeen = true
				fs = append(fs, report.Finding{
					ID: IDSIPALGSuspected, Severity: algSeverity(problem), Subject: subject,
					Title:    "A SIP ALG seems to rewrite this party's messages: " + why,
					Evidence: []report.Evidence{{Text: fmt.Sprintf("%s: source %s, Contact %s, o= %s, c= %s", ev.Method, sig.Addr(), ev.Contact, ev.SDP.OriginAddr, ip), Frames: []uint64{ev.Frame}}},
					Remedy:   remedyALG,
				})
			}
		}
	}
	return fs, traces
}

// namesPublicToLAN says whether party p, signalling from a private
// address, names the public address ip in its SDP to a peer on its own
// LAN (sameLAN), and which: the leg's other end, or past a proxy there
// the call's own party on its other legs. That peer's media goes to the
// router, which must loop it back in (hairpinning): the classic server
// with an external address set and its LAN phones not listed as local
// (Asterisk localnet, FreeSWITCH local-network-acl), or a LAN phone that
// asked STUN.
func (cb *callBuild) namesPublicToLAN(p int, ip netip.Addr, sigs [2]netip.AddrPort) (netip.Addr, bool) {
	sig := sigs[p].Addr()
	if cb.roles[p] != "" || !isPublic(ip) || !IsPrivate(sig) {
		return netip.Addr{}, false
	}
	peers := []netip.Addr{sigs[other(p)].Addr()}
	if cb.roles[other(p)] == roleProxy {
		peers = cb.farEnds[other(p)]
	}
	for _, peer := range peers {
		if peer != sig && sameLAN(sig, peer) {
			return peer, true
		}
	}
	return netip.Addr{}, false
}

// lanViaPublicFinding: the party's SDP (ev) names public to a peer on its
// own LAN. A warning, with the LAN-peers remedy, when the party is the
// one that cannot hear, or the call was answered and the capture shows
// none of the peer's RTP looped back in to it; else a note.
func lanViaPublicFinding(cb *callBuild, ev *sdpEvent, public netip.AddrPort, peer, sig netip.Addr, deaf bool) report.Finding {
	f := report.Finding{
		ID: IDLANMediaViaPublicAddress, Severity: report.SeverityInfo, Subject: cb.call.CallID,
		Title: fmt.Sprintf("The %s (SIP from %s) asks for media at %s, a public address, though the party that sends it is on its own LAN (%s): "+
			"that media reaches it only if the router loops it back in (hairpinning, NAT loopback)", partyLabel(cb.parties()[ev.Party]), sig, public.Addr(), peer),
		Evidence: []report.Evidence{{Text: "SDP c= against the IP sources of the two parties' SIP", Frames: []uint64{ev.Frame}, Addrs: []string{public.String(), sig.String(), peer.String()}}},
	}
	// No looped-back RTP is evidence only where the capture holds some
	// of the call's RTP: a capture filtered to signalling, or taken where
	// the media does not pass, would show none either way.
	if deaf || cb.dlg.answered() && len(cb.flows) > 0 && !cb.loopedBack(ev.Party, sig) {
		f.Severity, f.Remedy = report.SeverityWarning, remedyHairpin
	}
	return f
}

// loopedBack says whether RTP from the other party was seen arriving at
// party p's own private address: its router looped it back in.
func (cb *callBuild) loopedBack(p int, sig netip.Addr) bool {
	for _, bf := range cb.flows {
		if bf.bd.sender == other(p) && !bf.flow.Key.RTCP && bf.flow.Key.Dst.Addr() == sig {
			return true
		}
	}
	return false
}

// differsTitle says why a party's SDP names another address than its
// SIP's source: an intermediary that names a party of the call's other
// leg hands the media to it directly (a PBX's direct media, a proxy's
// re-INVITE); anything else is a media server, a relay or a NAT.
func (cb *callBuild) differsTitle(p report.Party, party int, media netip.AddrPort, sig netip.Addr) string {
	intermediary := p.Role != partyNames[party]
	for end, addrs := range cb.farEnds {
		if !intermediary || len(addrs) == 0 {
			continue
		}
		// The party's signalling address, or the very media address its
		// own SDP named (a public address from STUN).
		own := fmt.Sprintf("%s, the %s's own address", media.Addr(), partyNames[end])
		if !slices.Contains(addrs, media.Addr()) {
			if !slices.Contains(cb.farMedia[end], media) {
				continue
			}
			own = fmt.Sprintf("%s, the media address the %s's own SDP named", media, partyNames[end])
		}
		if p.Role == "proxy" {
			return fmt.Sprintf("The %s passes on an SDP that names %s: media goes between the parties directly, "+
				"off the proxy's path", partyLabel(p), own)
		}
		return fmt.Sprintf("The %s asks for media at %s on the call's other leg: it hands the media "+
			"straight to the %s (direct media), off its own path", partyLabel(p), own, partyNames[end])
	}
	if !sameFamily(media.Addr(), sig) {
		return fmt.Sprintf("The %s asks for media at its %s address %s while its SIP came over %s from %s: a dual-stack host, or NAT64 between it and "+
			"the capture point; a peer without %s cannot send there", partyLabel(p), familyName(media.Addr()), media.Addr(), familyName(sig), sig, familyName(media.Addr()))
	}
	return fmt.Sprintf("The %s asks for media at %s while its SIP came from %s: a separate media server or relay, or a NAT between it and the capture point",
		partyLabel(p), media.Addr(), sig)
}

// encryptedMediaFinding says when a stream is SRTP: its headers are judged,
// its audio cannot be. A side that answered (or offered) plain RTP/AVP
// where the other asked for SRTP settles it as plain (senderSaysPlain).
func encryptedMediaFinding(streams []*streamState, subject string) (report.Finding, bool) {
	isSRTP := func(m *sdpMedia) bool { return m != nil && strings.Contains(m.Proto, "SAVP") }
	for _, st := range streams {
		for p := 0; p < 2; p++ {
			m, o := st.latest[p], st.latest[1-p]
			if isSRTP(m) && (o == nil || o.Proto == "" || isSRTP(o)) {
				return report.Finding{ID: IDMediaEncrypted, Severity: report.SeverityInfo, Subject: subject,
					Title: "Media is SRTP (" + m.Proto + "): natdoc judges the RTP headers, not the audio"}, true
			}
		}
	}
	return report.Finding{}, false
}

func algSeverity(problem bool) report.Severity {
	if problem {
		return report.SeverityWarning
	}
	return report.SeverityInfo
}

// verdictFinding is the one-way-audio / no-way-audio finding with the
// packets behind it.
func verdictFinding(cb *callBuild, streams []*streamState, facts []StreamFacts, media []string, v StreamVerdict, subject string, traces sdpTraces, sigs [2]netip.AddrPort) (report.Finding, bool) {
	privateSDP := traces.private
	var sum StreamFacts
	judged := verdictCounts(media, v)
	for k, f := range facts {
		if !judged(k) {
			continue
		}
		for i := 0; i < 2; i++ {
			sum.Delivered[i] += f.Delivered[i]
			sum.Undeliverable[i] += f.Undeliverable[i]
			sum.Unproven[i] += f.Unproven[i]
			sum.FaxToAudioPort[i] = sum.FaxToAudioPort[i] || f.FaxToAudioPort[i]
			sum.FromOtherAddress[i] = sum.FromOtherAddress[i] || f.FromOtherAddress[i]
			if f.Refused[i] != "" {
				sum.Refused[i], sum.Doubt[i], sum.Hairpin[i] = f.Refused[i], f.Doubt[i], f.Hairpin[i]
			}
		}
	}
	counts := []report.KeyValue{
		{Key: "caller->callee", Value: strconv.FormatUint(sum.Delivered[0], 10)},
		{Key: "callee->caller", Value: strconv.FormatUint(sum.Delivered[1], 10)},
	}
	ev := cb.flowEvidence(sigs, streams)
	switch v.Verdict {
	case report.VerdictOneWay:
		deaf := caller
		if v.CannotHear == "callee" {
			deaf = callee
		}
		sender := other(deaf)
		ev = append([]report.Evidence{{Text: v.Explain, Values: counts}}, ev...)
		remedy := remedyNoMedia
		varies := cb.mappingVaries(deaf, sigs)
		family, otherFamily := cb.familyMismatch(deaf, streams, sigs)
		switch {
		case sum.seen(sender) == 0 && otherFamily:
			// Named only addresses the sender has no way to.
			remedy = remedyAddressFamily
			ev = slices.Insert(ev, 1, family)
		case sum.Delivered[sender] == 0 && sentNothing(facts, judged, sender):
			remedy = remedySentNoMedia
		case sum.FaxToAudioPort[sender]:
			remedy = remedyFaxToAudioPort
		case sum.seen(sender) == 0 && varies != nil:
			// Nothing came back to a phone whose NAT maps per
			// destination: what its SDP names cannot be reached.
			p := varies
			remedy = remedyMappingVaries
			ev = slices.Insert(ev, 1, report.Evidence{Text: fmt.Sprintf("the %s's NAT gives each destination its own public port: STUN from %s got %s from %s and %s from %s, "+
				"so the public port its SDP names is not the one its RTP to the %s goes out on, where the %s's RTP would reach it",
				partyNames[deaf], p.local, p.a.mapped, p.a.server, p.b.mapped, p.b.server, partyNames[sender], partyNames[sender]),
				Frames: []uint64{p.a.frame, p.b.frame}})
		case sum.Hairpin[sender]:
			remedy = remedyHairpin
		case sum.seen(sender) == 0 && traces.lanPublic[deaf].IsValid():
			// Sent to the router, never looped back in to where the
			// capture sees the receiver.
			remedy = remedyHairpin
			ev = slices.Insert(ev, 1, report.Evidence{Text: fmt.Sprintf("the %s's SDP names %s, a public address, to the %s on its own LAN (%s): "+
				"the %s's RTP goes to the router, which did not loop it back in (no hairpinning)",
				partyNames[deaf], traces.lanPublic[deaf], partyNames[sender], traces.lanPeer[deaf], partyNames[sender])})
		case sum.seen(sender) == 0 && cb.onCaptureHost(sender, sigs):
			// Taken on the sender's own host or link: it never sent.
			remedy = remedySenderHostSilent
			ev = slices.Insert(ev, 1, cb.hostSilentEvidence(sender))
		case traces.loopback[deaf]:
			remedy = remedyLoopbackSDP
		case sum.FromOtherAddress[sender] && sum.Delivered[sender] == 0:
			// Sent to where the deaf party's media comes from, from
			// elsewhere: a private SDP, if any, was worked around.
			remedy = remedySendFromWhereReceived
		case privateSDP[deaf]:
			remedy = remedyPrivateSDP
		case sum.Refused[sender] != "" && sum.Doubt[sender] == "":
			remedy = remedyRefusedMedia
			if e, r, moved := cb.sourceMoved(sender, true, sigs); moved {
				// The receiver sends from elsewhere and refuses what its
				// SDP names: media sent to its source would reach it.
				remedy = r
				ev = slices.Insert(ev, 1, e)
			}
		case sum.Unproven[sender] > 0 || sum.Refused[sender] != "":
			remedy = remedyUnmappedPort
			if _, r, moved := cb.sourceMoved(sender, false, sigs); moved {
				// The verdict's explanation (delivery) says where the
				// receiver's media comes from; the remedy follows it.
				remedy = r
			}
		case sum.seen(sender) == 0:
			if e, ok := cb.mediaFromNAT(deaf, streams, sigs[deaf]); ok {
				// The deaf party's own media shows the NAT its SDP
				// address sits behind: nothing sent there crosses it.
				remedy = remedyUnmappedPort
				ev = slices.Insert(ev, 1, e)
			}
		}
		return report.Finding{
			ID: report.IDOneWayAudio, Severity: report.SeverityError, Subject: subject,
			Title: cb.oneWayTitle(deaf, sender, v.Fax), Evidence: ev, Remedy: remedy,
		}, true
	case report.VerdictNoWay:
		ev = append([]report.Evidence{{Text: v.Explain, Values: counts}}, ev...)
		remedy := remedyNoMedia
		if e, ok := cb.familyMismatchEither(streams, sigs); ok {
			remedy = remedyAddressFamily
			ev = slices.Insert(ev, 1, e)
		} else if sum.FaxToAudioPort[caller] || sum.FaxToAudioPort[callee] {
			remedy = remedyFaxToAudioPort
		} else if traces.loopback[0] || traces.loopback[1] {
			remedy = remedyLoopbackSDP
		} else if privateSDP[0] || privateSDP[1] {
			remedy = remedyPrivateSDP
		} else if k, ok := otherMediaBothWays(facts, media, judged); ok {
			remedy = remedyOnlyOtherMedia
			ev = slices.Insert(ev, 1, report.Evidence{Text: fmt.Sprintf("the call's %s flowed both ways (%d and %d packets): the path between the parties is open",
				media[k], facts[k].Delivered[caller], facts[k].Delivered[callee])})
		} else if p, ok := cb.silentCaptureHost(sum, sigs); ok {
			// The host the capture was taken on sent nothing: it is the
			// first to check, and a far end that sends media to where
			// media comes from (symmetric RTP) waits for it.
			remedy = remedySenderHostSilent
			e := cb.hostSilentEvidence(p)
			e.Text += fmt.Sprintf("; a %s that sends its media to where the %s's comes from (symmetric RTP) waits for it", partyNames[other(p)], partyNames[p])
			ev = slices.Insert(ev, 1, e)
		} else if d, ok := refusedOnly(sum); ok {
			// One way was refused where it arrived, the other never
			// sent: the refusing host's media is what to check first
			// (nothing listens where its SDP says, a firewall).
			remedy = remedyRefusedMedia
			if e, r, moved := cb.sourceMoved(d, true, sigs); moved {
				remedy = r
				ev = slices.Insert(ev, 1, e)
			}
		}
		title := "No audio either way: the call was answered but no RTP arrived in either direction"
		if v.Fax {
			title = "No T.38 fax either way: the call was answered but no fax packets (UDPTL) arrived in either direction"
		}
		return report.Finding{
			ID: report.IDNoWayAudio, Severity: report.SeverityError, Subject: subject,
			Title: title, Evidence: ev, Remedy: remedy,
		}, true
	case report.VerdictIncompleteCapture:
		return report.Finding{ID: IDIncompleteCapture, Severity: report.SeverityInfo, Subject: subject,
			Title: "This capture cannot judge the audio of this call", Evidence: []report.Evidence{{Text: v.Explain, Values: counts}}}, true
	}
	return report.Finding{}, false
}

// otherMediaBothWays finds a stream the verdict was not judged on (the
// video of a call with audio) whose media arrived both ways: the parties
// reach each other, so audio missing both ways was not sent, or its
// ports alone are blocked.
func otherMediaBothWays(facts []StreamFacts, media []string, judged func(int) bool) (int, bool) {
	for k, f := range facts {
		if k < len(media) && !judged(k) && f.Delivered[caller] > 0 && f.Delivered[callee] > 0 {
			return k, true
		}
	}
	return 0, false
}

// onCaptureHost says whether party p of this leg is on the capture's own
// host: its SIP comes from the address every packet was to or from, and
// its SDP names no other private address (a media server on a host of
// its own, which this capture would not see).
func (cb *callBuild) onCaptureHost(p int, sigs [2]netip.AddrPort) bool {
	h := cb.captureHost
	if !h.IsValid() || sigs[p].Addr() != h {
		return false
	}
	for _, ev := range cb.timeline() {
		if ev.Party != p || ev.SDP == nil {
			continue
		}
		for _, m := range ev.SDP.Media {
			if a := m.Addr.Addr(); a.IsValid() && a != h && !a.IsUnspecified() && !isPublic(a) {
				return false
			}
		}
	}
	return true
}

// mappingVaries is the proof, from STUN in the capture, that party p's
// NAT maps per destination (stunmap.go): p's RTP or SIP comes from a host
// behind such a NAT. nil when there is none.
func (cb *callBuild) mappingVaries(p int, sigs [2]netip.AddrPort) *mappingProof {
	proofs := cb.ice.mappings.proofs
	if len(proofs) == 0 {
		return nil
	}
	if pr, ok := proofs[sigs[p].Addr()]; ok {
		return &pr
	}
	for _, bf := range cb.flows {
		if pr, ok := proofs[bf.flow.Key.Src.Addr()]; ok && bf.bd.sender == p {
			return &pr
		}
	}
	return nil
}

// silentCaptureHost is the party of a no-way call that is on the
// capture's own host and of which no RTP was seen.
func (cb *callBuild) silentCaptureHost(sum StreamFacts, sigs [2]netip.AddrPort) (int, bool) {
	for p := range 2 {
		if sum.seen(p) == 0 && cb.onCaptureHost(p, sigs) {
			return p, true
		}
	}
	return 0, false
}

// hostSilentEvidence says that party p, on the capture's own host, sent
// no RTP there.
func (cb *callBuild) hostSilentEvidence(p int) report.Evidence {
	return report.Evidence{Text: fmt.Sprintf("every packet of the capture is to or from %s, the %s's own address: "+
		"it was taken on that host (or its link), and the %s's RTP never appeared there", cb.captureHost, partyNames[p], partyNames[p])}
}

// sentNothing says whether the sender's own RTCP, on a stream the
// verdict was judged on, says it sent no RTP (ReportedDirection).
func sentNothing(facts []StreamFacts, judged func(int) bool, sender int) bool {
	for k, f := range facts {
		if judged(k) && f.Undeliverable[sender]+f.Unproven[sender] == 0 && f.Reported[sender].sentNothing() {
			return true
		}
	}
	return false
}

// flowEvidence describes each RTP flow of the leg, and why the ones that
// cannot or likely do not arrive are lost. A flow of video (or other
// media than audio) or of a T.38 fax says so: the verdict's counts are
// the audio's or the fax's alone.
func (cb *callBuild) flowEvidence(sigs [2]netip.AddrPort, streams []*streamState) []report.Evidence {
	var ev []report.Evidence
	for _, bf := range cb.flows {
		if bf.flow.Key.RTCP {
			continue
		}
		to := other(bf.bd.sender)
		text := fmt.Sprintf("%s %s %s → %s: %d packets", partyNames[bf.bd.sender], flowKind(bf, streams), bf.flow.Key.Src, bf.flow.Key.Dst, bf.flow.Packets)
		icmp := cb.unreach.about(bf.flow.Key.Src, bf.flow.Key.Dst)
		refused := icmp.refuses(bf.flow)
		switch {
		case unreachableFromOutside(bf.flow.Key.Dst.Addr(), sigs[to].Addr()):
			text += fmt.Sprintf(", sent to the %s's private address: they cannot arrive", partyNames[to])
		case refused != "":
			text += ", refused all along (the ICMP errors below): they reach no application"
		case cb.unproven[bf.flow] != "":
			text += ", " + cb.unproven[bf.flow]
		}
		ev = append(ev, report.Evidence{Text: text, FrameRanges: bf.flow.frameRange(), Time: bf.flow.First()})
		ev = appendUnreachable(ev, icmp, bf.flow.Key.Dst)
	}
	return ev
}

// mediaFromNAT is the evidence, when there is some, that party p, an
// endpoint whose SDP names a private address, sends its RTP from another
// address: a NAT between it and the capture point (a virtual machine's or
// a container's, or a router inside a private network), behind which the
// address its SDP names cannot be reached from here.
func (cb *callBuild) mediaFromNAT(p int, streams []*streamState, sig netip.AddrPort) (report.Evidence, bool) {
	if cb.roles[p] != "" {
		return report.Evidence{}, false
	}
	for _, bf := range cb.flows {
		if bf.bd.sender != p || bf.flow.Key.RTCP {
			continue
		}
		st := streamOf(bf, streams)
		if st == nil || st.latest[p] == nil {
			continue
		}
		sdp, src := st.latest[p].Addr, bf.flow.Key.Src
		// Its SIP from its SDP address: no NAT around it (one on the
		// media's way, a router looping it back in, is another matter).
		if !sdp.IsValid() || isHoldAddress(sdp) || !IsPrivate(sdp.Addr()) || src.Addr() == sdp.Addr() || sig.Addr() == sdp.Addr() {
			continue
		}
		return report.Evidence{Text: fmt.Sprintf("the %s's own RTP comes from %s, while its SDP names %s: a NAT between it and the capture point "+
			"(a virtual machine's or a container's, or a router's) maps it, and media sent to %s must cross that NAT, which nothing shows forwarding",
			partyNames[p], src, sdp, sdp.Addr()), FrameRanges: bf.flow.frameRange(), Addrs: []string{src.String(), sdp.String()}, Time: bf.flow.First()}, true
	}
	return report.Evidence{}, false
}

// refusedOnly is the direction whose RTP was refused (ICMP) where it
// arrived, beyond doubt, when the other direction sent nothing the
// capture saw.
func refusedOnly(sum StreamFacts) (int, bool) {
	for d := range 2 {
		if sum.Refused[d] != "" && sum.Doubt[d] == "" && sum.seen(other(d)) == 0 {
			return d, true
		}
	}
	return 0, false
}

// sourceMoved is the evidence, when there is some, that sender's RTP went
// to the address and port the receiver's SDP names (refused there, when
// refused) while the receiver sent its own RTP of the same stream from
// elsewhere: another port of that address (a SIP ALG or NAT that moved
// the port, or the device's own setting), or, when the SDP's address is
// where the receiver's SIP comes from, another public address (its
// network sends media out another address than it names: two internet
// links, load balancing, a NAT pool that does not keep one address per
// host); or from the public address its SIP comes from, while its SDP
// names another (an external address set by hand, stale or wrong). It
// returns the remedy that fits.
func (cb *callBuild) sourceMoved(sender int, refused bool, sigs [2]netip.AddrPort) (report.Evidence, string, bool) {
	for _, to := range cb.flows {
		if to.bd.sender != sender || !to.bd.matched || to.flow.Key.RTCP {
			continue
		}
		refusal := cb.unreach.about(to.flow.Key.Src, to.flow.Key.Dst).refuses(to.flow)
		if refused && refusal == "" {
			continue
		}
		dst := to.flow.Key.Dst
		for _, back := range cb.flows {
			src := back.flow.Key.Src
			if back.bd.sender == sender || back.flow.Key.RTCP || back.bd.mIndex != to.bd.mIndex || src == dst {
				continue
			}
			receiver := partyNames[other(sender)]
			ev := report.Evidence{FrameRanges: back.flow.frameRange(), Addrs: []string{src.String(), dst.String()}, Time: back.flow.First()}
			if src.Addr() == dst.Addr() {
				what := fmt.Sprintf("%d, the port its SDP names, refuses the %s's", dst.Port(), partyNames[sender])
				if refusal == "" {
					what = fmt.Sprintf("the %s sends to %s, which its SDP names", partyNames[sender], dst)
				}
				ev.Text = fmt.Sprintf("the %s sends this stream's RTP from %s, while %s: it likely listens where it sends from, not where its SDP says "+
					"(a SIP ALG or NAT that changed the port, or the device's own setting)", receiver, src, what)
				return ev, remedyUnmappedPort, true
			}
			if !isPublic(src.Addr()) || !isPublic(dst.Addr()) {
				continue
			}
			what := fmt.Sprintf("%s, which its SDP names, refuses the %s's", dst, partyNames[sender])
			if refusal == "" {
				what = fmt.Sprintf("the %s sends to %s, which its SDP names", partyNames[sender], dst)
			}
			switch sig := cb.ownSigAddrs(other(sender), sigs); {
			case slices.Contains(sig, dst.Addr()):
				ev.Text = fmt.Sprintf("the %s sends this stream's RTP from %s, another public address than %s, where its SIP comes from, while %s: "+
					"its network sends media out another address than the one it names (%s), and nothing at %s leads to it", receiver, src, dst.Addr(), what, otherAddressWhy, dst)
				return ev, remedyMediaAddressMoved, true
			case slices.Contains(sig, src.Addr()):
				ev.Text = fmt.Sprintf("the %s sends this stream's RTP from %s, the address its SIP comes from, while %s: the address it names is not its NAT's (%s)",
					receiver, src, what, staleAddressWhy)
				return ev, remedyStaleExternalAddress, true
			}
		}
	}
	return report.Evidence{}, "", false
}

// Why a party's traffic comes from another public address than it names:
// the address is wrong (staleAddressWhy), or its network has more than one
// (otherAddressWhy).
const (
	staleAddressWhy = "an external address set by hand that is stale, as after its line's address changed, or wrong"
	otherAddressWhy = "a router with two internet links or load balancing, a NAT pool that does not keep one address per host"
)

// flowKind names what a flow carries: "RTP" for audio (and for a flow
// no stream carries), "video RTP" and the like for other media, "T.38
// (UDPTL)" for a fax.
func flowKind(bf boundFlow, streams []*streamState) string {
	if bf.flow.udptl {
		return "T.38 (UDPTL)"
	}
	if st := streamOf(bf, streams); st != nil && st.media != "audio" && st.media != "" {
		return st.media + " RTP"
	}
	return "RTP"
}

// appendUnreachable adds to ev what ICMP errors said of packets sent to
// dst (e: nil for none).
func appendUnreachable(ev []report.Evidence, e *unreachable, dst netip.AddrPort) []report.Evidence {
	if e == nil {
		return ev
	}
	return append(ev, report.Evidence{Text: e.evidence(dst), Frames: uniqueFrames(e.firstFrame, e.lastFrame), Addrs: []string{e.reporter.String()}})
}

// oneWayTitle says who cannot hear whom; on a leg that starts or ends at
// a proxy or B2BUA it says which hop fails. When the intermediary hands
// the media past itself (handsMediaPast), the parties are the call's own
// on both ends, so every leg that shares the media tells it alike and
// the call's report keeps one finding (mergeLegs). fax: the verdict is
// a T.38 stream's, and the title names the fax, not audio.
func (cb *callBuild) oneWayTitle(deaf, sender int, fax bool) string {
	what := "audio"
	if fax {
		what = "T.38 fax"
	}
	parties := cb.parties()
	if end, past := cb.handsMediaPast(); past {
		intermediary := parties[end]
		for p := range parties {
			if parties[p].Role != partyNames[p] {
				parties[p] = cb.farParties[p]
			}
		}
		return fmt.Sprintf("One-way %s: the %s cannot hear the %s (media goes directly between them, past the %s)",
			what, partyLabel(parties[deaf]), partyLabel(parties[sender]), partyLabel(intermediary))
	}
	if parties[sender].Role != partyNames[sender] {
		return fmt.Sprintf("One-way %s: the %s cannot hear: media from the %s does not reach it", what, partyLabel(parties[deaf]), partyLabel(parties[sender]))
	}
	if parties[deaf].Role != partyNames[deaf] {
		return fmt.Sprintf("One-way %s: the %s's media does not reach the %s, so the %s cannot hear", what, partyLabel(parties[sender]), partyLabel(parties[deaf]), partyNames[deaf])
	}
	return fmt.Sprintf("One-way %s: the %s cannot hear the %s", what, partyLabel(parties[deaf]), partyLabel(parties[sender]))
}

// handsMediaPast says whether the leg's one intermediary, at its end
// end, passes on SDP that names the call's own party beyond it: its
// signalling address (farEnds), or the very media address and port that
// party's own SDP named (farMedia; a public address from STUN is not its
// signalling address). The media goes between the parties directly, not
// through the intermediary, and for the media the leg's ends are the
// call's own caller and callee (farParties).
func (cb *callBuild) handsMediaPast() (end int, past bool) {
	end = slices.IndexFunc(cb.roles[:], func(r string) bool { return r != "" })
	if end < 0 || cb.roles[other(end)] != "" || cb.farParties[end].Role == "" {
		return 0, false
	}
	for _, ev := range cb.timeline() {
		if ev.Party != end {
			continue
		}
		for _, m := range ev.SDP.Media {
			if !m.Addr.IsValid() || isHoldAddress(m.Addr) {
				continue
			}
			if slices.Contains(cb.farEnds[end], m.Addr.Addr()) || slices.Contains(cb.farMedia[end], m.Addr) && len(cb.farEnds[end]) > 0 {
				return end, true
			}
		}
	}
	return 0, false
}

// mediaPast is the address of the intermediary a stream's media goes
// past (handsMediaPast), when each party's media address is one the
// other party can reach; and those addresses. Such media never crosses
// a capture point on the intermediary's path.
func (cb *callBuild) mediaPast(st *streamState, sigs [2]netip.AddrPort) (netip.Addr, [2]netip.AddrPort) {
	var media [2]netip.AddrPort
	end, past := cb.handsMediaPast()
	if !past {
		return netip.Addr{}, media
	}
	for p := range media {
		m := st.latest[p]
		// handsMediaPast holds only with the far party's signalling
		// address known (farEnds): the other party's own is never missing.
		from := cb.ownSigAddrs(other(p), sigs)[0]
		if m == nil || !m.Addr.IsValid() || isHoldAddress(m.Addr) || unreachableFromOutside(m.Addr.Addr(), from) {
			return netip.Addr{}, media
		}
		media[p] = m.Addr
	}
	return sigs[end].Addr(), media
}

// offLoopback is, for a capture taken on a loopback interface, the first
// of the stream's media addresses (each party's latest SDP) that is not
// its host's: media to it never passes there. Zero otherwise.
func (cb *callBuild) offLoopback(st *streamState) netip.AddrPort {
	if cb.view.loopback == nil {
		return netip.AddrPort{}
	}
	for _, m := range st.latest {
		if m != nil && m.Addr.IsValid() && !isHoldAddress(m.Addr) && !cb.view.onHost(m.Addr.Addr()) {
			return m.Addr
		}
	}
	return netip.AddrPort{}
}

// sigTraces are the NAT traces in a leg's SIP headers (RFC 3261 §18.2.1
// received, RFC 3581 rport, a private Contact or Via seen from outside,
// an ALG's rewrites), each once. They are noted as the messages are
// filed, while those are in cache (the call is judged long after, when
// reading every kept message again was most of what its signalling
// findings cost), and turned into findings when the call is judged.
type sigTraces struct {
	first []sigTrace // each kind of trace once, in the order the messages came
	// received are the public addresses responses' Via received= gave,
	// each with the From-tag that tells whose request it answered
	// (publicAddresses), each pair once.
	received []receivedBy
}

type receivedBy struct {
	fromTag string
	ip      netip.Addr
}

// sigTrace is the first message of a leg to show one trace.
type sigTrace struct {
	kind traceKind
	m    *sipInfo
}

// traceKind is what a trace shows; with what its message names (key) it
// tells a trace from the ones the leg's other messages show.
type traceKind uint8

const (
	traceContact traceKind = iota
	traceReceived
	traceViaPrivate
	traceViaMismatch
	traceLengthMismatch
	traceDuplicateVia
)

// key is what sets a trace of its kind apart: a Contact's or a Via's
// host, a received/rport pair; nothing for an ALG's rewrites (one each
// per leg).
func (tr sigTrace) key() (a, b string) {
	switch tr.kind {
	case traceContact:
		return tr.m.Contact, ""
	case traceReceived:
		return tr.m.Via.Received, tr.m.Via.RPort
	case traceViaPrivate, traceViaMismatch:
		return tr.m.Via.Host, ""
	}
	return "", ""
}

// note reads one kept message of the leg for traces.
func (t *sigTraces) note(m *sipInfo) {
	if ip := m.receivedIP; !m.Request && m.Via.Received != "" && ip.IsValid() && isPublic(ip) {
		r := receivedBy{m.FromTag, ip}
		if !slices.Contains(t.received, r) {
			t.received = append(t.received, r)
		}
	}
	src := m.Src.Addr()
	if ip := m.contactIP; ip.IsValid() && IsPrivate(ip) && isPublic(src) {
		t.once(sigTrace{traceContact, m})
	}
	if !m.Request || m.Via.Host == "" {
		if !m.Request && viaShowsNAT(m.Via) {
			t.once(sigTrace{traceReceived, m})
		}
		return
	}
	// A request's top Via against its source, and the traces of an ALG.
	if !m.viaIP.IsValid() {
		return
	}
	privateVia := IsPrivate(m.viaIP) && isPublic(src)
	if privateVia {
		t.once(sigTrace{traceViaPrivate, m})
	}
	// A private sent-by already says it; this rule catches the rest
	// (a public sent-by with another port: a NAT that changed it).
	if !privateVia && viaDisagrees(m) {
		t.once(sigTrace{traceViaMismatch, m})
	}
	if m.LengthMismatch {
		t.once(sigTrace{traceLengthMismatch, m})
	}
	if m.Via.Dup {
		t.once(sigTrace{traceDuplicateVia, m})
	}
}

// once notes the trace, unless the leg has shown it before (the same kind
// and key). Most messages of a call repeat a trace already noted, and
// the kind tells most others apart without reading strings.
func (t *sigTraces) once(tr sigTrace) {
	a, b := tr.key()
	for _, seen := range t.first {
		if seen.kind == tr.kind {
			if sa, sb := seen.key(); sa == a && sb == b {
				return
			}
		}
	}
	if t.first == nil {
		t.first = new([4]sigTrace)[:0] // a leg shows a few: room for four at once
	}
	t.first = append(t.first, tr)
}

// signallingFindings turns the leg's traces into findings; problem (the
// call's verdict is one) sets the remedy and how grave an ALG's traces
// are.
func signallingFindings(c *sipCall, subject string, problem bool) []report.Finding {
	if len(c.traces.first) == 0 {
		return nil
	}
	list := make([]report.Finding, 0, len(c.traces.first))
	for _, tr := range c.traces.first {
		f := traceFinding(tr, problem)
		f.Subject = subject
		list = append(list, f)
	}
	return list
}

// traceFinding is the finding one trace makes.
func traceFinding(tr sigTrace, problem bool) report.Finding {
	m := tr.m
	switch tr.kind {
	case traceContact:
		contact, source := m.contactIP.String(), m.Src.String()
		return report.Finding{ID: IDContactPrivateAddress, Severity: report.SeverityInfo,
			Title:    "Contact names the private address " + contact + ", but the message came from " + source,
			Evidence: frameEvidence(m.Summary()+" Contact host", m.Frame, contact, source),
			Remedy:   contactRemedy(problem)}
	case traceReceived:
		return report.Finding{ID: IDViaReceivedRport, Severity: report.SeverityInfo,
			Title:    "A server recorded where the request really came from (" + viaNATParams(m.Via) + "): it saw the sender behind NAT",
			Evidence: frameEvidence(m.Summary()+" top Via", m.Frame)}
	case traceViaPrivate:
		return report.Finding{ID: IDViaPrivateAddress, Severity: report.SeverityInfo,
			Title:    "Via sent-by is the private address " + m.viaIP.String() + ", but the request came from " + m.Src.String(),
			Evidence: frameEvidence(m.Method+" top Via", m.Frame)}
	case traceViaMismatch:
		sentBy := netip.AddrPortFrom(m.viaIP, uint16(m.Via.sentByPort()))
		title := fmt.Sprintf("Top Via says %s but the request came from %s: a NAT (or a proxy not adding its Via) is in between", sentBy, m.Src)
		switch {
		case m.viaIP.Is6() && m.Src.Addr().Unmap().Is4():
			title = fmt.Sprintf("Top Via says %s but the request came over IPv4 from %s: NAT64 (an IPv6-only network reaching IPv4 servers) is in between", sentBy, m.Src)
		case !sameFamily(m.viaIP, m.Src.Addr()):
			title = fmt.Sprintf("Top Via says %s but the request came over %s from %s: a translator between IPv4 and IPv6 (or a proxy not adding its Via) is in between",
				sentBy, familyName(m.Src.Addr()), m.Src)
		}
		return report.Finding{ID: IDViaSourceMismatch, Severity: report.SeverityInfo, Title: title,
			Evidence: frameEvidence(m.Method+" top Via sent-by against the IP/UDP source", m.Frame)}
	case traceLengthMismatch:
		return report.Finding{ID: IDSIPALGSuspected, Severity: algSeverity(problem),
			Title:    "Content-Length does not match the body: something (often a SIP ALG) rewrote the message",
			Evidence: frameEvidence(m.Summary(), m.Frame), Remedy: remedyALG}
	default: // traceDuplicateVia
		return report.Finding{ID: IDSIPALGSuspected, Severity: algSeverity(problem),
			Title:    "The message carries the same Via twice: a SIP ALG or a loop rewrote it",
			Evidence: frameEvidence(m.Summary(), m.Frame), Remedy: remedyALG}
	}
}

// mediaSourceFindings: RTP that arrives from an address other than the
// sender's SDP promised is the trace of a NAT mapping (or a relay).
func mediaSourceFindings(cb *callBuild, streams []*streamState, subject string) []report.Finding {
	var fs []report.Finding
	seen := map[netip.AddrPort]bool{}
	for _, bf := range cb.flows {
		f := bf.flow
		if f.Key.RTCP || seen[f.Key.Src] {
			continue
		}
		st := streamOf(bf, streams)
		if st == nil {
			continue
		}
		named := st.all[bf.bd.sender]
		if len(named) == 0 || contains(named, f.Key.Src) {
			continue
		}
		if cb.call.inviteUnseen != nil && bf.bd.sender == caller && f.First().Before(st.firstSDP[caller]) {
			continue // from where the offer the capture lacks named, likely
		}
		seen[f.Key.Src] = true
		why := "a NAT mapping (or a relay)"
		if !slices.ContainsFunc(named, func(a netip.AddrPort) bool { return sameFamily(a.Addr(), f.Key.Src.Addr()) }) {
			why = fmt.Sprintf("a dual-stack host sending over %s, or NAT64 (or a relay)", familyName(f.Key.Src.Addr()))
		}
		to := other(bf.bd.sender)
		if IsPrivate(f.Key.Dst.Addr()) && slices.ContainsFunc(st.all[to], func(a netip.AddrPort) bool { return a.Addr() == f.Key.Src.Addr() && isPublic(a.Addr()) }) {
			// From the public address the receiver's own SDP names, to
			// its private one: their NAT looped it back in.
			why = fmt.Sprintf("the %s's NAT, which the %s is behind too, looped it back in (hairpinning), with its own public address as the source",
				partyNames[to], partyNames[bf.bd.sender])
		}
		fs = append(fs, report.Finding{ID: IDRTPSourceDiffers, Severity: report.SeverityInfo, Subject: subject,
			Title: fmt.Sprintf("RTP from the %s comes from %s, not from %s its SDP named: %s", cb.senderName(bf.bd.sender, f.Key.Src.Addr()), f.Key.Src, joinAddrs(named), why),
			Evidence: []report.Evidence{{Text: fmt.Sprintf("%d packets %s → %s", f.Packets, f.Key.Src, f.Key.Dst),
				Frames: []uint64{f.FirstFrame}, Addrs: []string{f.Key.Src.String()}}}})
	}
	return fs
}

func contains(list []netip.AddrPort, a netip.AddrPort) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// viaShowsNAT: a server wrote received= (RFC 3261 §18.2.1) with an address
// other than the sent-by, or rport= (RFC 3581) with another port: the
// request reached it from somewhere else than the client believed.
func viaShowsNAT(v via) bool {
	if v.Received != "" && v.Received != v.Host {
		return true
	}
	if v.RPort != "" && v.RPort != "-" {
		return v.RPort != fmt.Sprint(v.sentByPort())
	}
	return false
}

// viaDisagrees says whether a message sent over UDP names, as its top Via
// sent-by, an address or port other than the one it came from.
func viaDisagrees(m *sipInfo) bool {
	return m.viaIP.IsValid() && m.Transport == "UDP" && (m.viaIP != m.Src.Addr() || m.Via.sentByPort() != int(m.Src.Port()))
}

// publicAddresses returns, per party, the public address a server saw its
// requests come from (Via received= in responses to it), if any.
func publicAddresses(c *sipCall) [2]netip.Addr {
	var out [2]netip.Addr
	for _, r := range c.traces.received {
		requester := other(c.senderOf(false, r.fromTag))
		if !out[requester].IsValid() {
			out[requester] = r.ip
		}
	}
	return out
}

// ALGSign reads one message seen from outside the sender's NAT (its SIP
// comes from the public address sig) for the traces a SIP ALG leaves
// (issue 5): the ALG rewrites Contact and c= to the NAT's public address
// but keeps the private o= (a phone using STUN fixes c= but leaves its
// private Contact), or it rewrites the headers but fails on the body
// (Contact public, c= still private). It returns the reason, or "".
func ALGSign(sig netip.Addr, contactHost string, origin, conn netip.Addr) string {
	contact, err := netip.ParseAddr(contactHost)
	if err != nil || !isPublic(sig) || !conn.IsValid() {
		return ""
	}
	switch {
	case contact == sig && conn == sig && origin.IsValid() && IsPrivate(origin):
		return "Contact and SDP c= carry the NAT's public address while SDP o= keeps the private " + origin.String()
	case contact == sig && IsPrivate(conn):
		return "Contact was rewritten to the public address but SDP c= still names the private " + conn.String()
	}
	return ""
}

// contactRemedy: a private Contact is only worth fixing when calls fail;
// on a working call the server evidently handled it.
func contactRemedy(problem bool) string {
	if !problem {
		return ""
	}
	return "The server must reach this phone at its public address: enable NAT handling on the server (force_rport, rewrite_contact / fix_nated_contact) or STUN on the phone."
}

// b2i counts a finding that is there.
func b2i(there bool) int {
	if there {
		return 1
	}
	return 0
}
