package report

import "time"

// CaptureInfo describes the packets an analysis read and what it could not.
type CaptureInfo struct {
	Files   []string  `json:"files,omitempty"`
	Live    string    `json:"interface,omitempty"` // live capture interface
	Packets uint64    `json:"packets"`
	Bytes   uint64    `json:"bytes"`
	First   time.Time `json:"first,omitzero"`
	Last    time.Time `json:"last,omitzero"`
	// Vantage says from where the capture saw the traffic (e.g. "LAN side of
	// the NAT: private addresses of phones are visible"), so verdicts do not
	// claim what that point cannot see.
	Vantage   string    `json:"vantage,omitempty"`
	Anomalies []Anomaly `json:"anomalies,omitempty"`
	// Counts of decoded packets by kind ("sip", "rtp", "rtcp", "other").
	Counts []KeyValue `json:"counts,omitempty"`
	// CallsLeftOut counts calls judged and counted in the summary but
	// left out of a report that keeps its calls (natdoc analyze
	// --max-kept-calls).
	CallsLeftOut int `json:"calls_left_out,omitempty"`
	// Duplicates counts packets dropped because an identical copy was
	// already seen (a SPAN port copying both directions, ERSPAN beside the
	// plain copy, overlapping captures, a file given twice).
	Duplicates uint64 `json:"duplicates,omitempty"`
	// Comments are the capture's pcapng section and packet comments: the
	// capturer's notes. CommentsLeftOut counts those past the first 100.
	Comments        []CaptureComment `json:"comments,omitempty"`
	CommentsLeftOut uint64           `json:"comments_left_out,omitempty"`
}

// CaptureComment is one pcapng comment: on a packet (Frame), or on a whole
// file's section (Frame 0).
type CaptureComment struct {
	Frame uint64 `json:"frame,omitempty"`
	Text  string `json:"text"`
}

// Anomaly is input that could not be read as it claimed to be, counted and
// reported rather than silently dropped.
type Anomaly struct {
	Kind   string `json:"kind"` // e.g. "truncated-record", "malformed-sip"
	Count  uint64 `json:"count"`
	Detail string `json:"detail,omitempty"`
	// Offsets are byte offsets in the file of the first occurrences, when
	// the file format tells them (pcap does; pcapng, read through
	// gopacket's buffered reader, does not); Frames are their frame
	// numbers, counted from 1 as Wireshark does.
	Offsets []int64  `json:"offsets,omitempty"`
	Frames  []uint64 `json:"frames,omitempty"`
}

// The audio findings of a call's verdict. Both capture (judging packets)
// and phone (measuring a call it made) make them, so they are defined here,
// in the model both share.
const (
	IDTwoWayAudio FindingID = "two-way-audio"
	IDOneWayAudio FindingID = "one-way-audio"
	IDNoWayAudio  FindingID = "no-way-audio"
)

// IDMappingVaries: the NAT maps one local socket to a public port per
// destination (symmetric NAT), so STUN cannot fix one-way audio behind
// it. natdoc stun proves it by probing, natdoc analyze from a phone's own
// STUN in the capture.
const IDMappingVaries FindingID = "mapping-varies-by-destination"

// Verdict is a call's or stream's audio outcome.
type Verdict string

const (
	VerdictTwoWay Verdict = "two-way"
	VerdictOneWay Verdict = "one-way"
	VerdictNoWay  Verdict = "no-way"
	// VerdictOnHold: a call put on hold after it was up (re-INVITE or
	// UPDATE with sendonly, inactive or c=0.0.0.0).
	VerdictOnHold Verdict = "on-hold"
	// VerdictOneWayNegotiated: the SDP asked for media one way only from
	// the start (announcements, paging, monitoring), and it flowed so.
	VerdictOneWayNegotiated Verdict = "one-way-negotiated"
	// VerdictNotAnswered: the INVITE got no 2xx; Call.NotAnswered says how
	// its setup ended.
	VerdictNotAnswered Verdict = "not-answered"
	// VerdictNoMediaExpected: answered, but no media stream was negotiated
	// (or no SDP seen).
	VerdictNoMediaExpected   Verdict = "no-media-expected"
	VerdictIncompleteCapture Verdict = "incomplete-capture"
)

