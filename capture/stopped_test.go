package capture

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

func TestStopProblem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		f      StopFacts
		oneWay bool
		sev    report.Severity
		ok     bool
	}{
		{"the race of a hang-up", StopFacts{SilentFor: 800 * time.Millisecond}, false, "", false},
		{"just under the threshold", StopFacts{SilentFor: stopOneWayAfter - time.Millisecond}, false, "", false},
		{"stopped, nothing says why", StopFacts{SilentFor: stopOneWayAfter}, true, report.SeverityError, true},
		{"the sender's RTCP counts it sending on", StopFacts{SilentFor: 10 * time.Second, SentOn: true, SuppressesSilence: true}, true, report.SeverityError, true},
		{"seen leaving the phone", StopFacts{SilentFor: 30 * time.Second, SenderSide: true}, false, report.SeverityWarning, true},
		{"its own RTCP says it stopped", StopFacts{SilentFor: 30 * time.Second, SenderSaysStopped: true}, false, report.SeverityWarning, true},
		{"it went on to where it cannot arrive", StopFacts{SilentFor: 6 * time.Second, SentElsewhere: true, SenderSide: true}, true, report.SeverityError, true},
		{"silence suppression, a short stop", StopFacts{SilentFor: 10 * time.Second, SuppressesSilence: true}, false, "", false},
		{"silence suppression, a long stop", StopFacts{SilentFor: stopSilenceAfter, SuppressesSilence: true}, false, report.SeverityWarning, true},
		{"a media server, nothing else says why", StopFacts{SilentFor: stopOneWayAfter, SenderIsMediaServer: true}, false, report.SeverityWarning, true},
		{"a media server whose RTCP counts it sending on", StopFacts{SilentFor: 10 * time.Second, SentOn: true, SenderIsMediaServer: true}, true, report.SeverityError, true},
	} {
		oneWay, sev, ok := StopProblem(tc.f)
		if oneWay != tc.oneWay || sev != tc.sev || ok != tc.ok {
			t.Errorf("%s: StopProblem(%+v) = %v, %q, %v; want %v, %q, %v", tc.name, tc.f, oneWay, sev, ok, tc.oneWay, tc.sev, tc.ok)
		}
	}
}

// stopCall is a two-way call answered at t0 whose caller's RTP (250
// packets) stopped 5 s in while the callee's went on until 20 s, when the
// callee hung up.
func stopCall(t0 time.Time) (report.Call, *callBuild) {
	q := func(expected uint64) *report.StreamQuality {
		return &report.StreamQuality{Codec: "PCMU/8000", Expected: expected}
	}
	c := report.Call{CallID: "cid", Verdict: report.VerdictTwoWay, Answer: t0, End: t0.Add(20 * time.Second),
		Streams: []report.MediaStream{{Media: "audio", Verdict: report.VerdictTwoWay, Flows: []report.RTPFlow{
			{Direction: "caller->callee", Src: "203.0.113.1:10000", Dst: "198.51.100.20:30000", Packets: 250,
				First: t0.Add(50 * time.Millisecond), Last: t0.Add(5 * time.Second), FirstFrame: 7, LastFrame: 504, Quality: q(250)},
			{Direction: "caller->callee", Src: "203.0.113.1:10001", Dst: "198.51.100.20:30001", Packets: 3, RTCP: true,
				First: t0.Add(50 * time.Millisecond), Last: t0.Add(19 * time.Second)},
			{Direction: "callee->caller", Src: "198.51.100.20:30000", Dst: "203.0.113.1:10000", Packets: 1000,
				First: t0.Add(40 * time.Millisecond), Last: t0.Add(20*time.Second + 100*time.Millisecond), FirstFrame: 6, LastFrame: 1262, Quality: q(1000)},
		}}}}
	call := &sipCall{StartSeen: true}
	call.byeNs[callee] = c.End.UnixNano()
	offer := sdpAt(caller, "INVITE", t0.Add(-3*time.Second), "audio", "sendrecv")
	answer := sdpAt(callee, "200", t0, "audio", "sendrecv")
	return c, &callBuild{call: call, events: []sdpEvent{offer, answer}}
}

