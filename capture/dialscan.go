package capture

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/natdoc/natdoc/report"
)

// Scanners look for SIP servers that put a call from anyone through to a
// number abroad (toll fraud): a host on the internet sends INVITEs to one
// foreign number, dialled with the prefixes PBXs use for an outside line
// ("9011…", "011…", "00…"), to server after server. Each call is judged
// on its own (rejected, unanswered, a scanner's unanswered INVITE); what
// matters is the pattern, and above all the servers that answered.

// A dial-out scan: one host on the internet dialled at most scanNumbers
// numbers abroad (by their last eight digits) through at least
// scanServers SIP server hosts, or dialled one number with at least
// scanPrefixes prefixes.
const (
	scanServers  = 5
	scanNumbers  = 3 // numbers at most, by their last eight digits, through scanServers
	scanPrefixes = 3
	// maxDialScanSources, maxDialScanSet and maxAnsweredListed bound what
	// the tracker keeps.
	maxDialScanSources = 1024
	maxDialScanSet     = 64
	maxAnsweredListed  = 10
)

// dialScans follows, per source host on the internet, the calls it
// dialled abroad.
type dialScans struct {
	bySrc map[netip.Addr]*dialScan
	order []netip.Addr
}

type dialScan struct {
	invites               int
	servers               map[netip.Addr]bool
	numbers               map[string]bool
	firstFrame, lastFrame uint64
	answered              int
	answeredBy            map[netip.Addr]int
	answeredCalls         []string // report IDs, the first few
}

// started takes a new call's INVITE: the scan counts the servers and
// numbers as their INVITEs go out, so that a call judged once it ends
// knows the scan its source was making by then, its later probes too.
func (d *dialScans) started(c *sipCall, m *sipInfo) {
	src, dialled := m.Src.Addr(), c.dialled()
	if !isPublic(src) || !dialsAbroad(dialled) {
		return
	}
	sc := d.bySrc[src]
	if sc == nil {
		if len(d.bySrc) >= maxDialScanSources {
			return
		}
		if d.bySrc == nil {
			d.bySrc = map[netip.Addr]*dialScan{}
		}
		sc = &dialScan{servers: map[netip.Addr]bool{}, numbers: map[string]bool{}, answeredBy: map[netip.Addr]int{}, firstFrame: m.Frame}
		d.bySrc[src] = sc
		d.order = append(d.order, src)
	}
	sc.invites++
	sc.lastFrame = max(sc.lastFrame, m.Frame)
	addBounded(sc.servers, m.Dst.Addr())
	addBounded(sc.numbers, dialled)
}

// judged takes a judged call: its INVITE's leg, verdict and number.
func (d *dialScans) judged(c *sipCall, verdict report.Verdict, number int) {
	sc := d.bySrc[c.setup.src.Addr()]
	if sc == nil || c.setup.sent == 0 || !dialsAbroad(c.dialled()) {
		return
	}
	sc.lastFrame = max(sc.lastFrame, c.setup.lastFrame)
	if verdict == report.VerdictNotAnswered || verdict == "" {
		return
	}
	sc.answered++
	if len(sc.answeredBy) < maxDialScanSet {
		sc.answeredBy[c.setup.dst.Addr()]++
	}
	if len(sc.answeredCalls) < maxAnsweredListed {
		sc.answeredCalls = append(sc.answeredCalls, "C"+strconv.Itoa(number))
	}
}

func addBounded[K comparable](m map[K]bool, k K) {
	if len(m) < maxDialScanSet {
		m[k] = true
	}
}

// scanning returns the dial-out scan src is making, as the calls judged
// so far show (nil: none).
func (d *dialScans) scanning(src netip.Addr) *dialScan {
	if d == nil {
		return nil
	}
	if sc := d.bySrc[src]; sc != nil && sc.isScan() {
		return sc
	}
	return nil
}

