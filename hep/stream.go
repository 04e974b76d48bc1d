package hep

import (
	"bufio"
	"io"
)

// StreamReader frames HEPv3 packets on a byte stream (HEP over TCP, where
// each packet's header gives its total length). HEPv1/v2 carry no total
// length and are not framed on streams.
type StreamReader struct {
	br      *bufio.Reader
	pending int
}

// NewStreamReader reads packets from r; its buffer holds the largest one.
func NewStreamReader(r io.Reader) *StreamReader {
	return &StreamReader{br: bufio.NewReaderSize(r, 0xffff+v3HeaderLen)}
}

// Next returns the next whole packet. It is valid until the next call. A
// stream that does not start a packet where one should start returns
// ErrNotHEP or ErrMalformed: there is no way to find the next packet, so
// the caller drops the connection.
func (s *StreamReader) Next() ([]byte, error) {
	if s.pending > 0 {
		if _, err := s.br.Discard(s.pending); err != nil {
			return nil, err
		}
		s.pending = 0
	}
	head, err := s.br.Peek(v3HeaderLen)
	if err != nil {
		if len(head) > 0 && err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	n, err := FrameLen(head)
	if err != nil {
		return nil, err
	}
	b, err := s.br.Peek(n)
	if err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	s.pending = n
	return b, nil
}
