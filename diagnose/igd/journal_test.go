package igd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestJournalTornLineAndCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "j.jsonl")
	j := OpenJournal(path)
	base := JournalEntry{Via: "upnp", Location: "http://192.168.1.1:5000/rootDesc.xml", Proto: "UDP", InternalClient: "192.168.1.10"}
	var ids []string
	for _, p := range []uint16{5060, 10000, 10001} {
		e := base
		e.ExternalPort, e.InternalPort = p, p
		e, err := j.recordAdd(e)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	j.recordDone(ids[1])
	j.recordKeep(ids[2])
	// A crash in the middle of a write leaves a torn last line.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"zz","op":"add","via":"up`)
	f.Close()
	pending, bad, err := j.Pending()
	if err != nil || bad != 1 || len(pending) != 2 || pending[0].ExternalPort != 5060 || pending[0].Kept || !pending[1].Kept {
		t.Fatalf("pending %+v bad %d err %v", pending, bad, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v", st.Mode())
	}
	j.recordDone(ids[0])
	j.recordDone(ids[2])
	j.Compact() // a damaged line keeps the file for a human to look at
	if _, err := os.Stat(path); err != nil {
		t.Errorf("journal with a bad line was removed: %v", err)
	}
}

func TestJournalCompactRemovesCleanFile(t *testing.T) {
	j := OpenJournal(filepath.Join(t.TempDir(), "j.jsonl"))
	e, _ := j.recordAdd(JournalEntry{Via: "nat-pmp", Gateway: "192.168.1.1", Proto: "UDP", InternalPort: 1})
	j.recordDone(e.ID)
	if err := j.Compact(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(j.Path()); !os.IsNotExist(err) {
		t.Errorf("clean journal kept: %v", err)
	}
}

func TestDefaultJournalPath(t *testing.T) {
	t.Setenv(JournalEnv, "/x/state")
	if p, _ := DefaultJournalPath(); p != "/x/state/upnp-journal.jsonl" {
		t.Errorf("env: %s", p)
	}
	t.Setenv(JournalEnv, "")
	t.Setenv("XDG_STATE_HOME", "/y")
	if p, _ := DefaultJournalPath(); p != "/y/natdoc/upnp-journal.jsonl" {
		t.Errorf("xdg: %s", p)
	}
	t.Setenv("XDG_STATE_HOME", "")
	if p, _ := DefaultJournalPath(); !strings.Contains(p, "natdoc") {
		t.Errorf("default: %s", p)
	}
}

// A mapping whose port the router chose (AddAnyPortMapping) is journalled
// with the port asked, then the port granted.
func TestJournalChosenPort(t *testing.T) {
	j := OpenJournal(filepath.Join(t.TempDir(), "j.jsonl"))
	e, err := j.recordAdd(JournalEntry{Via: "upnp", Location: "http://192.168.1.1:5000/rootDesc.xml", Proto: "UDP",
		InternalClient: "192.168.1.10", ExternalPort: 10000, InternalPort: 10000, AnyPort: true})
	if err != nil {
		t.Fatal(err)
	}
	if p := mustPending(t, j); len(p) != 1 || !p[0].AnyPort || p[0].ExternalPort != 10000 {
		t.Fatalf("before the answer: %+v", p)
	}
	j.recordPort(e.ID, 40000)
	if p := mustPending(t, j); len(p) != 1 || p[0].AnyPort || p[0].ExternalPort != 40000 {
		t.Fatalf("after the answer: %+v", p)
	}
}
