package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
	"github.com/spf13/cobra"
)

// filterFlags are natdoc analyze's call filters.
type filterFlags struct {
	hosts    []string
	user     string
	callID   string
	since    string
	until    string
	verdicts []string
}

func (f *filterFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.hosts, "host", nil, "only calls with a party (SIP or media) at this `IP` (repeatable)")
	fl.StringVar(&f.user, "user", "", "only calls whose caller or callee user or name contains this `TEXT`")
	fl.StringVar(&f.callID, "call-id", "", "only the call with this SIP `Call-ID`")
	fl.StringVar(&f.since, "since", "", "only calls still going at this capture `TIME` (RFC 3339 or \"2006-01-02 15:04:05\", UTC) or later")
	fl.StringVar(&f.until, "until", "", "only calls that started at this capture `TIME` or before")
	fl.StringSliceVar(&f.verdicts, "verdict", nil, "only calls with this `VERDICT`: two-way, one-way, no-way, on-hold, no-media-expected, incomplete-capture, or problem (one-way and no-way); repeatable")
}

// knownVerdicts are what --verdict accepts.
var knownVerdicts = []report.Verdict{report.VerdictTwoWay, report.VerdictOneWay, report.VerdictNoWay,
	report.VerdictOnHold, report.VerdictNoMediaExpected, report.VerdictIncompleteCapture}

// filter checks the flags and builds the filter (nil when none is set).
func (f *filterFlags) filter() (*capture.CallFilter, error) {
	cf := &capture.CallFilter{User: f.user, CallID: f.callID}
	for _, h := range f.hosts {
		a, err := netip.ParseAddr(h)
		if err != nil {
			return nil, usageErrorf("--host %q: want an IP address", h)
		}
		cf.Hosts = append(cf.Hosts, a.Unmap())
	}
	var err error
	if cf.Since, err = parseCaptureTime("--since", f.since); err != nil {
		return nil, err
	}
	if cf.Until, err = parseCaptureTime("--until", f.until); err != nil {
		return nil, err
	}
	for _, v := range f.verdicts {
		switch v := report.Verdict(strings.ToLower(v)); {
		case v == "problem":
			cf.Verdicts = append(cf.Verdicts, report.VerdictOneWay, report.VerdictNoWay)
		case containsVerdict(knownVerdicts, v):
			cf.Verdicts = append(cf.Verdicts, v)
		default:
			return nil, usageErrorf("--verdict %q: want one of %v or problem", string(v), knownVerdicts)
		}
	}
	if len(cf.Hosts) == 0 && cf.User == "" && cf.CallID == "" && cf.Since.IsZero() && cf.Until.IsZero() && len(cf.Verdicts) == 0 {
		return nil, nil
	}
	return cf, nil
}

func containsVerdict(vs []report.Verdict, v report.Verdict) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// parseCaptureTime reads a capture time: RFC 3339, or date and time in UTC.
func parseCaptureTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageError{fmt.Errorf("%s %q: want RFC 3339 (2026-01-01T12:00:00Z) or \"2026-01-01 12:00:00\" (UTC)", flag, s)}
}