// Reasons a call was not answered (NotAnswered.Reason).
const (
	// NotAnsweredRejected: a final response 3xx-6xx (other than 408)
	// ended the setup; NotAnswered.Status has the code.
	NotAnsweredRejected = "rejected"
	// NotAnsweredCancelled: the caller sent CANCEL; NotAnswered.Rang says
	// whether the callee was ringing by then.
	NotAnsweredCancelled = "cancelled"
	// NotAnsweredTimedOut: 408, or no final response within the INVITE's
	// timeout (64*T1, RFC 3261 §17.1.1.2) after a 100 Trying, or within a
	// proxy's Timer C (3 minutes, §16.6) once it rang.
	NotAnsweredTimedOut = "timed-out"
	// NotAnsweredUnreachable: no response to the INVITE at all.
	NotAnsweredUnreachable = "unreachable"
)

// NotAnswered says how the setup of a call that got no 2xx ended.
type NotAnswered struct {
	Reason string `json:"reason"`           // see NotAnswered* constants
	Status int    `json:"status,omitempty"` // final response code, if any
	// Rang: a 18x (ringing, session progress) came before the end.
	Rang bool `json:"rang"`
	// Phrase is the final response's reason phrase ("Service
	// Unavailable"); Cause what the Reason (RFC 3326: a Q.850 cause) and
	// Warning headers of that response, or of the caller's CANCEL, said.
	Phrase string `json:"phrase,omitempty"`
	Cause  string `json:"cause,omitempty"`
	// By is who sent the final response that ended the setup (ip:port):
	// the callee, or a proxy or server on its way; ByAgent its Server or
	// User-Agent header. Empty for a cancelled call.
	By      string `json:"by,omitempty"`
	ByAgent string `json:"by_agent,omitempty"`
	// Scanner: the unanswered INVITE came from the internet and is a SIP
	// scanner's by all signs (its User-Agent, or sent once and never
	// resent); the call's request-unanswered finding says which. Such a
	// request is rightly ignored: not a fault.
	Scanner bool `json:"scanner,omitempty"`
}

// IsProblem reports whether the verdict means someone could not hear.
func (v Verdict) IsProblem() bool { return v == VerdictOneWay || v == VerdictNoWay }

// Party is one end of a call as SIP named it and as the packets showed it.
type Party struct {
	Role    string `json:"role"` // "caller" or "callee"
	User    string `json:"user,omitempty"`
	Host    string `json:"host,omitempty"`
	Display string `json:"display,omitempty"`
	// Dialed is the user part of the INVITE's Request-URI when it differs
	// from User (the callee's To): the number really dialled, after a
	// forward, a hunt group or a proxy's rewrite.
	Dialed string `json:"dialed,omitempty"`
	// SignalAddr is where this party's SIP really came from (ip:port).
	SignalAddr string `json:"signal_addr,omitempty"`
	UserAgent  string `json:"user_agent,omitempty"`
}

// Call is one SIP dialog with its media.
type Call struct {
	ID      string    `json:"id"` // natdoc's short name, "C1", "C2", ...
	CallID  string    `json:"call_id"`
	FromTag string    `json:"from_tag,omitempty"`
	ToTag   string    `json:"to_tag,omitempty"`
	Caller  Party     `json:"caller"`
	Callee  Party     `json:"callee"`
	Start   time.Time `json:"start,omitzero"`
	Answer  time.Time `json:"answer,omitzero"`
	End     time.Time `json:"end,omitzero"`
	// Status is the INVITE's final response code (0: none seen).
	Status int `json:"status,omitempty"`
	// State is how the dialog ended: "answered", "cancelled", "rejected",
	// "in-progress", "ended".
	State     string        `json:"state,omitempty"`
	Transport string        `json:"transport,omitempty"`
	Streams   []MediaStream `json:"streams,omitempty"`
	Messages  []SIPMessage  `json:"messages,omitempty"`
	Verdict   Verdict       `json:"verdict"`
	// CannotHear names the party ("caller"/"callee") that hears nothing on a
	// one-way call.
	CannotHear string    `json:"cannot_hear,omitempty"`
	Explain    string    `json:"explain,omitempty"`
	Findings   []Finding `json:"findings,omitempty"`
	// NotAnswered is set for verdict not-answered.
	NotAnswered *NotAnswered `json:"not_answered,omitempty"`
	// Legs lists the hops of the call when the capture saw more than one
	// (a proxy's or a B2BUA's legs), in order from the caller outwards,
	// each judged on its own; Streams is then the leg that decided the
	// call's verdict. Empty for a call seen on one hop.
	Legs []CallLeg `json:"legs,omitempty"`
	// StreamsLeg is the number (from 1) of the leg whose streams Streams
	// are, when the call has legs; their parties ("caller", "callee") are
	// that leg's: a B2BUA or proxy at one end stands for the call's own
	// party there.
	StreamsLeg int `json:"streams_leg,omitempty"`
	// EarlyDialogs are the forks (other To-tags) that answered only
	// provisionally and ended when another was answered or the call
	// failed; they are part of this call, never calls of their own.
	EarlyDialogs []EarlyDialog `json:"early_dialogs,omitempty"`
}

