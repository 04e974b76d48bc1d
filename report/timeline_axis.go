package report

import (
	"fmt"
	"strings"
	"time"
)

// The timelines of the HTML report get a time axis with round ticks and,
// per direction, a packet-rate scale: bars of every stream in a lane share
// one scale, its top labelled in packets per second, so a stream that
// thins out is seen as such, not stretched to full height.

// axisSteps are the tick spacings a time axis may use.
var axisSteps = []time.Duration{
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour,
}

// maxTicks bounds the labels on an axis 800 px wide.
const maxTicks = 10

// axisStep is the smallest spacing that keeps span within maxTicks ticks.
func axisStep(span time.Duration) time.Duration {
	for _, s := range axisSteps {
		if span/s <= maxTicks {
			return s
		}
	}
	return span / maxTicks
}

// timeAxis draws ticks with labels under lanes lanes of height laneH,
// starting at x left over width pixels for span.
func timeAxis(b *strings.Builder, span time.Duration, left, width, lanes, laneH int) {
	step := axisStep(span)
	base := lanes * laneH
	for t := time.Duration(0); t <= span; t += step {
		x := left + int(float64(width)*float64(t)/float64(span))
		anchor := "middle"
		if t == 0 {
			anchor = "start"
		}
		fmt.Fprintf(b, `<line x1="%d" y1="0" x2="%d" y2="%d" stroke="#eee"/><text x="%d" y="%d" text-anchor="%s" fill="#555">%s</text>`,
			x, x, base+4, x, base+18, anchor, tickLabel(t))
	}
}

// tickLabel writes a tick's time: "0 s", "1.5 s", "2m30s".
func tickLabel(t time.Duration) string {
	if t < time.Minute {
		return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", t.Seconds()), "0"), ".") + " s"
	}
	return t.String()
}

// lanePeakRate is the highest packet rate, per second, of the RTP flows
// of one direction (0 when none has a timeline).
func lanePeakRate(c Call, dir string) float64 {
	var peak float64
	for _, s := range c.Streams {
		for _, f := range s.Flows {
			if f.Direction != dir || f.RTCP || f.TimelineStepMs <= 0 {
				continue
			}
			for _, v := range f.Timeline {
				peak = max(peak, float64(v)*1000/float64(f.TimelineStepMs))
			}
		}
	}
	return peak
}

// rateScale labels a lane's top with its peak rate.
func rateScale(b *strings.Builder, peak float64, left, width, y int) {
	if peak <= 0 {
		return
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#bbb" stroke-dasharray="3,3"/><text x="%d" y="%d" text-anchor="end" fill="#555">%.0f pkt/s</text>`,
		left, y+4, left+width, y+4, left-4, y+12, peak)
}
