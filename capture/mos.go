package capture

import "strings"

// A listening-quality estimate per stream, with the simplified ITU-T G.107
// E-model that VoIP monitors (rtpengine, HOMER, VoIPmonitor) report from
// packet statistics. Everything not measured in a capture takes G.107's
// default, so only delay, codec and loss move the figure:
//
//	R   = 93.2 - Id - Ie,eff                 (G.107 §7: R0 - Is with defaults)
//	d   = 2 * mean jitter + 10 ms            (a jitter buffer holding twice the
//	                                          jitter, plus coding and framing)
//	Id  = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)
//	Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl + Bpl)   (random loss, BurstR = 1)
//	MOS = 1 + 0.035 R + 7e-6 R (R - 60) (100 - R), 1 below R = 0, 4.5 above 100
//
// Ppl is the packet loss in percent. The network's one-way delay is not
// visible in a capture at one point and is taken as 0, so the estimate is
// an upper bound on a path with long delay. Ie and Bpl are ITU-T G.113
// Appendix I's for the codec (codecImpairments); G.722 is rated on the
// narrowband scale with G.711's values, so its MOS is at most 4.4 like
// G.711's.

// codecImpairment is a codec's equipment impairment Ie and its packet-loss
// robustness Bpl.
type codecImpairment struct{ ie, bpl float64 }

// codecImpairments by encoding name (G.113 Appendix I, Table I.1 and I.3:
// G.711 with packet loss concealment, G.729A with VAD, G.723.1 at 6.3
// kbit/s).
var codecImpairments = map[string]codecImpairment{
	"PCMU": {0, 25.1},
	"PCMA": {0, 25.1},
	"G722": {0, 25.1},
	"G729": {11, 19.0},
	"G723": {15, 16.1},
}

// eModel gives R and MOS for a codec ("PCMA/8000"), loss in percent and
// mean jitter in milliseconds; ok is false for a codec not in the table.
func eModel(codec string, lossPct, jitterMs float64) (r, mos float64, ok bool) {
	name, _, _ := strings.Cut(strings.ToUpper(codec), "/")
	c, ok := codecImpairments[name]
	if !ok {
		return 0, 0, false
	}
	d := 2*jitterMs + 10
	id := 0.024 * d
	if d > 177.3 {
		id += 0.11 * (d - 177.3)
	}
	ppl := max(lossPct, 0)
	ieEff := c.ie + (95-c.ie)*ppl/(ppl+c.bpl)
	r = 93.2 - id - ieEff
	return r, mosOf(r), true
}

// mosOf maps R to a mean opinion score (G.107 Annex B).
func mosOf(r float64) float64 {
	switch {
	case r <= 0:
		return 1
	case r >= 100:
		return 4.5
	}
	return 1 + 0.035*r + 7e-6*r*(r-60)*(100-r)
}
