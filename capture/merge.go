package capture

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Several captures of one problem (the phone's LAN and the server's side,
// or a capture rotated into files) are read as one: their records merged
// in time order, as mergecap writes them, files that overlap in time
// interleaved. Frames are numbered in that order, so a frame number in the
// report is the frame in `mergecap -w merged.pcap FILES...`, and a second
// pass (WriteCalls) meets the records in the same order. Records of equal
// time keep the order of the files given.

// openInputs opens the named captures ("-" is stdin) as one source,
// counting the bytes read into read; closeAll closes the files.
func openInputs(names []string, stdin io.Reader, read *int64, sink anomalySink) (src recordSource, closeAll func(), err error) {
	var files []*os.File
	closeAll = func() {
		for _, f := range files {
			f.Close()
		}
	}
	var srcs []recordSource
	for _, name := range names {
		var r io.Reader
		if name == "-" {
			if stdin == nil {
				closeAll()
				return nil, nil, fmt.Errorf("%w: no standard input", ErrUnreadable)
			}
			r = stdin
		} else {
			f, err := os.Open(name)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
			}
			files = append(files, f)
			r = f
		}
		s, err := openSource(countingReader{r, read}, sink)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("%w: %s: %v", ErrUnreadable, name, err)
		}
		srcs = append(srcs, s)
	}
	if len(srcs) == 1 {
		return srcs[0], closeAll, nil
	}
	return &mergedSource{srcs: srcs, heads: make([]Record, len(srcs)), have: make([]bool, len(srcs)), next: -1}, closeAll, nil
}

// mergedSource yields its sources' records in time order. A record's
// bytes belong to its source until that source's next Next, so a source
// is advanced only when the caller comes back for the record after the
// one it took from it.
type mergedSource struct {
	srcs  []recordSource
	heads []Record
	have  []bool
	next  int // the source whose head was handed out last (-1: none)
	err   error
}

func (m *mergedSource) Next() (Record, error) {
	if m.next < 0 { // first call: read every head
		for i := range m.srcs {
			m.advance(i)
		}
	} else {
		m.advance(m.next)
	}
	if m.err != nil {
		return Record{}, m.err
	}
	best := -1
	for i, ok := range m.have {
		if ok && (best < 0 || m.heads[i].Time.Before(m.heads[best].Time)) {
			best = i
		}
	}
	if best < 0 {
		return Record{}, io.EOF
	}
	m.next = best
	return m.heads[best], nil
}

// advance reads source i's next record into its head.
func (m *mergedSource) advance(i int) {
	rec, err := m.srcs[i].Next()
	switch {
	case errors.Is(err, io.EOF):
		m.have[i] = false
	case err != nil:
		m.have[i], m.err = false, err
	default:
		m.heads[i], m.have[i] = rec, true
	}
}
