package report

import "time"

// StreamQuality is how good one RTP stream was where the capture saw it.
// Loss, order, jitter and gaps are the network's part; the audio level
// tells a muted microphone from a network fault.
type StreamQuality struct {
	// Codec is the payload format of the stream's first packet
	// ("PCMU/8000"), from the SDP's rtpmap or RFC 3551's static types.
	Codec string `json:"codec,omitempty"`
	// Expected is how many packets the sequence numbers say were sent;
	// RTPFlow.Lost of them did not arrive (RFC 3550 A.3), LossPct is that
	// share in percent.
	Expected uint64  `json:"expected"`
	LossPct  float64 `json:"loss_pct"`
	// OutOfOrder packets came after a packet with a higher sequence
	// number; Duplicates came twice.
	OutOfOrder uint64 `json:"out_of_order"`
	Duplicates uint64 `json:"duplicates"`
	// JitterMeanMs and JitterMaxMs are the RFC 3550 interarrival jitter,
	// at the codec's clock rate, averaged over and at most at the stream's
	// regular packets (as Wireshark's RTP stream analysis counts them).
	JitterMeanMs float64 `json:"jitter_mean_ms"`
	JitterMaxMs  float64 `json:"jitter_max_ms"`
	// RFactor and MOS estimate the listening quality with a simplified
	// ITU-T G.107 E-model (see capture/mos.go); absent for codecs whose
	// impairment natdoc does not know.
	RFactor float64 `json:"r_factor,omitempty"`
	MOS     float64 `json:"mos,omitempty"`
	// Level is the audio level of G.711 and comfort-noise packets.
	Level *AudioLevel `json:"level,omitempty"`
	// SRTP: a sample of the packets decrypted with the SDP's keys.
	SRTP *SRTPCheck `json:"srtp,omitempty"`
	// Outage is the longest time the stream stopped arriving while its
	// sender went on sending (the sequence numbers jumped across it).
	Outage *RTPOutage `json:"outage,omitempty"`
	// SilenceSuppression: the sender sends nothing while its user is
	// silent (VAD): talk spurts after the first began with the marker bit,
	// it sent comfort noise, or it paused for seconds with no sequence
	// number missing. Its stream stopping says less than another's.
	SilenceSuppression bool `json:"silence_suppression,omitempty"`
}

// RTPOutage is a stretch of a stream during which every packet sent was
// lost before the capture point.
type RTPOutage struct {
	// From is the last packet before it, To the first after; Missing the
	// packets the sequence numbers say were sent in between.
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	FromFrame uint64    `json:"from_frame,omitempty"`
	ToFrame   uint64    `json:"to_frame,omitempty"`
	Missing   uint64    `json:"missing"`
}

// AudioLevel is the loudness of a stream's audio, in dBov (0 dBov: a
// full-scale square wave).
type AudioLevel struct {
	// Packets whose level was measured; Active of them were louder than
	// silence (SilentDBov), ComfortNoise were comfort-noise packets.
	Packets      uint64  `json:"packets"`
	Active       uint64  `json:"active"`
	ComfortNoise uint64  `json:"comfort_noise,omitempty"`
	MeanDBov     float64 `json:"mean_dbov"`
	PeakDBov     float64 `json:"peak_dbov"`
	SilentDBov   float64 `json:"silent_dbov"`
	// Silent: the whole stream carried only silence or comfort noise.
	Silent bool `json:"silent,omitempty"`
}

// RTCPView is what the parties' own RTCP (RFC 3550 §6.4) said about one
// RTP stream, to set beside what the capture measured.
type RTCPView struct {
	// SenderReports are the stream's sender's own reports about it;
	// SenderPackets is the packet count of the last one.
	SenderReports int    `json:"sender_reports,omitempty"`
	SenderPackets uint32 `json:"sender_packets,omitempty"`
	// Receiver sums up the receiver's reception reports about the stream.
	Receiver *ReceptionSummary `json:"receiver,omitempty"`
	// ReceiverHeardNothing: the receiver sent RTCP while the stream
	// flowed, but none of its reports mentions the stream: it received
	// none of it. ReceiverRTCP names those reports.
	ReceiverHeardNothing bool          `json:"receiver_heard_nothing,omitempty"`
	ReceiverRTCP         *RTCPReporter `json:"receiver_rtcp,omitempty"`
}

// RTCPReporter is where a party's RTCP came from and how much of it.
type RTCPReporter struct {
	From       string `json:"from"`
	Reports    int    `json:"reports"`
	FirstFrame uint64 `json:"first_frame"`
	LastFrame  uint64 `json:"last_frame"`
}

// ReceptionSummary is a receiver's reception report blocks about one
// stream: the last one's figures and the worst seen.
type ReceptionSummary struct {
	RTCPReporter
	CumulativeLost     int64   `json:"cumulative_lost"`
	FractionLostPct    float64 `json:"fraction_lost_pct"`
	MaxFractionLostPct float64 `json:"max_fraction_lost_pct"`
	JitterMs           float64 `json:"jitter_ms"`
	MaxJitterMs        float64 `json:"max_jitter_ms"`
	// HighestSeq is the extended highest sequence number received.
	HighestSeq uint32 `json:"highest_seq"`
	// MislabelledSSRC, when set, is the SSRC the blocks name, which no
	// stream has: a receiver that labels its reports wrong, whose blocks
	// are matched to the stream by their sequence numbers.
	MislabelledSSRC uint32 `json:"mislabelled_ssrc,omitempty"`
	// XR holds the receiver's RTCP XR VoIP metrics (RFC 3611 §4.7).
	XR *XRVoIPMetrics `json:"xr,omitempty"`
}

// XRVoIPMetrics is a receiver's own quality estimate. Values the receiver
// left unavailable (127) are zero.
type XRVoIPMetrics struct {
	LossRatePct    float64 `json:"loss_rate_pct"`
	DiscardRatePct float64 `json:"discard_rate_pct"`
	RoundTripMs    int     `json:"round_trip_ms,omitempty"`
	RFactor        int     `json:"r_factor,omitempty"`
	MOSLQ          float64 `json:"mos_lq,omitempty"`
	MOSCQ          float64 `json:"mos_cq,omitempty"`
}

// SRTPCheck is what decrypting a sample of an SDES-SRTP stream with the
// keys of its SDP showed.
type SRTPCheck struct {
	// Suite is the crypto suite of the key that authenticated ("" when
	// none did).
	Suite         string `json:"suite,omitempty"`
	Checked       uint64 `json:"checked"`
	Authenticated uint64 `json:"authenticated"`
}
