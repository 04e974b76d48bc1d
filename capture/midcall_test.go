package capture

import (
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

func TestMediaMoveFinding(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	from := &report.RTPFlow{Src: "203.0.113.1:10000", Dst: "198.51.100.20:30000", Packets: 750, First: t0, Last: t0.Add(15 * time.Second)}
	to := &report.RTPFlow{Src: "203.0.113.1:10007", Dst: "198.51.100.20:30000", Packets: 1250, First: t0.Add(15*time.Second + 20*time.Millisecond), Last: t0.Add(40 * time.Second)}
	stale := &report.RTPFlow{Src: "198.51.100.20:30000", Dst: "203.0.113.1:10000", Packets: 2000, First: t0, Last: t0.Add(40 * time.Second)}
	shortly := &report.RTPFlow{Src: stale.Src, Dst: stale.Dst, Packets: 820, First: t0, Last: t0.Add(16500 * time.Millisecond)}
	followed := &report.RTPFlow{Src: "198.51.100.20:30000", Dst: "203.0.113.1:10007", Packets: 1240, First: t0.Add(15200 * time.Millisecond), Last: t0.Add(40 * time.Second)}
	for _, tc := range []struct {
		name        string
		mv          mediaMove
		sev         report.Severity
		remedy      bool
		titleSuffix string
	}{
		{"far end kept the old port", mediaMove{party: caller, from: from, to: to, stale: stale}, report.SeverityError, true, "heard nothing from then on"},
		{"far end kept it a moment", mediaMove{party: caller, from: from, to: to, stale: shortly}, report.SeverityWarning, true, "heard nothing from then on"},
		{"far end followed", mediaMove{party: caller, from: from, to: to, stale: stale, followed: followed}, report.SeverityInfo, false, "followed it (symmetric RTP)"},
		{"far end silent", mediaMove{party: caller, from: from, to: to}, report.SeverityInfo, true, "a new mapping"},
	} {
		f, oneWay := tc.mv.finding("cid")
		if f.ID != IDMediaRemapped || f.Severity != tc.sev || (f.Remedy != "") != tc.remedy || !strings.HasSuffix(f.Title, tc.titleSuffix) {
			t.Errorf("%s: %s %s remedy %v: %s", tc.name, f.ID, f.Severity, f.Remedy != "", f.Title)
		}
		if oneWay != (tc.sev == report.SeverityError) {
			t.Errorf("%s: one-way %v with severity %s", tc.name, oneWay, f.Severity)
		}
	}
}

func TestNoteGap(t *testing.T) {
	ms := func(n int64) int64 { return n * int64(time.Millisecond) }
	for _, tc := range []struct {
		name           string
		prevSeq, seq   uint16
		prevAt, at     int64
		wantMissing    uint16
		wantFromNs     int64
		alreadyLongest int64 // a longer outage kept before
	}{
		{"18 s of 20 ms packets lost", 100, 1000, 0, ms(18020), 899, 0, 0},
		{"a pause with no numbers skipped (silence suppression)", 100, 101, 0, ms(5000), 0, 0, 0},
		{"a pause with one packet lost", 100, 102, 0, ms(5000), 0, 0, 0},
		{"a leap no gap holds (renumbered)", 100, 20000, 0, ms(3000), 0, 0, 0},
		{"a late packet (backwards)", 1000, 100, 0, ms(3000), 0, 0, 0},
		{"wrapping around 65535", 65500, 99, ms(1000), ms(3720), 134, ms(1000), 0},
		{"shorter than the one kept", 100, 300, 0, ms(4000), 0, 0, ms(10000)},
	} {
		var q flowQuality
		if tc.alreadyLongest > 0 {
			q.outage = outageMark{toNs: tc.alreadyLongest, missing: 1}
		}
		q.noteGap(tc.prevSeq, tc.seq, tc.prevAt, tc.at, 1, 2)
		got := q.outage.missing
		if tc.alreadyLongest > 0 {
			if q.outage.toNs != tc.alreadyLongest {
				t.Errorf("%s: replaced the longer outage: %+v", tc.name, q.outage)
			}
			continue
		}
		if got != tc.wantMissing || (got > 0 && q.outage.fromNs != tc.wantFromNs) {
			t.Errorf("%s: %+v, want %d missing", tc.name, q.outage, tc.wantMissing)
		}
	}
}
