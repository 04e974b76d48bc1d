package igd

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/natdoc/natdoc/internal/transact"
)

// Journal is the undo log of mappings natdoc made. Each mapping is
// appended as "add" (and synced) before the router is asked, and as "done"
// only after the router confirmed the delete, so whatever a crash leaves
// behind is in Pending. The file is append-only JSON lines.
type Journal struct {
	path string
	mu   sync.Mutex
}

// JournalEntry is one line of the journal.
type JournalEntry struct {
	ID string `json:"id"`
	Op string `json:"op"` // "add", "port", "keep" or "done"
	// Kept: the user asked for the mapping to stay (`upnp map` without
	// --for); it is no crash leftover, but unmap and cleanup remove it.
	Kept bool      `json:"kept,omitempty"`
	Time time.Time `json:"time"`
	PID  int       `json:"pid,omitempty"`
	Via  string    `json:"via,omitempty"` // "upnp", "nat-pmp", "pcp"
	// UPnP: the root description and the service URN used.
	Location string `json:"location,omitempty"`
	Service  string `json:"service,omitempty"`
	// NAT-PMP and PCP: the gateway, and PCP's nonce (RFC 6887 §11.1: a
	// delete must repeat it).
	Gateway      string `json:"gateway,omitempty"`
	Nonce        string `json:"nonce,omitempty"`
	Proto        string `json:"proto,omitempty"`
	ExternalPort uint16 `json:"external_port,omitempty"`
	// AnyPort: the router chose the external port (UPnP
	// AddAnyPortMapping); ExternalPort is the one asked until a "port"
	// line names the one granted.
	AnyPort        bool   `json:"any_port,omitempty"`
	InternalClient string `json:"internal_client,omitempty"`
	InternalPort   uint16 `json:"internal_port,omitempty"`
}

// JournalEnv overrides the journal's directory (tests, and users who keep
// state elsewhere).
const JournalEnv = "NATDOC_STATE_DIR"

// DefaultJournalPath is where the journal lives: $NATDOC_STATE_DIR, else
// $XDG_STATE_HOME/natdoc, else ~/.local/state/natdoc on Unix (the XDG
// base directory default), else os.UserConfigDir()/natdoc.
func DefaultJournalPath() (string, error) {
	if d := os.Getenv(JournalEnv); d != "" {
		return filepath.Join(d, "upnp-journal.jsonl"), nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "natdoc", "upnp-journal.jsonl"), nil
	}
	if runtime.GOOS != "windows" && runtime.GOOS != "darwin" {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, ".local", "state", "natdoc", "upnp-journal.jsonl"), nil
		}
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("journal: no state directory: %w", err)
	}
	return filepath.Join(d, "natdoc", "upnp-journal.jsonl"), nil
}

// OpenJournal returns the journal at path; the file is created on first
// write.
func OpenJournal(path string) *Journal { return &Journal{path: path} }

// Path is the journal's file.
func (j *Journal) Path() string { return j.path }

// append writes one line and syncs it: the "add" must be on disk before
// the router is asked.
func (j *Journal) append(e JournalEntry) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(j.path), 0o700); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	f, err := os.OpenFile(j.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("journal: write %s: %w", j.path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("journal: sync %s: %w", j.path, err)
	}
	return f.Close()
}

// recordAdd writes the intent to add e and returns it with its ID.
func (j *Journal) recordAdd(e JournalEntry) (JournalEntry, error) {
	e.ID, e.Op, e.Time, e.PID = transact.NewID(), "add", time.Now().UTC(), os.Getpid()
	return e, j.append(e)
}

// recordDone marks id as removed (or never made).
func (j *Journal) recordDone(id string) error {
	return j.append(JournalEntry{ID: id, Op: "done", Time: time.Now().UTC()})
}

// recordPort names the external port the router chose for id.
func (j *Journal) recordPort(id string, port uint16) error {
	return j.append(JournalEntry{ID: id, Op: "port", Time: time.Now().UTC(), ExternalPort: port})
}

// recordKeep marks id as left on the router on purpose.
func (j *Journal) recordKeep(id string) error {
	return j.append(JournalEntry{ID: id, Op: "keep", Time: time.Now().UTC()})
}

// Pending returns the mappings added and not yet confirmed removed, oldest
// first, and how many lines were unreadable (a torn last line after a
// crash, or a damaged file: counted, never fatal).
func (j *Journal) Pending() (pending []JournalEntry, bad int, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.Open(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	return readJournal(f)
}

// readJournal replays journal lines from r.
func readJournal(r io.Reader) (pending []JournalEntry, bad int, err error) {
	open := map[string]int{} // id → index in adds
	var adds []JournalEntry
	var done []bool
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), maxJournalLine)
	lines := 0
	for sc.Scan() {
		if lines++; lines > maxJournalEntries {
			return nil, bad, fmt.Errorf("journal: more than %d lines; remove it after checking the router by hand", maxJournalEntries)
		}
		var e JournalEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.ID == "" {
			bad++
			continue
		}
		switch e.Op {
		case "add":
			if _, dup := open[e.ID]; dup || !validEntry(e) {
				bad++
				continue
			}
			open[e.ID] = len(adds)
			adds = append(adds, e)
			done = append(done, false)
		case "done":
			if i, ok := open[e.ID]; ok {
				done[i] = true
			}
		case "keep":
			if i, ok := open[e.ID]; ok {
				adds[i].Kept = true
			}
		case "port":
			if i, ok := open[e.ID]; ok && e.ExternalPort != 0 {
				adds[i].ExternalPort, adds[i].AnyPort = e.ExternalPort, false
			}
		default:
			bad++
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			bad++
		} else {
			return nil, bad, fmt.Errorf("journal: %w", err)
		}
	}
	for i, e := range adds {
		if !done[i] {
			pending = append(pending, e)
		}
	}
	return pending, bad, nil
}

func validEntry(e JournalEntry) bool {
	switch e.Via {
	case "upnp":
		return e.Location != "" && e.ExternalPort != 0 && (e.Proto == "UDP" || e.Proto == "TCP")
	case "nat-pmp", "pcp":
		return e.Gateway != "" && e.InternalPort != 0 && (e.Proto == "UDP" || e.Proto == "TCP")
	}
	return false
}

// Compact removes the file when nothing is pending, so a clean run leaves
// no state behind.
func (j *Journal) Compact() error {
	pending, bad, err := j.Pending()
	if err != nil || len(pending) > 0 || bad > 0 {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// processAlive reports whether pid still runs, so Pending entries of a
// concurrent natdoc are not cleaned under its feet.
func processAlive(pid int) bool { return pid > 0 && pidAlive(pid) }

func ownPID() int { return os.Getpid() }
