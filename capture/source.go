package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// MaxRecordLen bounds one captured packet. Larger records are rejected as
// anomalies before anything is allocated for them (issue 5: a record length
// larger than 256 KiB is hostile or corrupt; jumbo frames are 9 KiB and
// Linux GRO captures stay below 64 KiB).
const MaxRecordLen = 256 << 10

// readerBufferSize holds the largest record plus its header, so one Peek
// returns a whole record without copying (zero-copy reading).
const readerBufferSize = MaxRecordLen + 64<<10

// Record is one captured packet. Data is owned by the source and valid only
// until the next call to Next.
type Record struct {
	Data     []byte
	Time     time.Time
	WireLen  int
	LinkType layers.LinkType
	// Offset is the byte offset of the record in the (decompressed) file,
	// or unknownOffset.
	Offset int64
	// Comments are the record's pcapng packet comments, SectionComment its
	// section's comment on the section's first record (comments.go).
	Comments       []string
	SectionComment string
}

// recordSource yields records one by one; io.EOF ends it.
type recordSource interface {
	Next() (Record, error)
}

// anomalySink receives what a source could not read.
type anomalySink interface {
	anomaly(kind string, offset int64, frame uint64, detail string)
}

// countingReader counts bytes read from the underlying (compressed) file so
// a progress bar can compare them with the file size.
type countingReader struct {
	r io.Reader
	n *int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

// openSource detects gzip, pcap and pcapng by their magic numbers.
func openSource(r io.Reader, sink anomalySink) (recordSource, error) {
	under := r
	br := bufio.NewReaderSize(r, readerBufferSize)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("read file header: %w", err)
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		under, br = zr, bufio.NewReaderSize(zr, readerBufferSize)
		if magic, err = br.Peek(4); err != nil {
			return nil, fmt.Errorf("read file header inside gzip: %w", err)
		}
	}
	switch {
	case binary.BigEndian.Uint32(magic) == 0x0A0D0D0A:
		return newNgSource(br, sink)
	case otherFormat(magic) != "":
		return nil, fmt.Errorf("%w: a %s capture; convert it with: editcap -F pcap FILE converted.pcap", ErrNotCapture, otherFormat(magic))
	default:
		s, err := newPcapSource(br, sink)
		if err != nil {
			return nil, err
		}
		s.under = under
		return s, nil
	}
}

// otherFormat names the capture formats other tools write that natdoc
// does not read but editcap converts, by their magic; "" for the rest.
func otherFormat(magic []byte) string {
	switch string(magic) {
	case "GMBU", "RTSS":
		return "Microsoft Network Monitor"
	case "snoo":
		return "Solaris snoop"
	case "XCP\x00":
		return "NetXray / Sniffer (Windows)"
	case "TRSN":
		return "Sniffer (DOS)"
	case "\x05VNF":
		return "Visual Networks"
	case "Obse":
		return "Network Instruments Observer"
	case "\x7fver":
		return "Savvius (WildPackets) Peek"
	}
	return ""
}

// unknownFormat says what a file of no format natdoc knows looks like:
// text (a device's capture export, a hex dump) or some binary format.
func unknownFormat(head []byte) string {
	for _, b := range head {
		if (b < 0x20 || b > 0x7e) && b != '\r' && b != '\n' && b != '\t' {
			return "an unknown binary format"
		}
	}
	return "text, as a firewall's or switch's capture export or a hex dump is"
}

// ErrNotCapture is returned for input that is neither pcap nor pcapng.
var ErrNotCapture = errors.New("not a pcap or pcapng file")

