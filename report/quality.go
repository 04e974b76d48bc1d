package report

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
