package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket/layers"

	"github.com/natdoc/natdoc/report"
)

// Options control an offline analysis.
type Options struct {
	// Files to read; "-" is Stdin.
	Files []string
	Stdin io.Reader
	// Progress, when set, is called now and then with bytes read and the
	// total size of the files (0 when unknown, e.g. standard input).
	Progress func(read, total int64)
}

// ErrUnreadable marks input that is no capture at all (exit status 2).
var ErrUnreadable = errors.New("unreadable capture")

// Result is what an analysis found, ready to go into a report.
type Result struct {
	Capture  report.CaptureInfo
	Calls    []report.Call
	Findings []report.Finding
	Remedies []report.Remedy
	Verdict  string
}

// Analyze reads the files and judges every call in them.
func Analyze(ctx context.Context, opt Options) (*Result, error) {
	s := newState()
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
	var done int64
	for _, name := range opt.Files {
		n, err := analyzeFile(ctx, s, name, opt, done, total)
		done += n
		if err != nil {
			return nil, err
		}
	}
	return s.result(opt.Files, ""), nil
}

func analyzeFile(ctx context.Context, s *state, name string, opt Options, base, total int64) (int64, error) {
	var r io.Reader
	if name == "-" {
		if opt.Stdin == nil {
			return 0, fmt.Errorf("%w: no standard input", ErrUnreadable)
		}
		r = opt.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrUnreadable, err)
		}
		defer f.Close()
		r = f
	}
	var read int64
	src, err := openSource(countingReader{r, &read}, &s.anomalies)
	if err != nil {
		return read, fmt.Errorf("%w: %s: %v", ErrUnreadable, name, err)
	}
	progress := func() {
		if opt.Progress != nil {
			opt.Progress(base+read, total)
		}
	}
	err = runPipeline(ctx, src, s, progress)
	progress()
	return read, err
}

// batch carries records from the reading goroutine to the analysing one.
// Records are copied into buf, so the reader's buffer can move on.
type batch struct {
	buf  []byte
	recs []batchRecord
}

type batchRecord struct {
	start, end int
	rec        Record
}

const (
	batchRecords = 512
	batchBytes   = 1 << 20
	batchesAhead = 4
)

// runPipeline reads in one goroutine and decodes and analyses in another,
// so both cores work on a large file. Batches are recycled: no allocation
// per packet.
func runPipeline(ctx context.Context, src recordSource, s *state, progress func()) error {
	full := make(chan *batch, batchesAhead)
	free := make(chan *batch, batchesAhead+1)
	for i := 0; i < batchesAhead+1; i++ {
		free <- &batch{buf: make([]byte, 0, batchBytes+MaxRecordLen), recs: make([]batchRecord, 0, batchRecords)}
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(full)
		readErr <- readBatches(ctx, src, full, free, progress)
	}()
	d := newDecoder(&s.anomalies)
	var frame uint64
	emit := s.handle
	for b := range full {
		for i := range b.recs {
			br := &b.recs[i]
			rec := br.rec
			rec.Data = b.buf[br.start:br.end]
			frame++
			s.account(rec)
			d.decode(rec, frame, emit)
		}
		if n := len(b.recs); n > 0 {
			d.flushFragments(b.recs[n-1].rec.Time)
		}
		b.buf, b.recs = b.buf[:0], b.recs[:0]
		free <- b
	}
	return <-readErr
}

func readBatches(ctx context.Context, src recordSource, full, free chan *batch, progress func()) error {
	b := <-free
	n := 0
	for {
		rec, err := src.Next()
		if err != nil {
			full <- b
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		start := len(b.buf)
		b.buf = append(b.buf, rec.Data...)
		rec.Data = nil
		b.recs = append(b.recs, batchRecord{start: start, end: len(b.buf), rec: rec})
		if len(b.recs) == batchRecords || len(b.buf) >= batchBytes {
			full <- b
			if n++; n%64 == 0 {
				progress()
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
			b = <-free
		}
	}
}

// account counts a record for the capture summary.
func (s *state) account(rec Record) {
	s.packets++
	s.bytes += uint64(len(rec.Data))
	if s.first.IsZero() || rec.Time.Before(s.first) {
		s.first = rec.Time
	}
	if rec.Time.After(s.last) {
		s.last = rec.Time
	}
}

// result finishes the analysis: binds media to calls and derives findings.
func (s *state) result(files []string, live string) *Result {
	calls, unbound := s.buildCalls()
	r := &Result{
		Capture: report.CaptureInfo{
			Files: files, Live: live, Packets: s.packets, Bytes: s.bytes,
			First: s.first, Last: s.last, Anomalies: s.list(), Counts: sortedKinds(s.counts),
		},
		Calls: calls,
	}
	r.Capture.Vantage = vantage(calls)
	r.Findings = captureFindings(s, unbound)
	r.Remedies = remedies(r)
	r.Verdict = verdictSentence(calls)
	return r
}

// Fill puts the result into a report.
func (r *Result) Fill(rep *report.Report) {
	c := r.Capture
	rep.Capture = &c
	rep.Calls = r.Calls
	rep.Findings = append(rep.Findings, r.Findings...)
	rep.Remedies = append(rep.Remedies, r.Remedies...)
	rep.Verdict = r.Verdict
}

var _ = layers.LinkTypeEthernet