// pcapSource reads classic libpcap files of either byte order, with
// microsecond or nanosecond stamps. It is written here rather than taken
// from pcapgo.Reader because it must resynchronise after garbage between
// records and report each bad record's offset, which pcapgo cannot.
type pcapSource struct {
	br *bufio.Reader
	// under is what br reads from: once br's buffer is drained the fast
	// path (fillBatch) reads straight from it into the batch, which
	// bufio does only for reads of at least its own buffer's size.
	under io.Reader
	order binary.ByteOrder
	// bigEndian is order as a bool: u32 inlines, an interface call does not.
	bigEndian bool
	nanos     bool
	// recHdr is a record header's length: 16, or 24 or 28 in the
	// modified (Kuznetzov) format, whose extra bytes (interface index,
	// protocol, packet type) say nothing natdoc uses.
	recHdr   int
	snaplen  uint32
	linkType layers.LinkType
	// slack is how many bytes a record may hold beyond its wire length
	// (recordSlack).
	slack   uint32
	offset  int64
	lastSec uint32
	records uint64
	sink    anomalySink
	pending int // bytes of the previous record still to discard
	// Fast path state (fillBatch): bytes of a record cut at a block's end,
	// and whether the record-by-record path has taken over.
	carry []byte
	slow  bool
	eof   bool // the file has been read to its end; only carry remains
}

func newPcapSource(br *bufio.Reader, sink anomalySink) (*pcapSource, error) {
	hdr, err := br.Peek(24)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotCapture, err)
	}
	s := &pcapSource{br: br, sink: sink, offset: 24, recHdr: 16}
	modified := false
	switch binary.LittleEndian.Uint32(hdr) {
	case 0xa1b2c3d4:
		s.order = binary.LittleEndian
	case 0xa1b23c4d:
		s.order, s.nanos = binary.LittleEndian, true
	case modifiedPcapMagic:
		s.order, modified = binary.LittleEndian, true
	default:
		switch binary.BigEndian.Uint32(hdr) {
		case 0xa1b2c3d4:
			s.order = binary.BigEndian
		case 0xa1b23c4d:
			s.order, s.nanos = binary.BigEndian, true
		case modifiedPcapMagic:
			s.order, modified = binary.BigEndian, true
		default:
			return nil, fmt.Errorf("%w (%s); if Wireshark opens it, convert it with: editcap -F pcap FILE converted.pcap", ErrNotCapture, unknownFormat(hdr))
		}
	}
	s.bigEndian = s.order == binary.BigEndian
	s.snaplen = s.order.Uint32(hdr[16:20])
	// The upper bits of the link type field carry FCS information
	// (pcap-savefile(5)); the link type is the low 16 bits.
	s.linkType = layers.LinkType(s.order.Uint32(hdr[20:24]) & 0xffff)
	s.slack = recordSlack(s.linkType)
	if _, err := br.Discard(24); err != nil {
		return nil, err
	}
	if modified {
		s.recHdr = s.modifiedRecordHeader()
	}
	return s, nil
}

// modifiedPcapMagic is Alexey Kuznetzov's patched libpcap (tcpdump's
// "modified" format, editcap -F modpcap), whose records carry 8 or 12
// more header bytes than pcap's.
const modifiedPcapMagic = 0xa1b2cd34

// modifiedRecordHeader tells the two record header lengths the modified
// format had apart (24 bytes from the ss991029 patch, 28 from ss990915;
// the file header does not say which) as wiretap does: the one whose
// first records chain into plausible headers. 24, the common one, when
// neither or both do.
func (s *pcapSource) modifiedRecordHeader() int {
	for _, size := range []int{24, 28} {
		if s.chains(size, 3) {
			return size
		}
	}
	return 24
}

// chains reports whether the file's first n records, read with headers of
// size bytes, each have a plausible header (or the file ends after a whole
// record).
func (s *pcapSource) chains(size, n int) bool {
	b, _ := s.br.Peek(min(s.br.Size(), readerBufferSize))
	pos := 0
	for range n {
		if pos == len(b) {
			return pos > 0
		}
		if pos+size > len(b) || !s.plausible(b[pos:pos+16], false) {
			return false
		}
		pos += size + int(s.u32(b[pos+8:pos+12]))
		if pos > len(b) {
			return false
		}
	}
	return true
}

