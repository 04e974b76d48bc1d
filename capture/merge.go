package capture

import (
	"errors"
	"io"
)

// Several captures given at once (two ends of a link, overlapping
// captures, the same file twice) are read as mergecap would: one stream
// of records in time order, so copies of one packet arrive side by side
// and the duplicate filter (dedup.go) can drop them, and calls spanning
// the files are seen whole. Frame numbers count the merged stream.

// mergedSource yields the records of several sources in time order; on a
// tie, the source given first goes first.
type mergedSource struct {
	srcs  []recordSource
	heads []*Record // each source's next record, copied (nil: exhausted)
	last  []byte    // the buffer of the record returned last, reused
}

func newMergedSource(srcs []recordSource) (*mergedSource, error) {
	m := &mergedSource{srcs: srcs, heads: make([]*Record, len(srcs))}
	for i := range srcs {
		if err := m.fill(i); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// fill reads source i's next record into its head, copying its bytes: a
// source's Data is valid only until its next Next.
func (m *mergedSource) fill(i int) error {
	rec, err := m.srcs[i].Next()
	if errors.Is(err, io.EOF) {
		m.heads[i] = nil
		return nil
	}
	if err != nil {
		return err
	}
	head := m.heads[i]
	if head == nil {
		head = &Record{}
		m.heads[i] = head
	}
	data := append(head.Data[:0], rec.Data...)
	*head = rec
	head.Data = data
	return nil
}

// Next returns the earliest head. Its Data is valid until the next call.
func (m *mergedSource) Next() (Record, error) {
	best := -1
	for i, h := range m.heads {
		if h != nil && (best < 0 || h.Time.Before(m.heads[best].Time)) {
			best = i
		}
	}
	if best < 0 {
		return Record{}, io.EOF
	}
	rec := *m.heads[best]
	// Swap buffers: the record handed out keeps its bytes while the head
	// is refilled.
	m.last, m.heads[best].Data = rec.Data, m.last
	if err := m.fill(best); err != nil {
		return Record{}, err
	}
	return rec, nil
}
