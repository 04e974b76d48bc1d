package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/report"
	"github.com/natdoc/natdoc/tlsdecrypt"
)

// Options control an offline analysis.
type Options struct {
	// Files to read; "-" is Stdin.
	Files []string
	Stdin io.Reader
	// Progress, when set, is called now and then with bytes read and the
	// total size of the files (0 when unknown, e.g. standard input).
	Progress func(read, total int64)
	// Detail keeps, for every call, what only a view of one call (natdoc
	// analyze --call, the HTML report) or the full JSON model shows: its
	// SIP messages (the ladder diagram), its SDP media descriptions, its
	// RTCP flows and each RTP flow's packet timeline. Without it a
	// finished call keeps only what the calls table, verdicts and findings
	// need (compact.go), about 3 KB, so memory follows the calls in
	// progress far more than the file's length.
	Detail bool
	// Limits bound the state kept (zero: the defaults).
	Limits Limits
	// Filter, when set, selects the calls reported (filter.go).
	Filter *CallFilter
	// OnCall, when set, is given every call reported as soon as it and
	// the calls numbered before it are judged, in order (C1, C2, ...;
	// stream.go), and no call is kept: Result.Calls stays empty and memory
	// follows the calls in progress. An error ends the analysis with it.
	OnCall func(report.Call) error
	// TLSKeys, when set, decrypts SIP over TLS: sessions on port 5061 or 5081 and
	// any other whose ClientHello the key log names.
	TLSKeys *tlsdecrypt.Keys
	// HEPOut, when set, is sent every SIP message read and each call's
	// verdict and findings (natdoc analyze --hep-out).
	HEPOut *hep.Sender
}

// ErrUnreadable marks input that is no capture at all (exit status 2).
var ErrUnreadable = errors.New("unreadable capture")

// Result is what an analysis found, ready to go into a report.
type Result struct {
	Capture report.CaptureInfo
	// Calls are the calls reported, unless Options.OnCall took them.
	Calls    []report.Call
	Findings []report.Finding
	Remedies []report.Remedy
	Verdict  string
	// CallCount counts the calls reported; CallProblems says whether any
	// had a finding of warning or error.
	CallCount    int
	CallProblems bool
	// Registrations are the bindings the capture shows.
	Registrations []report.Binding
}

// Analyze reads the files and judges every call in them. Several files
// are merged by time (merge.go), as one capture.
func Analyze(ctx context.Context, opt Options) (*Result, error) {
	s := newState()
	s.setDetail(opt.Detail)
	s.setLimits(opt.Limits)
	s.filter = opt.Filter
	s.tlsKeys = opt.TLSKeys
	if opt.HEPOut != nil {
		s.setHEPOut(opt.HEPOut)
	}
	var total int64
	for _, f := range opt.Files {
		if f == "-" {
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
		}
		total += st.Size()
	}
	if opt.OnCall != nil {
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		defer stop()
		s.ordered = newOrderedCalls(opt.OnCall, stop)
	}
	err := analyzeFiles(ctx, s, opt, total)
	if s.ordered != nil && s.ordered.err != nil {
		return nil, s.ordered.err
	}
	if err != nil {
		return nil, err
	}
	res := s.result(opt.Files, "")
	if s.ordered != nil && s.ordered.err != nil {
		return nil, s.ordered.err
	}
	return res, nil
}

// analyzeFiles reads the files into s as one capture, their records
// merged in time order (merge.go).
func analyzeFiles(ctx context.Context, s *state, opt Options, total int64) error {
	var read int64
	rs := &readerStats{}
	src, closeAll, err := openInputs(opt.Files, opt.Stdin, &read, rs)
	if err != nil {
		return err
	}
	defer closeAll()
	if len(rs.keyLogs) > 0 {
		s.addEmbeddedKeys(rs.keyLogs)
	}
	progress := func() {
		if opt.Progress != nil {
			opt.Progress(read, total)
		}
	}
	err = runPipeline(ctx, src, rs, s, progress)
	progress()
	return err
}

// result finishes the analysis: binds media to calls and derives findings.
func (s *state) result(files []string, live string) *Result {
	calls := s.finishCalls()
	r := &Result{
		Capture: report.CaptureInfo{
			Files: files, Live: live, Packets: s.packets, Bytes: s.bytes,
			First: s.first, Last: s.last, Anomalies: s.list(), Counts: s.decodedCounts(), Duplicates: s.counts.duplicates,
			Comments: s.comments.list, CommentsLeftOut: s.comments.leftOut,
		},
		Calls: calls,
	}
	t := &s.tally
	r.Capture.Vantage = vantage(t.private, t.public, s.hostView()) + s.twins.vantage()
	r.Findings = append(captureFindings(s), tlsFindings(s)...)
	view := s.hostView()
	view.inside = s.toPrivate.inside
	r.Findings = append(r.Findings, s.regs.findings(s.last, view, &s.unreach)...)
	r.Registrations = s.regs.table(s.last)
	r.Findings = append(r.Findings, s.unreach.connects().sipFindings(s.regs)...)
	r.Findings = append(r.Findings, s.dialScans.findings()...)
	r.Findings = append(r.Findings, s.toPrivate.findings(s.regs)...)
	r.Findings = append(r.Findings, s.pings.findings(s.last, s.regs, &s.toPrivate, &s.unreach)...)
	r.Findings = append(r.Findings, s.forwards.findings()...)
	if s.side != nil {
		r.Findings = append(r.Findings, s.side.dec.frags.lost.findings()...)
	}
	r.Remedies = remedies(r.Findings, &t.remedies, map[string]int{remedyForwardRTPRange: s.forwards.unheardCalls()})
	r.Verdict = verdictSentence(t.calls, t.verdicts, s.unreadSIP(), s.cutUnread)
	if t.calls == 0 && len(r.Registrations) > 0 {
		r.Verdict = strings.TrimSuffix(r.Verdict, ".") + "; " + report.BindingsSummary(r.Registrations) + "."
	}
	if t.calls == 0 && len(s.calls.prior.list) > 0 {
		r.Verdict = s.calls.prior.verdict()
	}
	if t.calls == 0 && s.otherSig.seen() {
		r.Verdict = fmt.Sprintf("No SIP calls (INVITE dialogs) found in the capture: its call signalling is %s, which natdoc does not read.", s.otherSig.names())
	}
	r.CallCount, r.CallProblems = t.calls, t.problems
	return r
}

// Fill puts the result into a report.
func (r *Result) Fill(rep *report.Report) {
	c := r.Capture
	rep.Capture = &c
	rep.Calls = r.Calls
	rep.Registrations = r.Registrations
	rep.Findings = append(rep.Findings, r.Findings...)
	rep.Remedies = append(rep.Remedies, r.Remedies...)
	rep.Verdict = r.Verdict
}