// sdpAt is party p's SDP of one m= line, sent in method at.
func sdpAt(p int, method string, at time.Time, media, dir string) sdpEvent {
	addr := [2]string{"203.0.113.1:10000", "198.51.100.20:30000"}[p]
	m := sdpMedia{Media: media, Port: 10000, Addr: netip.MustParseAddrPort(addr), Direction: dir, UDPTL: media == "image"}
	return sdpEvent{Party: p, Method: method, Time: at, SDP: &sdpInfo{Media: []sdpMedia{m}}}
}

// reinvite is the callee's re-INVITE at at and the caller's answer.
func reinvite(at time.Time, media, calleeDir, callerDir string) []sdpEvent {
	return []sdpEvent{sdpAt(callee, "INVITE", at, media, calleeDir), sdpAt(caller, "200", at.Add(10*time.Millisecond), media, callerDir)}
}

func TestStoppedFindings(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		change func(c *report.Call, cb *callBuild)
		sev    report.Severity // "" for no finding
		oneWay bool
		title  string // a part of the title
	}{
		{"stopped for good", nil, report.SeverityError, true, "the callee heard nothing from then on"},
		{"the callee hung up 3 s after it", func(c *report.Call, cb *callBuild) {
			c.End = t0.Add(8 * time.Second)
			cb.call.byeNs[callee] = c.End.UnixNano()
		}, "", false, ""},
		{"measured to the far end's last packet", func(c *report.Call, _ *callBuild) {
			c.End = time.Time{}
			c.Streams[0].Flows[2].Last = t0.Add(9 * time.Second)
		}, "", false, ""},
		{"a re-INVITE put the caller on hold", func(_ *report.Call, cb *callBuild) {
			cb.events = append(cb.events, reinvite(t0.Add(4*time.Second), "audio", "sendonly", "recvonly")...)
		}, "", false, ""},
		{"on hold, then a resume the caller never followed", func(_ *report.Call, cb *callBuild) {
			cb.events = append(cb.events, reinvite(t0.Add(4*time.Second), "audio", "sendonly", "recvonly")...)
			cb.events = append(cb.events, reinvite(t0.Add(10*time.Second), "audio", "sendrecv", "sendrecv")...)
		}, report.SeverityError, true, "did not flow again after the 200 at 12:00:10.010 let it"},
		{"on hold, then a resume too late to tell", func(_ *report.Call, cb *callBuild) {
			cb.events = append(cb.events, reinvite(t0.Add(4*time.Second), "audio", "sendonly", "recvonly")...)
			cb.events = append(cb.events, reinvite(t0.Add(17*time.Second), "audio", "sendrecv", "sendrecv")...)
		}, "", false, ""},
		{"a re-INVITE just before the stop, never followed", func(_ *report.Call, cb *callBuild) {
			cb.events = append(cb.events, reinvite(t0.Add(4*time.Second), "audio", "sendrecv", "sendrecv")...)
		}, report.SeverityError, true, "5s into the call and did not come back"},
		{"a switch to T.38", func(_ *report.Call, cb *callBuild) {
			cb.events = append(cb.events, reinvite(t0.Add(4500*time.Millisecond), "image", "sendrecv", "sendrecv")...)
		}, "", false, ""},
		{"an early re-INVITE explains nothing", func(_ *report.Call, cb *callBuild) {
			cb.events = append(cb.events, reinvite(t0.Add(2*time.Second), "audio", "sendrecv", "sendrecv")...)
		}, report.SeverityError, true, "heard nothing"},
		{"a session refresh after the stop", func(_ *report.Call, cb *callBuild) {
			cb.events = append(cb.events, reinvite(t0.Add(12*time.Second), "audio", "sendrecv", "sendrecv")...)
		}, report.SeverityError, true, "did not flow again after the 200"},
		{"the caller hung up; its BYE was lost", func(_ *report.Call, cb *callBuild) {
			cb.call.byeNs[caller] = t0.Add(5*time.Second + 300*time.Millisecond).UnixNano()
		}, "", false, ""},
		{"a second of packets is barely-sent's", func(c *report.Call, _ *callBuild) {
			c.Streams[0].Flows[0].Packets = barelySentPackets
		}, "", false, ""},
		{"a call judged one-way already", func(c *report.Call, _ *callBuild) {
			c.Verdict = report.VerdictOneWay
		}, "", false, ""},
		{"video is not judged", func(c *report.Call, _ *callBuild) {
			c.Streams[0].Media = "video"
		}, "", false, ""},
		{"silence suppression, 15 s", func(c *report.Call, _ *callBuild) {
			c.Streams[0].Flows[0].Quality.SilenceSuppression = true
		}, report.SeverityWarning, false, "may be its user listening"},
		{"silence suppression, 10 s", func(c *report.Call, cb *callBuild) {
			c.Streams[0].Flows[0].Quality.SilenceSuppression = true
			c.End = t0.Add(15 * time.Second)
			cb.call.byeNs[callee] = c.End.UnixNano()
		}, "", false, ""},
		{"seen leaving the phone", func(c *report.Call, _ *callBuild) {
			c.Streams[0].Flows[0].Src = "192.168.1.10:10000"
		}, report.SeverityWarning, false, "no NAT lies between them"},
		{"it went on to a private address", func(c *report.Call, _ *callBuild) {
			c.Streams[0].Flows = append(c.Streams[0].Flows, report.RTPFlow{Direction: "caller->callee", Src: "203.0.113.1:10000",
				Dst: "10.0.0.20:30000", Packets: 750, Unreachable: true, First: t0.Add(5 * time.Second), Last: t0.Add(20 * time.Second)})
			c.Findings = []report.Finding{{ID: IDSDPPrivateAddress, Severity: report.SeverityInfo,
				Evidence: []report.Evidence{{Addrs: []string{"10.0.0.20:30000", "198.51.100.20:5060"}}}}}
		}, report.SeverityError, true, "from then on it went to 10.0.0.20:30000, a private address"},
		{"its flow to a private address ended with it", func(c *report.Call, _ *callBuild) {
			c.Streams[0].Flows = append(c.Streams[0].Flows, report.RTPFlow{Direction: "caller->callee", Src: "203.0.113.1:10000",
				Dst: "10.0.0.20:30000", Packets: 250, Unreachable: true, First: t0, Last: t0.Add(5 * time.Second)})
		}, report.SeverityError, true, "did not come back"},
		{"its RTCP counts it sending on", func(c *report.Call, _ *callBuild) {
			c.Streams[0].Flows[0].Reports = &report.RTCPView{SenderReports: 3, SenderPackets: 950}
		}, report.SeverityError, true, "the packets were lost on the way"},
		{"its RTCP went on, counting no more than arrived", func(c *report.Call, _ *callBuild) {
			c.Streams[0].Flows[0].Reports = &report.RTCPView{SenderReports: 1, SenderPackets: 250}
		}, report.SeverityWarning, false, "stopped sending"},
		{"its RTCP stopped with its RTP", func(c *report.Call, _ *callBuild) {
			c.Streams[0].Flows[0].Reports = &report.RTCPView{SenderReports: 1, SenderPackets: 250}
			c.Streams[0].Flows[1].Last = t0.Add(5*time.Second + 500*time.Millisecond)
		}, report.SeverityError, true, "did not come back"},
		{"the caller is a PBX: a voicemail or IVR", func(c *report.Call, _ *callBuild) {
			c.Caller.UserAgent = "FPBX-16.0.40.7(18.20.0)"
		}, report.SeverityWarning, false, "The caller is FPBX, a PBX or media server"},
		{"the callee is a PBX: its stop is not the caller's", func(c *report.Call, _ *callBuild) {
			c.Callee.UserAgent = "Asterisk PBX 18.20.0"
		}, report.SeverityError, true, "did not come back"},
		{"a PBX whose RTCP counts it sending on", func(c *report.Call, _ *callBuild) {
			c.Caller.UserAgent = "FreeSWITCH-mod_sofia/1.10.9"
			c.Streams[0].Flows[0].Reports = &report.RTCPView{SenderReports: 3, SenderPackets: 950}
		}, report.SeverityError, true, "the packets were lost on the way"},
		{"a stream whose start the capture lacks", func(c *report.Call, _ *callBuild) {
			c.Streams[0].Flows[0].First = t0.Add(3 * time.Second)
			c.Streams[0].Flows[0].Reports = &report.RTCPView{SenderReports: 3, SenderPackets: 950}
		}, report.SeverityError, true, "did not come back"},
	} {
		c, cb := stopCall(t0)
		if tc.change != nil {
			tc.change(&c, cb)
		}
		before := c.Verdict
		fs := stoppedFindings(&c, cb, replay(cb.events))
		if tc.sev == "" {
			if len(fs) != 0 || c.Verdict != before {
				t.Errorf("%s: verdict %s, findings %+v; want none", tc.name, c.Verdict, fs)
			}
			continue
		}
		if len(fs) != 1 || fs[0].ID != IDMediaStopped || fs[0].Severity != tc.sev || !strings.Contains(fs[0].Title, tc.title) {
			t.Errorf("%s: findings %+v; want one %s %s with %q", tc.name, fs, IDMediaStopped, tc.sev, tc.title)
			continue
		}
		wantVerdict, wantDeaf := report.VerdictTwoWay, ""
		if tc.oneWay {
			wantVerdict, wantDeaf = report.VerdictOneWay, "callee"
		}
		if c.Verdict != wantVerdict || c.CannotHear != wantDeaf || c.Streams[0].Verdict != wantVerdict {
			t.Errorf("%s: call %s (%q), stream %s; want %s (%q)", tc.name, c.Verdict, c.CannotHear, c.Streams[0].Verdict, wantVerdict, wantDeaf)
		}
		if f := fs[0]; len(f.Evidence) < 2 || f.Evidence[0].FrameRanges[0].Last != 504 || f.Remedy == "" {
			t.Errorf("%s: evidence %+v, remedy %q", tc.name, f.Evidence, f.Remedy)
		}
		for _, f := range c.Findings {
			if f.ID == IDSDPPrivateAddress && f.Severity != report.SeverityError {
				t.Errorf("%s: %s stays %s although the call turned one-way when media went there", tc.name, f.ID, f.Severity)
			}
		}
	}
}

