package capture

import (
	"container/heap"
	"net/netip"
	"slices"

	"github.com/natdoc/natdoc/report"
)

// Streaming the report (Options.OnCall). Calls are judged as they end, in
// another order than they began; orderedCalls hands them on in the order
// of their numbers (C1, C2, ...), holding a judged call back only while an
// earlier one is still in progress, and at most maxHeldCalls of them: past
// that it lets the earliest go, and a call judged after a later one went
// out goes out as soon as it is judged. callTally keeps, of every call
// reported, what the report's summary needs, so no call is kept.

// maxHeldCalls bounds the judged calls held back for an earlier one still
// in progress: a call of hours on a busy trunk would otherwise hold back
// every call that began after it.
const maxHeldCalls = 4096

// heldCall is a judged call waiting for the calls numbered before it.
type heldCall struct {
	number   int
	call     report.Call
	selected bool // the filter kept it: it is handed on
}

// heldCalls is a min-heap of held calls by number (pointers: a call is
// too big to copy at every swap).
type heldCalls []*heldCall

func (h heldCalls) Len() int           { return len(h) }
func (h heldCalls) Less(i, j int) bool { return h[i].number < h[j].number }
func (h heldCalls) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *heldCalls) Push(x any)        { *h = append(*h, x.(*heldCall)) }
func (h *heldCalls) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}

// orderedCalls hands judged calls on to a sink in order of their numbers.
type orderedCalls struct {
	next  int // number of the next call to hand on
	held  heldCalls
	limit int // most calls held (maxHeldCalls)
	sink  func(report.Call) error
	// err is the sink's first error; no call is handed on after it, and
	// stop (set by Analyze) ends the reading.
	err  error
	stop func()
}

func newOrderedCalls(sink func(report.Call) error, stop func()) *orderedCalls {
	return &orderedCalls{next: 1, limit: maxHeldCalls, sink: sink, stop: stop}
}

// add takes the call numbered number, judged; selected says whether the
// filter kept it (a call left out only takes its place in the order).
func (o *orderedCalls) add(number int, c report.Call, selected bool) {
	if number < o.next { // a later call had to go first
		o.handOn(c, selected)
		return
	}
	if number == o.next && len(o.held) == 0 { // the common case: in order
		o.next++
		o.handOn(c, selected)
		return
	}
	heap.Push(&o.held, &heldCall{number, c, selected})
	for len(o.held) > 0 && (o.held[0].number == o.next || len(o.held) > o.limit) {
		h := heap.Pop(&o.held).(*heldCall)
		o.next = h.number + 1
		o.handOn(h.call, h.selected)
	}
}

// flush hands on every call still held, in order.
func (o *orderedCalls) flush() {
	for len(o.held) > 0 {
		h := heap.Pop(&o.held).(*heldCall)
		o.handOn(h.call, h.selected)
	}
}

func (o *orderedCalls) handOn(c report.Call, selected bool) {
	if !selected || o.err != nil {
		return
	}
	if o.err = o.sink(c); o.err != nil && o.stop != nil {
		o.stop()
	}
}

// callTally is what the report's summary needs of the calls reported:
// their number, verdicts, where their signalling came from, whether any
// had a problem, and the remedies their problems call for.
type callTally struct {
	calls           int
	verdicts        map[report.Verdict]int
	private, public int // parties' signalling sources (vantage)
	problems        bool
	remedies        remedyTally
}

func (t *callTally) add(c *report.Call) {
	t.calls++
	if t.verdicts == nil {
		t.verdicts = map[report.Verdict]int{}
	}
	t.verdicts[c.Verdict]++
	for _, p := range []*report.Party{&c.Caller, &c.Callee} {
		ap, err := netip.ParseAddrPort(p.SignalAddr)
		switch {
		case err != nil:
		case IsPrivate(ap.Addr()):
			t.private++
		default:
			t.public++
		}
	}
	for _, f := range c.Findings {
		if f.Severity.IsProblem() {
			t.problems = true
		}
	}
	t.remedies.add(c.Findings)
}

// remedyTally counts the remedies of problem findings, in order of first
// appearance, with the findings each fixes.
type remedyTally struct {
	list   []*remedyCount
	byText map[string]*remedyCount
}

type remedyCount struct {
	text  string
	count int
	fixes []report.FindingID
}

func (t *remedyTally) add(findings []report.Finding) {
	for _, f := range findings {
		if f.Severity.IsProblem() && f.Remedy != "" {
			t.note(f.Remedy, 1, f.ID)
		}
	}
}

// note counts n more findings fixed by the remedy text, of the IDs ids.
func (t *remedyTally) note(text string, n int, ids ...report.FindingID) {
	if t.byText == nil {
		t.byText = map[string]*remedyCount{}
	}
	rc := t.byText[text]
	if rc == nil {
		rc = &remedyCount{text: text}
		t.byText[text] = rc
		t.list = append(t.list, rc)
	}
	rc.count += n
	for _, id := range ids {
		if !slices.Contains(rc.fixes, id) {
			rc.fixes = append(rc.fixes, id)
		}
	}
}

// rank merges the tallies, first's remedies before then's, and lists
// the remedies most often called for first (ties in order of appearance).
func rank(first, then *remedyTally) []report.Remedy {
	var all remedyTally
	for _, src := range []*remedyTally{first, then} {
		for _, rc := range src.list {
			all.note(rc.text, rc.count, rc.fixes...)
		}
	}
	slices.SortStableFunc(all.list, func(a, b *remedyCount) int { return b.count - a.count })
	out := make([]report.Remedy, 0, len(all.list))
	for _, rc := range all.list {
		out = append(out, report.Remedy{ID: remedyID(rc.text), Title: remedyTitle(rc.text), Detail: rc.text, Fixes: rc.fixes})
	}
	return out
}
