package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// browserCheck runs in a copy of the HTML report, in Chromium, after the
// page has loaded: it lists elements that stick out of their box or of a
// 1,000 px window, the calls the page names, and every script error or
// console error, and appends them as JSON for --dump-dom to print. The
// report itself has no script; only the copy under test does.
const browserCheck = `<script>
window.__natdocErrors = [];
window.addEventListener('error', e => window.__natdocErrors.push(String(e.message)));
const natdocConsoleError = console.error;
console.error = (...a) => { window.__natdocErrors.push(a.join(' ')); natdocConsoleError(...a); };
window.addEventListener('load', () => {
  const out = {overflow: [], calls: [], details: [], errors: window.__natdocErrors, pageWidth: document.documentElement.scrollWidth};
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > document.documentElement.clientWidth + 1) out.overflow.push(el.tagName + ' ends at ' + Math.round(r.right));
    const st = getComputedStyle(el);
    if (st.display !== 'inline' && st.overflowX === 'visible' && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
      out.overflow.push(el.tagName + '.' + el.className + ' content ' + el.scrollWidth + ' > box ' + el.clientWidth);
  }
  for (const a of document.querySelectorAll('table.calls a')) out.calls.push(a.textContent);
  for (const h of document.querySelectorAll('h3[id^="call-"]')) out.details.push(h.id.slice(5));
  const pre = document.createElement('pre');
  pre.id = 'natdoc-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>`

// chromium finds Debian's Chromium; CI (NATDOC_LAB=require) must have it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("NATDOC_LAB") == "require" {
		t.Fatal("chromium is not installed (.ci/run installs Debian's chromium)")
	}
	t.Skip("chromium not installed")
	return ""
}

// headless runs Chromium without a sandbox, GPU or network chatter, with
// a profile of its own, on a 1,000 px wide window.
func headless(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1000,1400", "--virtual-time-budget=5000"}
	cmd := exec.Command(bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.Output(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("chromium did not finish in two minutes")
	}
	if err != nil {
		t.Fatalf("chromium %v: %v", args, err)
	}
	return out
}

// TestHTMLReportInBrowser renders the HTML report of a capture with every
// kind of call and checks it in a real browser at 1,000 px: nothing sticks
// out, every call is in the table, no script or console error. It leaves
// a screenshot in NATDOC_SCREENSHOT when that is set.
func TestHTMLReportInBrowser(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "all.pcap")
	f, err := os.Create(pcap)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pcapgen.Write(f, pcapgen.AllKinds(), pcapgen.Options{Seed: 4}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	page := filepath.Join(dir, "report.html")
	if code, _, errOut := run(t, "analyze", "--format", "html", "-o", page, pcap); code != exitProblems {
		t.Fatalf("analyze: exit %d: %s", code, errOut)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	_, js, _ := run(t, "analyze", "--json", pcap)
	var rep report.Report
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	got := browserChecks(t, bin, string(html))
	if len(got.Overflow) > 0 || got.PageWidth > 1000 {
		t.Errorf("at 1,000 px the page is %d px wide; sticking out: %v", got.PageWidth, got.Overflow)
	}
	if len(got.Errors) > 0 {
		t.Errorf("script or console errors: %v", got.Errors)
	}
	// Details are drawn for at most 50 calls (report's maxStreamCalls),
	// the ones with problems first.
	if wantDetails := min(len(rep.Calls), 50); len(got.Calls) != len(rep.Calls) || len(got.Details) != wantDetails {
		t.Errorf("the page names %d calls in the table and %d in detail, the analysis has %d (details drawn for %d)", len(got.Calls), len(got.Details), len(rep.Calls), wantDetails)
	}
	// The check can fail: a box wider than the window is seen.
	wide := strings.Replace(string(html), "<body>", `<body><div style="width:1400px">wide</div>`, 1)
	if bad := browserChecks(t, bin, wide); len(bad.Overflow) == 0 {
		t.Error("a 1,400 px box went unnoticed")
	}
	if shot := os.Getenv("NATDOC_SCREENSHOT"); shot != "" {
		headless(t, bin, "--screenshot="+shot, "--window-size=1000,4000", "file://"+page)
	}
}

// browserResult is what browserCheck found.
type browserResult struct {
	Overflow, Calls, Details, Errors []string
	PageWidth                        int
}

// browserChecks loads html with browserCheck in Chromium and reads back
// what it found.
func browserChecks(t *testing.T, bin, html string) browserResult {
	t.Helper()
	checked := filepath.Join(t.TempDir(), "checked.html")
	withCheck := strings.Replace(html, "<head>", "<head>"+browserCheck, 1)
	if err := os.WriteFile(checked, []byte(withCheck), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := string(headless(t, bin, "--dump-dom", "file://"+checked))
	start := strings.Index(dom, `<pre id="natdoc-check">`)
	if start < 0 {
		t.Fatalf("the check did not run; page:\n%.2000s", dom)
	}
	raw := dom[start+len(`<pre id="natdoc-check">`):]
	raw = raw[:strings.Index(raw, "</pre>")]
	var got browserResult
	if err := json.Unmarshal([]byte(unescapeHTML(raw)), &got); err != nil {
		t.Fatalf("check output %q: %v", raw, err)
	}
	return got
}

// unescapeHTML undoes the escaping of text in Chromium's DOM dump.
func unescapeHTML(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'", "&amp;", "&").Replace(s)
}