// u32 reads a record header field in the file's byte order.
func (s *pcapSource) u32(b []byte) uint32 {
	if s.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// maxCaptured is the largest plausible record length in this file.
func (s *pcapSource) maxCaptured() uint32 {
	if s.snaplen == 0 || s.snaplen > MaxRecordLen {
		return MaxRecordLen
	}
	// Some writers exceed their own snap length by a little (pcapgo notes
	// this for tcpdump -s0 files); allow the 256 KiB ceiling regardless.
	return MaxRecordLen
}

// fcsSlack is how many bytes a record may hold beyond its wire length:
// the Ethernet FCS, which some writers count in the captured bytes only
// (editcap's pcap of a Visual Networks capture: every record 4 over).
// Wireshark and libpcap read such records; the resync after garbage
// still wants none over.
const fcsSlack = 4

// recordSlack is fcsSlack plus the link-layer header of linkType, which
// some writers count in the captured bytes but not in the wire length
// (rtpengine-era tools writing Linux cooked captures: every record 16
// over, the SLL header), as Wireshark reads without complaint.
func recordSlack(linkType layers.LinkType) uint32 {
	switch linkType {
	case layers.LinkTypeEthernet:
		return fcsSlack + 14
	case layers.LinkTypeLinuxSLL:
		return fcsSlack + 16
	case layers.LinkTypeLinuxSLL2:
		return fcsSlack + 20
	}
	return fcsSlack
}

// plausible checks a record header. strict adds a time check, used only
// when hunting for the next record after garbage: ordinary files may jump in
// time, but garbage rarely looks like a stamp within a day of the last one;
// and it allows no captured bytes beyond the wire length.
func (s *pcapSource) plausible(h []byte, strict bool) bool {
	incl := s.u32(h[8:12])
	orig := s.u32(h[12:16])
	frac := s.u32(h[4:8])
	limit := uint32(1_000_000)
	if s.nanos {
		limit = 1_000_000_000
	}
	slack := s.slack
	if strict {
		slack = 0
	}
	if incl > s.maxCaptured() || incl > orig+slack || frac >= limit || orig > 1<<20 {
		return false
	}
	if strict && s.records > 0 {
		sec := s.u32(h[0:4])
		// Within a day of the previous record: garbage rarely looks like a
		// time stamp that close.
		if sec+86400 < s.lastSec || sec > s.lastSec+86400 {
			return false
		}
	}
	return true
}

// Next returns the next record. Data points into the reader's buffer.
func (s *pcapSource) Next() (Record, error) {
	if s.pending > 0 {
		n, _ := s.br.Discard(s.pending)
		s.offset += int64(n)
		s.pending = 0
	}
	for {
		h, err := s.br.Peek(s.recHdr)
		if err != nil {
			if len(h) > 0 {
				s.sink.anomaly("truncated-record", s.offset, s.records+1, "file ends inside a record header")
			}
			return Record{}, io.EOF
		}
		if !s.plausible(h, false) {
			if err := s.resync(); err != nil {
				return Record{}, err
			}
			continue
		}
		incl := int(s.u32(h[8:12]))
		full, err := s.br.Peek(s.recHdr + incl)
		if err != nil {
			s.sink.anomaly("truncated-record", s.offset, s.records+1,
				fmt.Sprintf("record claims %d bytes, file ends after %d", incl, max(0, len(full)-s.recHdr)))
			return Record{}, io.EOF
		}
		// Peek may have moved the buffer: read the header from full, not h.
		h = full[:16]
		sec := s.u32(h[0:4])
		frac := s.u32(h[4:8])
		if !s.nanos {
			frac *= 1000
		}
		s.lastSec = sec
		s.records++
		rec := Record{
			Data:     full[s.recHdr : s.recHdr+incl],
			Time:     time.Unix(int64(sec), int64(frac)).UTC(),
			WireLen:  max(int(s.u32(h[12:16])), incl),
			LinkType: s.linkType,
			Offset:   s.offset,
		}
		s.pending = s.recHdr + incl
		return rec, nil
	}
}

// resync skips bytes until a plausible record header follows, counting the
// skipped span as one anomaly at its start offset.
func (s *pcapSource) resync() error {
	start := s.offset
	skipped := 0
	for {
		if _, err := s.br.Discard(1); err != nil {
			s.sink.anomaly("garbage-between-records", start, s.records+1, fmt.Sprintf("%d bytes skipped to the end of file", skipped))
			return io.EOF
		}
		s.offset++
		skipped++
		h, err := s.br.Peek(s.recHdr)
		if err != nil {
			s.sink.anomaly("garbage-between-records", start, s.records+1, fmt.Sprintf("%d bytes skipped to the end of file", skipped))
			return io.EOF
		}
		if s.plausible(h, true) && s.nextAlsoPlausible(h) {
			s.sink.anomaly("garbage-between-records", start, s.records+1, fmt.Sprintf("bad record header, %d bytes skipped", skipped))
			return nil
		}
	}
}

// nextAlsoPlausible checks that the record after h starts with a plausible
// header too (or the file ends there), so resynchronisation does not lock on
// to a few random bytes.
func (s *pcapSource) nextAlsoPlausible(h []byte) bool {
	incl := int(s.u32(h[8:12])) // read before Peek moves the buffer
	b, err := s.br.Peek(s.recHdr + incl + s.recHdr)
	if err != nil {
		return len(b) == s.recHdr+incl // the record ends the file exactly
	}
	return s.plausible(b[s.recHdr+incl:], true)
}

// ngSource reads pcapng through pcapgo.NgReader, which handles sections,
// interfaces of different link types and both byte orders.
type ngSource struct {
	r      *pcapgo.NgReader
	frames uint64
	sink   anomalySink
	done   bool
	// section is the section comment not yet handed on.
	section string
}

func newNgSource(br *bufio.Reader, sink anomalySink) (*ngSource, error) {
	s := &ngSource{sink: sink}
	if ks, ok := sink.(secretsSink); ok {
		for _, kl := range leadingSecrets(br) {
			ks.tlsKeyLog(kl)
		}
	}
	r, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		return nil, fmt.Errorf("pcapng: %w", err)
	}
	s.r = r
	s.section = r.SectionInfo().Comment
	return s, nil
}