// isScan says whether the calls are a dial-out scan: one number or a
// few (by their last eight digits) through many servers, or one with
// many prefixes. A PBX or SBC routing its callers abroad through several
// carriers dials many numbers.
func (sc *dialScan) isScan() bool {
	prefixes := map[string]map[string]bool{} // by the number's last eight digits
	for n := range sc.numbers {
		tail := n[len(n)-8:]
		if prefixes[tail] == nil {
			prefixes[tail] = map[string]bool{}
		}
		prefixes[tail][n] = true
		if len(prefixes[tail]) >= scanPrefixes {
			return true
		}
	}
	return len(sc.servers) >= scanServers && len(prefixes) <= scanNumbers
}

// IDDialOutScan: a host on the internet dialled abroad through many SIP
// servers, or one number with several outside-line prefixes: a scan for
// open dial-out (toll fraud); a warning when a server answered.
const IDDialOutScan report.FindingID = "dial-out-scan"

// remedyOpenDialOut is for servers that answered a dial-out scan's calls.
const remedyOpenDialOut = "On the servers that answered, check that the calls did not go out (the CDRs, the carrier's bill), then let only " +
	"authenticated accounts and known trunks dial out: no unauthenticated (guest, anonymous) context that reaches the outbound routes " +
	"(Asterisk: allowguest=no, a public context without dial-out; FreeSWITCH: a public context that routes nowhere out; Kamailio and OpenSIPS: " +
	"authenticate before relaying), international calls only for accounts that need them, and a spending limit with the carrier."

// findings tells each scan.
func (d *dialScans) findings() []report.Finding {
	var fs []report.Finding
	for _, src := range d.order {
		sc := d.bySrc[src]
		if !sc.isScan() {
			continue
		}
		fs = append(fs, sc.finding(src))
	}
	return fs
}

func (sc *dialScan) finding(src netip.Addr) report.Finding {
	numbers := slices.Sorted(maps.Keys(sc.numbers))
	f := report.Finding{ID: IDDialOutScan, Severity: report.SeverityInfo, Subject: src.String(), Remedy: remedyScanner,
		Title: fmt.Sprintf("%s dialled abroad (%s) through %s with %d INVITEs: a scan for servers that put a caller from the internet through (toll fraud); none answered",
			src, firstOf(numbers, 3), report.Plural(len(sc.servers), "SIP server"), sc.invites),
		Evidence: []report.Evidence{{Text: fmt.Sprintf("INVITEs from %s dialling abroad, to %s", src, hostList(sc.servers)),
			Frames: uniqueFrames(sc.firstFrame, sc.lastFrame), Addrs: []string{src.String()}}}}
	if sc.answered > 0 {
		f.Severity, f.Remedy = report.SeverityWarning, remedyOpenDialOut
		f.Title = strings.TrimSuffix(f.Title, "; none answered") + fmt.Sprintf("; %d answered, by %s: check that they did not go out", sc.answered, hostCounts(sc.answeredBy))
		f.Evidence = append(f.Evidence, report.Evidence{Text: "answered: " + strings.Join(sc.answeredCalls, ", ") + moreMark(sc.answered, len(sc.answeredCalls))})
	}
	return f
}

// firstOf writes the first n items, then ", …" when there were more.
func firstOf(items []string, n int) string {
	return strings.Join(items[:min(len(items), n)], ", ") + moreMark(len(items), n)
}

// moreMark is ", …" when shown of n were left out.
func moreMark(n, shown int) string {
	if n > shown {
		return ", …"
	}
	return ""
}

// hostList names up to five hosts, in order, and how many more.
func hostList(hosts map[netip.Addr]bool) string {
	list := slices.SortedFunc(maps.Keys(hosts), netip.Addr.Compare)
	names := make([]string, 0, 5)
	for _, h := range list[:min(len(list), 5)] {
		names = append(names, h.String())
	}
	return strings.Join(names, ", ") + moreMark(len(list), 5)
}

// hostCounts names each host with its count, most first.
func hostCounts(counts map[netip.Addr]int) string {
	list := slices.SortedFunc(maps.Keys(counts), func(a, b netip.Addr) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return a.Compare(b)
	})
	names := make([]string, 0, 5)
	for _, h := range list[:min(len(list), 5)] {
		names = append(names, fmt.Sprintf("%s (%d)", h, counts[h]))
	}
	return strings.Join(names, ", ") + moreMark(len(list), 5)
}