// CallLeg is one hop of a call between two signalling parties in the
// capture, with its own dialog, SDP offer/answer and media. Party roles are
// "caller", "callee", or "proxy"/"b2bua" for the intermediary a hop starts
// or ends at.
type CallLeg struct {
	CallID     string        `json:"call_id"`
	FromTag    string        `json:"from_tag,omitempty"`
	ToTag      string        `json:"to_tag,omitempty"`
	Caller     Party         `json:"caller"`
	Callee     Party         `json:"callee"`
	Status     int           `json:"status,omitempty"`
	State      string        `json:"state,omitempty"`
	Streams    []MediaStream `json:"streams,omitempty"`
	Verdict    Verdict       `json:"verdict"`
	CannotHear string        `json:"cannot_hear,omitempty"`
	Explain    string        `json:"explain,omitempty"`
	// NotAnswered is set for verdict not-answered.
	NotAnswered *NotAnswered `json:"not_answered,omitempty"`
}

// EarlyDialog is a fork of a call that sent provisional responses only.
type EarlyDialog struct {
	ToTag      string        `json:"to_tag"`
	Status     int           `json:"status"` // its last provisional or final status
	SignalAddr string        `json:"signal_addr,omitempty"`
	UserAgent  string        `json:"user_agent,omitempty"`
	Streams    []MediaStream `json:"streams,omitempty"` // early media, if any
}

// SIPMessage is one line of a call's ladder diagram.
type SIPMessage struct {
	Frame   uint64    `json:"frame"`
	Time    time.Time `json:"time"`
	Src     string    `json:"src"`
	Dst     string    `json:"dst"`
	Summary string    `json:"summary"` // "INVITE (SDP)", "200 OK", ...
	HasSDP  bool      `json:"has_sdp,omitempty"`
}

// MediaDescription is what one party's SDP asked for one m= line.
type MediaDescription struct {
	Party     string   `json:"party"` // "caller" or "callee"
	Frame     uint64   `json:"frame"`
	Addr      string   `json:"addr"` // where it asked to receive RTP, ip:port
	RTCPAddr  string   `json:"rtcp_addr,omitempty"`
	Origin    string   `json:"origin,omitempty"` // o= address
	Direction string   `json:"direction"`        // sendrecv, sendonly, recvonly, inactive
	Proto     string   `json:"proto,omitempty"`  // RTP/AVP, RTP/SAVP, ...
	Codecs    []string `json:"codecs,omitempty"`
	// ICECandidates are the RTP candidates its ICE offered, "type
	// ip:port" (c= names one of them, the default).
	ICECandidates []string `json:"ice_candidates,omitempty"`
}

// MediaStream is one m= line with its negotiation and the RTP that flowed.
type MediaStream struct {
	Index   int               `json:"index"`
	Media   string            `json:"media"` // audio, video
	Offer   *MediaDescription `json:"offer,omitempty"`
	Answer  *MediaDescription `json:"answer,omitempty"`
	Flows   []RTPFlow         `json:"flows,omitempty"`
	Verdict Verdict           `json:"verdict"`
	// InVerdict: the call's verdict counts this stream, and so do the
	// calls table's packets and MOS. Audio and fax (T.38) are what a call
	// is for; video and the rest count only in a call with neither, and
	// only the fax once a T.38 stream decided the verdict.
	InVerdict bool `json:"in_verdict,omitempty"`
	// Delivery says, per direction, whether its media reached the
	// receiver and how the capture shows it.
	Delivery []Delivery `json:"delivery,omitempty"`
}

// How a direction's delivery was established (Delivery.Proof).
const (
	// ProofSeenArriving: seen where the receiver gets it (no NAT between
	// the capture point and the receiver).
	ProofSeenArriving = "seen-arriving"
	// ProofSeenLeaving: seen leaving toward the receiver; nothing beyond
	// the capture point is visible, and nothing says it was lost.
	ProofSeenLeaving = "seen-leaving"
	// ProofInferred: sent to the public address of the receiver's NAT, on
	// the port the receiver's own media leaves from: the mapping exists.
	ProofInferred = "inferred"
	// ProofRTCPReported: the capture holds none of the stream's RTP (a
	// HEP feed of SIP and RTCP), and the receiver's RTCP reports it.
	ProofRTCPReported = "rtcp-reported"
)