func (s *ngSource) Next() (Record, error) {
	if s.done {
		return Record{}, io.EOF
	}
	data, ci, opts, err := s.r.ZeroCopyReadPacketDataWithOptions()
	if err != nil {
		s.done = true
		if errors.Is(err, io.EOF) {
			return Record{}, io.EOF
		}
		// pcapgo cannot resynchronise inside pcapng; report where it stopped.
		s.sink.anomaly("unreadable-block", unknownOffset, s.frames+1, err.Error())
		return Record{}, io.EOF
	}
	s.frames++
	if len(data) > MaxRecordLen {
		s.sink.anomaly("oversized-record", unknownOffset, s.frames, fmt.Sprintf("%d bytes", len(data)))
		data = nil
	}
	lt := s.r.LinkType()
	if len(ci.AncillaryData) > 0 {
		if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			lt = l
		}
	}
	rec := Record{Data: data, Time: ci.Timestamp, WireLen: ci.Length, LinkType: lt, Offset: unknownOffset,
		Comments: opts.Comments, SectionComment: s.section}
	s.section = ""
	return rec, nil
}

// fillBatch is the fast path for well-formed files: it reads a block of
// the file straight into the batch buffer and frames the records in place,
// so record bytes are copied once (kernel to batch) instead of twice. On
// the first implausible header it hands the rest of the block back to the
// record-by-record reader, which resynchronises and reports anomalies.
// It returns false once that slower path must take over.
func (s *pcapSource) fillBatch(b *rawBatch, rs *readerStats) (more bool, err error) {
	if s.slow {
		return false, nil
	}
	b.buf = append(b.buf[:0], s.carry...)
	if !s.eof {
		// Fill to rawBatchBytes, or to the end of a record that is larger
		// than that; the buffer grows only for such a record.
		limit := max(rawBatchBytes, s.recordEnd(b.buf))
		if limit > cap(b.buf) {
			b.buf = append(make([]byte, 0, limit), b.buf...)
		}
		if len(b.buf) < limit {
			n, rerr := s.readFull(b.buf[len(b.buf):limit])
			b.buf = b.buf[:len(b.buf)+n]
			s.eof = rerr != nil // io.EOF or io.ErrUnexpectedEOF: the file ended
		}
	}
	pos, ok := s.frame(b, rs)
	if !ok {
		s.toSlowPath(b.buf[pos:])
		s.carry = s.carry[:0]
		return false, nil
	}
	full := len(b.recs) == cap(b.recs)
	s.carry = append(s.carry[:0], b.buf[pos:]...)
	if s.eof && !full {
		if len(s.carry) > 0 {
			s.sink.anomaly("truncated-record", s.offset, s.records+1,
				fmt.Sprintf("file ends %d bytes into a record", len(s.carry)))
		}
		if len(b.recs) == 0 {
			return false, io.EOF
		}
		s.carry = s.carry[:0]
		return true, nil // send these; the next call reports the end
	}
	return true, nil
}