func TestMediaServerName(t *testing.T) {
	for ua, want := range map[string]string{
		"Asterisk PBX 18.20.0":          "Asterisk",
		"FPBX-16.0.40.7(18.20.0)":       "FPBX",
		"FreeSWITCH-mod_sofia/1.10.9":   "FreeSWITCH",
		"3CXPhoneSystem 18.0.9.20":      "3CX",
		"freeswitch":                    "FreeSWITCH",
		"Linphone Desktop/5.2.0":        "",
		"Yealink SIP-T46S 66.86.0.15":   "",
		"":                              "",
		"Grandstream GXP2170 1.0.11.23": "",
	} {
		if got := mediaServerName(ua); got != want {
			t.Errorf("mediaServerName(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestDropRelayedStops(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	finding := func(title string) report.Finding { return report.Finding{ID: IDMediaStopped, Title: title} }
	// Leg 0: the phone calls the B2BUA (its callee); leg 1: the B2BUA
	// (its caller) calls the far phone.
	roles := [][2]string{{"", roleB2BUA}, {roleB2BUA, ""}}
	for _, tc := range []struct {
		name  string
		stops [][]stopNote
		kept  [2]int // findings left on each leg
	}{
		{"the phone's stream stopped, the B2BUA relayed the stop", [][]stopNote{
			{{party: caller, at: t0, title: "phone"}}, {{party: caller, at: t0.Add(40 * time.Millisecond), title: "relay"}}}, [2]int{1, 0}},
		{"the B2BUA stopped on its own", [][]stopNote{
			nil, {{party: caller, at: t0, title: "relay"}}}, [2]int{0, 1}},
		{"two stops far apart", [][]stopNote{
			{{party: caller, at: t0, title: "phone"}}, {{party: caller, at: t0.Add(30 * time.Second), title: "relay"}}}, [2]int{1, 1}},
		{"the far phone stopped, relayed back to the caller's leg", [][]stopNote{
			{{party: callee, at: t0.Add(time.Second), title: "relay"}}, {{party: callee, at: t0, title: "phone"}}}, [2]int{0, 1}},
	} {
		legs := make([]report.Call, 2)
		for i, ss := range tc.stops {
			for _, s := range ss {
				legs[i].Findings = append(legs[i].Findings, finding(s.title), report.Finding{ID: IDViaReceivedRport, Title: s.title})
			}
		}
		dropRelayedStops(legs, tc.stops, roles)
		for i := range legs {
			n := 0
			for _, f := range legs[i].Findings {
				if f.ID == IDMediaStopped {
					n++
				}
			}
			if n != tc.kept[i] || len(legs[i].Findings)-n != len(tc.stops[i]) {
				t.Errorf("%s: leg %d keeps %d stops of %+v, want %d (and every other finding)", tc.name, i, n, legs[i].Findings, tc.kept[i])
			}
		}
	}
}