// Delivery is one direction of a media stream: the packets seen and
// whether, from this capture point, they reached their receiver.
type Delivery struct {
	Direction string `json:"direction"` // "caller->callee", "callee->caller"
	Packets   uint64 `json:"packets"`
	Delivered bool   `json:"delivered"`
	// Proof is how delivery was established (Proof* constants); empty when
	// the direction is not delivered.
	Proof string `json:"proof,omitempty"`
	// Doubt says why packets seen are not counted as delivered.
	Doubt string `json:"doubt,omitempty"`
}

// RTPFlow is the RTP seen in one direction between two transport addresses.
type RTPFlow struct {
	// Direction is "caller->callee" or "callee->caller".
	Direction    string       `json:"direction"`
	Src          string       `json:"src"`
	Dst          string       `json:"dst"`
	SSRCs        []uint32     `json:"ssrcs,omitempty"`
	PayloadTypes PayloadTypes `json:"payload_types,omitempty"`
	Packets      uint64       `json:"packets"`
	Bytes        uint64       `json:"bytes"`
	// Lost is the packets the sequence numbers say were sent less those
	// that came: negative when more came (a sender that sends some twice),
	// as RFC 3550 A.3 counts and Wireshark shows it.
	Lost int64 `json:"lost"`
	// JitterMs is the RFC 3550 interarrival jitter after the last packet,
	// what the receiver's RTCP would report; Quality has its mean and
	// maximum. MaxGapMs is the longest time between packets of one talk
	// spurt (Wireshark's "max delta").
	JitterMs   float64   `json:"jitter_ms"`
	MaxGapMs   float64   `json:"max_gap_ms"`
	First      time.Time `json:"first,omitzero"`
	Last       time.Time `json:"last,omitzero"`
	FirstFrame uint64    `json:"first_frame,omitempty"`
	LastFrame  uint64    `json:"last_frame,omitempty"`
	// MatchedSDP says the flow's destination is an address an SDP promised;
	// false means it was bound to the call by heuristics (timing, SSRC,
	// signalling source), as NATed media often must be.
	MatchedSDP bool `json:"matched_sdp"`
	// ICECandidate: the destination SDP promised is one of its ICE
	// candidates (host, srflx, prflx or relay), not its c= address.
	ICECandidate string `json:"ice_candidate,omitempty"`
	// TURNServer and TURNClient: the flow was relayed by this TURN server
	// (RFC 8656), and the capture saw it between the server and this
	// client, in ChannelData or Send and Data indications; Src or Dst is
	// the client's relayed address.
	TURNServer string `json:"turn_server,omitempty"`
	TURNClient string `json:"turn_client,omitempty"`
	RTCP       bool   `json:"rtcp,omitempty"`
	// Unreachable: the flow was sent to an address its receiver cannot be
	// reached at from where the capture saw it (a private address of a
	// party seen from outside its NAT), or it was refused (Refused): seen
	// leaving, it never arrives.
	Unreachable bool `json:"unreachable,omitempty"`
	// Refused: ICMP destination-unreachable errors about the flow's packets
	// came back all along its life; what they said (port unreachable: the
	// host is there, nothing listens on the port).
	Refused string `json:"refused,omitempty"`
	// Unproven: sent to the receiver's NAT on a port its own media does not
	// leave from, with nothing in the capture showing the NAT forwards it:
	// likely lost.
	Unproven bool `json:"unproven,omitempty"`
	// UDPTL: a T.38 fax stream (its packets carry no RTP header).
	UDPTL bool `json:"udptl,omitempty"`
	// Timeline counts packets per TimelineStepMs from First, so a report
	// can show where media started and stopped.
	Timeline       []uint32 `json:"timeline,omitempty"`
	TimelineStepMs int64    `json:"timeline_step_ms,omitempty"`
	// Quality: codec, loss, order, jitter, MOS and audio level (RTP only).
	Quality *StreamQuality `json:"quality,omitempty"`
	// Reports is what the sender's and the receiver's RTCP said about it.
	Reports *RTCPView `json:"rtcp_reports,omitempty"`
}