// frame appends the whole records at the start of b.buf to b.recs and
// returns where the first incomplete one starts, or, with ok false, where
// an implausible header is (the records before it are kept). The header
// checks are plausible's, written out with the file's limits and the
// reader's counters in locals: this loop runs once per packet.
func (s *pcapSource) frame(b *rawBatch, rs *readerStats) (pos int, ok bool) {
	buf, recs := b.buf, b.recs
	offset, records, lastSec := s.offset, s.records, s.lastSec
	maxIncl, fracLimit, fracScale := s.maxCaptured(), uint32(1_000_000), int64(1000)
	if s.nanos {
		fracLimit, fracScale = 1_000_000_000, 1
	}
	var bytes uint64
	firstNs, lastNs := int64(math.MaxInt64), int64(math.MinInt64)
	hdr, slack := s.recHdr, s.slack
	ok = true
	for pos+hdr <= len(buf) && len(recs) < cap(recs) {
		h := buf[pos : pos+16 : pos+16]
		sec, frac, incl, orig := s.u32(h[0:4]), s.u32(h[4:8]), s.u32(h[8:12]), s.u32(h[12:16])
		if incl > maxIncl || incl > orig+slack || frac >= fracLimit || orig > 1<<20 {
			ok = false
			break
		}
		end := pos + hdr + int(incl)
		if end > len(buf) {
			break // the record continues in the next block
		}
		// frac is below a second: this is time.Unix's instant without
		// building a time.Time per record.
		at := int64(sec)*1e9 + int64(frac)*fracScale
		bytes += uint64(incl)
		firstNs, lastNs = min(firstNs, at), max(lastNs, at)
		recs = append(recs, rawRecord{start: uint32(pos + hdr), end: uint32(end),
			linkType: s.linkType, wireLen: int(max(orig, incl)), at: at, offset: offset})
		records++
		lastSec = sec
		offset += int64(hdr) + int64(incl)
		pos = end
	}
	if n := uint64(len(recs) - len(b.recs)); n > 0 {
		rs.accountBatch(n, bytes, firstNs, lastNs)
	}
	b.recs = recs
	s.offset, s.records, s.lastSec = offset, records, lastSec
	return pos, ok
}

// readFull fills p with what br still buffers, then from under directly
// (one copy, kernel to batch, instead of two).
func (s *pcapSource) readFull(p []byte) (int, error) {
	if s.under == nil {
		return io.ReadFull(s.br, p)
	}
	n := 0
	if k := s.br.Buffered(); k > 0 {
		n, _ = s.br.Read(p[:min(k, len(p))]) // no read from under: k bytes are buffered
	}
	m, err := io.ReadFull(s.under, p[n:])
	return n + m, err
}

// recordEnd is where the record starting buf ends (header included), or
// 0 when its header is incomplete or implausible; plausible bounds it by
// MaxRecordLen.
func (s *pcapSource) recordEnd(buf []byte) int {
	if len(buf) < s.recHdr || !s.plausible(buf[:16], false) {
		return 0
	}
	return s.recHdr + int(s.u32(buf[8:12]))
}

// toSlowPath puts unframed bytes back in front of the file for Next.
func (s *pcapSource) toSlowPath(rest []byte) {
	s.slow = true
	s.br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(append([]byte(nil), rest...)), s.br), readerBufferSize)
}
